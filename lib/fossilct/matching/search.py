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
    with the full-resolution volume (in one volume each keeps its coarse pose where the quick
    refinement lowered that correlation: a coarse candidate already at the right pose can drift
    off it on the smoothed copy); the best ``n_refine`` of them are refined on a fine
    lattice (``FINAL_LEVELS``) by
    Gauss-Newton maximisation of the query/render correlation
    (:func:`fossilct.matching.refine.refine_pose`), which fixes the normal to a fraction of a
    degree even from a candidate 15 degrees off, and the candidates are re-ranked by that
    correlation.
Tilted starts
    In one volume the best ``n_tilted`` coarse candidates are also screened with their plane
    tilted by ``TILT_DEG`` about the query's row and column axes, each way
    (:func:`tilted_candidates`). Where the best coarse candidates of a query lie 10-20 degrees
    from its true normal, the quick refinement often does not reach the true pose from any of
    them, but does from a tilted copy (notebook 07's benchmark, 200 queries of the embedded data,
    seed 0: oblique queries placed 88 % without tilted starts, 92 % with 12 candidates tilted by
    14 degrees; on the datasets of ``benchmarks/bench_unseen_scans.py`` the same poses on the
    embedded one and one more partial view of 96 placed on the second source).

Partial views
    A query whose silhouette touches the image border shows only part of its section, so its
    centroid and size are not the section's. Besides itself, the coarse stage then tries a few
    guessed whole sections (:func:`section_guesses`: the hidden part beyond the border, for
    several visible shares), each compared on the visible samples only (masked signatures), and
    every candidate places the query's own centroid where its guess puts it. In one volume,
    each guess gets the candidates a whole query gets (:func:`candidate_counts`): with one
    shared budget the four guesses crowded each other out of it (partial views cut from known
    poses: 74 % placed on the embedded data and 44 % on the second test source with one budget,
    86 % and 57 % with one per guess; whole queries are not affected). The library search keeps
    the shared budget: there the screening of every contending volume would grow fourfold
    (+23 % time per query per volume on the embedded benchmark, whose queries are partial views
    a quarter of the time) for no gain in identification.

The counts ``n_candidates``, ``n_screen`` and ``n_refine`` are those of
:class:`~fossilct.matching.effort.SearchEffort`; the stage functions take them explicitly,
:func:`search_index` from an effort (None: the library default).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from fossilct.matching import descriptors
from fossilct.matching.effort import SearchEffort, resolve_effort
from fossilct.matching.index import VolumeIndex
from fossilct.matching.pose import QueryPose, pose_from_turn, tilted_poses
from fossilct.matching.preprocess import Query
from fossilct.matching.refine import RefineTarget, pose_scores, refine_poses
from fossilct.matching.working import ANTIALIAS_SIGMA

