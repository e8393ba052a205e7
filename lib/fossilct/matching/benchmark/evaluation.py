"""Evaluation of matching on queries of known pose: errors, success rates, the benchmark dict.

Two experiments per method, on the same queries
(:func:`fossilct.matching.benchmark.queries.make_queries`):

Pose (:func:`evaluate_poses`)
    Each query is matched to the volume it was cut from. Errors (:func:`~.pose.pose_errors`):
    normal angle (with the estimate's normal turned into the true hemisphere, a plane seen from
    behind being its mirror image), offset (voxels and micrometres), in-plane angle, mirror
    flag. A query succeeds when the offset error is within ``MAX_OFFSET_VOX`` voxels, the normal
    within ``MAX_NORMAL_DEG`` degrees, the in-plane angle within ``MAX_ANGLE_DEG`` degrees and the
    mirror flag right.
Identification (:func:`evaluate_identification`)
    Each query is matched to a whole library; the rank of its true specimen (and species) gives
    top-1 and top-3 rates; the time per query per volume is the search time divided by the
    number of volumes searched.

:func:`count_successes` counts queries, successes and reliable flags per group (species, kind
of query), for breakdowns where a rate alone would hide how few queries it rests on.
:func:`summarise` turns both tables into the benchmark dict the notebook writes to
``matching/benchmark.json``: one object per method with ``success_axis``,
``success_oblique``, ``specimen_top1``, ``specimen_top3``, ``seconds_per_query_volume``,
``n_queries`` and a few more keys. :func:`evaluate_method` runs both experiments for one
method and summarises them; :func:`combine_evaluations` joins the methods' results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fossilct.matching.benchmark.queries import EvalQuery
from fossilct.matching.effort import SearchEffort
from fossilct.matching.errors import MatchingError
from fossilct.matching.matcher import METHODS, match_slice_to_library, match_slice_to_volume
from fossilct.matching.pose import frame_of, pose_errors
from fossilct.matching.preprocess import prepare_query
from fossilct.matching.records import Library, LibraryVolume

__all__ = [
    "MAX_OFFSET_VOX",
    "MAX_NORMAL_DEG",
    "MAX_ANGLE_DEG",
    "POSE_COLUMNS",
    "IDENTIFICATION_COLUMNS",
    "BENCHMARK_KEYS",
    "evaluate_poses",
    "evaluate_identification",
    "summarise",
    "count_successes",
    "MethodEvaluation",
    "evaluate_method",
    "combine_evaluations",
]

MAX_OFFSET_VOX = 3.0
"""Largest offset error of a successful pose, voxels."""
MAX_NORMAL_DEG = 5.0
"""Largest normal error of a successful pose, degrees."""
MAX_ANGLE_DEG = 10.0
"""Largest in-plane angle error of a successful pose, degrees."""

POSE_COLUMNS = ("query_id", "method", "kind", "tilt_deg", "file", "specimen", "species",
                "normal_err_deg", "offset_err_vox", "offset_err_um", "angle_err_deg",
                "mirror_ok", "success", "score", "fit", "reliability", "tilt_drop", "reliable",
                "partial", "seconds", "zoom", "crop_fraction", "visible_fraction", "blur_sigma",
                "noise_sigma", "white_background", "error")
"""Columns of the pose table, one row per query and method."""
IDENTIFICATION_COLUMNS = ("query_id", "method", "kind", "file", "specimen", "species",
                          "specimen_rank", "species_rank", "top_specimen", "top_species",
                          "n_volumes", "seconds", "seconds_per_volume", "error")
"""Columns of the identification table, one row per query and method."""
BENCHMARK_KEYS = ("success_axis", "success_oblique", "specimen_top1", "specimen_top3",
                  "seconds_per_query_volume", "n_queries")
"""Keys every method's object of the benchmark dict has."""


def _check(queries, volumes, method):
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")
    if len(queries) == 0:
        raise ValueError("`queries` is empty; draw some with "
                         "fossilct.matching.benchmark.make_queries.")
    for query in queries:
        if not 0 <= query.target < len(volumes):
            raise ValueError(f"Query {query.query_id} comes from volume {query.target}, but only "
                             f"{len(volumes)} volumes were given; pass the list the queries "
                             f"were drawn from.")


