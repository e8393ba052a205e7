"""The inventory: one row per volume file with its format, shape and spacing."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fossilct import volumes
from fossilct.triplets import format_triplet, parse_triplet

from .table import (REQUIRED_COLUMNS, SPECIMEN_TABLE, check_table, duplicate_problems,
                    outside_problem, problems_error)

__all__ = ["INVENTORY_COLUMNS", "build_inventory", "check_inventory", "load_inventory_volume",
           "load_example_volumes"]

INVENTORY_COLUMNS = ("file", "species", "specimen_id", "format", "shape_zyx", "spacing_zyx_um")


def build_inventory(table: pd.DataFrame, data_dir: str | os.PathLike, *,
                    allow_outside: bool = False) -> pd.DataFrame:
    """List every volume of the table with its format, shape and spacing, reading headers only.

    Parameters
    ----------
    table : pandas.DataFrame
        The specimens table, as returned by `read_specimen_table`.
    data_dir : path-like
        The folder the table's ``file`` entries are relative to.
    allow_outside : bool
        Read files that lead outside `data_dir` (see `read_specimen_table`). Default False.

    Returns
    -------
    pandas.DataFrame
        One row per file, columns `INVENTORY_COLUMNS` (``file, species, specimen_id, format,
        shape_zyx, spacing_zyx_um``) and then the table's other columns. ``shape_zyx`` and
        ``spacing_zyx_um`` are strings such as ``"128x96x96"`` and ``"2.5x2.5x2.5"`` (plane,
        row, col; µm) so the CSV round-trips; read them with `parse_triplet`. The spacing is
        the table's ``voxel_size_um`` (isotropic) where given, else the file's. A ``format``
        column of the table is replaced by the detected format.

    Warns
    -----
    fossilct.volumes.MissingSpacingWarning
        For each file without stored spacing and without ``voxel_size_um``; the 1 µm default
        is used.

    Raises
    ------
    TypeError
        If `table` is not a DataFrame.
    SpecimenTableError
        If `table` lacks a required column, or listing every file that leads outside
        `data_dir`, whose header cannot be read or that does not hold a 3-D volume.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from fossilct import volumes
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = volumes.save_volume(folder / "a.npz", np.zeros((2, 3, 4)), (5.0, 2.5, 2.5))
    >>> table = pd.DataFrame({"file": ["a.npz"], "species": ["alveolina"], "specimen_id": ["A1"]})
    >>> build_inventory(table, folder)[["file", "format", "shape_zyx", "spacing_zyx_um"]]
        file format shape_zyx spacing_zyx_um
    0  a.npz    npz     2x3x4      5x2.5x2.5
    """
    check_table(table, REQUIRED_COLUMNS, "table")
    data_dir = Path(data_dir)
    rows, problems = [], []
    for record in table.to_dict("records"):
        file = record["file"]
        outside = None if allow_outside else outside_problem(data_dir, file)
        if outside:
            problems.append(outside)
            continue
        try:
            header = volumes.read_header(data_dir / file)
        except (volumes.VolumeError, OSError) as exc:
            problems.append(f"file {file!r}: {exc}")
            continue
        if len(header.shape) != 3 or 0 in header.shape:
            problems.append(f"file {file!r}: holds shape {header.shape}, not a non-empty 3-D "
                            "volume (plane, row, col)")
            continue
        override = record.get("voxel_size_um")
        if override is not None and not pd.isna(override):
            spacing = (float(override),) * 3
        elif header.spacing_um is not None:
            spacing = header.spacing_um
        else:
            warnings.warn(
                f"no voxel spacing stored in {file!r} ({header.format}) and no voxel_size_um in "
                f"{SPECIMEN_TABLE}; using the default {volumes.DEFAULT_SPACING_UM} µm. Add a "
                "voxel_size_um value for this row.", volumes.MissingSpacingWarning, stacklevel=2)
            spacing = volumes.DEFAULT_SPACING_UM
        rows.append({**{k: record[k] for k in REQUIRED_COLUMNS}, "format": header.format,
                     "shape_zyx": format_triplet(header.shape),
                     "spacing_zyx_um": format_triplet(spacing),
                     **{k: v for k, v in record.items() if k not in INVENTORY_COLUMNS}})
    if problems:
        raise problems_error(f"the volumes listed in {SPECIMEN_TABLE} ({str(data_dir)!r})",
                              problems, "Re-export or re-copy these files, or remove their rows.")
    extras = [column for column in table.columns if column not in INVENTORY_COLUMNS]
    return pd.DataFrame(rows, columns=list(INVENTORY_COLUMNS) + extras)




def _triplet_problem(text, *, integer: bool) -> str | None:
    try:
        values = parse_triplet(text)
    except ValueError:
        return f"{text!r} is not three numbers joined by 'x'"
    if integer and not all(isinstance(value, int) for value in values):
        return f"{text!r} is not three integers"
    if not all(value > 0 for value in values):
        return f"{text!r} has a non-positive entry"
    return None


def check_inventory(inventory: pd.DataFrame) -> None:
    """Check that an inventory meets the contract of ``inventory.csv`` before it is written.

    The contract: columns `INVENTORY_COLUMNS` plus a boolean ``selected``; non-empty ``file``,
    ``species`` and ``specimen_id``; ``format`` one of `fossilct.volumes.FORMATS`;
    ``shape_zyx`` three positive integers and ``spacing_zyx_um`` three positive numbers; each
    file listed once; each ``specimen_id`` under one species.

    Parameters
    ----------
    inventory : pandas.DataFrame
        As returned by `build_inventory` and then `select_species`.

    Raises
    ------
    TypeError
        If `inventory` is not a DataFrame.
    SpecimenTableError
        If a column is missing, or listing every row that breaks the contract (rows counted
        from 0).

    Examples
    --------
    >>> inventory = pd.DataFrame({"file": ["a.npz"], "species": ["x"], "specimen_id": ["1"],
    ...                           "format": ["npz"], "shape_zyx": ["2x3x4"],
    ...                           "spacing_zyx_um": ["5x2.5x2.5"], "selected": [True]})
    >>> check_inventory(inventory)
    >>> check_inventory(inventory.assign(shape_zyx="2x3"))
    Traceback (most recent call last):
    ...
    fossilct.specimens.SpecimenTableError: the inventory has 1 problem:
      row 0: shape_zyx '2x3' is not three numbers joined by 'x'
    Rebuild it with build_inventory and select_species instead of editing it.
    """
    check_table(inventory, INVENTORY_COLUMNS + ("selected",), "inventory")
    problems = []
    if inventory["selected"].dtype != bool:
        problems.append(f"column selected has dtype {inventory['selected'].dtype}, not bool")
    records = inventory.to_dict("records")
    for row, record in enumerate(records):
        for column in REQUIRED_COLUMNS:
            if pd.isna(record[column]) or not str(record[column]).strip():
                problems.append(f"row {row}: empty {column}")
        if record["format"] not in volumes.FORMATS:
            problems.append(f"row {row}: format {record['format']!r} is not one of "
                            f"{volumes.FORMATS}")
        for column, integer in (("shape_zyx", True), ("spacing_zyx_um", False)):
            problem = _triplet_problem(record[column], integer=integer)
            if problem:
                problems.append(f"row {row}: {column} {problem}")
    problems.extend(duplicate_problems(list(range(len(records))), records, unit="row"))
    if problems:
        raise problems_error("the inventory", problems,
                             "Rebuild it with build_inventory and select_species instead of "
                             "editing it.")


def _row_spacing(row: Mapping) -> tuple[float, ...] | None:
    """``spacing_zyx_um`` of an inventory row, else a table's isotropic ``voxel_size_um``, else
    None (the file's own spacing)."""
    zyx = row.get("spacing_zyx_um")
    if isinstance(zyx, str) and zyx:
        return parse_triplet(zyx)
    size = row.get("voxel_size_um")
    if size is not None and not pd.isna(size):
        return (float(size),) * 3
    return None


def load_inventory_volume(row: Mapping, data_dir: str | os.PathLike, *,
                          allow_outside: bool = False) -> volumes.Volume:
    """Load the volume of one table row with the row's spacing (as stored, not resampled).

    The one loader of a listed volume: the slice step, the galleries and the matching library
    all read through it.

    Parameters
    ----------
    row : mapping
        An inventory row (``file`` relative to `data_dir`, ``spacing_zyx_um``), or a
        ``specimens.csv`` row (``file``, optional ``voxel_size_um``); without either spacing
        column the file's own spacing is used.
    data_dir : path-like
    allow_outside : bool, keyword-only
        Read a file that leads outside `data_dir` (see `read_specimen_table`). Default False.

    Returns
    -------
    fossilct.volumes.Volume

    Raises
    ------
    SpecimenTableError
        If the file leads outside `data_dir`.
    fossilct.volumes.VolumeError, FileNotFoundError
        If the file cannot be read (the message names it).
    ValueError
        If ``spacing_zyx_um`` is not a triplet.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = volumes.save_volume(folder / "a.npy", np.arange(24.0).reshape(2, 3, 4), 1.0)
    >>> load_inventory_volume({"file": "a.npy", "spacing_zyx_um": "5x2.5x2.5"}, folder).spacing_um
    (5.0, 2.5, 2.5)
    >>> load_inventory_volume({"file": "a.npy", "voxel_size_um": 7.5}, folder).spacing_um
    (7.5, 7.5, 7.5)
    """
    outside = None if allow_outside else outside_problem(Path(data_dir), str(row["file"]))
    if outside:
        raise problems_error("the inventory", [outside],
                             "Rebuild it with read_specimen_table and build_inventory.")
    return volumes.load_volume(Path(data_dir) / str(row["file"]), spacing_um=_row_spacing(row))


def load_example_volumes(inventory: pd.DataFrame, data_dir: str | os.PathLike, *,
                         allow_outside: bool = False) -> dict[str, np.ndarray]:
    """Load one volume per species, for a gallery: the first file of the species' first specimen.

    Only selected species are used when the inventory has a ``selected`` column. Volumes are
    loaded as stored (no resampling), with the inventory's spacing.

    Parameters
    ----------
    inventory : pandas.DataFrame
        With at least ``file``, ``species``, ``specimen_id`` and ``spacing_zyx_um``.
    data_dir : path-like
        The folder the ``file`` entries are relative to.
    allow_outside : bool
        Read files that lead outside `data_dir` (see `read_specimen_table`). Default False.

    Returns
    -------
    dict of str to (P, M, N) ndarray
        ``"<species> · <specimen_id>"`` -> volume, species in sorted order; empty when no
        species is selected.

    Raises
    ------
    TypeError
        If `inventory` is not a DataFrame.
    SpecimenTableError
        If `inventory` lacks a needed column, or a file leads outside `data_dir`.
    fossilct.volumes.VolumeError
        If a volume cannot be loaded (the message names the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = volumes.save_volume(folder / "a.npz", np.arange(24).reshape(2, 3, 4), 2.0)
    >>> inventory = pd.DataFrame({"file": ["a.npz"], "species": ["x"], "specimen_id": ["1"],
    ...                           "spacing_zyx_um": ["2x2x2"]})
    >>> {label: volume.shape
    ...  for label, volume in load_example_volumes(inventory, folder).items()}
    {'x · 1': (2, 3, 4)}
    """
    check_table(inventory, ("file", "species", "specimen_id", "spacing_zyx_um"), "inventory")
    rows = inventory[inventory["selected"]] if "selected" in inventory.columns else inventory
    examples = {}
    for species, group in rows.groupby("species", sort=True):
        first = group.iloc[0]
        examples[f"{species} · {first['specimen_id']}"] = load_inventory_volume(
            first, data_dir, allow_outside=allow_outside).data
    return examples
