"""``specimens.csv``: reading it, and validating every row before anything is loaded."""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "SpecimenTableError",
    "SPECIMEN_TABLE",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "COLUMN_MATCH_CUTOFF",
    "read_specimen_table",
]

SPECIMEN_TABLE = "specimens.csv"
REQUIRED_COLUMNS = ("file", "species", "specimen_id")
OPTIONAL_COLUMNS = ("voxel_size_um",)

COLUMN_MATCH_CUTOFF = 0.8
"""difflib similarity above which an unknown column is reported as a misspelling of a known one."""
_SUGGEST_CUTOFF = 0.6  # looser: only used to point at a likely rename for a missing column


class SpecimenTableError(ValueError):
    """The specimens table, or a volume it lists, cannot be used; the message lists every problem."""


def problems_error(what: str, problems: Sequence[str], fix: str) -> SpecimenTableError:
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


def duplicate_problems(lines: list[int], records: list[dict], *, unit: str = "line"
                       ) -> list[str]:
    """A file listed twice; a specimen_id under two species. `lines` label the `records`."""
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
            problems.append(f"{unit}s {where}: file {file!r} is listed {len(indices)} "
                            f"times{detail}; list each file once")
    by_specimen: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for line, record in zip(lines, records):
        if record.get("specimen_id") and record.get("species"):
            by_specimen[record["specimen_id"]][record["species"]].append(line)
    for specimen, species_lines in by_specimen.items():
        if len(species_lines) > 1:
            parts = "; ".join(f"{species!r} ({unit}{'s' if len(ls) > 1 else ''} "
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
        raise problems_error(what, ["the file is empty; the first line must name the columns"],
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
    problems.extend(duplicate_problems(lines, records))
    if problems:
        raise problems_error(what, problems, fix)
    table = pd.DataFrame({name: [record[name] for record in records] for name in header})
    for name in header:
        if name in REQUIRED_COLUMNS:
            table[name] = table[name].astype(str)
        elif name == "voxel_size_um":
            table[name] = pd.to_numeric(table[name].replace("", np.nan)).astype(np.float64)
        else:
            table[name] = _typed_column(list(table[name]))
    return table


def check_table(table, columns: Sequence[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas DataFrame; got {type(table).__name__}.")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise SpecimenTableError(
            f"`{name}` lacks the columns {missing} (it has {list(table.columns)}); pass the "
            f"frame returned by {'read_specimen_table' if name == 'table' else 'build_inventory'}."
        )


