"""Image-domain refinement of a pose against the full-resolution volume (Gauss-Newton).

The query's gray image is sampled once on a ``grid x grid`` lattice over its silhouette (plus a
margin); a pose renders the volume at the same points, and the refinement maximises the
normalised cross-correlation of the two. The seven pose parameters (tilts about the two in-plane
axes, shift along the normal, in-plane turn, two in-plane shifts, log-scale; rotations about the
query's centroid) are updated by damped Gauss-Newton steps (Levenberg-Marquardt) on
``q - (a r(p) + b)``, where the gain ``a`` and offset ``b`` are refitted at every step, so the
intensity scales of query and volume need not agree (regressing the query on the render makes
the least-squares residual a monotone function of the correlation). The volume's gradient comes
from forward differences (a tenth of a voxel: the slope of the interpolated volume where the
render reads it), rendered in the same ``map_coordinates`` call as the values. The refinement
runs through levels (smoothing, lattice, iterations), e.g. ``LEVELS``: against copies of the
volume smoothed by 2.5 and 1 voxels (wide basins: a candidate 15 degrees off converges) and
then the volume itself (precision). Tilt and shift are coupled through the full Jacobian, which
a search along one parameter at a time cannot follow.

Many poses are refined together (:func:`refine_poses`): every iteration renders all the poses
still improving in one ``map_coordinates`` call and solves their normal equations as one
stacked linear system, each pose keeping its own damping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct.matching.pose import QueryPose
from fossilct.matching.preprocess import Query

__all__ = ["GRID", "LEVELS", "RefineTarget", "refine_poses", "refine_pose", "pose_scores",
           "pose_score"]

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


def _stack(poses: list[QueryPose]) -> np.ndarray:
    """(B, 4, 3): centre, row axis, column axis, normal of each pose."""
    return np.stack([np.stack([p.centre, p.row_axis, p.col_axis, p.normal]) for p in poses])


def _unstack(frames: np.ndarray) -> list[QueryPose]:
    return [QueryPose(f[3].copy(), f[0].copy(), f[1].copy(), f[2].copy()) for f in frames]


def _render(volume: np.ndarray, frames: np.ndarray, points: np.ndarray):
    """Values (B, n) and forward-difference gradients (B, n, 3) at the posed lattice points."""
    positions = (frames[:, None, 0] + points[None, :, :1] * frames[:, None, 1]
                 + points[None, :, 1:] * frames[:, None, 2])               # (B, n, 3)
    sets = positions[:, None] + np.concatenate([np.zeros((1, 3)),
                                                _GRADIENT_STEP * np.eye(3)])[None, :, None]
    sampled = ndi.map_coordinates(volume, sets.reshape(-1, 3).T, order=1, mode="constant",
                                  cval=0.0, prefilter=False).reshape(len(frames), 4, -1)
    gradient = (sampled[:, 1:] - sampled[:, :1]).transpose(0, 2, 1) / _GRADIENT_STEP
    return sampled[:, 0].astype(np.float64), gradient


def _correlations(values: np.ndarray, query_values: np.ndarray) -> np.ndarray:
    """NCC of each row of `values` (B, n) with `query_values` (n,); 0 for a constant row."""
    centred = values - values.mean(axis=1, keepdims=True)
    query = query_values - query_values.mean()
    denom = np.sqrt((centred ** 2).sum(axis=1) * (query @ query))
    return np.where(denom > 0, centred @ query / np.maximum(denom, 1e-300), 0.0)


def _jacobians(frames: np.ndarray, points: np.ndarray, gradient: np.ndarray,
               n_params: int) -> np.ndarray:
    """(B, n, P): d(render)/d(params) = gradient . (point motion).

    Parameters: tilt about the row direction, tilt about the column direction, shift along the
    normal, in-plane turn, in-plane shifts along rows and columns, log-scale; rotations and
    scaling about the query's centroid.
    """
    row, col, normal = frames[:, 1], frames[:, 2], frames[:, 3]
    scale = np.linalg.norm(row, axis=1, keepdims=True)
    u, v = row / scale, col / scale
    directions = np.stack([row, col, u, v, normal, np.cross(u, row), np.cross(u, col),
                           np.cross(v, row), np.cross(v, col), np.cross(normal, row),
                           np.cross(normal, col)], axis=2)                 # (B, 3, 11)
    along = gradient @ directions                                           # (B, n, 11)
    a, b = points[None, :, 0], points[None, :, 1]
    jac = np.stack([a * along[..., 5] + b * along[..., 6], a * along[..., 7] + b * along[..., 8],
                    along[..., 4], a * along[..., 9] + b * along[..., 10], along[..., 2],
                    along[..., 3], a * along[..., 0] + b * along[..., 1]], axis=2)
    return jac[..., :n_params]


def _rotations(vectors: np.ndarray) -> np.ndarray:
    """Rotation matrices (B, 3, 3) of rotation vectors (B, 3) (Rodrigues)."""
    angle = np.linalg.norm(vectors, axis=1)
    axis = vectors / np.maximum(angle, 1e-300)[:, None]
    kx = np.zeros((len(vectors), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    kx[:, 1, 0], kx[:, 2, 0], kx[:, 2, 1] = axis[:, 2], -axis[:, 1], axis[:, 0]
    sin, cos = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + sin * kx + (1.0 - cos) * kx @ kx


def _apply(frames: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Move each pose by its parameter step (B, P)."""
    delta = np.concatenate([delta, np.zeros((len(delta), 7 - delta.shape[1]))], axis=1)
    row, col, normal = frames[:, 1], frames[:, 2], frames[:, 3]
    scale = np.linalg.norm(row, axis=1, keepdims=True)
    u, v = row / scale, col / scale
    rot = _rotations(delta[:, :1] * u + delta[:, 1:2] * v + delta[:, 3:4] * normal)
    growth = np.exp(delta[:, 6:7])
    out = np.empty_like(frames)
    out[:, 0] = (frames[:, 0] + delta[:, 2:3] * normal + delta[:, 4:5] * u
                 + delta[:, 5:6] * v)
    out[:, 1] = growth * np.einsum("bij,bj->bi", rot, row)
    out[:, 2] = growth * np.einsum("bij,bj->bi", rot, col)
    turned = np.einsum("bij,bj->bi", rot, normal)
    out[:, 3] = turned / np.linalg.norm(turned, axis=1, keepdims=True)
    return out


