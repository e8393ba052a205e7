"""The slice manifest: one row per slice image, the single source of truth for every later step.

Later notebooks read slices through the manifest, never by globbing folders. Columns, in order
(``MANIFEST_COLUMNS``):

============================  ==========================================================
``path``                      PNG path relative to the manifest's folder (POSIX)
``slice_id``                  stable unique id: ``<file>__<plane>__<index>``
``file``                      source volume, as in the specimens table
``specimen_id``               the unit of independence (several files may share one)
``species``                   class label
``split``                     ``train`` / ``val`` / ``test``; empty until notebook 03 assigns
                              it; ``leaky_*`` for the slice-level leakage experiment only
``plane``                     plane label (``axis_p``, ``rot_pr_040``, ...; see fossilct.planes)
``normal_zyx``                actual (jittered) unit normal, (plane, row, col), ``"p r c"``
``angle_deg``                 turning angle of the plane family (0 for the axes)
``index``                     position of the offset in the plane's offset grid
``offset_um``                 signed distance of the plane from the volume centre, µm
``foreground_fraction``       fraction of the slice covered by the fossil silhouette
``bbox``                      ``"row0 col0 row1 col1"`` of the silhouette in the slice
``source_shape``              ``"PxMxN"`` of the isotropic volume the slice was cut from
``seed``                      the volume's seed (derived from the run seed and the file)
============================  ==========================================================

:func:`write_manifest` sorts rows and formats numbers deterministically, so the same inputs give
a byte-identical file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Iterable

import numpy as np
import pandas as pd

from fossilct import atomic

__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "LEAKY_PREFIX",
    "ManifestError",
    "slice_id_for",
    "safe_component",
    "check_distinct_components",
    "image_path_for",
    "format_vector",
    "parse_vector",
    "write_manifest",
    "read_manifest",
    "check_manifest",
    "class_names_of",
]

MANIFEST_COLUMNS = ("path", "slice_id", "file", "specimen_id", "species", "split", "plane",
                    "normal_zyx", "angle_deg", "index", "offset_um", "foreground_fraction",
                    "bbox", "source_shape", "seed")
SPLITS = ("train", "val", "test")
LEAKY_PREFIX = "leaky_"
"""Prefix of split values written by the slice-level (leaky) split; never valid for reporting."""

_TEXT_COLUMNS = ("path", "slice_id", "file", "specimen_id", "species", "split", "plane",
                 "normal_zyx", "bbox", "source_shape")
_INT_COLUMNS = ("index", "seed")
_FLOAT_FORMATS = {"angle_deg": "{:.3f}", "offset_um": "{:.3f}", "foreground_fraction": "{:.6f}"}
_SORT_KEYS = ["species", "specimen_id", "file", "slice_id"]
_MAX_LISTED = 10  # problems listed in one error message
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_COMPONENT_CHARS = 100
"""Longest name :func:`safe_component` returns (file systems allow 255 bytes per component)."""


class ManifestError(ValueError):
    """The manifest breaks its contract (columns, ids, values, files)."""


def safe_component(name: str) -> str:
    """`name` as one file or folder name that stays where it is put.

    Accents are dropped (``é`` -> ``e``), every run of characters other than ASCII letters,
    digits, ``.``, ``_`` and ``-`` becomes ``_`` (so ``/`` and ``\\`` never survive), dots and
    underscores are stripped from both ends (no ``.``, ``..`` or hidden names), an empty result
    becomes ``_``, and a result longer than ``MAX_COMPONENT_CHARS`` is cut and made unique with
    8 hex digits of the name's SHA-1. Distinct names can still share a component
    (``"a b"``, ``"a_b"``): see :func:`check_distinct_components`.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        Non-empty, at most ``MAX_COMPONENT_CHARS`` characters of ``[A-Za-z0-9._-]``, neither
        starting nor ending with ``.`` or ``_`` (unless it is ``_``).

    Examples
    --------
    >>> safe_component("alveolina like"), safe_component(".."), safe_component("../../etc")
    ('alveolina_like', '_', 'etc')
    >>> safe_component("Nummulites é/β")
    'Nummulites_e'
    """
    folded = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    component = _SAFE.sub("_", folded).strip("._") or "_"
    if len(component) > MAX_COMPONENT_CHARS:
        digest = hashlib.sha1(str(name).encode()).hexdigest()[:8]
        component = f"{component[:MAX_COMPONENT_CHARS - 9]}-{digest}"
    return component


def check_distinct_components(names: Iterable[str], *, what: str) -> dict[str, str]:
    """Map each distinct name to its :func:`safe_component`; refuse two names that share one.

    Call it before writing files named after `names`, so that two species (or files) never
    write into one folder (or over one image) unnoticed.

    Parameters
    ----------
    names : iterable of str
        Repeats are fine.
    what : str
        What the names are, for the message (e.g. ``"species"``).

    Returns
    -------
    dict of str to str
        name -> component.

    Raises
    ------
    ManifestError
        Naming every group of names that share a component (compared ignoring case, as
        macOS and Windows file systems do), and the fix.

    Examples
    --------
    >>> check_distinct_components(["a b", "c", "a b"], what="species")
    {'a b': 'a_b', 'c': 'c'}
    """
    components = {str(name): safe_component(name) for name in names}
    groups: dict[str, list[str]] = {}
    for name, component in components.items():
        # case-insensitive file systems (macOS, Windows) would merge names differing in case
        groups.setdefault(component.casefold(), []).append(name)
    clashes = [f"{', '.join(map(repr, sorted(group)))} -> {components[group[0]]!r}"
               for group in groups.values() if len(group) > 1]
    if clashes:
        raise ManifestError(
            f"{len(clashes)} group(s) of distinct {what} names would share a file or folder name "
            f"once made safe for paths: {'; '.join(clashes[:_MAX_LISTED])}. Rename them in "
            "specimens.csv so that they differ in letters or digits, not only in spaces, "
            "punctuation, accents or upper/lower case.")
    return components


def slice_id_for(file: str, plane: str, index: int) -> str:
    """Return the stable slice id for a file, plane label and offset index.

    Examples
    --------
    >>> slice_id_for("scans/alveolina 01.nii.gz", "rot_pr_040", 17)
    'scans_alveolina_01.nii.gz__rot_pr_040__0017'
    """
    return f"{safe_component(file)}__{safe_component(plane)}__{int(index):04d}"


def image_path_for(species: str, slice_id: str) -> str:
    """Return the PNG path of a slice, relative to the manifest's folder.

    Both parts go through :func:`safe_component`, so the path always lies inside
    ``images/<one folder>/`` whatever the names hold (``..``, ``/``).

    Examples
    --------
    >>> image_path_for("alveolina_like", "a__axis_p__0003")
    'images/alveolina_like/a__axis_p__0003.png'
    >>> image_path_for("..", "../../x")
    'images/_/x.png'
    """
    return str(PurePosixPath("images", safe_component(species),
                             f"{safe_component(slice_id)}.png"))


def format_vector(values, *, decimals: int | None = 6, sep: str = " ") -> str:
    """Format numbers as one manifest cell (fixed decimals, or integers when `decimals` is None).

    Examples
    --------
    >>> format_vector([0.5, -0.0, 1 / 3])
    '0.500000 0.000000 0.333333'
    >>> format_vector([3, 4, 10, 20], decimals=None)
    '3 4 10 20'
    """
    if decimals is None:
        return sep.join(str(int(v)) for v in values)
    # -0.0 would print as "-0.000000" and break byte-identity between equal values
    return sep.join(f"{float(v) + 0.0:.{decimals}f}" for v in values)


def parse_vector(text: str, *, dtype=float) -> tuple:
    """Parse a manifest cell such as ``"0.5 0 1"`` or ``"64x48x48"`` into a tuple.

    Raises
    ------
    ManifestError
        If the cell is not numbers separated by spaces or ``x``.

    Examples
    --------
    >>> parse_vector("64x48x48", dtype=int)
    (64, 48, 48)
    """
    parts = re.split(r"[\sx]+", str(text).strip())
    try:
        return tuple(dtype(float(p)) if dtype is int else dtype(p) for p in parts if p)
    except ValueError:
        raise ManifestError(
            f"Cannot parse {text!r} as numbers separated by spaces or 'x'. The manifest cell is "
            f"corrupt; rebuild the manifest with notebook 02."
        ) from None


def _formatted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.loc[:, list(MANIFEST_COLUMNS)].copy()
    for column in _TEXT_COLUMNS:
        out[column] = out[column].fillna("").astype(str)
    for column in _INT_COLUMNS:
        out[column] = out[column].astype(np.int64)
    for column, fmt in _FLOAT_FORMATS.items():
        out[column] = [fmt.format(float(v) + 0.0) for v in out[column]]
    return out.sort_values(_SORT_KEYS, kind="mergesort").reset_index(drop=True)


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the manifest atomically with deterministic row order and number formatting.

    Parameters
    ----------
    frame : pandas.DataFrame
        Holding at least ``MANIFEST_COLUMNS`` (extra columns are dropped).
    path : path-like
        Destination CSV (usually ``<run>/slices/manifest.csv``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ManifestError
        If columns are missing.

    Examples
    --------
    >>> import tempfile
    >>> row = dict(path="images/a/x.png", slice_id="x", file="f.npy", specimen_id="s1",
    ...            species="a", split="", plane="axis_p", normal_zyx="1 0 0", angle_deg=0.0,
    ...            index=3, offset_um=-12.5, foreground_fraction=0.25, bbox="1 2 30 40",
    ...            source_shape="32x32x32", seed=7)
    >>> target = Path(tempfile.mkdtemp()) / "manifest.csv"
    >>> print(write_manifest(pd.DataFrame([row]), target).read_text().splitlines()[1])
    images/a/x.png,x,f.npy,s1,a,,axis_p,1 0 0,0.000,3,-12.500,0.250000,1 2 30 40,32x32x32,7
    """
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"Cannot write the manifest to {str(path)!r}: columns {missing} are missing. Build "
            f"rows with fossilct.slice_dataset.build_slice_dataset."
        )
    check_distinct_components(frame["species"].astype(str), what="species")
    for column in ("slice_id", "path"):
        shared = frame.groupby(frame[column].astype(str))["file"].unique()
        shared = shared[shared.map(len) > 1]
        if len(shared):
            examples = "; ".join(f"{value!r} from {sorted(map(str, files))}"
                                 for value, files in shared.head(_MAX_LISTED).items())
            raise ManifestError(
                f"Cannot write the manifest to {str(path)!r}: {len(shared)} {column} value(s) "
                f"come from more than one volume file, so one image overwrote another: "
                f"{examples}. Rename the files in specimens.csv so that their names differ in "
                "letters or digits, not only in punctuation.")
    return atomic.write_csv(path, _formatted(frame))


