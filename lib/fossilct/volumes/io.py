"""The public readers and writer: format dispatch plus the checks every volume must pass."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import psutil

from .. import atomic
from . import dicom, nifti, npy, nrrd, png, tiff
from .base import (DEFAULT_SPACING_UM, FORMATS, MissingSpacingWarning, Volume, VolumeError,
                    VolumeHeader, check_spacing, output_dtype, reading)
from .detect import detect_format, full_suffix

__all__ = ["DEFAULT_MAX_MEMORY_FRACTION", "read_header", "load_volume", "save_volume"]

DEFAULT_MAX_MEMORY_FRACTION = 0.6
"""Default `max_bytes` of `load_volume`: this fraction of the RAM available at call time."""


class _Codec(NamedTuple):
    read_header: Callable[[Path], VolumeHeader]
    read_array: Callable[[Path], np.ndarray]
    write: Callable[[Path, np.ndarray, tuple[float, float, float]], None]
    is_folder: bool


_CODECS = {
    "nifti": _Codec(nifti.read_header, nifti.read_array, nifti.write, False),
    "tiff_stack": _Codec(tiff.read_stack_header, tiff.read_stack, tiff.write_stack, False),
    "tiff_folder": _Codec(tiff.read_folder_header, tiff.read_folder, tiff.write_folder, True),
    "png_folder": _Codec(png.read_folder_header, png.read_folder, png.write_folder, True),
    "nrrd": _Codec(nrrd.read_header, nrrd.read_array, nrrd.write, False),
    "dicom": _Codec(dicom.read_header, dicom.read_array, dicom.write, True),
    "npy": _Codec(npy.read_npy_header, npy.read_npy, npy.write_npy, False),
    "npz": _Codec(npy.read_npz_header, npy.read_npz, npy.write_npz, False),
}


def read_header(path: str | os.PathLike) -> VolumeHeader:
    """Read shape, dtype and spacing of a volume without loading its voxels.

    Only headers are parsed: the NIfTI/NRRD/NPY header, the TIFF page directories, the first
    bytes of each PNG, DICOM tags up to the pixel data. Uncompressed files are also checked
    against the size their header promises, so truncated copies are caught here.

    Parameters
    ----------
    path : path-like
        A volume file or a folder of slices (see `detect_format`).

    Returns
    -------
    VolumeHeader
        ``shape`` in (plane, row, col) order, the dtype `load_volume` will return, and
        ``spacing_um`` (None when the file stores no spacing).

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    VolumeError
        If the format is unknown or the file is corrupt, truncated or unsupported.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scan.npz"
    >>> _ = save_volume(path, np.zeros((2, 3, 4), np.uint8), (5.0, 2.5, 2.5))
    >>> header = read_header(path)
    >>> header.shape, header.dtype, header.spacing_um
    ((2, 3, 4), dtype('uint8'), (5.0, 2.5, 2.5))
    """
    path = Path(path)
    fmt = detect_format(path)
    with reading(path, fmt):
        return _CODECS[fmt].read_header(path)


def _check_shape(header: VolumeHeader) -> None:
    shape, source = header.shape, header.source
    if len(shape) == 2:
        raise VolumeError(
            f"{source!r} holds a 2-D image where a 3-D volume is expected: got shape {shape} "
            "(M, N). Pass a folder of slices or a 3-D file."
        )
    if len(shape) != 3:
        hint = (" It looks like a colour image: convert it to grayscale."
                if len(shape) == 4 and shape[-1] in (3, 4) else
                " Save a single 3-D volume (e.g. one time point or channel) instead.")
        raise VolumeError(
            f"{source!r} holds a {len(shape)}-D array of shape {shape}; a volume must be 3-D "
            f"(plane, row, col).{hint}"
        )
    if 0 in shape:
        raise VolumeError(
            f"{source!r} holds an empty volume of shape {shape} (zero voxels); re-export the "
            "scan, or remove it from the specimens table."
        )


def _default_max_bytes() -> int:
    return int(DEFAULT_MAX_MEMORY_FRACTION * psutil.virtual_memory().available)


def _format_bytes(n_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n_bytes < 1024:
            return f"{n_bytes:.1f} {unit}" if unit != "bytes" else f"{int(n_bytes)} bytes"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"


def _check_size(header: VolumeHeader, max_bytes: int, explicit: bool) -> None:
    if header.nbytes <= max_bytes:
        return
    limit = "max_bytes" if explicit else \
        f"{DEFAULT_MAX_MEMORY_FRACTION:.0%} of the available RAM"
    raise VolumeError(
        f"{header.source!r} is too large to load: shape {header.shape} of {header.dtype} needs "
        f"{_format_bytes(header.nbytes)}, above the limit of {_format_bytes(max_bytes)} "
        f"({limit}). Crop the scan to the specimen or downsample it (e.g. bin 2x2x2) before "
        "loading, or pass a larger max_bytes."
    )


def _check_values(data: np.ndarray, source: str) -> None:
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.all():
            n_nan = int(np.isnan(data).sum())
            n_inf = int(data.size - finite.sum()) - n_nan
            raise VolumeError(
                f"{source!r} contains {n_nan} NaN and {n_inf} infinite values out of "
                f"{data.size} voxels; replace them (e.g. np.nan_to_num(volume, nan=0.0)) or "
                "re-export the reconstruction."
            )
    low, high = data.min(), data.max()
    if low == high:
        raise VolumeError(
            f"{source!r} is constant: all {data.size} voxels equal {low}. It holds no "
            "structure to segment; check the export (window/level, bit depth) or the file."
        )


def _check_max_bytes(max_bytes) -> None:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)):
        raise TypeError(f"`max_bytes` must be a positive integer number of bytes or None; got "
                        f"{max_bytes!r}.")
    if max_bytes <= 0:
        raise ValueError(f"`max_bytes` must be positive; got {max_bytes}. Pass None for the "
                         "default limit.")


def load_volume(path: str | os.PathLike, *, spacing_um=None, max_bytes: int | None = None) -> Volume:
    """Load a volume in (plane, row, col) order with its voxel spacing in micrometres.

    The header is read and checked first (3-D, non-empty, numeric, small enough), then the
    voxels (finite, not constant).

    Parameters
    ----------
    path : path-like
        A file (``.nii``, ``.nii.gz``, ``.tif``, ``.tiff``, ``.nrrd``, ``.nhdr``, ``.dcm``,
        ``.npy``, ``.npz``) or a folder of TIFF, PNG or DICOM slices.
    spacing_um : float or sequence of 3 float, optional
        (plane, row, col) spacing in µm that replaces the file's (a scalar means isotropic);
        the specimens table's ``voxel_size_um`` arrives here.
    max_bytes : int, optional
        Refuse, before reading voxels, a volume whose array would exceed this many bytes.
        Default: `DEFAULT_MAX_MEMORY_FRACTION` (0.6) of the RAM available now.

    Returns
    -------
    Volume
        ``data`` (P, M, N) in the file's dtype (bool as uint8, rescaled DICOM/NIfTI as
        float32), ``spacing_um``, ``source`` and ``format``.

    Warns
    -----
    MissingSpacingWarning
        When the file stores no spacing and `spacing_um` is not given; `DEFAULT_SPACING_UM`
        (1 µm isotropic) is used.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    VolumeError
        If the format is unknown; the file is corrupt or truncated; it holds a 2-D image, a
        4-D array, an empty, constant or non-numeric volume, or NaN/inf values; or the volume
        exceeds `max_bytes`.
    TypeError, ValueError
        If `spacing_um` or `max_bytes` is invalid.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scan.nii.gz"
    >>> volume = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    >>> _ = save_volume(path, volume, (5.0, 2.5, 2.5))
    >>> loaded = load_volume(path)
    >>> loaded.data.shape, loaded.data.dtype, loaded.spacing_um
    ((2, 3, 4), dtype('int16'), (5.0, 2.5, 2.5))
    >>> bool((loaded.data == volume).all())
    True
    """
    override = None if spacing_um is None else check_spacing(spacing_um)
    if max_bytes is not None:
        _check_max_bytes(max_bytes)
    header = read_header(path)
    _check_shape(header)
    _check_size(header, _default_max_bytes() if max_bytes is None else max_bytes,
                explicit=max_bytes is not None)
    path = Path(path)
    with reading(path, header.format):
        data = _CODECS[header.format].read_array(path)
    if data.shape != header.shape:
        raise VolumeError(
            f"{header.source!r} decoded to shape {data.shape}, but its header says "
            f"{header.shape}; the file is corrupt or truncated, re-export or re-copy it."
        )
    dtype = output_dtype(data.dtype, header.source)
    # The view gives an equal but explicitly little-endian dtype ('<i2') its canonical form.
    data = np.asarray(data).astype(dtype, copy=False).view(dtype)
    _check_values(data, header.source)
    spacing = override or header.spacing_um
    if spacing is None:
        warnings.warn(
            f"no voxel spacing stored in {header.source!r} ({header.format}); using the default "
            f"{DEFAULT_SPACING_UM} µm. Pass spacing_um=... or set voxel_size_um in "
            "specimens.csv.", MissingSpacingWarning, stacklevel=2)
        spacing = DEFAULT_SPACING_UM
    return Volume(data, spacing, header.source, header.format)


_WRITE_SUFFIX_FORMATS = {".nii": "nifti", ".nii.gz": "nifti", ".tif": "tiff_stack",
                         ".tiff": "tiff_stack", ".nrrd": "nrrd", ".npy": "npy", ".npz": "npz"}


def _check_data(data) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise TypeError(f"`data` must be a numpy array (plane, row, col); got "
                        f"{type(data).__name__}.")
    if data.ndim != 3:
        raise VolumeError(f"`data` must be 3-D (plane, row, col); got shape {data.shape}. For "
                          "a single slice pass data[np.newaxis].")
    if data.size == 0:
        raise VolumeError(f"`data` is empty (shape {data.shape}); there is nothing to save.")
    dtype = output_dtype(data.dtype, "`data`")
    if dtype.kind == "f" and not np.isfinite(data).all():
        raise VolumeError(
            f"`data` contains {int((~np.isfinite(data)).sum())} NaN/inf values, which the "
            "readers refuse; replace them first (e.g. np.nan_to_num)."
        )
    return np.ascontiguousarray(data, dtype=dtype)


def _resolve_format(path: Path, format: str | None) -> str:
    suffix = full_suffix(path)
    if format is None:
        if suffix in _WRITE_SUFFIX_FORMATS:
            return _WRITE_SUFFIX_FORMATS[suffix]
        raise VolumeError(
            f"cannot infer the format from {str(path)!r} (suffix {suffix or 'none'!r}); use "
            f"one of {sorted(_WRITE_SUFFIX_FORMATS)}, or pass format='tiff_folder', "
            "'png_folder' or 'dicom' to write a folder of slices."
        )
    if format not in FORMATS:
        raise VolumeError(f"unknown `format` {format!r}; choose one of {FORMATS}.")
    expected = _WRITE_SUFFIX_FORMATS.get(suffix)
    if _CODECS[format].is_folder and expected is not None or \
            not _CODECS[format].is_folder and expected != format:
        raise VolumeError(
            f"`format`={format!r} does not match the path {str(path)!r} (suffix "
            f"{suffix or 'none'!r}); give a path ending in the format's suffix, or a folder "
            "path without a volume suffix for folder formats."
        )
    return format


def save_volume(path: str | os.PathLike, data: np.ndarray, spacing_um, *,
                format: str | None = None) -> Path:
    """Write a (plane, row, col) volume and its spacing atomically in any of `FORMATS`.

    Each format stores the spacing in its own metadata: NIfTI ``pixdim`` (micron units), TIFF
    ImageJ ``spacing``/resolution or a JSON ``spacing_um`` description, NRRD ``space
    directions`` (mm), DICOM PixelSpacing/SliceThickness/ImagePositionPatient (mm), npz a
    ``spacing_um`` array. ``npy`` and ``png_folder`` cannot store it (reading them warns).
    Writing is atomic: the file or folder appears complete or not at all. Equal input gives
    byte-identical output.

    Parameters
    ----------
    path : path-like
        Destination: a file whose suffix names the format (``.nii``, ``.nii.gz``, ``.tif``,
        ``.tiff``, ``.nrrd``, ``.npy``, ``.npz``), or a folder for ``"tiff_folder"``,
        ``"png_folder"`` and ``"dicom"`` (written as ``slice_0000.<ext>``, ...). Replaced if it
        exists.
    data : (P, M, N) ndarray of int, uint, float or bool
        The volume. bool is stored as uint8. PNG takes only uint8/uint16. DICOM stores
        (u)int8/(u)int16 exactly and quantises other dtypes to 16 bits (see
        ``fossilct.volumes.dicom``); NIfTI and NRRD store float16 as float32.
    spacing_um : float or sequence of 3 float
        (plane, row, col) voxel spacing in µm; a scalar means isotropic.
    format : str, optional
        One of `FORMATS`; inferred from the suffix when omitted (required for folders).

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    TypeError
        If `data` is not an ndarray or `spacing_um` not numeric.
    VolumeError
        If `data` is not 3-D, is empty, non-numeric or holds NaN/inf; if the format is unknown,
        cannot be inferred or does not match the suffix; or if the format cannot hold the
        dtype (PNG).
    ValueError
        If `spacing_um` has the wrong length or non-positive values.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "stack"
    >>> volume = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    >>> save_volume(folder, volume, 2.0, format="png_folder").name
    'stack'
    >>> sorted(p.name for p in folder.iterdir())
    ['slice_0000.png', 'slice_0001.png']
    """
    path = Path(path)
    fmt = _resolve_format(path, format)
    spacing = check_spacing(spacing_um)
    array = _check_data(data)
    codec = _CODECS[fmt]
    with (atomic.atomic_dir(path) if codec.is_folder else atomic.atomic_path(path)) as tmp:
        codec.write(tmp, array, spacing)
    return path
