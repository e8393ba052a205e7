"""The dataset table (``specimens.csv``), the inventory of the volumes it lists, and species
selection.

A data folder holds volumes (files, or folders of slices) and ``specimens.csv`` with at least the
columns ``file`` (relative to the folder), ``species`` and ``specimen_id``; an optional
``voxel_size_um`` overrides the spacing stored in the file, and any other column (the synthetic
generator writes ``format``, ``seed``, ``generator_params``) is kept. A specimen may have several
files (re-scans, cropped exports): the specimen, never the file, is the unit that is counted.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import re
import warnings
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np
import pandas as pd

from fossilct import volumes

SPECIMEN_TABLE = "specimens.csv"
REQUIRED_COLUMNS = ("file", "species", "specimen_id")
OPTIONAL_COLUMNS = ("voxel_size_um",)
INVENTORY_COLUMNS = ("file", "species", "specimen_id", "format", "shape_zyx", "spacing_zyx_um")

COLUMN_MATCH_CUTOFF = 0.8
"""difflib similarity above which an unknown column is reported as a misspelling of a known one."""
_SUGGEST_CUTOFF = 0.6  # looser: only used to point at a likely rename for a missing column

__all__ = [
    "SpecimenTableError",
    "SPECIMEN_TABLE",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "INVENTORY_COLUMNS",
    "COLUMN_MATCH_CUTOFF",
    "read_specimen_table",
    "parse_triplet",
    "format_triplet",
    "build_inventory",
    "select_species",
]


class SpecimenTableError(ValueError):
    """The specimens table, or a volume it lists, cannot be used; the message lists every problem."""


def _problems_error(what: str, problems: Sequence[str], fix: str) -> SpecimenTableError:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    listing = "\n".join(f"  {problem}" for problem in problems)
    return SpecimenTableError(f"{what} has {count}:\n{listing}\n{fix}")


def _column_problems(columns: list[str]) -> list[str]:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    problems, suggested = [], set()
    for column in columns:
        if column in known:
            continue
        match = difflib.get_close_matches(column.lower(), known, n=1, cutoff=COLUMN_MATCH_CUTOFF)
        if match and match[0] not in columns:
            problems.append(f"header: unknown column {column!r}; did you mean {match[0]!r}?")
            suggested.add(match[0])
    for column in REQUIRED_COLUMNS:
        if column in columns or column in suggested:
            continue
        others = [c for c in columns if c not in known]
        close = difflib.get_close_matches(column, others, n=1, cutoff=_SUGGEST_CUTOFF)
        hint = f" (rename {close[0]!r}?)" if close else ""
        problems.append(f"header: missing required column {column!r}{hint}")
    seen = set()
    for column in columns:
        if column in seen:
            problems.append(f"header: column {column!r} appears twice")
        seen.add(column)
    return problems


def _normalise_file(text: str) -> str:
    """POSIX form of a `file` entry: ``.\\stack\\`` and ``./stack/`` both become ``stack``."""
    return str(PurePosixPath(os.path.normpath(text.replace("\\", "/"))))


def _row_problems(line: int, record: dict, data_dir: Path) -> list[str]:
    problems = []
    for column in REQUIRED_COLUMNS:
        if column in record and not record[column]:
            problems.append(f"line {line}: empty {column}")
    file = record.get("file")
    if file:
        if PurePosixPath(file).is_absolute():
            problems.append(f"line {line}: file {file!r} must be relative to the data folder")
        elif not (data_dir / file).exists():
            problems.append(f"line {line}: file {file!r} not found in {str(data_dir)!r}")
    size = record.get("voxel_size_um")
    if size:
        try:
            value = float(size)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            problems.append(f"line {line}: voxel_size_um must be a positive number (µm) or "
                            f"empty; got {size!r}")
    return problems


def _duplicate_problems(lines: list[int], records: list[dict]) -> list[str]:
    problems = []
    by_file: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        if record.get("file"):
            by_file[record["file"]].append(index)
    for file, indices in by_file.items():
        if len(indices) > 1:
            where = ", ".join(str(lines[i]) for i in indices)
            species = sorted({records[i]["species"] for i in indices
                              if records[i].get("species")})
            detail = f" with different species ({', '.join(map(repr, species))})" \
                if len(species) > 1 else ""
            problems.append(f"lines {where}: file {file!r} is listed {len(indices)} "
                            f"times{detail}; list each file once")
    by_specimen: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for line, record in zip(lines, records):
        if record.get("specimen_id") and record.get("species"):
            by_specimen[record["specimen_id"]][record["species"]].append(line)
    for specimen, species_lines in by_specimen.items():
        if len(species_lines) > 1:
            parts = "; ".join(f"{species!r} (line{'s' if len(ls) > 1 else ''} "
                              f"{', '.join(map(str, ls))})"
                              for species, ls in sorted(species_lines.items()))
            problems.append(f"specimen_id {specimen!r} appears under {len(species_lines)} "
                            f"species: {parts}; one specimen belongs to one species")
    return problems


def _typed_column(values: list[str]) -> pd.Series:
    """Numbers where every entry is one, else the text as read."""
    series = pd.Series(values, dtype=object)
    try:
        return pd.to_numeric(series)
    except (ValueError, TypeError):
        return series.astype(str)


def read_specimen_table(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Read and validate ``data_dir/specimens.csv``.

    Every problem is collected before raising, so one run shows them all: a missing required
    column, an unknown column that looks like a misspelling of a known one (``specimen`` ->
    ``specimen_id``), a row with the wrong number of fields, an empty ``file``, ``species`` or
    ``specimen_id``, a file that is absolute or not on disk, a file listed twice (saying so
    when the species differ), a ``voxel_size_um`` that is not a positive number, and a
    ``specimen_id`` that appears under two species. Rows are named by their line in the file
    (the header is line 1).

    Parameters
    ----------
    data_dir : path-like
        The data folder holding ``specimens.csv`` and the volumes.

    Returns
    -------
    pandas.DataFrame
        One row per file, columns in the table's order. ``file`` (normalised to POSIX form,
        e.g. ``./a\\b.nii`` -> ``a/b.nii``), ``species`` and ``specimen_id`` are str;
        ``voxel_size_um``, when present, is float64 (NaN where empty); other columns are
        numeric when every entry is a number, else str. Surrounding blanks are stripped.

    Raises
    ------
    FileNotFoundError
        If `data_dir` or its ``specimens.csv`` does not exist.
    SpecimenTableError
        Listing every problem found.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from fossilct import volumes
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = volumes.save_volume(folder / "a.npz", np.arange(24.0).reshape(2, 3, 4), 2.0)
    >>> _ = (folder / "specimens.csv").write_text("file,species,specimen_id\\na.npz,alveolina,A1\\n")
    >>> read_specimen_table(folder)
        file    species specimen_id
    0  a.npz  alveolina          A1
    """
    data_dir = Path(data_dir)
    table_path = data_dir / SPECIMEN_TABLE
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {str(data_dir)!r}; pass the folder "
                                f"that holds the volumes and {SPECIMEN_TABLE}.")
    if not table_path.is_file():
        raise FileNotFoundError(
            f"no {SPECIMEN_TABLE} in {str(data_dir)!r}; add a table with the columns "
            f"{', '.join(REQUIRED_COLUMNS)} (one row per volume file or slice folder)."
        )
    with open(table_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    what = f"{SPECIMEN_TABLE} in {str(data_dir)!r}"
    fix = "Fix these entries (line numbers count the header as line 1) and run again."
    if not header:
        raise _problems_error(what, ["the file is empty; the first line must name the columns"],
                              fix)
    problems = _column_problems(header)
    if not rows:
        problems.append("the table has no rows; list one volume per line")
    lines, records = [], []
    for line, row in rows:
        if len(row) != len(header):
            problems.append(f"line {line}: {len(row)} fields but the header has {len(header)} "
                            "(a stray or missing comma?)")
            continue
        record = {name: cell.strip() for name, cell in zip(header, row)}
        if record.get("file"):
            record["file"] = _normalise_file(record["file"])
        problems.extend(_row_problems(line, record, data_dir))
        lines.append(line)
        records.append(record)
    problems.extend(_duplicate_problems(lines, records))
    if problems:
        raise _problems_error(what, problems, fix)
    table = pd.DataFrame({name: [record[name] for record in records] for name in header})
    for name in header:
        if name in REQUIRED_COLUMNS:
            table[name] = table[name].astype(str)
        elif name == "voxel_size_um":
            table[name] = pd.to_numeric(table[name].replace("", np.nan)).astype(np.float64)
        else:
            table[name] = _typed_column(list(table[name]))
    return table


_INTEGER = re.compile(r"[+-]?\d+")


def parse_triplet(text: str) -> tuple:
    """Parse ``"128x96x96"`` or ``"2.5x2.5x2.5"`` (as in the inventory CSV) into a tuple.

    Parameters
    ----------
    text : str
        Three numbers joined by ``x``.

    Returns
    -------
    tuple of 3 int, or tuple of 3 float
        ints when all three are written as integers, else floats.

    Raises
    ------
    ValueError
        If `text` is not three finite numbers joined by ``x``.

    Examples
    --------
    >>> parse_triplet("128x96x96")
    (128, 96, 96)
    >>> parse_triplet("5x2.5x2.5")
    (5.0, 2.5, 2.5)
    """
    parts = [part.strip() for part in str(text).lower().split("x")]
    if len(parts) == 3 and all(_INTEGER.fullmatch(part) for part in parts):
        return tuple(int(part) for part in parts)
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(value) for value in values):
        raise ValueError(f"expected three numbers joined by 'x', e.g. '128x96x96' or "
                         f"'2.5x2.5x2.5'; got {text!r}. Check the inventory CSV column.")
    return values