def _gauss_newton(volume, frames, points, query_values, n_params, max_iterations):
    """Maximise NCC(query, render) of each pose by damped Gauss-Newton on q - (a r(p) + b).

    Regressing the query on the render (not the other way round) makes the least-squares
    residual ``|q - q_mean|^2 (1 - NCC^2)``: minimising it maximises the correlation itself,
    without rewarding renders of low contrast.
    """
    frames = frames.copy()
    values, gradient = _render(volume, frames, points)
    best = _correlations(values, query_values)
    damping = np.full(len(frames), _DAMPING)
    active = np.ones(len(frames), bool)
    query_centred = query_values - query_values.mean()
    for _ in range(int(max_iterations)):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        centred = values[idx] - values[idx].mean(axis=1, keepdims=True)
        variance = (centred ** 2).sum(axis=1)
        gain = np.where(variance > 0, centred @ query_centred / np.maximum(variance, 1e-300), 0.0)
        flat = gain <= 0  # anti-correlated or constant render: nothing to climb
        active[idx[flat]] = False
        idx, centred, gain = idx[~flat], centred[~flat], gain[~flat]
        if idx.size == 0:
            break
        residual = query_centred - gain[:, None] * centred
        jac = -gain[:, None, None] * _jacobians(frames[idx], points, gradient[idx], n_params)
        hessian = np.einsum("bnp,bnq->bpq", jac, jac)
        diag = np.einsum("bpp->bp", hessian)
        system = hessian + (damping[idx, None] * diag + 1e-9)[:, :, None] * np.eye(n_params)
        delta = -np.linalg.solve(system, np.einsum("bnp,bn->bp", jac, residual)[..., None])[..., 0]
        trial = _apply(frames[idx], delta)
        trial_values, trial_gradient = _render(volume, trial, points)
        score = _correlations(trial_values, query_values)
        better = score > best[idx]
        gain_in_score = score - best[idx]
        accepted = idx[better]
        frames[accepted] = trial[better]
        values[accepted], gradient[accepted] = trial_values[better], trial_gradient[better]
        best[accepted] = score[better]
        damping[accepted] = np.maximum(damping[accepted] / 3.0, 1e-7)
        damping[idx[~better]] *= 8.0
        converged = better & ((np.abs(delta).max(axis=1) < 1e-4) | (gain_in_score < _MIN_GAIN))
        active[idx[converged]] = False
        active[idx[~better & (damping[idx] > 1e4)]] = False
    return frames, best