def _nuisance_columns(query: EvalQuery) -> dict:
    n = query.nuisance
    return {"zoom": n.zoom, "crop_fraction": n.crop_fraction,
            "visible_fraction": query.visible_fraction, "blur_sigma": n.blur_sigma,
            "noise_sigma": n.noise_sigma, "white_background": n.white_background}


def evaluate_poses(queries: Sequence[EvalQuery], volumes: Sequence[LibraryVolume], *,
                   method: str = "fossilct", use_pixel_size: bool = True,
                   weights: Mapping[str, float] | None = None,
                   effort: SearchEffort | None = None) -> pd.DataFrame:
    """Match every query to its own volume and measure the pose errors.

    Parameters
    ----------
    queries : sequence of EvalQuery
    volumes : sequence of LibraryVolume
        The volumes the queries were cut from, in the same order (``EvalQuery.target``).
    method : {"fossilct", "reference"}, keyword-only
    use_pixel_size : bool, keyword-only
        Give the matcher the queries' pixel size (default True: a CT slice's pixel size is
        known); False makes it normalise the scale by the fossil's extent.
    weights, effort : optional, keyword-only
        As :func:`~fossilct.matching.match_slice_to_volume` (None: the library defaults).

    Returns
    -------
    pandas.DataFrame
        :data:`POSE_COLUMNS`; a query that raises a MatchingError gets NaN errors,
        ``success=False`` and the message in ``error``.

    Raises
    ------
    ValueError
        Unknown method, no queries, or a query whose volume is missing.
    """
    _check(queries, volumes, method)
    rows = []
    for query in queries:
        target = volumes[query.target]
        row = {"query_id": query.query_id, "method": method, "kind": query.kind,
               "tilt_deg": query.tilt_deg, "file": target.file, "specimen": target.specimen,
               "species": target.species, **_nuisance_columns(query), "error": ""}
        start = time.perf_counter()
        try:
            prepared = prepare_query(query.image,
                                     pixel_size_um=query.pixel_size_um if use_pixel_size else None)
            match = match_slice_to_volume(prepared, target, method=method, weights=weights,
                                          effort=effort)[0]
        except MatchingError as error:
            rows.append({**row, "normal_err_deg": np.nan, "offset_err_vox": np.nan,
                         "offset_err_um": np.nan, "angle_err_deg": np.nan, "mirror_ok": False,
                         "success": False, "score": np.nan, "fit": np.nan,
                         "reliability": np.nan, "tilt_drop": np.nan, "reliable": False,
                         "partial": False,
                         "seconds": time.perf_counter() - start, "error": str(error)})
            continue
        seconds = time.perf_counter() - start
        estimate = frame_of(match.normal, match.angle_deg, match.mirror)
        errors = pose_errors(frame_of(query.normal, query.angle_deg, query.mirror),
                             query.offset_vox, estimate, match.offset_vox)
        rows.append({**row, "normal_err_deg": errors.normal_deg,
                     "offset_err_vox": errors.offset_vox,
                     "offset_err_um": errors.offset_vox * target.voxel_size_um,
                     "angle_err_deg": errors.angle_deg, "mirror_ok": errors.mirror_ok,
                     "success": errors.success(max_offset_vox=MAX_OFFSET_VOX,
                                               max_normal_deg=MAX_NORMAL_DEG,
                                               max_angle_deg=MAX_ANGLE_DEG),
                     "score": match.score, "fit": match.fit,
                     "reliability": match.reliability, "tilt_drop": match.tilt_drop,
                     "reliable": match.reliable,
                     "partial": match.partial, "seconds": seconds})
    return pd.DataFrame(rows, columns=list(POSE_COLUMNS))