def _inside(path: str) -> bool:
    """Whether a manifest path stays inside the manifest's folder: relative, POSIX separators
    (a backslash is a separator on Windows), no ``..``."""
    return (bool(path) and not path.startswith("/") and "\\" not in path
            and ":" not in PurePosixPath(path).parts[0] and ".." not in PurePosixPath(path).parts)


def _check_complete_rows(text: str, path: Path, rebuild: str) -> None:
    """Refuse an empty manifest, and one whose rows do not all have the header's field count
    (a file cut mid-row by a killed writer or a full disk)."""
    if not text.strip():
        raise ManifestError(f"Manifest {str(path)!r} is empty. {rebuild}")
    if not text.endswith("\n"):  # write_manifest ends every row, the last one included
        raise ManifestError(f"Manifest {str(path)!r} is cut short: its last line "
                            f"({text.count(chr(10)) + 1}) has no line end, so its last value may "
                            f"be incomplete. {rebuild}")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        short = [(reader.line_num, len(row)) for row in reader
                 if row and len(row) != len(header)]
    except csv.Error as error:
        raise ManifestError(f"Manifest {str(path)!r} is cut short or damaged at line "
                            f"{reader.line_num} ({error}). {rebuild}") from None
    if short:
        shown = ", ".join(f"line {line} has {n}" for line, n in short[:_MAX_LISTED])
        raise ManifestError(f"Manifest {str(path)!r} is cut short or damaged: the header has "
                            f"{len(header)} fields, but {shown}. {rebuild}")


