"""How far to trust a match: the margin to the best pose in another basin, and how sharply the
fit picks the plane's tilt.

A section can fit several poses almost equally: the chambers of a chain look alike, a small
section fits many places. The search refines several distinct candidates, so every match knows
the best fit it found *elsewhere*: among the candidates whose pose differs from the best one
(:func:`same_basin` is false), the highest fit. The reliability of the match is the margin
``best fit - best fit elsewhere`` (correlation units; the whole fit when no other basin was
scored).

A section can also barely change when its plane tilts: a ring cut across a tube looks the same
a few degrees either way, so its normal is uncertain within one basin, which the margin cannot
see. The *tilt drop* (:func:`tilt_drop`) is how much the fit falls when the plane is tilted by
``RELIABLE_TILT_DEG`` about the query's centroid (the least of four tilts, about its row and
column axes each way).

A match is flagged reliable when the margin is at least ``RELIABLE_MARGIN``, the fit at least
``RELIABLE_FIT`` and the tilt drop at least ``RELIABLE_TILT_DROP``. The thresholds were chosen
on the embedded benchmark alone (notebook 07's quick setting: 200 axis-aligned and oblique
sections with scale, blur, noise, crop and background nuisances, 24 volumes, seed 0):

- matches below a fit of 0.9 were rarely right;
- ``RELIABLE_MARGIN`` is the smallest margin above which no match had a wrong pose there (139 of
  the 200 flagged; a margin of 0.01 flagged 169 with 99.4 % right);
- ``RELIABLE_TILT_DROP`` keeps 96 % (136 of 141) of the matches that margin and fit flag there,
  all of them right: the 5th percentile of their tilt drops (0.0115, from the ``tilt_drop``
  column of that run's ``matching/poses.csv``), rounded down.

``benchmarks/bench_matching.py`` and ``benchmarks/bench_unseen_scans.py`` measure the flag on
another source of scans: on the latter's second source (``--specimens 5``: 192 axis-aligned and
oblique queries, seed 0) the tilt test lowered the share flagged from 62 % (120) to 55 % (105)
and raised the share right among them from 95 % to 97 %.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fossilct.matching.pose import QueryPose, tilted_poses
from fossilct.matching.preprocess import Query
from fossilct.matching.refine import RefineTarget, pose_scores

__all__ = ["BASIN_CENTRE_VOX", "BASIN_RIM_FRACTION", "RELIABLE_MARGIN", "RELIABLE_FIT",
           "RELIABLE_TILT_DEG", "RELIABLE_TILT_DROP", "same_basin", "basin_margins", "tilt_drop",
           "is_reliable", "reliability_note"]

BASIN_CENTRE_VOX = 3.0
"""Two poses are one basin when they place the query's centroid within this many voxels ..."""
BASIN_RIM_FRACTION = 0.1
"""... and its rim (points one query radius from the centroid) within ``BASIN_CENTRE_VOX`` plus
this fraction of the radius (about 6 degrees of tilt or turn)."""
RELIABLE_MARGIN = 0.02
"""Smallest margin (correlation) of a reliable match."""
RELIABLE_FIT = 0.9
"""Smallest fit (correlation of query and section) of a reliable match."""
RELIABLE_TILT_DEG = 5.0
"""Tilt of the plane at which the tilt drop is measured: the normal error a correct pose may
have in the matching benchmark."""
RELIABLE_TILT_DROP = 0.01
"""Smallest tilt drop (correlation) of a reliable match."""


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


def tilt_drop(query: Query, target: RefineTarget, pose: QueryPose, fit: float) -> float:
    """How much the fit falls when the plane tilts by ``RELIABLE_TILT_DEG`` (module docstring).

    Parameters
    ----------
    query : Query
    target : RefineTarget
        The matched volume.
    pose : QueryPose
        The match's pose.
    fit : float
        Its fit (:func:`fossilct.matching.refine.pose_scores` at `pose`).

    Returns
    -------
    float
        `fit` minus the best fit of the four tilted poses: near 0 where the section barely
        changes with tilt, negative where a tilt fits better (an unconverged pose).
    """
    tilted = pose_scores(query, target, tilted_poses(pose, RELIABLE_TILT_DEG))
    return float(fit - tilted.max())


def _doubts(margin: float, fit: float, drop: float) -> list[str]:
    """Why a refined match is not reliable, one phrase per threshold it misses (NaN misses)."""
    doubts = []
    if not fit >= RELIABLE_FIT:
        doubts.append(f"the fit is low ({fit:.3f} < {RELIABLE_FIT:g})")
    if not margin >= RELIABLE_MARGIN:
        doubts.append(f"another pose fits almost as well (margin {margin:.3f} < "
                      f"{RELIABLE_MARGIN:g})")
    if not drop >= RELIABLE_TILT_DROP:
        doubts.append(f"the section barely changes when its plane tilts by "
                      f"{RELIABLE_TILT_DEG:g} degrees (fit drop {drop:.3f} < "
                      f"{RELIABLE_TILT_DROP:g}), so its orientation is uncertain")
    return doubts


def is_reliable(margin: float, fit: float, drop: float) -> bool:
    """Whether a match with this margin, fit and tilt drop is flagged reliable (module
    docstring).

    Examples
    --------
    >>> is_reliable(0.05, 0.95, 0.02), is_reliable(0.001, 0.95, 0.02)
    (True, False)
    >>> is_reliable(0.05, 0.5, 0.02), is_reliable(0.05, 0.95, 0.002)
    (False, False)
    """
    return not _doubts(margin, fit, drop)


def reliability_note(match) -> str:
    """Whether to trust a match's pose, and why not, in one line for a person.

    Parameters
    ----------
    match : Match
        Its ``method``, ``refined``, ``reliable``, ``fit``, ``reliability`` (the margin) and
        ``tilt_drop`` are read.

    Returns
    -------
    str

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> reliability_note(NS(method="fossilct", refined=True, reliable=False, fit=0.95,
    ...                     reliability=0.05, tilt_drop=0.002))  # doctest: +NORMALIZE_WHITESPACE
    'pose not reliable: the section barely changes when its plane tilts by 5 degrees (fit drop
     0.002 < 0.01), so its orientation is uncertain'
    """
    if match.method != "fossilct":
        return "pose reliability not assessed (the reference method scores no other poses)"
    if not match.refined:
        return ("pose not reliable: not refined (the volume ranked too low in the library to "
                "be searched fully)")
    if match.reliable:
        return (f"pose reliable: no pose elsewhere fits within {match.reliability:.3f} of it, "
                f"and tilting its plane by {RELIABLE_TILT_DEG:g} degrees lowers the fit by "
                f"{match.tilt_drop:.3f}")
    return "pose not reliable: " + "; ".join(_doubts(match.reliability, match.fit,
                                                     match.tilt_drop))
