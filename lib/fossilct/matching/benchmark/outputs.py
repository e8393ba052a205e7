"""What notebook 07 shows and keeps: the library it evaluates, a gallery, the output folder.

:func:`library_table` chooses the evaluation library from an inventory;
:func:`index_build_seconds` times the index; :func:`gallery_entries` re-matches a few queries for
the gallery figure; :func:`save_matching_outputs` writes the notebook's folder atomically and
checks what it wrote (:func:`check_matching_outputs`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fossilct import atomic
from fossilct.matching.benchmark.evaluation import (BENCHMARK_KEYS, IDENTIFICATION_COLUMNS,
                                                    POSE_COLUMNS, MethodEvaluation)
from fossilct.matching.benchmark.queries import EvalQuery
from fossilct.matching.effort import SearchEffort
from fossilct.matching.index import build_index
from fossilct.matching.matcher import match_slice_to_volume
from fossilct.matching.preprocess import prepare_query
from fossilct.matching.records import LibraryVolume

__all__ = [
    "GalleryEntry",
    "gallery_entries",
    "library_table",
    "index_build_seconds",
    "MATCHING_OUTPUTS",
    "save_matching_outputs",
    "check_matching_outputs",
]

MATCHING_OUTPUTS = ("benchmark.json", "poses.csv", "identification.csv")
"""The files of notebook 07's folder besides its figures."""


@dataclass(frozen=True, eq=False)
class GalleryEntry:
    """A query beside its best match, for the gallery figure.

    Attributes
    ----------
    query_image : (S, S) ndarray of uint8
        The query's model input.
    query_mask : (S, S) ndarray of bool
    match_image : (S, S) ndarray of uint8
        The matched section in the query's frame.
    match_mask : (S, S) ndarray of bool
    title : str
        What to print above the row (query, method, errors).
    success : bool
    """

    query_image: np.ndarray
    query_mask: np.ndarray
    match_image: np.ndarray
    match_mask: np.ndarray
    title: str
    success: bool


def gallery_entries(queries: Sequence[EvalQuery], volumes: Sequence[LibraryVolume],
                    poses: pd.DataFrame, *, method: str = "fossilct", n_success: int = 3,
                    n_failure: int = 3, use_pixel_size: bool = True,
                    weights: Mapping[str, float] | None = None,
                    effort: SearchEffort | None = None) -> list[GalleryEntry]:
    """Re-match a few successful and a few failed queries of a pose table, for the gallery.

    The first `n_success` successes and `n_failure` failures of `method` in `poses` (in query
    order) are matched again (matching is deterministic, so the pose is the one evaluated).

    Parameters
    ----------
    queries, volumes
        As :func:`~fossilct.matching.benchmark.evaluate_poses`.
    poses : pandas.DataFrame
        From :func:`~fossilct.matching.benchmark.evaluate_poses`.
    method : str, keyword-only
    n_success, n_failure : int, keyword-only
        How many of each (default 3); failures that raised an error are left out.
    use_pixel_size, weights, effort : keyword-only
        As given to :func:`~fossilct.matching.benchmark.evaluate_poses`.

    Returns
    -------
    list of GalleryEntry
        Successes first, then failures.
    """
    table = poses[(poses["method"] == method) & (poses["error"] == "")]
    chosen = (list(table.loc[table["success"], "query_id"][:int(n_success)])
              + list(table.loc[~table["success"], "query_id"][:int(n_failure)]))
    by_id = {q.query_id: q for q in queries}
    entries = []
    for query_id in chosen:
        query = by_id[query_id]
        row = table[table["query_id"] == query_id].iloc[0]
        prepared = prepare_query(query.image,
                                 pixel_size_um=query.pixel_size_um if use_pixel_size else None)
        match = match_slice_to_volume(prepared, volumes[query.target], method=method,
                                      weights=weights, effort=effort)[0]
        title = (f"#{query_id} {row['kind']} {row['species']}: normal {row['normal_err_deg']:.1f}"
                 f" deg, offset {row['offset_err_vox']:.1f} vox, angle {row['angle_err_deg']:.0f}"
                 f" deg{'' if row['mirror_ok'] else ', mirror wrong'}")
        entries.append(GalleryEntry(prepared.image, prepared.mask, match.image, match.mask,
                                    title, bool(row["success"])))
    return entries