def read_manifest(path: str | os.PathLike, *, absolute_paths: bool = False) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest`.

    Text columns stay strings (an unassigned ``split`` is ``""``), ``index`` and ``seed`` are
    int64 and the other numbers float64.

    Parameters
    ----------
    path : path-like
    absolute_paths : bool, keyword-only
        Resolve ``path`` entries against the manifest's folder (what loaders of the images
        need); default False keeps them relative, as written.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ManifestError
        If the file is empty, not UTF-8, cut short (a row with too few fields, an unclosed
        quote: the message names the lines), columns are missing, numbers do not parse, or an
        image path leads outside the manifest's folder (absolute, ``..``, a backslash; the
        message names the lines and values).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No manifest at {str(path)!r}. Run notebook 02_slices (or `python run_all.py --only "
            f"02_slices`) to build it, or pass the right `manifest_csv` parameter."
        )
    rebuild = "Rebuild it: re-run the slice step (notebook 02_slices)."
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ManifestError(f"Manifest {str(path)!r} is not UTF-8 text (byte {error.start} cannot "
                            f"be decoded); it was not written by write_manifest. {rebuild}"
                            ) from None
    _check_complete_rows(text, path, rebuild)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"Manifest {str(path)!r} lacks columns {missing} (has {list(frame.columns)}). It was "
            f"not written by fossilct.manifest.write_manifest; rebuild it with notebook 02."
        )
    for column in _INT_COLUMNS + tuple(_FLOAT_FORMATS):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float)))
        if column in _INT_COLUMNS:
            bad = np.union1d(bad, np.flatnonzero(numbers.notna() & (numbers % 1 != 0)))
        if bad.size:
            shown = ", ".join(f"line {row + 2}: {frame[column].iloc[row]!r}"
                              for row in bad[:_MAX_LISTED])
            kind = "an integer" if column in _INT_COLUMNS else "a finite number"
            raise ManifestError(f"Manifest {str(path)!r}: column {column!r} must hold {kind} "
                                f"in every row; {bad.size} do not ({shown}). {rebuild}")
        frame[column] = numbers.astype(np.int64 if column in _INT_COLUMNS else np.float64)
    outside = np.flatnonzero([not _inside(p) for p in frame["path"]])
    if outside.size:
        shown = ", ".join(f"line {row + 2}: {frame['path'].iloc[row]!r}"
                          for row in outside[:_MAX_LISTED])
        raise ManifestError(f"Manifest {str(path)!r}: {outside.size} image path(s) lead outside "
                            f"its folder ({shown}); paths must be relative, with '/' and "
                            f"without '..'. {rebuild}")
    frame = frame.loc[:, list(MANIFEST_COLUMNS)]
    if absolute_paths:
        root = path.resolve().parent
        frame["path"] = [str(root / p) for p in frame["path"]]
    return frame