__all__ = [
    "CHANNEL_WEIGHTS",
    "Candidate",
    "PARTIAL_SHARES",
    "SectionGuess",
    "TILT_DEG",
    "section_guesses",
    "candidate_counts",
    "tilted_candidates",
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
TILT_DEG = 14.0
"""Tilt of the tilted starts, degrees (8 placed fewer oblique queries of the embedded benchmark:
90 % with 12 candidates tilted, against 92 % at 14 degrees)."""
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


PARTIAL_SHARES = (0.85, 0.7, 0.55)
"""Visible shares of the whole section hypothesised for a partial view (besides 1)."""


@dataclass(frozen=True)
class SectionGuess:
    """Where the whole section of a query is assumed to be: centroid and equivalent radius.

    Attributes
    ----------
    centre : (2,) ndarray of float64
        (row, col) in the query's gray image; beyond its border for a partial view.
    radius : float
        Equivalent radius of the whole section, pixels.
    """

    centre: np.ndarray
    radius: float


def section_guesses(query: Query) -> list[SectionGuess]:
    """The whole sections a query may show: itself, and for a partial view larger ones.

    A partial view (``query.partial``) hides part of its section beyond the borders its
    silhouette touches. For each share ``f`` in ``PARTIAL_SHARES`` of the section assumed
    visible, the hidden area ``A (1 / f - 1)`` is placed beyond those borders (as deep as the
    hidden area over the touching length, centred half that depth beyond the border), which
    moves the centroid outwards and enlarges the equivalent radius. A query whose silhouette
    touches all four borders gets no guess beyond itself.

    Parameters
    ----------
    query : Query

    Returns
    -------
    list of SectionGuess
        The visible silhouette first.

    Examples
    --------
    >>> from fossilct.matching.preprocess import prepare_query
    >>> section = np.zeros((40, 40), np.float32); section[:20, 10:30] = 0.9
    >>> guesses = section_guesses(prepare_query(section))
    >>> [round(float(g.centre[0]), 1) for g in guesses]   # the top border hides a part
    [9.5, 7.8, 5.4, 1.5]
    """
    guesses = [SectionGuess(np.asarray(query.centroid, np.float64), float(query.radius))]
    if not query.partial:
        return guesses
    mask = query.silhouette
    height, width = mask.shape
    # touching length and outward normal of each side: top, bottom, left, right
    sides = [(mask[0].sum(), (-1.0, 0.0), query.centroid[0]),
             (mask[-1].sum(), (1.0, 0.0), height - 1 - query.centroid[0]),
             (mask[:, 0].sum(), (0.0, -1.0), query.centroid[1]),
             (mask[:, -1].sum(), (0.0, 1.0), width - 1 - query.centroid[1])]
    touching = [(float(n), np.array(d), float(dist)) for n, d, dist in sides if n > 0]
    if len(touching) == 4:
        return guesses
    length = sum(n for n, _, _ in touching)
    direction = sum(n * d for n, d, _ in touching)
    direction = direction / max(np.linalg.norm(direction), 1e-9)
    to_border = min(dist / max(abs(float(d @ direction)), 1e-3) for _, d, dist in touching)
    area = float(mask.sum())
    for share in PARTIAL_SHARES:
        hidden = area * (1.0 / share - 1.0)
        centre_hidden = query.centroid + (to_border + 0.5 * hidden / length) * direction
        centre = (area * query.centroid + hidden * centre_hidden) / (area + hidden)
        guesses.append(SectionGuess(centre, float(np.sqrt((area + hidden) / np.pi))))
    return guesses


def candidate_counts(query: Query, effort: SearchEffort) -> tuple[int, int]:
    """Coarse candidates kept and candidates screened for a query in one volume.

    ``max(n_candidates, n_screen)`` and ``max(n_screen, n_refine)`` of `effort`, per guessed
    whole section (:func:`section_guesses`): one guess for a whole query, more for a partial
    view.

    Parameters
    ----------
    query : Query
    effort : SearchEffort

    Returns
    -------
    (int, int)
        ``(n_coarse, n_screen)``.

    Examples
    --------
    >>> from fossilct.matching.preprocess import prepare_query
    >>> effort = SearchEffort(n_candidates=24, n_screen=16)
    >>> whole = np.zeros((40, 40), np.float32); whole[10:30, 12:26] = 0.9
    >>> cut = np.zeros((40, 40), np.float32); cut[:20, 10:30] = 0.9     # the top border cuts it
    >>> candidate_counts(prepare_query(whole), effort), candidate_counts(prepare_query(cut), effort)
    ((24, 16), (96, 64))
    """
    n_guesses = len(section_guesses(query))
    return (n_guesses * max(effort.n_candidates, effort.n_screen),
            n_guesses * max(effort.n_screen, effort.n_refine))


def _working_scale(query: Query, index: VolumeIndex, radius: float) -> float:
    """Working voxels per query pixel: exact with a pixel size, else from typical sizes."""
    if query.pixel_size_um is not None:
        return query.pixel_size_um / (index.voxel_size_um * index.factor)
    return float(np.median(index.entry_radius)) / index.factor / radius


def query_spectra(query: Query, index: VolumeIndex, guess: SectionGuess | None = None
                  ) -> np.ndarray:
    """Polar-signature spectra (2, R, H) of a query, at the index's working resolution.

    Parameters
    ----------
    query : Query
    index : VolumeIndex
    guess : SectionGuess, optional
        The whole section assumed (default the visible silhouette). For a partial view only
        the samples inside the image count (:func:`~fossilct.matching.descriptors.make_signatures`).

    Returns
    -------
    (2, R, H) ndarray of complex64
    """
    guess = section_guesses(query)[0] if guess is None else guess
    per_px = _working_scale(query, index, guess.radius)
    key = ("spectra", round(per_px, 6), tuple(np.round(guess.centre, 3)),
           round(guess.radius, 3), tuple(sorted(index.params.items())))
    return query.memo(key, lambda: _make_query_spectra(query, index, guess))


def _make_query_spectra(query: Query, index: VolumeIndex, guess: SectionGuess) -> np.ndarray:
    radii, angles = descriptors.polar_grid(n_rings=index.params["n_rings"],
                                           n_angles=index.params["n_angles"],
                                           max_radius=index.params["max_radius"])
    per_px = _working_scale(query, index, guess.radius)
    # blurred as the index's working copy was
    sigma = ANTIALIAS_SIGMA / per_px if per_px < 1.0 else 0.0
    reach = int(np.ceil(radii[-1] * guess.radius + 3 * sigma + 2))
    r0 = min(max(0, int(guess.centre[0]) - reach), query.gray.shape[0] - 1)
    c0 = min(max(0, int(guess.centre[1]) - reach), query.gray.shape[1] - 1)
    r1 = max(int(guess.centre[0]) + reach + 1, r0 + 1)
    c1 = max(int(guess.centre[1]) + reach + 1, c0 + 1)
    stack = np.stack([query.silhouette[r0:r1, c0:c1].astype(np.float32),
                      query.gray[r0:r1, c0:c1]], axis=-1)
    if sigma > 0:
        stack = cv2.GaussianBlur(stack, (0, 0), sigma)
    samples = descriptors.polar_samples(stack[None], (guess.centre - (r0, c0))[None],
                                        np.array([guess.radius]), radii=radii, angles=angles)
    visible = None
    if query.partial:
        rows = guess.centre[0] + guess.radius * radii[:, None] * np.cos(angles)[None]
        cols = guess.centre[1] + guess.radius * radii[:, None] * np.sin(angles)[None]
        height, width = query.gray.shape
        visible = ((rows >= -0.5) & (rows <= height - 0.5) & (cols >= -0.5)
                   & (cols <= width - 0.5))[None]
    signatures = descriptors.make_signatures(samples, radii, visible=visible)
    return descriptors.signature_spectra(signatures, n_harmonics=index.params["n_harmonics"])[0]


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
    normals = index.normals[index.entry_normal]
    offsets = index.entry_offset / index.factor
    score = np.full(len(index), -np.inf)
    angle = np.zeros(len(index))
    mirror = np.zeros(len(index), bool)
    guess_of = np.zeros(len(index), int)
    guesses = section_guesses(query)
    for g, guess in enumerate(guesses):
        found = _branch_and_bound(query_spectra(query, index, guess), index, normals, offsets,
                                  int(n_candidates))
        better = found[0] > score
        score[better], angle[better] = found[0][better], found[1][better]
        mirror[better], guess_of[better] = found[2][better], g
    scored = np.flatnonzero(np.isfinite(score))
    kept = _suppress(scored[np.argsort(-score[scored], kind="stable")], normals, offsets, mirror,
                     int(n_candidates))
    bases = index.bases
    out = []
    for k in kept:
        guess = guesses[guess_of[k]]
        if query.pixel_size_um is not None:
            scale = query.pixel_size_um / index.voxel_size_um
        else:
            scale = index.entry_radius[k] / guess.radius
        u0, v0 = bases[index.entry_normal[k]]
        pose = pose_from_turn(normals[k], index.entry_centroid[k], u0=u0, v0=v0,
                              turn_deg=float(angle[k]), mirror=bool(mirror[k]), scale=scale)
        # the guessed whole section's centroid lies on the entry's; the pose places the
        # query's own centroid
        shift = query.centroid - guess.centre
        pose = replace(pose, centre=pose.centre + shift[0] * pose.row_axis
                       + shift[1] * pose.col_axis)
        out.append(Candidate(pose, float(score[k])))
    return out


def _branch_and_bound(spectra_q, index: VolumeIndex, normals, offsets, n_candidates: int):
    """Exact scores (score, angle, mirror per entry; -inf where not scored) of the entries in
    order of decreasing bound, until no bound can beat the n-th best distinct candidate found
    so far (or ``MAX_EXACT`` sections were scored)."""
    bound = descriptors.rotation_bounds(spectra_q, index.bounds, channel_weights=CHANNEL_WEIGHTS)
    order = np.argsort(-bound, kind="stable")
    score = np.full(len(index), -np.inf)
    angle = np.zeros(len(index))
    mirror = np.zeros(len(index), bool)
    kept: list[int] = []
    for start in range(0, min(len(order), MAX_EXACT), SEARCH_CHUNK):
        chunk = order[start:start + SEARCH_CHUNK]
        if len(kept) == n_candidates and bound[chunk[0]] < score[kept[-1]]:
            break
        found = descriptors.rotation_search(spectra_q, index.spectra[chunk],
                                            n_angles=index.params["n_angles"],
                                            channel_weights=CHANNEL_WEIGHTS)
        score[chunk] = found.score
        angle[chunk] = found.angle_deg
        mirror[chunk] = found.mirror
        done = order[:start + len(chunk)]
        ranked = done[np.argsort(-score[done], kind="stable")]
        kept = _suppress(ranked, normals, offsets, mirror, n_candidates)
    return score, angle, mirror


def screen_candidates(query: Query, target: RefineTarget, coarse: list[Candidate], *,
                      n_screen: int, keep_starts: bool = False) -> list[Candidate]:
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
    keep_starts : bool, keyword-only
        Whether a candidate whose quick refinement lowered its correlation with the
        full-resolution volume keeps its coarse pose (default False: one more rendering of
        every start, about 6 % of the library search's time, for no gain in identification).

    Returns
    -------
    list of Candidate
        The screened candidates by decreasing correlation with the full-resolution volume.
    """
    starts = [c.pose for c in coarse[:int(n_screen)]]
    poses, _ = refine_poses(query, target, starts, fixed_scale=query.pixel_size_um is not None,
                            levels=SCREEN_LEVELS)
    scores = pose_scores(query, target, poses + starts if keep_starts else poses)
    screened = [Candidate(p, float(s)) for p, s in zip(poses, scores)]
    if keep_starts:
        unmoved = [Candidate(p, float(s)) for p, s in zip(starts, scores[len(poses):])]
        screened = [max(pair, key=lambda c: c.score) for pair in zip(screened, unmoved)]
    return sorted(screened, key=lambda c: -c.score)


def tilted_candidates(candidates: list[Candidate], *, n_tilted: int) -> list[Candidate]:
    """The first `n_tilted` candidates with their plane tilted by ``TILT_DEG``, four ways each.

    Parameters
    ----------
    candidates : list of Candidate
        Best first.
    n_tilted : int, keyword-only
        Candidates tilted (>= 0).

    Returns
    -------
    list of Candidate
        Four per tilted candidate (:func:`fossilct.matching.pose.tilted_poses`), each with the
        score of the candidate it comes from.
    """
    return [Candidate(pose, candidate.score) for candidate in candidates[:int(n_tilted)]
            for pose in tilted_poses(candidate.pose, TILT_DEG)]


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
        ``n_candidates``, ``n_screen`` (both per guessed whole section: :func:`candidate_counts`),
        ``n_tilted`` and ``n_refine`` are used (None: the library default);
        ``n_refine=0`` returns the coarse poses.

    Returns
    -------
    list of Candidate
        The refined candidates by decreasing correlation, then the other screened ones (the
        coarse and tilted starts).

    Raises
    ------
    TypeError
        If `effort` is not a SearchEffort.
    """
    effort = resolve_effort(effort)
    n_coarse, n_screen = candidate_counts(query, effort)
    coarse = coarse_candidates(query, index, n_candidates=n_coarse)
    if effort.n_refine == 0:
        return coarse
    starts = coarse[:n_screen] + tilted_candidates(coarse, n_tilted=effort.n_tilted)
    screened = screen_candidates(query, target, starts, n_screen=len(starts), keep_starts=True)
    return refine_candidates(query, target, screened, n_refine=effort.n_refine)
