"""Write a folder of second-source scans: volumes in several formats plus ``specimens.csv``.

The only I/O of :mod:`fossilct.testscans`; volumes go through
:func:`fossilct.volumes.save_volume` and the folder through :func:`fossilct.atomic.atomic_dir`
(built next to its destination, swapped in when complete). Each format gets its own encoding
of the relative intensities, as different scanners and exports would produce:

============  =========  ==========================================================
format        dtype      encoding
============  =========  ==========================================================
nifti         float32    ``gain * intensity`` (gain 2-5), anisotropic planes
nrrd          int16      ``1000 * intensity - offset`` (offset 200-400: air is
                         negative), anisotropic planes
tiff_folder,  uint16     the window -0.25..1.75 mapped onto 0..65535
tiff_stack,
png_folder,
dicom
npy           float32    ``gain * (intensity - offset)`` (offset 0.15-0.35: air is
                         negative), isotropic; the table gives ``voxel_size_um``
npz           float32    ``gain * intensity``
============  =========  ==========================================================
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fossilct import atomic, volumes
from fossilct.testscans.morphotypes import SPECIES, sample_specimen
from fossilct.testscans.scanner import render_scan, sample_scan

__all__ = ["DEFAULT_FORMATS", "TABLE_COLUMNS", "write_dataset"]

TABLE_COLUMNS = ("file", "species", "specimen_id", "voxel_size_um", "format", "seed", "params")
#: Formats cycled through, file by file, by default.
DEFAULT_FORMATS = ("nifti", "nrrd", "tiff_folder", "tiff_stack", "npy")
_ANISOTROPIC = ("nifti", "nrrd")
_NO_SPACING = ("npy", "png_folder")
_UINT16_WINDOW = (-0.25, 1.75)
_SUFFIXES = {"nifti": ".nii.gz", "nrrd": ".nrrd", "tiff_folder": "_tiff", "tiff_stack": ".tif",
             "png_folder": "_png", "dicom": "_dicom", "npy": ".npy", "npz": ".npz"}
#: Entropy word of the stream that picks the re-scanned specimens.
_RESCAN_STREAM = 0x2E5C


def _encode(intensity: np.ndarray, fmt: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The array written for `fmt` and a JSON description of the encoding."""
    if fmt == "nrrd":
        offset = round(float(rng.uniform(200, 400)), 1)
        return (np.clip(np.rint(1000.0 * intensity - offset), -32768, 32767).astype(np.int16),
                {"dtype": "int16", "scale": 1000.0, "offset": -offset})
    if fmt in ("tiff_folder", "tiff_stack", "png_folder", "dicom"):
        low, high = _UINT16_WINDOW
        scaled = np.clip((intensity - low) / (high - low), 0.0, 1.0) * 65535.0
        return (np.rint(scaled).astype(np.uint16),
                {"dtype": "uint16", "window": list(_UINT16_WINDOW)})
    gain = round(float(rng.uniform(2.0, 5.0) if fmt != "npy" else rng.uniform(0.5, 3.0)), 4)
    offset = round(float(rng.uniform(0.15, 0.35)), 4) if fmt == "npy" else 0.0
    return ((gain * (intensity - offset)).astype(np.float32),
            {"dtype": "float32", "gain": gain, "offset": -offset * gain})


def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__} {value!r}.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"`{name}` must be {bound}; got {value}.")
    return int(value)


def _check_formats(formats) -> tuple[str, ...]:
    formats = DEFAULT_FORMATS if formats is None else (
        (formats,) if isinstance(formats, str) else tuple(formats))
    unknown = [f for f in formats if f not in _SUFFIXES]
    if not formats or unknown:
        raise ValueError(f"`formats` must be a non-empty list of names from "
                         f"{', '.join(volumes.FORMATS)}; got unknown {unknown or 'none'}.")
    return formats