def _row_problems(frame: pd.DataFrame) -> list[str]:
    problems = []
    duplicated = frame["slice_id"][frame["slice_id"].duplicated()].unique()
    if len(duplicated):
        problems.append(f"slice_id not unique: {list(duplicated[:_MAX_LISTED])}")
    for column in ("path", "slice_id", "file", "specimen_id", "species", "plane"):
        empty = np.flatnonzero(frame[column].fillna("").astype(str).str.len() == 0)
        if empty.size:
            problems.append(f"empty {column} in rows {empty[:_MAX_LISTED].tolist()}")
    paths = frame["path"].astype(str)
    bad_path = np.flatnonzero([not _inside(p) for p in paths])
    if bad_path.size:
        problems.append(f"path must be relative, with '/' and without '..' (rows "
                        f"{bad_path[:_MAX_LISTED].tolist()})")
    split = frame["split"].fillna("").astype(str)
    allowed = {""} | set(SPLITS) | {LEAKY_PREFIX + s for s in SPLITS}
    bad_split = np.flatnonzero(~split.isin(allowed))
    if bad_split.size:
        problems.append(f"split not in {sorted(allowed)} (rows {bad_split[:_MAX_LISTED].tolist()})")
    fraction = pd.to_numeric(frame["foreground_fraction"], errors="coerce")
    bad = np.flatnonzero(~fraction.between(0.0, 1.0))
    if bad.size:
        problems.append(f"foreground_fraction outside [0, 1] (rows {bad[:_MAX_LISTED].tolist()})")
    angle = pd.to_numeric(frame["angle_deg"], errors="coerce")
    bad = np.flatnonzero(~angle.between(0.0, 180.0))
    if bad.size:
        problems.append(f"angle_deg outside [0, 180] (rows {bad[:_MAX_LISTED].tolist()})")
    index = pd.to_numeric(frame["index"], errors="coerce")
    bad = np.flatnonzero(~(index >= 0))
    if bad.size:
        problems.append(f"index negative or missing (rows {bad[:_MAX_LISTED].tolist()})")
    bad_vectors = []
    for row, (normal, bbox, shape) in enumerate(zip(frame["normal_zyx"], frame["bbox"],
                                                     frame["source_shape"])):
        try:
            n = np.array(parse_vector(normal))
            box = parse_vector(bbox, dtype=int)
            dims = parse_vector(shape, dtype=int)
        except ManifestError:
            bad_vectors.append(row)
            continue
        if (n.shape != (3,) or abs(np.linalg.norm(n) - 1.0) > 1e-3 or len(box) != 4
                or not (0 <= box[0] < box[2] and 0 <= box[1] < box[3]) or len(dims) != 3
                or min(dims) < 1):
            bad_vectors.append(row)
    if bad_vectors:
        problems.append("normal_zyx not a unit 3-vector, bbox not 'row0 col0 row1 col1' with "
                        f"row0 < row1 and col0 < col1, or source_shape not 'PxMxN' (rows "
                        f"{bad_vectors[:_MAX_LISTED]})")
    return problems