def evaluate_identification(queries: Sequence[EvalQuery], volumes: Sequence[LibraryVolume],
                            library: Library | Sequence[LibraryVolume], *,
                            method: str = "fossilct", use_pixel_size: bool = True,
                            weights: Mapping[str, float] | None = None,
                            effort: SearchEffort | None = None) -> pd.DataFrame:
    """Match every query to a library and find the rank of its true specimen and species.

    Parameters
    ----------
    queries : sequence of EvalQuery
    volumes : sequence of LibraryVolume
        The volumes the queries were cut from (their specimen and species are the truth).
    library : Library or sequence of LibraryVolume
        The volumes searched (usually containing `volumes`).
    method : {"fossilct", "reference"}, keyword-only
    use_pixel_size : bool, keyword-only
        As :func:`evaluate_poses`.
    weights, effort : optional, keyword-only
        As :func:`~fossilct.matching.match_slice_to_library` (None: the library defaults).

    Returns
    -------
    pandas.DataFrame
        :data:`IDENTIFICATION_COLUMNS`; ranks are 1-based, NaN when the truth is not ranked.

    Raises
    ------
    ValueError
        Unknown method, no queries, or a query whose volume is missing.
    """
    _check(queries, volumes, method)
    rows = []
    for query in queries:
        target = volumes[query.target]
        row = {"query_id": query.query_id, "method": method, "kind": query.kind,
               "file": target.file, "specimen": target.specimen, "species": target.species,
               "error": ""}
        start = time.perf_counter()
        try:
            prepared = prepare_query(query.image,
                                     pixel_size_um=query.pixel_size_um if use_pixel_size else None)
            result = match_slice_to_library(prepared, library, method=method, weights=weights,
                                            effort=effort)
        except MatchingError as error:
            rows.append({**row, "specimen_rank": np.nan, "species_rank": np.nan,
                         "top_specimen": "", "top_species": "", "n_volumes": 0,
                         "seconds": time.perf_counter() - start, "seconds_per_volume": np.nan,
                         "error": str(error)})
            continue
        seconds = time.perf_counter() - start
        specimens = list(result.specimens["specimen"])
        species = list(result.species["species"])
        n_volumes = len(result.matches)
        rows.append({**row,
                     "specimen_rank": (specimens.index(target.specimen) + 1
                                       if target.specimen in specimens else np.nan),
                     "species_rank": (species.index(target.species) + 1
                                      if target.species in species else np.nan),
                     "top_specimen": specimens[0] if specimens else "",
                     "top_species": species[0] if species else "", "n_volumes": n_volumes,
                     "seconds": seconds,
                     "seconds_per_volume": seconds / n_volumes if n_volumes else np.nan})
    return pd.DataFrame(rows, columns=list(IDENTIFICATION_COLUMNS))


def _rate(flags: pd.Series) -> float | None:
    return float(flags.mean()) if len(flags) else None


