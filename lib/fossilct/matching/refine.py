"""Image-domain refinement of a pose against the full-resolution volume (Gauss-Newton).

The query's gray image is sampled once on a ``grid x grid`` lattice over its silhouette (plus a
margin); a pose renders the volume at the same points, and the refinement maximises the
normalised cross-correlation of the two. The seven pose parameters (tilts about the two in-plane
axes, shift along the normal, in-plane turn, two in-plane shifts, log-scale; rotations about the
query's centroid) are updated by damped Gauss-Newton steps (Levenberg-Marquardt) on
``q - (a r(p) + b)``, where the gain ``a`` and offset ``b`` are refitted at every step, so the
intensity scales of query and volume need not agree (regressing the query on the render makes
the least-squares residual a monotone function of the correlation). The volume's gradient comes from forward
differences (a tenth of a voxel: the slope of the interpolated volume where the render reads
it), rendered in the same ``map_coordinates`` call as the values. The refinement runs through
``LEVELS``: against copies of the volume smoothed by 2.5 and 1 voxels (wide basins: a candidate
15 degrees off converges) and then the volume itself (precision). Tilt and shift are coupled
through the full Jacobian, which a search along one parameter at a time cannot follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct.matching.pose import Pose
from fossilct.matching.preprocess import Query

__all__ = ["GRID", "LEVELS", "RefineTarget", "refine_pose", "pose_score", "correlation"]

GRID = 48
"""Lattice side on which query and renders are compared at full resolution."""
LEVELS = ((2.5, 32, 20), (1.0, GRID, 15), (0.0, GRID, 15))
"""Refinement levels: (smoothing sigma in voxels, lattice side, Gauss-Newton iterations)."""
REGION_DILATION = 3
"""The compared region is the query's silhouette dilated by this many lattice cells."""
_GRADIENT_STEP = 0.1  # voxels, forward differences: the interpolated volume's local slope
_DAMPING = 1e-3        # initial Levenberg-Marquardt damping, relative to diag(J^T J)
_MIN_GAIN = 1e-6       # a step that raises the correlation less than this ends the level


@dataclass(frozen=True, eq=False)
class RefineTarget:
    """A full-resolution volume prepared for rendering, with smoothed copies made on demand.

    Attributes
    ----------
    image : (P, M, N) ndarray of float32
    """

    image: np.ndarray
    _smoothed: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "image", np.ascontiguousarray(self.image, dtype=np.float32))

    def smoothed(self, sigma: float) -> np.ndarray:
        """The volume smoothed by a Gaussian of `sigma` voxels (0: the volume itself)."""
        if sigma <= 0:
            return self.image
        if sigma not in self._smoothed:
            self._smoothed[sigma] = ndi.gaussian_filter(self.image, float(sigma), truncate=3.0)
        return self._smoothed[sigma]


def _lattice(query: Query, grid: int, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice points (relative to the query centroid) inside the region, and query values.

    Memoised on the query (the same lattice serves every candidate of every volume)."""
    key = ("lattice", int(grid), round(float(sigma_px), 4))
    return query.memo(key, lambda: _make_lattice(query, int(grid), float(sigma_px)))


def _make_lattice(query: Query, grid: int, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
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


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross is slow on single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])


def _jacobian(pose: Pose, points: np.ndarray, gradient: np.ndarray, n_params: int) -> np.ndarray:
    """d(render)/d(params) = gradient . (point motion), motions linear in the lattice offsets."""
    scale = pose.scale
    u, v, n = pose.row_axis / scale, pose.col_axis / scale, pose.normal
    row, col = pose.row_axis, pose.col_axis
    directions = np.stack([row, col, u, v, n, _cross(u, row), _cross(u, col), _cross(v, row),
                           _cross(v, col), _cross(n, row), _cross(n, col)], axis=1)
    along = gradient @ directions
    a, b = points[:, :1], points[:, 1:]
    # tilt about rows, tilt about columns, shift along the normal, in-plane turn, in-plane
    # shifts, log-scale
    jac = np.empty((len(points), 7))
    jac[:, 0] = (a * along[:, 5:6] + b * along[:, 6:7])[:, 0]
    jac[:, 1] = (a * along[:, 7:8] + b * along[:, 8:9])[:, 0]
    jac[:, 2] = along[:, 4]
    jac[:, 3] = (a * along[:, 9:10] + b * along[:, 10:11])[:, 0]
    jac[:, 4:6] = along[:, 2:4]
    jac[:, 6] = (a * along[:, 0:1] + b * along[:, 1:2])[:, 0]
    return jac[:, :n_params]


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
    """Maximise NCC(query, render) by damped Gauss-Newton on q - (a r(p) + b).

    Regressing the query on the render (not the other way round) makes the least-squares
    residual ``|q - q_mean|^2 (1 - NCC^2)``: minimising it maximises the correlation itself,
    without rewarding renders of low contrast.
    """
    values, gradient = _render(volume, _positions(pose, points))
    best = correlation(values, query_values)
    damping = _DAMPING
    query_centred = query_values - query_values.mean()
    for _ in range(int(max_iterations)):
        centred = values - values.mean()
        variance = float(centred @ centred)
        gain = float(centred @ query_centred) / variance if variance > 0 else 0.0
        if gain <= 0:
            break
        residual = query_centred - gain * centred
        jac = -gain * _jacobian(pose, points, gradient, n_params)
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
            gain_in_score = score - best
            pose, values, gradient, best = trial, trial_values, trial_gradient, score
            damping = max(damping / 3.0, 1e-7)
            if np.abs(delta).max() < 1e-4 or gain_in_score < _MIN_GAIN:
                break
        else:
            damping *= 8.0
            if damping > 1e4:
                break
    return pose, best


def refine_pose(query: Query, target: RefineTarget, pose: Pose, *, fixed_scale: bool = False,
                levels=LEVELS) -> tuple[Pose, float]:
    """Refine a pose by maximising the correlation of the query with the rendered volume.

    Parameters
    ----------
    query : Query
    target : RefineTarget
        The volume at full resolution.
    pose : Pose
        Starting pose (from the index search).
    fixed_scale : bool, keyword-only
        Keep the scale (when the query's pixel size is known).
    levels : sequence of (float, int, int), keyword-only
        (smoothing sigma in voxels, lattice side, iterations) of each level, run in order
        (default ``LEVELS``).

    Returns
    -------
    pose : Pose
        The refined pose.
    score : float
        Its correlation with the query at the last level, in [-1, 1].
    """
    n_params = 6 if fixed_scale else 7
    score = -1.0
    for sigma, grid, iterations in levels:
        points, values = _lattice(query, int(grid), float(sigma) / max(pose.scale, 1e-6))
        pose, score = _gauss_newton(target.smoothed(float(sigma)), pose, points, values,
                                    n_params, iterations)
    return pose, score


def pose_score(query: Query, target: RefineTarget, pose: Pose, *, grid: int = GRID) -> float:
    """Correlation of the query with the (unsmoothed) volume rendered under a pose.

    Parameters
    ----------
    query : Query
    target : RefineTarget
    pose : Pose
    grid : int, keyword-only
        Lattice side (default ``GRID``).

    Returns
    -------
    float
        In [-1, 1]; the objective :func:`refine_pose` maximises.
    """
    points, values = _lattice(query, int(grid), 0.0)
    rendered, _ = _render(target.image, _positions(pose, points))
    return correlation(rendered, values)
