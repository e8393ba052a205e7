"""``specimens.csv``: reading it, and validating every row before anything is loaded."""

from __future__ import annotations

import codecs
import csv
import difflib
import io
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
ENCODINGS = ("UTF-8", "UTF-8 with BOM", "UTF-16 with BOM")
"""Encodings of ``specimens.csv`` that are read; anything else is refused, never guessed."""
SEPARATORS = (",", ";", "\t")
"""Field separators: a comma, or a semicolon or tab when the header line uses it instead."""
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}

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


def _decode(raw: bytes, path: Path) -> str:
    """The text of the table in one of ``ENCODINGS``; a clear error for anything else."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
                       (codecs.BOM_UTF8, "utf-8-sig")):
        if raw.startswith(bom):
            break
    else:
        codec = "utf-8"
    if codec != "utf-16" and b"\x00" in raw:
        raise SpecimenTableError(
            f"{str(path)!r} holds NUL bytes: it is UTF-16 without a byte-order mark, or not a "
            f"text table. Encodings read: {', '.join(ENCODINGS)}. Save it as UTF-8.")
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        byte = raw[error.start: error.start + 1]
        hint = (f" (in Latin-1/Windows-1252 that byte is {byte.decode('cp1252', 'replace')!r})"
                if codec == "utf-8" else "")
        raise SpecimenTableError(
            f"{str(path)!r} cannot be read as text: byte {error.start} (line {line}) is "
            f"0x{byte.hex().upper()}{hint}, invalid in {codec.upper().replace('-SIG', '')}. "
            f"Encodings read: {', '.join(ENCODINGS)}. Save the table as UTF-8 (in Excel: "
            "'CSV UTF-8'; in LibreOffice: character set 'Unicode (UTF-8)').") from None
    return text.lstrip("\ufeff")


def _separator(header_line: str) -> str:
    """The separator that splits the header into the most known column names (comma on a tie):
    spreadsheet programs in many locales export ';', others tabs."""
    known = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    scores = {sep: len(known & {cell.strip() for cell in header_line.split(sep)})
              for sep in SEPARATORS}
    return max(SEPARATORS, key=lambda sep: (scores[sep], sep == ","))


def outside_problem(data_dir: Path, file: str) -> str | None:
    """Why `file` (relative to `data_dir`) is not inside `data_dir` once resolved, or None.

    Resolution follows ``..`` and symbolic links, so a link inside the folder that leads out of
    it counts as outside.
    """
    root = data_dir.resolve()
    resolved = (data_dir / file).resolve()
    if resolved.is_relative_to(root):
        return None
    lexical = Path(os.path.abspath(data_dir / file))  # ".." applied, links not followed
    how = " through a symbolic link" if lexical.is_relative_to(os.path.abspath(data_dir)) else ""
    return (f"file {file!r} leads{how} to {str(resolved)!r}, outside the data folder "
            f"{str(root)!r}; move the volume into the folder, or pass allow_outside=True if "
            "volumes outside it are intended")


def _normalise_file(text: str) -> str:
    """POSIX form of a `file` entry: ``.\\stack\\`` and ``./stack/`` both become ``stack``."""
    return str(PurePosixPath(os.path.normpath(text.replace("\\", "/"))))


def _row_problems(line: int, record: dict, data_dir: Path, allow_outside: bool) -> list[str]:
    problems = []
    for column in REQUIRED_COLUMNS:
        if column in record and not record[column]:
            problems.append(f"line {line}: empty {column}")
    file = record.get("file")
    if file:
        outside = None if allow_outside else outside_problem(data_dir, file)
        if PurePosixPath(file).is_absolute() and not allow_outside:
            problems.append(f"line {line}: file {file!r} must be relative to the data folder "
                            "(or pass allow_outside=True)")
        elif outside:
            problems.append(f"line {line}: {outside}")
        elif not (data_dir / file).exists():
            problems.append(f"line {line}: file {file!r} not found in {str(data_dir)!r}")
    size = record.get("voxel_size_um")
    if size:
        try:
            value = float(size)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            comma = " (write decimals with a point)" if "," in size else ""
            problems.append(f"line {line}: voxel_size_um must be a positive number (µm) or "
                            f"empty; got {size!r}{comma}")
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


def read_specimen_table(data_dir: str | os.PathLike, *,
                        allow_outside: bool = False) -> pd.DataFrame:
    """Read and validate ``data_dir/specimens.csv``.

    Every problem is collected before raising, so one run shows them all: a missing required
    column, an unknown column that looks like a misspelling of a known one (``specimen`` ->
    ``specimen_id``), a row with the wrong number of fields, an empty ``file``, ``species`` or
    ``specimen_id``, a file that is absolute, outside the data folder or not on disk, a file
    listed twice (saying so when the species differ), a ``voxel_size_um`` that is not a positive
    number, and a ``specimen_id`` that appears under two species. Rows are named by their line
    in the file (the header is line 1).

    The table may be UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order mark
    (``ENCODINGS``); other bytes are refused with their position, never guessed. Fields are
    separated by commas, or by semicolons or tabs when the header line is (``SEPARATORS``: what
    spreadsheet programs export in many locales); the separator that splits the header into the
    most known column names is used.

    Parameters
    ----------
    data_dir : path-like
        The data folder holding ``specimens.csv`` and the volumes.
    allow_outside : bool
        Accept ``file`` entries that lead outside `data_dir` (absolute paths, ``..``, symbolic
        links out of the folder). Default False: every volume must lie inside the data folder
        once ``..`` and links are resolved, so that a table cannot make the pipeline read
        files it was not given.

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
    text = _decode(table_path.read_bytes(), table_path)
    separator = _separator(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    what = f"{SPECIMEN_TABLE} in {str(data_dir)!r}"
    fix = "Fix these entries (line numbers count the header as line 1) and run again."
    try:
        header = [name.strip() for name in next(reader, [])]
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise problems_error(what, [f"line {reader.line_num}: {error}"], fix) from None
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
                            f"(a stray or missing {_SEPARATOR_NAMES[separator]}?)")
            continue
        record = {name: cell.strip() for name, cell in zip(header, row)}
        if record.get("file"):
            record["file"] = _normalise_file(record["file"])
        problems.extend(_row_problems(line, record, data_dir, allow_outside))
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