def format_triplet(values: Sequence[float]) -> str:
    """Write three numbers as ``"AxBxC"``, the inverse of `parse_triplet`.

    Floats use the shortest text that reads back to the same value.

    Examples
    --------
    >>> format_triplet((128, 96, 96))
    '128x96x96'
    >>> format_triplet((5.0, 2.5, 1796.875))
    '5x2.5x1796.875'
    """
    return "x".join(str(int(value)) if isinstance(value, (int, np.integer))
                    else np.format_float_positional(float(value), trim="-") for value in values)


def _check_table(table, columns: Sequence[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas DataFrame; got {type(table).__name__}.")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise SpecimenTableError(
            f"`{name}` lacks the columns {missing} (it has {list(table.columns)}); pass the "
            f"frame returned by {'read_specimen_table' if name == 'table' else 'build_inventory'}."
        )


def build_inventory(table: pd.DataFrame, data_dir: str | os.PathLike) -> pd.DataFrame:
    """List every volume of the table with its format, shape and spacing, reading headers only.

    Parameters
    ----------
    table : pandas.DataFrame
        The specimens table, as returned by `read_specimen_table`.
    data_dir : path-like
        The folder the table's ``file`` entries are relative to.

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
        If `table` lacks a required column, or listing every file whose header cannot be read
        or that does not hold a 3-D volume.

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
    _check_table(table, REQUIRED_COLUMNS, "table")
    data_dir = Path(data_dir)
    rows, problems = [], []
    for record in table.to_dict("records"):
        file = record["file"]
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
        raise _problems_error(f"the volumes listed in {SPECIMEN_TABLE} ({str(data_dir)!r})",
                              problems, "Re-export or re-copy these files, or remove their rows.")
    extras = [column for column in table.columns if column not in INVENTORY_COLUMNS]
    return pd.DataFrame(rows, columns=list(INVENTORY_COLUMNS) + extras)


def select_species(inventory: pd.DataFrame, *, min_specimens: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the species that have at least `min_specimens` distinct specimens.

    Specimens are counted by distinct ``specimen_id``, never by file: re-scans and cropped
    exports of one specimen count once.

    Parameters
    ----------
    inventory : pandas.DataFrame
        One row per file with at least ``species`` and ``specimen_id``.
    min_specimens : int
        Smallest number of distinct specimens a species needs to be kept (the report's 4).

    Returns
    -------
    selected_inventory : pandas.DataFrame
        A copy of `inventory` with a boolean column ``selected``.
    report : pandas.DataFrame
        One row per species: ``species, n_specimens, n_files, selected, reason``, where reason
        is ``"kept"`` or e.g. ``"3 specimens < min_specimens=4"``; sorted by decreasing
        ``n_specimens``, then species.

    Raises
    ------
    TypeError
        If `inventory` is not a DataFrame or `min_specimens` not an integer.
    ValueError
        If `min_specimens` < 1.
    SpecimenTableError
        If `inventory` lacks ``species`` or ``specimen_id``.

    Examples
    --------
    >>> inventory = pd.DataFrame({"species": ["a", "a", "a", "b"],
    ...                           "specimen_id": ["a1", "a1", "a2", "b1"]})
    >>> selected, report = select_species(inventory, min_specimens=2)
    >>> selected["selected"].tolist()
    [True, True, True, False]
    >>> report
      species  n_specimens  n_files  selected                        reason
    0       a            2        3      True                          kept
    1       b            1        1     False  1 specimen < min_specimens=2
    """
    _check_table(inventory, ("species", "specimen_id"), "inventory")
    if isinstance(min_specimens, bool) or not isinstance(min_specimens, (int, np.integer)):
        raise TypeError(f"`min_specimens` must be an integer; got {min_specimens!r}.")
    if min_specimens < 1:
        raise ValueError(f"`min_specimens` must be at least 1; got {min_specimens}. Set it in "
                         "the profile's 01_dataset block.")
    groups = inventory.groupby("species", sort=True)
    n_specimens = groups["specimen_id"].nunique()
    report = pd.DataFrame({
        "species": n_specimens.index.astype(str),
        "n_specimens": n_specimens.to_numpy(dtype=np.int64),
        "n_files": groups.size().reindex(n_specimens.index).to_numpy(dtype=np.int64),
    })
    report["selected"] = report["n_specimens"] >= min_specimens
    report["reason"] = [
        "kept" if keep else
        f"{n} specimen{'s' if n != 1 else ''} < min_specimens={min_specimens}"
        for n, keep in zip(report["n_specimens"], report["selected"])]
    report = report.sort_values(["n_specimens", "species"], ascending=[False, True],
                                kind="stable").reset_index(drop=True)
    selected = inventory.copy()
    kept = set(report.loc[report["selected"], "species"])
    selected["selected"] = selected["species"].isin(kept).astype(bool)
    return selected, report