def write_dataset(out_dir: str | os.PathLike, *, n_species: int = len(SPECIES),
                  n_specimens: int = 5, size: int = 80, seed: int = 0, n_rescans: int = 2,
                  formats=None) -> pd.DataFrame:
    """Generate the second test source into `out_dir` and return its specimens table.

    Specimen j of species s (s indexes `SPECIES`) is drawn from
    ``numpy.random.default_rng([seed, s, j])`` and its k-th scan from
    ``default_rng([seed, s, j, k + 1])``, so a specimen and its first scan are the same whatever
    the dataset's size. `n_rescans` specimens (chosen with their own seeded stream) get a
    second file: the same shell in a new orientation, field of view, spacing and noise, in
    the next format. Files cycle through `formats`; NIfTI and NRRD scans are anisotropic, the
    others isotropic; ``voxel_size_um`` is given for formats that store no spacing (npy, PNG)
    and left empty otherwise. For testing and benchmarking only: the package's defaults are
    never tuned on this source.

    Parameters
    ----------
    out_dir : path-like
        Destination folder; created, or replaced when it holds a previous dataset.
    n_species : int, keyword-only
        The first `n_species` of `SPECIES` (1..6), default 6.
    n_specimens : int, keyword-only
        Specimens per species (>= 1), default 5.
    size : int, keyword-only
        Voxels along rows and columns (>= 24), default 80.
    seed : int, keyword-only
        Same seed, same arrays and byte-identical ``specimens.csv``.
    n_rescans : int, keyword-only
        Specimens scanned twice (0..n_species * n_specimens), default 2.
    formats : sequence of str, keyword-only
        Names from ``fossilct.volumes.FORMATS``; default ``DEFAULT_FORMATS``.

    Returns
    -------
    pandas.DataFrame
        ``TABLE_COLUMNS``, one row per file; ``params`` is JSON: the specimen (morphotype
        summary, size, wall, infill), the scan conditions, the encoding and the share of
        voxels that are shell wall (``wall_fraction``).

    Raises
    ------
    TypeError
        A count that is not an int.
    ValueError
        A count out of range, an unknown format, or an `out_dir` that is a file or a non-empty
        folder without ``specimens.csv``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "scans"
    >>> table = write_dataset(folder, n_species=1, n_specimens=2, size=24, n_rescans=1)
    >>> table[["file", "specimen_id", "format"]].values.tolist()
    [['uniserial_straight_00.nii.gz', 'uniserial_straight_00', 'nifti'], \
['uniserial_straight_00_rescan1.nrrd', 'uniserial_straight_00', 'nrrd'], \
['uniserial_straight_01_tiff', 'uniserial_straight_01', 'tiff_folder']]
    """
    out_dir = Path(out_dir)
    n_species = _check_int(n_species, "n_species", 1, len(SPECIES))
    n_specimens = _check_int(n_specimens, "n_specimens", 1)
    size = _check_int(size, "size", 24)
    seed = _check_int(seed, "seed", 0)
    n_rescans = _check_int(n_rescans, "n_rescans", 0, n_species * n_specimens)
    formats = _check_formats(formats)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"`out_dir` {str(out_dir)!r} is a file; pass a folder path.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "specimens.csv").exists():
        raise ValueError(f"`out_dir` {str(out_dir)!r} is a non-empty folder without "
                         f"specimens.csv; refusing to replace it. Pass a new or empty folder.")
    rescanned = set(np.random.default_rng([seed, _RESCAN_STREAM])
                    .choice(n_species * n_specimens, n_rescans, replace=False).tolist())
    rows = []
    with atomic.atomic_dir(out_dir) as tmp:
        for s, species in enumerate(SPECIES[:n_species]):
            for j in range(n_specimens):
                specimen = sample_specimen(species, rng=np.random.default_rng([seed, s, j]))
                specimen_id = f"{species}_{j:02d}"
                for k in range(2 if s * n_specimens + j in rescanned else 1):
                    rows.append(_write_scan(tmp, specimen, specimen_id, k,
                                            fmt=formats[len(rows) % len(formats)], size=size,
                                            rng=np.random.default_rng([seed, s, j, k + 1]),
                                            seed=seed))
        table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
        atomic.write_csv(tmp / "specimens.csv", table)
    return table


def _write_scan(folder: Path, specimen: dict, specimen_id: str, k: int, *, fmt: str, size: int,
                rng: np.random.Generator, seed: int) -> dict:
    scan = sample_scan(anisotropic=fmt in _ANISOTROPIC, rng=rng)
    rendered = render_scan(specimen, scan, size=size)
    data, encoding = _encode(rendered.volume, fmt, rng)
    file = (specimen_id if k == 0 else f"{specimen_id}_rescan{k}") + _SUFFIXES[fmt]
    volumes.save_volume(folder / file, data, rendered.spacing_um, format=fmt)
    summary = {key: value for key, value in specimen.items() if key != "form"}
    params = {"specimen": summary, "scan": scan, "encoding": encoding, "scan_index": k,
              "wall_fraction": round(float(rendered.wall.mean()), 6)}
    return {"file": file, "species": specimen["species"], "specimen_id": specimen_id,
            "voxel_size_um": rendered.spacing_um[1] if fmt in _NO_SPACING else np.nan,
            "format": fmt, "seed": seed,
            "params": json.dumps(params, sort_keys=True, separators=(",", ":"))}
