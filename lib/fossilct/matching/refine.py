"""Image-domain refinement of a pose against the full-resolution volume (Gauss-Newton).

The query's gray image is sampled once on a ``grid x grid`` lattice over its silhouette (plus a
margin); a pose renders the volume at the same points, and the refinement maximises the
normalised cross-correlation of the two. The seven pose parameters (tilts about the two in-plane
axes, shift along the normal, in-plane turn, two in-plane shifts, log-scale; rotations about the
query's centroid) are updated by damped Gauss-Newton steps (Levenberg-Marquardt) on
``r(p) - (a q + b)``, where the gain ``a`` and offset ``b`` are refitted at every step, so the
intensity scales of query and volume need not agree. The volume's gradient comes from forward
differences, rendered in the same ``map_coordinates`` call as the values. Two levels: first
against a smoothed copy of the volume (a wide basin), then against the volume itself (precision).
Tilt and shift are coupled through the full Jacobian, which a search along one parameter at a
time cannot follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct.matching.pose import Pose
from fossilct.matching.preprocess import Query

__all__ = ["GRID", "SMOOTH_SIGMA", "MAX_ITERATIONS", "RefineTarget", "refine_pose",
           "correlation"]

GRID = 48
"""Lattice side on which query and renders are compared."""
SMOOTH_SIGMA = 1.5
"""Gaussian sigma (voxels) of the smoothed copy used at the first level."""
MAX_ITERATIONS = 15
"""Gauss-Newton iterations at most per level."""
REGION_DILATION = 3
"""The compared region is the query's silhouette dilated by this many lattice cells."""
_GRADIENT_STEP = 0.75  # voxels, central differences of the trilinear volume
_DAMPING = 1e-3        # initial Levenberg-Marquardt damping, relative to diag(J^T J)


@dataclass(frozen=True, eq=False)
class RefineTarget:
    """A full-resolution volume prepared for rendering.

    Attributes
    ----------
    image : (P, M, N) ndarray of float32
    smooth : (P, M, N) ndarray of float32
        `image` smoothed by ``SMOOTH_SIGMA`` voxels (computed when not given).
    """

    image: np.ndarray
    smooth: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        image = np.ascontiguousarray(self.image, dtype=np.float32)
        object.__setattr__(self, "image", image)
        if self.smooth is None:
            object.__setattr__(self, "smooth", ndi.gaussian_filter(image, SMOOTH_SIGMA,
                                                                   truncate=3.0))


def _lattice(query: Query, grid: int, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice points (relative to the query centroid) inside the region, and query values."""
    rows, cols = np.nonzero(query.silhouette)
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    side = max(r1 - r0, c1 - c0) * 1.16 + 2.0
    ticks = (np.arange(grid) - (grid - 1) / 2.0) * side / (grid - 1)
    pr, pc = np.meshgrid((r0 + r1) / 2.0 + ticks, (c0 + c1) / 2.0 + ticks, indexing="ij")
    maps = (pc.astype(np.float32), pr.astype(np.float32))
    spacing = side / (grid - 1)
    sigma = max(float(sigma_px), 0.4 * spacing if spacing > 1.5 else 0.0)
    gray = cv2.GaussianBlur(query.gray, (0, 0), sigma) if sigma > 0 else query.gray
    values = cv2.remap(gray, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.remap(query.silhouette.astype(np.float32), *maps, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.5
    kernel = np.ones((2 * REGION_DILATION + 1,) * 2, np.uint8)
    region = cv2.dilate(inside.astype(np.uint8), kernel).astype(bool)
    # a partially cropped query: compare only where the query has pixels
    height, width = query.gray.shape
    region &= (pr >= 0) & (pr <= height - 1) & (pc >= 0) & (pc <= width - 1)
    points = np.stack([pr[region], pc[region]], axis=1) - query.centroid
    return points, values[region].astype(np.float64)


def _positions(pose: Pose, points: np.ndarray) -> np.ndarray:
    return pose.centre + points[:, :1] * pose.row_axis + points[:, 1:] * pose.col_axis


def _render(volume: np.ndarray, positions: np.ndarray):
    """Values (n,) and forward-difference gradients (n, 3) of the volume at positions (n, 3)."""
    sets = [positions] + [positions + step for step in _GRADIENT_STEP * np.eye(3)]
    sampled = ndi.map_coordinates(volume, np.concatenate(sets).T, order=1, mode="constant",
                                  cval=0.0, prefilter=False).reshape(4, -1)
    return sampled[0], (sampled[1:] - sampled[0]).T / _GRADIENT_STEP


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two 1-D samples (0 if either is constant)."""
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denom) if denom > 0 else 0.0


