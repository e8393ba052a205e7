"""The fossilct search: one query against one indexed volume, coarse then refined.

Coarse
    The query's polar signature is correlated with the signature of every indexed section, for
    every in-plane turn and both mirror states at once (FFT circular correlation over the
    whole index, in order of decreasing upper bound, stopping when no bound can beat the
    candidates found or after ``MAX_EXACT`` sections; see
    :func:`fossilct.matching.descriptors.rotation_search`).
    The best ``n_candidates`` sections that differ in pose (non-maximum suppression) are kept,
    each with the turn, mirror flag and scale that align the query on it. The section sizes are
    not compared with the query's even when its pixel size is known: the volume's fossil mask
    and the query's silhouette are segmented differently, their areas differ by several percent
    from section to section, and a size penalty was found to mislead more than it helps.
Refinement
    The best ``n_screen`` are screened by a quick refinement (``SCREEN_LEVELS``: a smoothed copy
    of the volume then the volume itself, on coarse lattices) and re-ranked by their correlation
    with the full-resolution volume; the best ``n_refine`` of them are refined on a fine
    lattice (``FINAL_LEVELS``) by
    Gauss-Newton maximisation of the query/render correlation
    (:func:`fossilct.matching.refine.refine_pose`), which fixes the normal to a fraction of a
    degree even from a candidate 15 degrees off, and the candidates are re-ranked by that
    correlation.

The counts ``n_candidates``, ``n_screen`` and ``n_refine`` are those of
:class:`~fossilct.matching.effort.SearchEffort`; the stage functions take them explicitly,
:func:`search_index` from an effort (None: the library default).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fossilct import planes
from fossilct.matching import descriptors
from fossilct.matching.effort import SearchEffort, resolve_effort
from fossilct.matching.index import VolumeIndex
from fossilct.matching.pose import QueryPose, pose_from_turn
from fossilct.matching.preprocess import Query
from fossilct.matching.refine import RefineTarget, pose_scores, refine_poses
from fossilct.matching.working import ANTIALIAS_SIGMA

__all__ = [
    "CHANNEL_WEIGHTS",
    "Candidate",
    "query_spectra",
    "coarse_candidates",
    "screen_candidates",
    "refine_candidates",
    "search_index",
]

SCREEN_LEVELS = ((1.5, 24, 5), (0.0, 24, 4))
"""The screening refinement: (smoothing sigma in voxels, lattice side, iterations) per level."""
FINAL_LEVELS = ((1.0, 48, 10), (0.0, 48, 15))
"""The full refinement of the best screened candidates."""
CHANNEL_WEIGHTS = (0.5, 0.5)
"""Weights of the mask and image channels in the signature correlation."""
NMS_NORMAL_DEG = 12.0
"""Candidates closer than this in normal ..."""
NMS_OFFSET = 3.0
"""... and this in offset (working voxels), with the same mirror flag, count as one."""
SEARCH_CHUNK = 512
"""Index sections scored exactly per step of the branch-and-bound search."""
MAX_EXACT = 512
"""Index sections scored exactly at most per query and volume, in order of decreasing bound
(on sections of known pose the 10 best exact scores were among the 512 best bounds 99.3 % of
the time, so the cap costs almost nothing and bounds the search time)."""


@dataclass(frozen=True)
class Candidate:
    """A scored pose of the query in one volume.

    Attributes
    ----------
    pose : QueryPose
        In full-resolution voxel coordinates.
    score : float
        After refinement, the correlation of query and rendered volume; before, the signature
        correlation.
    refined : bool
        Whether the pose was refined.
    """

    pose: QueryPose
    score: float
    refined: bool = False


def _working_scale(query: Query, index: VolumeIndex) -> float:
    """Working voxels per query pixel: exact with a pixel size, else from typical sizes."""
    if query.pixel_size_um is not None:
        return query.pixel_size_um / (index.voxel_size_um * index.factor)
    return float(np.median(index.entry_radius)) / index.factor / query.radius


def query_spectra(query: Query, index: VolumeIndex) -> np.ndarray:
    """Polar-signature spectra (2, R, H) of a query, at the index's working resolution.

    Parameters
    ----------
    query : Query
    index : VolumeIndex

    Returns
    -------
    (2, R, H) ndarray of complex64
    """
    per_px = _working_scale(query, index)
    key = ("spectra", round(per_px, 6), tuple(sorted(index.params.items())))
    return query.memo(key, lambda: _make_query_spectra(query, index))


def _make_query_spectra(query: Query, index: VolumeIndex) -> np.ndarray:
    radii, angles = descriptors.polar_grid(n_rings=index.params["n_rings"],
                                           n_angles=index.params["n_angles"],
                                           max_radius=index.params["max_radius"])
    per_px = _working_scale(query, index)
    # blurred as the index's working copy was
    sigma = ANTIALIAS_SIGMA / per_px if per_px < 1.0 else 0.0
    reach = int(np.ceil(radii[-1] * query.radius + 3 * sigma + 2))
    r0 = max(0, int(query.centroid[0]) - reach)
    c0 = max(0, int(query.centroid[1]) - reach)
    r1 = int(query.centroid[0]) + reach + 1
    c1 = int(query.centroid[1]) + reach + 1
    stack = np.stack([query.silhouette[r0:r1, c0:c1].astype(np.float32),
                      query.gray[r0:r1, c0:c1]], axis=-1)
    if sigma > 0:
        stack = cv2.GaussianBlur(stack, (0, 0), sigma)
    samples = descriptors.polar_samples(stack[None], (query.centroid - (r0, c0))[None],
                                        np.array([query.radius]), radii=radii, angles=angles)
    return descriptors.signature_spectra(descriptors.make_signatures(samples, radii),
                                         n_harmonics=index.params["n_harmonics"])[0]


def _suppress(order, normals, offsets, mirrors, n_keep) -> list[int]:
    """Greedy non-maximum suppression over (normal, offset, mirror).

    A candidate duplicates a kept one when their planes agree within ``NMS_NORMAL_DEG`` and
    ``NMS_OFFSET`` (a plane and its opposite normal with negated offset being the same plane)
    and they show the same side (the mirror flag flips with the normal's sign).
    """
    cos_limit = np.cos(np.deg2rad(NMS_NORMAL_DEG))
    kept: list[int] = []
    kept_normals = np.empty((int(n_keep), 3))
    kept_offsets = np.empty(int(n_keep))
    kept_mirrors = np.empty(int(n_keep), bool)
    for k in order:
        m = len(kept)
        dot = kept_normals[:m] @ normals[k]
        same_side = dot >= 0
        near = np.abs(offsets[k] - np.where(same_side, kept_offsets[:m], -kept_offsets[:m]))
        duplicate = ((np.abs(dot) >= cos_limit) & (near < NMS_OFFSET)
                     & ((kept_mirrors[:m] == mirrors[k]) == same_side))
        if not duplicate.any():
            kept_normals[m], kept_offsets[m], kept_mirrors[m] = normals[k], offsets[k], mirrors[k]
            kept.append(int(k))
            if len(kept) == n_keep:
                break
    return kept


def coarse_candidates(query: Query, index: VolumeIndex, *, n_candidates: int
                      ) -> list[Candidate]:
    """The best distinct index sections for a query, posed, best first (the coarse stage).

    Parameters
    ----------
    query : Query
        From :func:`fossilct.matching.prepare_query`.
    index : VolumeIndex
    n_candidates : int, keyword-only
        Candidates kept.

    Returns
    -------
    list of Candidate
        At most `n_candidates`, by decreasing signature score.

    Raises
    ------
    ValueError
        If `n_candidates` < 1.
    """
    if int(n_candidates) < 1:
        raise ValueError(f"`n_candidates` must be at least 1; got {n_candidates}.")
    spectra_q = query_spectra(query, index)
    bound = descriptors.rotation_bounds(spectra_q, index.bounds, channel_weights=CHANNEL_WEIGHTS)
    order = np.argsort(-bound, kind="stable")
    normals = index.normals[index.entry_normal]
    offsets = index.entry_offset / index.factor
    score = np.full(len(index), -np.inf)
    angle = np.zeros(len(index))
    mirror = np.zeros(len(index), bool)
    kept: list[int] = []
    # branch and bound: exact scores in order of decreasing bound, until no bound can beat the
    # n-th best distinct candidate found so far (or MAX_EXACT sections were scored)
    for start in range(0, min(len(order), MAX_EXACT), SEARCH_CHUNK):
        chunk = order[start:start + SEARCH_CHUNK]
        if len(kept) == int(n_candidates) and bound[chunk[0]] < score[kept[-1]]:
            break
        found = descriptors.rotation_search(spectra_q, index.spectra[chunk],
                                            n_angles=index.params["n_angles"],
                                            channel_weights=CHANNEL_WEIGHTS)
        score[chunk] = found.score
        angle[chunk] = found.angle_deg
        mirror[chunk] = found.mirror
        done = order[:start + len(chunk)]
        ranked = done[np.argsort(-score[done], kind="stable")]
        kept = _suppress(ranked, normals, offsets, mirror, int(n_candidates))
    out = []
    for k in kept:
        if query.pixel_size_um is not None:
            scale = query.pixel_size_um / index.voxel_size_um
        else:
            scale = index.entry_radius[k] / query.radius
        u0, v0 = planes.plane_basis(normals[k])
        pose = pose_from_turn(normals[k], index.entry_centroid[k], u0=u0, v0=v0,
                              turn_deg=float(angle[k]), mirror=bool(mirror[k]),
                              scale=scale)
        out.append(Candidate(pose, float(score[k])))
    return out


def screen_candidates(query: Query, target: RefineTarget, coarse: list[Candidate], *,
                      n_screen: int) -> list[Candidate]:
    """Quickly refine the best coarse candidates and rank them by their full-resolution fit.

    Parameters
    ----------
    query : Query
    target : RefineTarget
        The volume at full resolution.
    coarse : list of Candidate
        From :func:`coarse_candidates`, best first.
    n_screen : int, keyword-only
        Candidates screened (the first `n_screen` of `coarse`).

    Returns
    -------
    list of Candidate
        The screened candidates by decreasing correlation with the full-resolution volume.
    """
    chosen = coarse[:int(n_screen)]
    poses, _ = refine_poses(query, target, [c.pose for c in chosen],
                            fixed_scale=query.pixel_size_um is not None, levels=SCREEN_LEVELS)
    scores = pose_scores(query, target, poses)
    return sorted((Candidate(p, float(s)) for p, s in zip(poses, scores)),
                  key=lambda c: -c.score)


def refine_candidates(query: Query, target: RefineTarget, candidates: list[Candidate], *,
                      n_refine: int) -> list[Candidate]:
    """Refine the first `n_refine` candidates fully (``FINAL_LEVELS``); best first.

    Parameters
    ----------
    query : Query
    target : RefineTarget
    candidates : list of Candidate
        Best first (e.g. from :func:`screen_candidates`).
    n_refine : int, keyword-only
        Candidates refined.

    Returns
    -------
    list of Candidate
        The refined candidates by decreasing correlation, then the others unchanged.
    """
    chosen = candidates[:int(n_refine)]
    poses, scores = refine_poses(query, target, [c.pose for c in chosen],
                                 fixed_scale=query.pixel_size_um is not None,
                                 levels=FINAL_LEVELS)
    refined = sorted((Candidate(p, float(s), refined=True) for p, s in zip(poses, scores)),
                     key=lambda c: -c.score)
    return refined + list(candidates[int(n_refine):])


def search_index(query: Query, index: VolumeIndex, target: RefineTarget, *,
                 effort: SearchEffort | None = None) -> list[Candidate]:
    """Poses of a query in one volume: coarse candidates, screened, the best refined.

    Parameters
    ----------
    query : Query
    index : VolumeIndex
        The volume's index.
    target : RefineTarget
        The same volume at full resolution, for the refinement.
    effort : SearchEffort, optional, keyword-only
        ``n_candidates``, ``n_screen`` and ``n_refine`` are used (None: the library default);
        ``n_refine=0`` returns the coarse poses.

    Returns
    -------
    list of Candidate
        The refined candidates by decreasing correlation, then the other screened ones.

    Raises
    ------
    TypeError
        If `effort` is not a SearchEffort.
    """
    effort = resolve_effort(effort)
    coarse = coarse_candidates(query, index,
                               n_candidates=max(effort.n_candidates, effort.n_screen))
    if effort.n_refine == 0:
        return coarse
    screened = screen_candidates(query, target, coarse,
                                 n_screen=max(effort.n_screen, effort.n_refine))
    return refine_candidates(query, target, screened, n_refine=effort.n_refine)