def library_table(inventory: pd.DataFrame, n_per_species: int) -> pd.DataFrame:
    """The evaluation library: one file (the first scan) of the first specimens of each species.

    Parameters
    ----------
    inventory : pandas.DataFrame
        Columns ``file, species, specimen_id`` and optionally ``selected`` (rows not selected
        are left out), e.g. the inventory of notebook 01.
    n_per_species : int
        Specimens per species (>= 1; fewer when a species has fewer).

    Returns
    -------
    pandas.DataFrame
        The chosen inventory rows, species by species in table order.

    Raises
    ------
    ValueError
        If `n_per_species` < 1 or no row is selected.

    Examples
    --------
    >>> inventory = pd.DataFrame({"file": ["a0", "a0r", "a1", "b0"], "species": list("aaab"),
    ...                           "specimen_id": ["a0", "a0", "a1", "b0"]})
    >>> list(library_table(inventory, 1)["file"]), list(library_table(inventory, 2)["file"])
    (['a0', 'b0'], ['a0', 'a1', 'b0'])
    """
    if int(n_per_species) < 1:
        raise ValueError(f"n_per_species must be at least 1, got {n_per_species}.")
    rows = inventory[inventory["selected"].astype(bool)] if "selected" in inventory else inventory
    if rows.empty:
        raise ValueError("No selected volume in the inventory; run notebook 01 first.")
    first_scans = rows.drop_duplicates("specimen_id")
    return (first_scans.groupby("species", sort=False, group_keys=False)
            .head(int(n_per_species)).reset_index(drop=True))


def index_build_seconds(volumes: Sequence[LibraryVolume], n_volumes: int) -> float:
    """Mean time to build the index of a volume, measured anew (no cache) on the first volumes.

    Parameters
    ----------
    volumes : sequence of LibraryVolume
        Indexed volumes; each is re-indexed with the parameters of its index.
    n_volumes : int
        How many of them to time (>= 1).

    Returns
    -------
    float
        Seconds per volume.
    """
    if int(n_volumes) < 1:
        raise ValueError(f"n_volumes must be at least 1, got {n_volumes}.")
    chosen = [v for v in volumes[:int(n_volumes)] if v.index is not None]
    if not chosen:
        raise ValueError("No indexed volume to time; load the library with its index.")
    start = time.perf_counter()
    for volume in chosen:
        build_index(volume.volume, volume.mask, voxel_size_um=volume.voxel_size_um,
                    name=volume.file, **volume.index.params)
    return (time.perf_counter() - start) / len(chosen)


def save_matching_outputs(out_dir: str | os.PathLike, results: MethodEvaluation, *,
                          figures: Mapping[str, object] | None = None) -> dict[str, Path]:
    """Write notebook 07's folder, every file atomically, and check what was written.

    Files: ``benchmark.json`` (the summary), ``poses.csv``, ``identification.csv`` and
    ``<name>.png`` for each figure; then :func:`check_matching_outputs` reads them back.

    Parameters
    ----------
    out_dir : path-like
        The notebook's ``matching_dir`` (created if missing).
    results : MethodEvaluation
        From :func:`~fossilct.matching.benchmark.combine_evaluations` (or
        :func:`~fossilct.matching.benchmark.evaluate_method`).
    figures : mapping of str to Figure, optional, keyword-only

    Returns
    -------
    dict of str to Path
        File name -> path.

    Raises
    ------
    TypeError
        If `results` is not a MethodEvaluation.
    ValueError
        If a file read back breaks its contract (:func:`check_matching_outputs`).
    """
    if not isinstance(results, MethodEvaluation):
        raise TypeError(f"`results` must be a MethodEvaluation (from evaluate_method or "
                        f"combine_evaluations); got {type(results).__name__}.")
    out_dir = Path(out_dir)
    names = {"benchmark.json": atomic.write_json(out_dir / "benchmark.json",
                                                 dict(results.summary)),
             "poses.csv": atomic.write_csv(out_dir / "poses.csv", results.poses),
             "identification.csv": atomic.write_csv(out_dir / "identification.csv",
                                                    results.identification)}
    names.update(atomic.save_figures(figures, out_dir))
    check_matching_outputs(out_dir, results, figure_names=list(figures or {}))
    return names