def summarise(poses: pd.DataFrame, identification: pd.DataFrame | None = None, *,
              index_seconds_per_volume: float | None = None) -> dict:
    """The benchmark dict: one object per method found in the tables.

    Parameters
    ----------
    poses : pandas.DataFrame
        From :func:`evaluate_poses` (one or several methods concatenated).
    identification : pandas.DataFrame, optional
        From :func:`evaluate_identification`.
    index_seconds_per_volume : float, optional, keyword-only
        Index build time per volume, recorded under the fossilct method.

    Returns
    -------
    dict
        ``{method: {...}}`` with the keys :data:`BENCHMARK_KEYS` (rates in [0, 1], None when a
        table has no query of that kind) plus ``n_pose_queries``, ``n_identification_queries``,
        ``species_top1``, ``seconds_per_query_pose``, ``median_normal_err_deg``,
        ``median_offset_err_vox``, ``median_angle_err_deg``, ``n_failed_queries``,
        ``success_partial`` (queries showing less than the whole section), ``reliable_share``
        (matches flagged reliable) and ``reliable_precision`` (successes among them).
        ``seconds_per_query_volume`` is measured on the identification run when there is one
        (search time / volumes searched), else on the pose run (one volume per query);
        ``n_queries`` is the number of pose queries.

    Raises
    ------
    ValueError
        If `poses` lacks the pose columns.

    Examples
    --------
    >>> poses = pd.DataFrame({"method": ["fossilct"] * 2, "kind": ["axis", "oblique"],
    ...                       "success": [True, False], "seconds": [0.1, 0.3],
    ...                       "normal_err_deg": [1.0, 9.0], "offset_err_vox": [0.5, 4.0],
    ...                       "angle_err_deg": [1.0, 2.0], "error": ["", ""],
    ...                       "visible_fraction": [1.0, 0.7], "reliable": [True, False]})
    >>> summary = summarise(poses)["fossilct"]
    >>> summary["success_axis"], summary["success_oblique"], summary["n_queries"]
    (1.0, 0.0, 2)
    >>> summary["success_partial"], summary["reliable_share"], summary["reliable_precision"]
    (0.0, 0.5, 1.0)
    """
    missing = sorted({"method", "kind", "success", "seconds", "visible_fraction", "reliable"}
                     - set(poses.columns))
    if missing:
        raise ValueError(f"`poses` lacks columns {missing}; pass the table of evaluate_poses.")
    out = {}
    for method, table in poses.groupby("method", sort=False):
        entry = {
            "success_axis": _rate(table.loc[table["kind"] == "axis", "success"]),
            "success_oblique": _rate(table.loc[table["kind"] == "oblique", "success"]),
            "specimen_top1": None, "specimen_top3": None,
            "seconds_per_query_volume": float(table["seconds"].mean()),
            "n_queries": int(len(table)), "n_pose_queries": int(len(table)),
            "n_identification_queries": 0, "species_top1": None,
            "seconds_per_query_pose": float(table["seconds"].mean()),
            "median_normal_err_deg": float(table["normal_err_deg"].median()),
            "median_offset_err_vox": float(table["offset_err_vox"].median()),
            "median_angle_err_deg": float(table["angle_err_deg"].median()),
            "n_failed_queries": int((table["error"] != "").sum()),
            "success_partial": _rate(table.loc[table["visible_fraction"] < 1, "success"]),
            "reliable_share": _rate(table["reliable"].astype(bool)),
            "reliable_precision": _rate(table.loc[table["reliable"].astype(bool), "success"]),
        }
        if identification is not None and len(identification):
            ident = identification[identification["method"] == method]
            if len(ident):
                entry["specimen_top1"] = _rate(ident["specimen_rank"] <= 1)
                entry["specimen_top3"] = _rate(ident["specimen_rank"] <= 3)
                entry["species_top1"] = _rate(ident["species_rank"] <= 1)
                entry["n_identification_queries"] = int(len(ident))
                entry["seconds_per_query_volume"] = float(ident["seconds_per_volume"].mean())
        if method == "fossilct" and index_seconds_per_volume is not None:
            entry["index_seconds_per_volume"] = float(index_seconds_per_volume)
        out[str(method)] = {k: (None if isinstance(v, float) and np.isnan(v) else v)
                            for k, v in entry.items()}
    return out


def count_successes(poses: pd.DataFrame, *, by: str | Sequence[str] = "species"
                    ) -> pd.DataFrame:
    """Queries, successes, matches flagged reliable and the successes among them, per group.

    Counts rather than rates, so that a breakdown (per species, per kind of query) shows how
    many queries each rate rests on.

    Parameters
    ----------
    poses : pandas.DataFrame
        A pose table (:func:`evaluate_poses`): at least ``success``, ``reliable`` and the `by`
        columns.
    by : str or sequence of str, keyword-only
        The column or columns to group by (default ``"species"``).

    Returns
    -------
    pandas.DataFrame
        Indexed by `by`, groups in order of first appearance; int64 columns ``n_queries``,
        ``n_success``, ``n_reliable`` (matches flagged reliable) and ``n_reliable_success``
        (successes among them). Empty when `poses` is.

    Raises
    ------
    ValueError
        If `by` names no column, or `poses` lacks ``success``, ``reliable`` or a `by` column.

    Examples
    --------
    >>> poses = pd.DataFrame({"species": ["b", "a", "b"], "success": [True, True, False],
    ...                       "reliable": [True, False, True]})
    >>> counts = count_successes(poses)
    >>> list(counts.index), counts.loc["b"].tolist(), counts.loc["a"].tolist()
    (['b', 'a'], [2, 1, 2, 1], [1, 1, 0, 0])
    """
    keys = [by] if isinstance(by, str) else list(by)
    if not keys:
        raise ValueError("`by` names no column; give one such as 'species' or "
                         "['species', 'kind'].")
    missing = [c for c in ("success", "reliable", *keys) if c not in poses.columns]
    if missing:
        raise ValueError(f"`poses` lacks columns {missing}; pass the table of evaluate_poses "
                         f"and group by its columns (e.g. 'species', 'kind').")
    success = poses["success"].astype(bool)
    reliable = poses["reliable"].astype(bool)
    flags = pd.DataFrame({"n_queries": np.ones(len(poses), dtype=np.int64),
                          "n_success": success, "n_reliable": reliable,
                          "n_reliable_success": success & reliable}, index=poses.index)
    return flags.groupby([poses[k] for k in keys], sort=False).sum().astype(np.int64)


