"""How far to trust a match: the score margin to the best pose in a different basin.

A section can fit several poses almost equally: the chambers of a chain look alike, a small
section fits many places. The search refines several distinct candidates, so every match knows
the best fit it found *elsewhere*: among the candidates whose pose differs from the best one
(:func:`same_basin` is false), the highest fit. The reliability of the match is the margin
``best fit - best fit elsewhere`` (correlation units; the whole fit when no other basin was
scored). A match is flagged reliable when the margin is at least ``RELIABLE_MARGIN`` and the
fit itself at least ``RELIABLE_FIT``.

The thresholds were chosen on the embedded benchmark alone (notebook 07's quick setting: 200
axis-aligned and oblique sections with scale, blur, noise, crop and background nuisances, 24
volumes): matches below a fit of 0.9 were rarely right, and ``RELIABLE_MARGIN`` is the smallest
margin above which no match had a wrong pose there (139 of the 200 flagged; a margin of 0.01
flagged 169 with 99.4 % right). ``benchmarks/bench_matching.py`` measures the flag on another
source of scans.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fossilct.matching.pose import QueryPose

__all__ = ["BASIN_CENTRE_VOX", "BASIN_RIM_FRACTION", "RELIABLE_MARGIN", "RELIABLE_FIT",
           "same_basin", "basin_margins", "is_reliable"]

BASIN_CENTRE_VOX = 3.0
"""Two poses are one basin when they place the query's centroid within this many voxels ..."""
BASIN_RIM_FRACTION = 0.1
"""... and its rim (points one query radius from the centroid) within ``BASIN_CENTRE_VOX`` plus
this fraction of the radius (about 6 degrees of tilt or turn)."""
RELIABLE_MARGIN = 0.02
"""Smallest margin (correlation) of a reliable match."""
RELIABLE_FIT = 0.9
"""Smallest fit (correlation of query and section) of a reliable match."""


_RIM_STEPS = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


def _rims(poses: Sequence[QueryPose], radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, 5, 3) positions of the centroid and four rim points of the query; (K,) scales."""
    centre = np.stack([p.centre for p in poses])
    rows = np.stack([p.row_axis for p in poses])
    cols = np.stack([p.col_axis for p in poses])
    steps = radius_px * _RIM_STEPS
    rims = (centre[:, None] + steps[None, :, :1] * rows[:, None]
            + steps[None, :, 1:] * cols[:, None])
    return rims, np.linalg.norm(rows, axis=1)


def _same_basin_matrix(poses: Sequence[QueryPose], radius_px: float) -> np.ndarray:
    rims, scales = _rims(poses, radius_px)
    gaps = np.linalg.norm(rims[:, None] - rims[None, :], axis=-1)          # (K, K, 5)
    limit = BASIN_CENTRE_VOX + BASIN_RIM_FRACTION * radius_px * (scales[:, None]
                                                                 + scales[None, :]) / 2.0
    return (gaps[..., 0] <= BASIN_CENTRE_VOX) & (gaps[..., 1:].max(axis=-1) <= limit)


def same_basin(a: QueryPose, b: QueryPose, *, radius_px: float) -> bool:
    """Whether two poses put the query at practically the same place (module docstring).

    Parameters
    ----------
    a, b : QueryPose
    radius_px : float
        The query's equivalent radius, pixels.

    Returns
    -------
    bool

    Examples
    --------
    >>> pose = QueryPose(np.array([1.0, 0, 0]), np.zeros(3), np.array([0, 1.0, 0]),
    ...                  np.array([0, 0, 1.0]))
    >>> mirrored = QueryPose(pose.normal, pose.centre, pose.row_axis, -pose.col_axis)
    >>> same_basin(pose, pose, radius_px=10), same_basin(pose, mirrored, radius_px=10)
    (True, False)
    """
    return bool(_same_basin_matrix([a, b], float(radius_px))[0, 1])


def basin_margins(poses: Sequence[QueryPose], fits: Sequence[float], *, radius_px: float
                  ) -> np.ndarray:
    """For each candidate, its fit minus the best fit of a candidate in another basin.

    Parameters
    ----------
    poses : sequence of QueryPose
        Scored candidates.
    fits : sequence of float
        Their fits (the same objective for all; correlations, at least -1).
    radius_px : float
        The query's equivalent radius, pixels.

    Returns
    -------
    (K,) ndarray of float64
        Margins; a candidate with no other basin scored gets its fit plus one. Only the best
        candidate's margin can be positive.

    Raises
    ------
    ValueError
        If there is no candidate or the lengths differ.

    Examples
    --------
    >>> a = QueryPose(np.array([1.0, 0, 0]), np.zeros(3), np.array([0, 1.0, 0]),
    ...               np.array([0, 0, 1.0]))
    >>> b = QueryPose(a.normal, np.array([9.0, 0, 0]), a.row_axis, a.col_axis)
    >>> basin_margins([a, a, b], [0.9, 0.88, 0.7], radius_px=5).round(6).tolist()
    [0.2, 0.18, -0.2]
    """
    if len(poses) == 0 or len(poses) != len(fits):
        raise ValueError(f"`poses` and `fits` must be non-empty and of the same length; got "
                         f"{len(poses)} and {len(fits)}.")
    fits = np.asarray(fits, dtype=np.float64)
    elsewhere = np.where(_same_basin_matrix(poses, float(radius_px)), -np.inf, fits[None, :])
    best_elsewhere = elsewhere.max(axis=1)
    return fits - np.where(np.isfinite(best_elsewhere), best_elsewhere, -1.0)


def is_reliable(margin: float, fit: float) -> bool:
    """Whether a match with this margin and fit is flagged reliable (module docstring).

    Examples
    --------
    >>> is_reliable(0.05, 0.95), is_reliable(0.001, 0.95), is_reliable(0.05, 0.5)
    (True, False, False)
    """
    return bool(margin >= RELIABLE_MARGIN and fit >= RELIABLE_FIT)