def _jacobian(pose: Pose, points: np.ndarray, gradient: np.ndarray, n_params: int) -> np.ndarray:
    """d(render)/d(params) = gradient . (point motion), motions linear in the lattice offsets."""
    scale = pose.scale
    u, v, n = pose.row_axis / scale, pose.col_axis / scale, pose.normal
    a, b = points[:, 0], points[:, 1]
    along = gradient @ np.stack([pose.row_axis, pose.col_axis, u, v, n,
                                 np.cross(u, pose.row_axis), np.cross(u, pose.col_axis),
                                 np.cross(v, pose.row_axis), np.cross(v, pose.col_axis),
                                 np.cross(n, pose.row_axis), np.cross(n, pose.col_axis)]).T
    columns = [a * along[:, 5] + b * along[:, 6],   # tilt about the row direction
               a * along[:, 7] + b * along[:, 8],   # tilt about the column direction
               along[:, 4],                         # shift along the normal
               a * along[:, 9] + b * along[:, 10],  # in-plane turn
               along[:, 2], along[:, 3],            # in-plane shifts
               a * along[:, 0] + b * along[:, 1]]   # log-scale
    return np.stack(columns[:n_params], axis=1)


def _rotation(vector: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(vector))
    if angle < 1e-12:
        return np.eye(3)
    k = vector / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def _apply(pose: Pose, delta: np.ndarray) -> Pose:
    scale = pose.scale
    u, v, n = pose.row_axis / scale, pose.col_axis / scale, pose.normal
    delta = np.concatenate([delta, np.zeros(7 - delta.size)])
    rot = _rotation(delta[0] * u + delta[1] * v + delta[3] * n)
    growth = float(np.exp(delta[6]))
    centre = pose.centre + delta[2] * n + delta[4] * u + delta[5] * v
    normal = rot @ n
    return Pose(normal / np.linalg.norm(normal), centre, growth * (rot @ pose.row_axis),
                growth * (rot @ pose.col_axis))


def _gauss_newton(volume, pose, points, query_values, n_params, max_iterations):
    values, gradient = _render(volume, _positions(pose, points))
    best = correlation(values, query_values)
    design = np.stack([query_values, np.ones_like(query_values)], axis=1)
    damping = _DAMPING
    for _ in range(int(max_iterations)):
        gain_offset = np.linalg.lstsq(design, values, rcond=None)[0]
        residual = values - design @ gain_offset
        jac = _jacobian(pose, points, gradient, n_params)
        hessian = jac.T @ jac
        diag = np.diag(np.diag(hessian)) + 1e-9 * np.eye(n_params)
        try:
            delta = -np.linalg.solve(hessian + damping * diag, jac.T @ residual)
        except np.linalg.LinAlgError:
            break
        trial = _apply(pose, delta)
        trial_values, trial_gradient = _render(volume, _positions(trial, points))
        score = correlation(trial_values, query_values)
        if score > best:
            pose, values, gradient, best = trial, trial_values, trial_gradient, score
            damping = max(damping / 3.0, 1e-7)
            if np.abs(delta).max() < 1e-4:
                break
        else:
            damping *= 8.0
            if damping > 1e4:
                break
    return pose, best


def refine_pose(query: Query, target: RefineTarget, pose: Pose, *, grid: int = GRID,
                fixed_scale: bool = False, max_iterations: int = MAX_ITERATIONS,
                sharp: bool = True) -> tuple[Pose, float]:
    """Refine a pose by maximising the correlation of the query with the rendered volume.

    Parameters
    ----------
    query : Query
    target : RefineTarget
        The volume at full resolution (and its smoothed copy).
    pose : Pose
        Starting pose (from the index search).
    grid : int, keyword-only
        Lattice side (default ``GRID``).
    fixed_scale : bool, keyword-only
        Keep the scale (when the query's pixel size is known).
    max_iterations : int, keyword-only
        Gauss-Newton iterations at most per level (default ``MAX_ITERATIONS``).
    sharp : bool, keyword-only
        Run the second level against the unsmoothed volume (default True); False stops after
        the smooth level (a quick screening of many candidates).

    Returns
    -------
    pose : Pose
        The refined pose.
    score : float
        Its correlation with the query, against the last volume used, in [-1, 1].
    """
    n_params = 6 if fixed_scale else 7
    smooth_px = SMOOTH_SIGMA / max(pose.scale, 1e-6)
    points, values = _lattice(query, int(grid), smooth_px)
    pose, score = _gauss_newton(target.smooth, pose, points, values, n_params, max_iterations)
    if not sharp:
        return pose, score
    points, values = _lattice(query, int(grid), 0.0)
    return _gauss_newton(target.image, pose, points, values, n_params, max_iterations)