def _fail(path: Path, problem: str) -> ValueError:
    return ValueError(f"{str(path)!r} {problem}. Re-run notebook 07 to rewrite the matching "
                      f"folder.")


def check_matching_outputs(out_dir: str | os.PathLike, results: MethodEvaluation | None = None,
                           *, figure_names: Sequence[str] = ()) -> None:
    """Check notebook 07's folder: every file present and readable, tables and summary whole.

    ``benchmark.json`` must hold one object per method with :data:`BENCHMARK_KEYS` and rates in
    [0, 1]; the CSV files must have their columns, one pose row per query and method, the
    methods of the summary and no pose row without either a success flag or an error message.
    With `results`, the files must hold exactly its rows and summary.

    Parameters
    ----------
    out_dir : path-like
    results : MethodEvaluation, optional
        What should have been written.
    figure_names : sequence of str, keyword-only
        Figures (without ``.png``) that must exist and be non-empty.

    Raises
    ------
    FileNotFoundError
        A file is missing.
    ValueError
        A file breaks its contract.
    """
    out_dir = Path(out_dir)
    for name in (*MATCHING_OUTPUTS, *(f"{n}.png" for n in figure_names)):
        path = out_dir / name
        if not path.is_file() or path.stat().st_size == 0:
            raise FileNotFoundError(f"{str(path)!r} is missing or empty. Re-run notebook 07.")
    summary = json.loads((out_dir / "benchmark.json").read_text())
    for method, entry in summary.items():
        missing = sorted(set(BENCHMARK_KEYS) - set(entry))
        if missing:
            raise _fail(out_dir / "benchmark.json", f"lacks {missing} for method {method!r}")
        rates = {k: entry[k] for k in BENCHMARK_KEYS
                 if k.startswith(("success", "specimen")) and entry[k] is not None}
        if any(not 0.0 <= v <= 1.0 for v in rates.values()):
            raise _fail(out_dir / "benchmark.json", f"has rates outside [0, 1]: {rates}")
    poses = pd.read_csv(out_dir / "poses.csv", keep_default_na=False, na_values=[""])
    identification = pd.read_csv(out_dir / "identification.csv")
    for name, table, columns in (("poses.csv", poses, POSE_COLUMNS),
                                 ("identification.csv", identification, IDENTIFICATION_COLUMNS)):
        if list(table.columns) != list(columns):
            raise _fail(out_dir / name, f"has columns {list(table.columns)}, not "
                                        f"{list(columns)}")
    if poses.duplicated(["query_id", "method"]).any():
        raise _fail(out_dir / "poses.csv", "has two rows for one query and method")
    if set(poses["method"]) != set(summary):
        raise _fail(out_dir / "poses.csv", f"has methods {sorted(set(poses['method']))} but "
                                           f"the summary has {sorted(summary)}")
    unexplained = poses["normal_err_deg"].isna() & poses["error"].isna()
    if unexplained.any():
        raise _fail(out_dir / "poses.csv", f"has {int(unexplained.sum())} rows without errors "
                                           f"nor an error message")
    if results is not None:
        if (len(poses), len(identification)) != (len(results.poses),
                                                 len(results.identification)):
            raise _fail(out_dir, f"holds {len(poses)} pose and {len(identification)} "
                                 f"identification rows, not {len(results.poses)} and "
                                 f"{len(results.identification)}")
        if summary != json.loads(json.dumps(results.summary)):
            raise _fail(out_dir / "benchmark.json", "differs from the summary computed")
