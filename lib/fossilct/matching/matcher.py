"""Match a section to one volume or to a library of volumes, with either method.

``method="fossilct"`` (default): index search, screening and Gauss-Newton refinement
(:mod:`fossilct.matching.search`). ``method="reference"``: the study's algorithm
(:mod:`fossilct.matching.reference`). Both report :class:`~fossilct.matching.Match` records
scored identically (:mod:`fossilct.matching.scoring`).

In a library, the fossilct method compares the query with the indexes of all volumes first
(cheap), ranks the volumes by the full-resolution fit of their ``N_PRERANK`` best coarse
candidates (signature scores are not comparable between volumes: a smooth, low-resolution
volume correlates well with many sections), screens the candidates of the
``n_screen_volumes`` best volumes (a quick refinement) and refines fully only the
``n_refine_volumes`` best of those by screened fit; the other volumes keep their best coarse or
screened pose. Volumes, specimens (best volume) and species (best specimen)
are ranked by the combined score. A volume that cannot be searched is reported in the result's
``skipped`` table and the others are still ranked.

:func:`load_library` is the I/O edge: it reads volumes listed in a table, prepares them
(:func:`fossilct.slicing.prepare_volume`), attaches their indexes (cached on disk when a folder is
given) and reports every file it had to leave out.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fossilct import slicing, volumes
from fossilct.matching import search
from fossilct.matching.errors import MatchingError, check_volume_and_mask
from fossilct.matching.index import build_index, load_or_build_index
from fossilct.matching.pose import Pose
from fossilct.matching.preprocess import Query, prepare_query
from fossilct.matching.records import (MATCH_COLUMNS, Library, LibraryResult, LibraryVolume,
                                       Match)
from fossilct.matching.reference import reference_search
from fossilct.matching.refine import pose_scores
from fossilct.matching.scoring import (DEFAULT_WEIGHTS, combined_score, match_scores,
                                       section_in_query_frame)

__all__ = [
    "METHODS",
    "N_SCREEN_VOLUMES",
    "N_REFINE_VOLUMES",
    "make_library_volume",
    "library_volume_from_prepared",
    "load_library",
    "match_slice_to_volume",
    "match_slice_to_library",
]

METHODS = ("fossilct", "reference")
"""The matching methods."""
N_SCREEN_VOLUMES = 6
"""Volumes of a library whose coarse candidates the fossilct method screens."""
N_PRERANK = 3
"""Best coarse candidates per volume whose fit at full resolution ranks the volumes."""
N_REFINE_VOLUMES = 3
"""Volumes of a library whose best screened candidates the fossilct method refines fully."""
SKIPPED_COLUMNS = ("file", "reason")


def make_library_volume(volume: np.ndarray, mask: np.ndarray, *, voxel_size_um: float,
                        file: str = "", specimen: str = "", species: str = "",
                        cache_dir: str | os.PathLike | None = None, with_index: bool = True,
                        **index_params) -> LibraryVolume:
    """Validate a volume and its fossil mask and attach its index.

    Parameters
    ----------
    volume : (P, M, N) ndarray of numbers
        Isotropic, intensity-normalised volume, fossil bright.
    mask : (P, M, N) ndarray of bool
        Fossil silhouette.
    voxel_size_um : float, keyword-only
    file, specimen, species : str, keyword-only
        Identification copied into matches.
    cache_dir : path-like, optional, keyword-only
        Index cache folder (:func:`~fossilct.matching.load_or_build_index`); None builds the index
        in memory.
    with_index : bool, keyword-only
        Build or load the index (default True); False for the reference method only.
    **index_params
        Passed to the index builder.

    Returns
    -------
    LibraryVolume

    Raises
    ------
    ValueError, TypeError, MatchingError
        As :func:`~fossilct.matching.errors.check_volume_and_mask` and the index builder.
    """
    name = file or "volume"
    volume, mask = check_volume_and_mask(volume, mask, voxel_size_um=voxel_size_um, name=name)
    index = None
    if with_index and cache_dir is not None:
        index = load_or_build_index(volume, mask, cache_dir=cache_dir,
                                    voxel_size_um=voxel_size_um, name=name, **index_params)
    elif with_index:
        index = build_index(volume, mask, voxel_size_um=voxel_size_um, name=name, **index_params)
    return LibraryVolume(volume=np.ascontiguousarray(volume), mask=mask,
                         voxel_size_um=float(voxel_size_um), file=str(file),
                         specimen=str(specimen), species=str(species), index=index)


def library_volume_from_prepared(prepared: slicing.PreparedVolume, *, file: str = "",
                                 specimen: str = "", species: str = "",
                                 cache_dir: str | os.PathLike | None = None,
                                 with_index: bool = True, **index_params) -> LibraryVolume:
    """A :class:`LibraryVolume` from a volume prepared by :func:`fossilct.slicing.prepare_volume`.

    The prepared (cropped, mount-free, 8-bit) volume is scaled to [0, 1]; the fossil mask is the
    preparation's silhouette brought to full resolution on the crop. Poses then refer to the
    cropped volume.

    Parameters
    ----------
    prepared : fossilct.slicing.PreparedVolume
    file, specimen, species, cache_dir, with_index, **index_params
        As :func:`make_library_volume`.

    Returns
    -------
    LibraryVolume
    """
    masks = prepared.masks
    full = slicing.upsample_mask(masks.silhouette, masks.factor, prepared.source_shape)
    start = prepared.crop_origin
    stop = start + np.asarray(prepared.volume.shape)
    mask = full[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]]
    volume = prepared.volume.astype(np.float32) / 255.0
    return make_library_volume(volume, mask, voxel_size_um=prepared.spacing_um, file=file,
                               specimen=specimen, species=species, cache_dir=cache_dir,
                               with_index=with_index, **index_params)


def load_library(table: pd.DataFrame, data_dir: str | os.PathLike, *,
                 cache_dir: str | os.PathLike | None = None, with_index: bool = True,
                 prepare_options: Mapping | None = None, **index_params) -> Library:
    """Read, prepare and index the volumes listed in a table; report the ones left out.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per file with columns ``file`` (relative to `data_dir`), ``specimen_id``,
        ``species`` and optionally ``spacing_zyx_um`` (``"PxMxN"`` µm, as the inventory writes
        it) overriding the file's spacing; e.g. the inventory of notebook 01.
    data_dir : path-like
        Folder the files are relative to.
    cache_dir : path-like, optional, keyword-only
        Index cache folder (e.g. ``outputs/<profile>/matching/index``).
    with_index : bool, keyword-only
        Build or load indexes (default True).
    prepare_options : mapping, optional, keyword-only
        Keyword arguments of :func:`fossilct.slicing.prepare_volume`.
    **index_params
        Passed to the index builder.

    Returns
    -------
    Library
        The volumes in table order, and ``skipped`` (file, reason) for each file that could not
        be read, holds no fossil, or could not be indexed.

    Raises
    ------
    ValueError
        If `table` lacks a required column.
    """
    missing = sorted({"file", "specimen_id", "species"} - set(table.columns))
    if missing:
        raise ValueError(f"`table` lacks columns {missing}; it needs file, specimen_id and "
                         f"species (the inventory of notebook 01 has them).")
    data_dir = Path(data_dir)
    ready, skipped = [], []
    for row in table.itertuples(index=False):
        file = str(row.file)
        try:
            spacing = None
            if "spacing_zyx_um" in table.columns and isinstance(row.spacing_zyx_um, str):
                spacing = tuple(float(x) for x in row.spacing_zyx_um.split("x"))
            loaded = volumes.load_volume(data_dir / file, spacing_um=spacing)
            prepared = slicing.prepare_volume(loaded.data, loaded.spacing_um,
                                              **dict(prepare_options or {}))
            ready.append(library_volume_from_prepared(
                prepared, file=file, specimen=str(row.specimen_id), species=str(row.species),
                cache_dir=cache_dir, with_index=with_index, **index_params))
        except (OSError, ValueError) as error:  # VolumeError, NoFossilError, MatchingError
            skipped.append({"file": file, "reason": f"{type(error).__name__}: {error}"})
    return Library(tuple(ready), pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS)))


def _make_match(query: Query, target: LibraryVolume, pose: Pose, *, fit: float, refined: bool,
                method: str, weights: Mapping[str, float]) -> Match:
    section = section_in_query_frame(query, target.volume, pose, fossil_mask=target.mask)
    scores = match_scores(query, section)
    angle, mirror = pose.angle_mirror()
    offset = pose.offset(target.volume.shape)
    return Match(file=target.file, specimen=target.specimen, species=target.species,
                 method=method, normal=tuple(float(x) for x in pose.normal),
                 offset_vox=offset, offset_um=offset * target.voxel_size_um, angle_deg=angle,
                 mirror=mirror, scale=pose.scale,
                 centre_vox=tuple(float(x) for x in pose.centre), scores=scores,
                 score=combined_score(scores, weights), fit=float(fit), refined=bool(refined),
                 image=section.image, mask=section.mask)


def _as_query(query, pixel_size_um) -> Query:
    if isinstance(query, Query):
        return query
    return prepare_query(np.asarray(query), pixel_size_um=pixel_size_um)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")


def _check_target(target: LibraryVolume, method: str) -> None:
    if not isinstance(target, LibraryVolume):
        raise TypeError(f"The volume to search must be a LibraryVolume (see "
                        f"fossilct.matching.make_library_volume); got {type(target).__name__}.")
    if method == "fossilct" and target.index is None:
        raise MatchingError(f"Volume {target.file or '(unnamed)'} has no index; build it with "
                            f"make_library_volume(..., with_index=True) or use "
                            f"method='reference'.")


def match_slice_to_volume(query, target: LibraryVolume, *, method: str = "fossilct",
                          pixel_size_um: float | None = None, n_matches: int = 1,
                          weights: Mapping[str, float] = DEFAULT_WEIGHTS,
                          n_candidates: int = search.N_CANDIDATES,
                          n_screen: int = search.N_SCREEN, n_refine: int = search.N_REFINE
                          ) -> list[Match]:
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
    weights : mapping, keyword-only
        Weights of the combined score (default ``DEFAULT_WEIGHTS``).
    n_candidates, n_screen, n_refine : keyword-only
        Search effort of the fossilct method (see :func:`fossilct.matching.search.search_index`).

    Returns
    -------
    list of Match
        Sorted by decreasing combined score.

    Raises
    ------
    ValueError
        Unknown method or bad option.
    TypeError
        `target` is not a LibraryVolume.
    MatchingError
        The query has no fossil (or is blank, too small, ...), or the volume has no index.
    """
    _check_method(method)
    if int(n_matches) < 1:
        raise ValueError(f"`n_matches` must be at least 1; got {n_matches}.")
    _check_target(target, method)
    query = _as_query(query, pixel_size_um)
    if method == "reference":
        result = reference_search(query, target.volume)
        return [_make_match(query, target, result.pose, fit=result.fit, refined=True,
                            method=method, weights=weights)]
    found = search.search_index(query, target.index, target.refine_target,
                                n_candidates=n_candidates, n_screen=n_screen, n_refine=n_refine)
    matches = [_make_match(query, target, c.pose, fit=c.score, refined=c.refined,
                           method=method, weights=weights) for c in found[:int(n_matches)]]
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
                           weights: Mapping[str, float] = DEFAULT_WEIGHTS,
                           n_screen_volumes: int = N_SCREEN_VOLUMES,
                           n_refine_volumes: int = N_REFINE_VOLUMES,
                           n_candidates: int = search.N_CANDIDATES,
                           n_screen: int = search.N_SCREEN, n_refine: int = search.N_REFINE
                           ) -> LibraryResult:
    """Rank the volumes, specimens and species of a library for a query section.

    Parameters
    ----------
    query : Query or ndarray
        As :func:`match_slice_to_volume`.
    library : Library or sequence of LibraryVolume
    method : {"fossilct", "reference"}, keyword-only
    pixel_size_um : float, optional, keyword-only
    weights : mapping, keyword-only
        Weights of the combined score.
    n_screen_volumes : int, keyword-only
        fossilct: volumes whose candidates are screened, chosen by their best coarse score
        (default ``N_SCREEN_VOLUMES``).
    n_refine_volumes : int, keyword-only
        fossilct: volumes refined fully, chosen by their best screened fit (default
        ``N_REFINE_VOLUMES``). The reference searches every volume fully.
    n_candidates, n_screen, n_refine : keyword-only
        Search effort per fully searched volume.

    Returns
    -------
    LibraryResult
        Volumes that fail (no index, a search error) are listed in ``skipped`` with the
        library's own skipped files.

    Raises
    ------
    ValueError
        Unknown method, bad option, or an empty library.
    MatchingError
        The query has no fossil (or is blank, too small, ...).
    """
    _check_method(method)
    if not 1 <= int(n_refine_volumes) <= int(n_screen_volumes):
        raise ValueError(f"`n_refine_volumes` must be at least 1 and at most `n_screen_volumes`; "
                         f"got {n_refine_volumes} and {n_screen_volumes}.")
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
        coarse = []
        for target in members:
            try:
                _check_target(target, method)
                found = search.coarse_candidates(query, target.index,
                                                 n_candidates=max(n_candidates, n_screen))
                fit = float(pose_scores(query, target.refine_target,
                                        [c.pose for c in found[:N_PRERANK]]).max())
                coarse.append((fit, target, found))
            except (MatchingError, TypeError) as error:
                skipped.append({"file": getattr(target, "file", "?"),
                                "reason": f"{type(error).__name__}: {error}"})
        coarse.sort(key=lambda item: -item[0])
        screened = []
        for rank, (_, target, found) in enumerate(coarse):
            if rank < int(n_screen_volumes):
                best = search.screen_candidates(query, target.refine_target, found,
                                                n_screen=max(n_screen, n_refine))
                screened.append((best[0].score, target, best))
            else:
                matches.append(_make_match(query, target, found[0].pose, fit=found[0].score,
                                           refined=False, method=method, weights=weights))
        screened.sort(key=lambda item: -item[0])
        for rank, (_, target, best) in enumerate(screened):
            if rank < int(n_refine_volumes):
                best = search.refine_candidates(query, target.refine_target, best,
                                                n_refine=n_refine)
            matches.append(_make_match(query, target, best[0].pose, fit=best[0].score,
                                       refined=best[0].refined, method=method, weights=weights))
    matches.sort(key=lambda m: -m.score)
    volumes_table, specimens, species = _rank_tables(matches)
    return LibraryResult(matches=matches, volumes=volumes_table, specimens=specimens,
                         species=species,
                         skipped=pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS)),
                         seconds=time.perf_counter() - start)
