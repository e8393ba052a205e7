"""Write a synthetic dataset folder: volumes in a mix of formats plus ``specimens.csv``.

This is the generator's only I/O, and it goes through `fossilct.volumes.save_volume` and
`fossilct.atomic`: the folder is built next to its destination and swapped in when complete.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fossilct import atomic, volumes
from fossilct.synthetic.morphotypes import SPECIES, sample_morphology
from fossilct.synthetic.scan import sample_nuisance
from fossilct.synthetic.specimen import check_size, make_specimen

__all__ = ["write_dataset", "TABLE_COLUMNS", "DEFAULT_FORMATS", "QUANTISED_RANGE"]

TABLE_COLUMNS = ("file", "species", "specimen_id", "voxel_size_um", "format", "seed",
                 "generator_params")
#: Formats cycled through, file by file, when `formats` is None.
DEFAULT_FORMATS = volumes.FORMATS
#: Formats that store no spacing: their scans are kept isotropic and the table gives the spacing.
NO_SPACING_FORMATS = ("npy", "png_folder")
#: Integer formats: intensities in QUANTISED_RANGE are mapped linearly onto 0..65535 (uint16).
INTEGER_FORMATS = ("png_folder", "dicom")
QUANTISED_RANGE = (-0.5, 2.0)
_SUFFIXES = {"nifti": ".nii.gz", "tiff_stack": ".tif", "png_folder": "_png",
             "tiff_folder": "_tiff", "nrrd": ".nrrd", "dicom": "_dicom", "npy": ".npy",
             "npz": ".npz"}
#: Entropy word of the stream that picks the re-scanned specimens (apart from specimen streams).
_RESCAN_STREAM = 0x5CA9


def _check_count(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__} {value!r}.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"`{name}` must be {bound}; got {value}.")
    return int(value)


def _check_formats(formats) -> tuple[str, ...]:
    if formats is None:
        return DEFAULT_FORMATS
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    if not formats:
        raise ValueError(f"`formats` is empty; pass None for the default mix or names from "
                         f"{', '.join(volumes.FORMATS)}.")
    for name in formats:
        if name not in volumes.FORMATS:
            close = difflib.get_close_matches(str(name), volumes.FORMATS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown format {name!r} in `formats`.{hint} Choose from "
                             f"{', '.join(volumes.FORMATS)}.")
    return formats


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"`out_dir` {str(out_dir)!r} is a file; pass a folder path.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "specimens.csv").exists():
        raise ValueError(f"`out_dir` {str(out_dir)!r} is a non-empty folder without "
                         f"specimens.csv; refusing to replace it. Pass a new or empty folder, "
                         f"or a previous synthetic dataset folder.")


def _quantise(volume: np.ndarray) -> np.ndarray:
    low, high = QUANTISED_RANGE
    scaled = np.clip((volume - np.float32(low)) / np.float32(high - low), 0, 1)
    return np.round(scaled * np.float32(65535)).astype(np.uint16)


def write_dataset(out_dir: str | os.PathLike, *, n_species: int = 12, n_specimens: int = 6,
                  size: int = 128, seed: int = 0, rescan_fraction: float = 0.2,
                  formats=None, write_masks: bool = False) -> pd.DataFrame:
    """Generate a synthetic micro-CT dataset into `out_dir` and return its specimens table.

    Specimen j of species s is drawn from ``numpy.random.default_rng([seed, s, j])`` (s indexes
    `SPECIES`), so a specimen is the same whatever the dataset's size. A share
    `rescan_fraction` of the specimens (at least one when it is positive) gets a second file:
    the same shell (same ``specimen_id``) in a new orientation, crop, spacing and noise. Files
    cycle through `formats`; scans saved as npy or PNG (no stored spacing) are isotropic and
    the table's ``voxel_size_um`` gives their spacing (it is left empty for anisotropic scans,
    whose files store it). PNG and DICOM hold uint16: ``QUANTISED_RANGE`` mapped onto 0..65535.

    Parameters
    ----------
    out_dir : path-like
        Destination folder; created, or replaced when it holds a previous dataset.
    n_species : int, default 12
        The first `n_species` of `SPECIES` (1..12).
    n_specimens : int, default 6
        Specimens per species (>= 1).
    size : int, default 128
        Voxels along rows and columns (>= 16).
    seed : int, default 0
        Same seed, same arrays and byte-identical ``specimens.csv``.
    rescan_fraction : float, default 0.2
        In [0, 1].
    formats : sequence of str, optional
        Names from ``fossilct.volumes.FORMATS``; default all of them.
    write_masks : bool, default False
        Also write ``masks/<scan>.npz`` (bool arrays ``shell``, ``fossil``, ``mount``) and list
        it in a ``mask_file`` column.

    Returns
    -------
    pandas.DataFrame
        ``file, species, specimen_id, voxel_size_um, format, seed, generator_params`` (JSON:
        the specimen's morphology, the scan's nuisances, its stream and, for integer formats,
        the quantisation range), plus ``mask_file`` with `write_masks`; one row per file.

    Raises
    ------
    ValueError
        A count out of range, `rescan_fraction` outside [0, 1], an unknown format, or an
        `out_dir` that is a file or a non-empty folder that is not a dataset.
    TypeError
        Wrong argument types.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "data"
    >>> table = write_dataset(folder, n_species=2, n_specimens=1, size=16, formats=["npz"])
    >>> list(table["file"]), sorted(p.name for p in folder.iterdir())
    (['alveolina_like_00.npz', 'alveolina_like_00_rescan1.npz', 'fallotia_like_00.npz'], \
['alveolina_like_00.npz', 'alveolina_like_00_rescan1.npz', 'fallotia_like_00.npz', 'specimens.csv'])
    """
    out_dir = Path(out_dir)
    n_species = _check_count(n_species, "n_species", 1, len(SPECIES))
    n_specimens = _check_count(n_specimens, "n_specimens", 1)
    size = check_size(size)
    seed = _check_count(seed, "seed", 0)
    if isinstance(rescan_fraction, bool) or not isinstance(rescan_fraction, numbers.Real):
        raise TypeError(f"`rescan_fraction` must be a number in [0, 1]; got "
                        f"{type(rescan_fraction).__name__} {rescan_fraction!r}.")
    if not 0.0 <= rescan_fraction <= 1.0:
        raise ValueError(f"`rescan_fraction` must be in [0, 1] (share of specimens scanned "
                         f"twice); got {rescan_fraction}.")
    formats = _check_formats(formats)
    _check_out_dir(out_dir)

    n_total = n_species * n_specimens
    n_rescans = math.floor(rescan_fraction * n_total + 0.5)
    n_rescans = max(n_rescans, 1) if rescan_fraction > 0 else 0
    chosen = np.random.default_rng([seed, _RESCAN_STREAM]).choice(n_total, n_rescans,
                                                                  replace=False)
    rescanned = {int(i) for i in chosen}
    rows = []
    with atomic.atomic_dir(out_dir) as tmp:
        for s, species in enumerate(SPECIES[:n_species]):
            for j in range(n_specimens):
                rng = np.random.default_rng([seed, s, j])
                morph = sample_morphology(species, rng=rng)
                specimen_id = f"{species}_{j:02d}"
                for k in range(2 if s * n_specimens + j in rescanned else 1):
                    fmt = formats[len(rows) % len(formats)]
                    nuisance = sample_nuisance(rng=rng)
                    if fmt in NO_SPACING_FORMATS:
                        nuisance["anisotropy"] = 1.0
                    scan = make_specimen(species, size=size, rng=rng, morph=morph,
                                         nuisance=nuisance)
                    stem = specimen_id if k == 0 else f"{specimen_id}_rescan{k}"
                    file = stem + _SUFFIXES[fmt]
                    params = dict(scan.params, seed=seed, stream=[seed, s, j], scan=k)
                    data = scan.volume
                    if fmt in INTEGER_FORMATS:
                        data = _quantise(data)
                        params["quantised_range"] = list(QUANTISED_RANGE)
                    volumes.save_volume(tmp / file, data, scan.spacing_um, format=fmt)
                    isotropic = len(set(scan.spacing_um)) == 1
                    row = {"file": file, "species": species, "specimen_id": specimen_id,
                           "voxel_size_um": scan.spacing_um[1] if isotropic else math.nan,
                           "format": fmt, "seed": seed,
                           "generator_params": json.dumps(params, sort_keys=True,
                                                          separators=(",", ":"))}
                    if write_masks:
                        row["mask_file"] = f"masks/{stem}.npz"
                        with atomic.atomic_path(tmp / row["mask_file"]) as mask_path:
                            np.savez_compressed(mask_path, shell=scan.shell_mask,
                                                fossil=scan.fossil_mask, mount=scan.mount_mask)
                    rows.append(row)
        table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)
                             + (["mask_file"] if write_masks else []))
        atomic.write_csv(tmp / "specimens.csv", table)
    return table


def ensure_dataset(data_dir: str | os.PathLike, *, generate: bool, **options) -> Path:
    """The data folder, after generating the synthetic dataset into it when `generate`.

    Parameters
    ----------
    data_dir : path-like
    generate : bool, keyword-only
        True: :func:`write_dataset` into `data_dir` with `options`; False: the folder must
        already hold the user's volumes and ``specimens.csv``.
    **options
        :func:`write_dataset`'s keywords.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If `generate` is False and `data_dir` has no ``specimens.csv``.
    """
    data_dir = Path(data_dir)
    if generate:
        write_dataset(data_dir, **options)
    elif not (data_dir / "specimens.csv").is_file():
        raise FileNotFoundError(f"{str(data_dir)!r} has no specimens.csv; give the folder of your "
                                "volumes and their table (columns file, species, specimen_id).")
    return data_dir