def refine_poses(query: Query, target: RefineTarget, poses: list[QueryPose], *,
                 fixed_scale: bool = False, levels=LEVELS) -> tuple[list[QueryPose], np.ndarray]:
    """Refine several poses together, each maximising its correlation with the query.

    Parameters
    ----------
    query : Query
    target : RefineTarget
        The volume at full resolution.
    poses : list of QueryPose
        Starting poses (e.g. the candidates of the index search).
    fixed_scale : bool, keyword-only
        Keep the scale (when the query's pixel size is known).
    levels : sequence of (float, int, int), keyword-only
        (smoothing sigma in voxels, lattice side, iterations) of each level, run in order
        (default ``LEVELS``).

    Returns
    -------
    poses : list of QueryPose
        The refined poses, in the input order.
    scores : (B,) ndarray of float64
        Their correlation with the query at the last level, in [-1, 1].
    """
    if not poses:
        return [], np.zeros(0)
    n_params = 6 if fixed_scale else 7
    frames = _stack(poses)
    scores = np.full(len(poses), -1.0)
    for sigma, grid, iterations in levels:
        scale = float(np.median(np.linalg.norm(frames[:, 1], axis=1)))
        points, values = _lattice(query, int(grid), float(sigma) / max(scale, 1e-6))
        frames, scores = _gauss_newton(target.smoothed(float(sigma)), frames, points, values,
                                       n_params, iterations)
    return _unstack(frames), scores


def refine_pose(query: Query, target: RefineTarget, pose: QueryPose, *, fixed_scale: bool = False,
                levels=LEVELS) -> tuple[QueryPose, float]:
    """Refine one pose (see :func:`refine_poses`); returns the pose and its correlation."""
    refined, scores = refine_poses(query, target, [pose], fixed_scale=fixed_scale, levels=levels)
    return refined[0], float(scores[0])


def pose_scores(query: Query, target: RefineTarget, poses: list[QueryPose], *, grid: int = GRID
                ) -> np.ndarray:
    """Correlation of the query with the (unsmoothed) volume rendered under each pose.

    Parameters
    ----------
    query : Query
    target : RefineTarget
    poses : list of QueryPose
    grid : int, keyword-only
        Lattice side (default ``GRID``).

    Returns
    -------
    (B,) ndarray of float64
        In [-1, 1]; the objective :func:`refine_poses` maximises.
    """
    if not poses:
        return np.zeros(0)
    points, values = _lattice(query, int(grid), 0.0)
    rendered, _ = _render(target.image, _stack(poses), points)
    return _correlations(rendered, values)


def pose_score(query: Query, target: RefineTarget, pose: QueryPose, *, grid: int = GRID) -> float:
    """Correlation of the query with the volume rendered under one pose (:func:`pose_scores`)."""
    return float(pose_scores(query, target, [pose], grid=grid)[0])