def check_manifest(frame: pd.DataFrame, *, root: str | os.PathLike,
                   check_files: bool = True) -> None:
    """Check that a manifest meets its contract; raise listing every problem found.

    Parameters
    ----------
    frame : pandas.DataFrame
        The manifest, as read by :func:`read_manifest`.
    root : path-like, keyword-only
        The manifest's folder (``path`` is relative to it).
    check_files : bool, keyword-only
        Also check that every image file exists (default True).

    Raises
    ------
    ManifestError
        Columns missing or out of order, duplicate ``slice_id``, empty ids, absolute paths,
        values out of range (``foreground_fraction`` in [0, 1], ``angle_deg`` in [0, 180],
        ``index`` >= 0, unit ``normal_zyx``, ordered ``bbox``), unknown ``split`` values, missing
        image files. The message lists the offending rows (0-based, at most 10 per problem).

    Examples
    --------
    >>> check_manifest(pd.DataFrame(columns=MANIFEST_COLUMNS), root=".")
    """
    columns = list(frame.columns)
    if columns != list(MANIFEST_COLUMNS):
        missing = [c for c in MANIFEST_COLUMNS if c not in columns]
        extra = [c for c in columns if c not in MANIFEST_COLUMNS]
        raise ManifestError(
            f"Manifest columns must be exactly {list(MANIFEST_COLUMNS)} in this order; missing "
            f"{missing}, unexpected {extra}. Write it with fossilct.manifest.write_manifest."
        )
    problems = _row_problems(frame)
    if check_files:
        root = Path(root)
        absent = [row for row, p in enumerate(frame["path"].astype(str))
                  if not (root / p).is_file()]
        if absent:
            problems.append(
                f"{len(absent)} image files missing under {str(root)!r} (rows "
                f"{absent[:_MAX_LISTED]}, e.g. {frame['path'].iloc[absent[0]]!r})"
            )
    if problems:
        raise ManifestError(
            "Manifest check failed:\n- " + "\n- ".join(problems)
            + "\nRebuild the slices with notebook 02 (run_all.py --only 02_slices --force)."
        )


def class_names_of(slices: pd.DataFrame) -> list[str]:
    """The sorted species of a whole slice table: the fixed label order of every model.

    Raises
    ------
    ValueError
        If the table holds fewer than two species.

    Examples
    --------
    >>> class_names_of(pd.DataFrame({"species": ["b", "a", "b"]}))
    ['a', 'b']
    """
    names = sorted(str(s) for s in pd.unique(slices["species"]))
    if len(names) < 2:
        raise ValueError(f"the slice table holds {len(names)} species ({names}); classification "
                         "needs at least 2.")
    return names