@dataclass(frozen=True, eq=False)
class MethodEvaluation:
    """Both experiments of one or several methods, and their benchmark dict.

    Attributes
    ----------
    poses : pandas.DataFrame
        :data:`POSE_COLUMNS`.
    identification : pandas.DataFrame
        :data:`IDENTIFICATION_COLUMNS`.
    summary : dict
        ``{method: {...}}`` (:func:`summarise`).
    """

    poses: pd.DataFrame
    identification: pd.DataFrame
    summary: dict


def evaluate_method(queries: Sequence[EvalQuery], library: Library | Sequence[LibraryVolume],
                    *, method: str = "fossilct", n_pose: int | None = None,
                    n_identify: int = 0, use_pixel_size: bool = True,
                    weights: Mapping[str, float] | None = None,
                    effort: SearchEffort | None = None,
                    index_seconds_per_volume: float | None = None) -> MethodEvaluation:
    """Pose and identification experiments of one method on the first queries, summarised.

    Parameters
    ----------
    queries : sequence of EvalQuery
        Drawn from the library's volumes (``EvalQuery.target`` indexes them).
    library : Library or sequence of LibraryVolume
    method : {"fossilct", "reference"}, keyword-only
    n_pose : int, optional, keyword-only
        The first `n_pose` queries are matched to their own volume (None: all; at least 1).
    n_identify : int, keyword-only
        The first `n_identify` queries are searched in the whole library (default 0: none).
    use_pixel_size, weights, effort : keyword-only
        As :func:`evaluate_poses`.
    index_seconds_per_volume : float, optional, keyword-only
        Recorded in the summary (fossilct).

    Returns
    -------
    MethodEvaluation

    Raises
    ------
    ValueError
        Unknown method, `n_pose` < 1 or `n_identify` < 0, or as :func:`evaluate_poses`.
    """
    volumes = tuple(library.volumes if isinstance(library, Library) else library)
    n_pose = len(queries) if n_pose is None else int(n_pose)
    if n_pose < 1 or int(n_identify) < 0:
        raise ValueError(f"`n_pose` must be at least 1 and `n_identify` at least 0; got "
                         f"{n_pose} and {n_identify}.")
    options = dict(method=method, use_pixel_size=use_pixel_size, weights=weights, effort=effort)
    poses = evaluate_poses(queries[:n_pose], volumes, **options)
    identification = (evaluate_identification(queries[:int(n_identify)], volumes, library,
                                              **options)
                      if int(n_identify) else
                      pd.DataFrame(columns=list(IDENTIFICATION_COLUMNS)))
    summary = summarise(poses, identification,
                        index_seconds_per_volume=index_seconds_per_volume)
    return MethodEvaluation(poses, identification, summary)


def combine_evaluations(evaluations: Sequence[MethodEvaluation]) -> MethodEvaluation:
    """The evaluations of several methods as one: tables stacked, summaries merged.

    Raises
    ------
    ValueError
        If `evaluations` is empty or two of them evaluate the same method.
    """
    if len(evaluations) == 0:
        raise ValueError("`evaluations` is empty; pass the results of evaluate_method.")
    methods = [m for e in evaluations for m in e.summary]
    if len(set(methods)) != len(methods):
        raise ValueError(f"Each method may be evaluated once; got {methods}.")
    identification = [e.identification for e in evaluations if len(e.identification)]
    return MethodEvaluation(
        pd.concat([e.poses for e in evaluations], ignore_index=True),
        (pd.concat(identification, ignore_index=True) if identification
         else pd.DataFrame(columns=list(IDENTIFICATION_COLUMNS))),
        {m: entry for e in evaluations for m, entry in e.summary.items()})
