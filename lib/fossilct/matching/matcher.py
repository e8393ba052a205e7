"""Match a section to one volume or to a library of volumes, with either method.

``method="fossilct"`` (default): index search, screening and Gauss-Newton refinement
(:mod:`fossilct.matching.search` in one volume, :mod:`fossilct.matching.library_search` over a
library). ``method="reference"``: the study's algorithm (:mod:`fossilct.matching.reference`),
run on every volume. Both report :class:`~fossilct.matching.Match` records scored identically
(:mod:`fossilct.matching.scoring`); volumes, specimens (best volume) and species (best
specimen) are ranked by the combined score. A volume that cannot be searched is reported in the
result's ``skipped`` table and the others are still ranked.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fossilct.matching import search
from fossilct.matching.effort import SearchEffort, resolve_effort
from fossilct.matching.errors import MatchingError
from fossilct.matching.library import SKIPPED_COLUMNS
from fossilct.matching.library_search import check_searchable, search_library
from fossilct.matching.pose import QueryPose
from fossilct.matching.preprocess import Query, prepare_query
from fossilct.matching.records import MATCH_COLUMNS, Library, LibraryResult, LibraryVolume, Match
from fossilct.matching.reference import reference_search
from fossilct.matching.reliability import basin_margins, is_reliable, tilt_drop
from fossilct.matching.scoring import (check_weights, combined_score, match_scores,
                                       section_in_query_frame)

__all__ = ["METHODS", "match_slice_to_volume", "match_slice_to_library"]

METHODS = ("fossilct", "reference")
"""The matching methods."""


def _make_match(query: Query, target: LibraryVolume, pose: QueryPose, *, fit: float,
                refined: bool, margin: float, method: str,
                weights: Mapping[str, float] | None) -> Match:
    pose = pose.facing_up()
    section = section_in_query_frame(query, target.volume, pose)
    scores = match_scores(query, section)
    angle, mirror = pose.angle_mirror()
    offset = pose.offset(target.volume.shape)
    ours = refined and method == "fossilct"
    drop = tilt_drop(query, target.refine_target, pose, fit) if ours else float("nan")
    return Match(file=target.file, specimen=target.specimen, species=target.species,
                 method=method, normal=tuple(float(x) for x in pose.normal),
                 offset_vox=offset, offset_um=offset * target.voxel_size_um, angle_deg=angle,
                 mirror=mirror, scale=pose.scale,
                 centre_vox=tuple(float(x) for x in pose.centre), scores=scores,
                 score=combined_score(scores, weights), fit=float(fit), refined=bool(refined),
                 reliability=float(margin), tilt_drop=drop,
                 reliable=bool(ours and is_reliable(margin, fit, drop)),
                 partial=query.partial, image=section.image, mask=section.mask,
                 plane_in_file=(None if target.source_grid is None
                                else target.source_grid.plane_in_file(pose)))


def _as_query(query, pixel_size_um) -> Query:
    if isinstance(query, Query):
        return query
    return prepare_query(np.asarray(query), pixel_size_um=pixel_size_um)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")


def match_slice_to_volume(query, target: LibraryVolume, *, method: str = "fossilct",
                          pixel_size_um: float | None = None, n_matches: int = 1,
                          weights: Mapping[str, float] | None = None,
                          effort: SearchEffort | None = None) -> list[Match]:
    """Find where a section lies in one volume.

    Parameters
    ----------
    query : Query or ndarray
        A prepared query, or an image (gray/RGB, any size, black or white background) that is
        prepared with :func:`~fossilct.matching.prepare_query`.
    target : LibraryVolume
    method : {"fossilct", "reference"}, keyword-only
    pixel_size_um : float, optional, keyword-only
        Pixel size of an image `query` (ignored for a prepared Query, which carries its own).
    n_matches : int, keyword-only
        Matches returned, best first (fossilct: distinct refined poses; the reference returns
        one).
    weights : mapping, optional, keyword-only
        Weights of the combined score (None: the library default,
        :data:`fossilct.matching.scoring.DEFAULT_WEIGHTS`).
    effort : SearchEffort, optional, keyword-only
        Search effort of the fossilct method (None: the library default); ignored by the
        reference.

    Returns
    -------
    list of Match
        Sorted by decreasing combined score.

    Raises
    ------
    ValueError
        Unknown method or bad option.
    TypeError
        `target` is not a LibraryVolume, or `effort` is not a SearchEffort.
    MatchingError
        The query has no fossil (or is blank, too small, ...), or the volume has no index.
    """
    _check_method(method)
    if int(n_matches) < 1:
        raise ValueError(f"`n_matches` must be at least 1; got {n_matches}.")
    effort = resolve_effort(effort)
    weights = check_weights(weights)
    check_searchable(target, needs_index=method == "fossilct")
    query = _as_query(query, pixel_size_um)
    if method == "reference":
        result = reference_search(query, target.volume)
        return [_make_match(query, target, result.pose, fit=result.fit, refined=True,
                            margin=float("nan"), method=method, weights=weights)]
    found = search.search_index(query, target.index, target.refine_target, effort=effort)
    margins = basin_margins([c.pose for c in found], [c.score for c in found],
                            radius_px=query.radius)
    matches = [_make_match(query, target, c.pose, fit=c.score, refined=c.refined, margin=m,
                           method=method, weights=weights)
               for c, m in zip(found[:int(n_matches)], margins)]
    return sorted(matches, key=lambda m: -m.score)


def _rank_tables(matches: list[Match]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = pd.DataFrame([m.as_row() for m in matches],
                        columns=[c for c in MATCH_COLUMNS if c != "rank"])
    rows.insert(0, "rank", np.arange(1, len(rows) + 1))
    by_specimen = (rows.groupby(["specimen", "species"], sort=False)
                   .agg(score=("score", "max"), n_volumes=("file", "size")).reset_index()
                   .sort_values("score", ascending=False, kind="stable"))
    by_specimen.insert(0, "rank", np.arange(1, len(by_specimen) + 1))
    by_species = (by_specimen.groupby("species", sort=False)
                  .agg(score=("score", "max"), n_specimens=("specimen", "size")).reset_index()
                  .sort_values("score", ascending=False, kind="stable"))
    by_species.insert(0, "rank", np.arange(1, len(by_species) + 1))
    return rows, by_specimen.reset_index(drop=True), by_species.reset_index(drop=True)


def match_slice_to_library(query, library: Library | Sequence[LibraryVolume], *,
                           method: str = "fossilct", pixel_size_um: float | None = None,
                           weights: Mapping[str, float] | None = None,
                           effort: SearchEffort | None = None) -> LibraryResult:
    """Rank the volumes, specimens and species of a library for a query section.

    Parameters
    ----------
    query : Query or ndarray
        As :func:`match_slice_to_volume`.
    library : Library or sequence of LibraryVolume
    method : {"fossilct", "reference"}, keyword-only
    pixel_size_um : float, optional, keyword-only
    weights : mapping, optional, keyword-only
        Weights of the combined score (None: the library default).
    effort : SearchEffort, optional, keyword-only
        Search effort of the fossilct method (None: the library default; see
        :mod:`fossilct.matching.library_search`). The reference searches every volume fully.

    Returns
    -------
    LibraryResult
        Volumes that fail (no index, a search error) are listed in ``skipped`` with the
        library's own skipped files.

    Raises
    ------
    ValueError
        Unknown method, bad option, or an empty library.
    TypeError
        `effort` is not a SearchEffort.
    MatchingError
        The query has no fossil (or is blank, too small, ...).
    """
    _check_method(method)
    effort = resolve_effort(effort)
    weights = check_weights(weights)
    members = tuple(library.volumes if isinstance(library, Library) else library)
    skipped = list(library.skipped.to_dict("records")) if isinstance(library, Library) else []
    if not members:
        raise ValueError("The library is empty: no volume could be loaded "
                         f"({len(skipped)} skipped). Check the data folder and the table.")
    query = _as_query(query, pixel_size_um)
    start = time.perf_counter()
    matches: list[Match] = []
    if method == "reference":
        for target in members:
            try:
                matches += match_slice_to_volume(query, target, method=method, weights=weights)
            except (MatchingError, TypeError) as error:
                skipped.append({"file": getattr(target, "file", "?"),
                                "reason": f"{type(error).__name__}: {error}"})
    else:
        found = search_library(query, members, effort=effort)
        skipped += found.skipped
        for hit in found.found:
            best = hit.candidates[0]
            margin = basin_margins([c.pose for c in hit.candidates],
                                   [c.score for c in hit.candidates], radius_px=query.radius)[0]
            matches.append(_make_match(query, hit.target, best.pose, fit=best.score,
                                       refined=best.refined, margin=margin, method=method,
                                       weights=weights))
    matches.sort(key=lambda m: -m.score)
    volumes_table, specimens, species = _rank_tables(matches)
    return LibraryResult(matches=matches, volumes=volumes_table, specimens=specimens,
                         species=species,
                         skipped=pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS)),
                         seconds=time.perf_counter() - start)
