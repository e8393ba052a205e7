"""Shared pieces of the volume readers and writers: errors, result types, checks and units.

Every format module (``_nifti``, ``_tiff``, ...) builds on these so that all formats report
problems the same way: what is wrong, in which file, and what to do about it.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

__all__ = [
    "VolumeError",
    "MissingSpacingWarning",
    "FORMATS",
    "DEFAULT_SPACING_UM",
    "VolumeHeader",
    "Volume",
]

FORMATS = ("nifti", "tiff_stack", "png_folder", "tiff_folder", "nrrd", "dicom", "npy", "npz")

DEFAULT_SPACING_UM = (1.0, 1.0, 1.0)
"""Spacing used, with a `MissingSpacingWarning`, when neither the file nor the caller gives one."""

# Micrometres per unit, keyed by the lower-cased spellings that NIfTI, NRRD, ImageJ and TIFF
# writers use in the wild.
UM_PER_UNIT = {
    "m": 1e6, "meter": 1e6, "meters": 1e6, "metre": 1e6,
    "cm": 1e4, "centimeter": 1e4,
    "mm": 1e3, "millimeter": 1e3, "millimeters": 1e3, "millimetre": 1e3,
    "um": 1.0, "µm": 1.0, "\u03bcm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometers": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "nanometer": 1e-3,
}


_SIGNIFICANT_DIGITS = 12


class VolumeError(ValueError):
    """A volume file or array that cannot be used: missing, corrupt, unsupported or degenerate."""


class MissingSpacingWarning(UserWarning):
    """The file stores no voxel spacing, so the 1 µm default of `DEFAULT_SPACING_UM` is used."""


@dataclass(frozen=True)
class VolumeHeader:
    """What a file says about its volume, read without loading the voxels where possible.

    Attributes
    ----------
    source : str
        The file or folder the header was read from.
    format : str
        One of `FORMATS`.
    shape : tuple of int
        ``(P, M, N)`` in (plane, row, col) order, as `load_volume` will return it. A file that
        does not hold a 3-D volume reports its own shape here (e.g. 2-D), and loading it fails.
    dtype : numpy.dtype
        The dtype `load_volume` will return (native byte order; bool reported as uint8).
    spacing_um : tuple of 3 float or None
        (plane, row, col) voxel spacing in micrometres, or None when the file stores none.
    """

    source: str
    format: str
    shape: tuple[int, ...]
    dtype: np.dtype
    spacing_um: tuple[float, float, float] | None

    @property
    def nbytes(self) -> int:
        """Bytes the loaded voxel array will occupy."""
        return math.prod(self.shape) * self.dtype.itemsize


@dataclass(frozen=True, eq=False)
class Volume:
    """A loaded volume with its voxel spacing and provenance.

    Attributes
    ----------
    data : (P, M, N) ndarray
        Voxels in (plane, row, col) order, in the file's dtype (bool becomes uint8, rescaled
        DICOM/NIfTI data float32).
    spacing_um : tuple of 3 float
        (plane, row, col) voxel spacing in micrometres.
    source : str
        The file or folder the volume was read from.
    format : str
        One of `FORMATS`.
    """

    data: np.ndarray
    spacing_um: tuple[float, float, float]
    source: str
    format: str


def check_spacing(spacing_um, *, name: str = "spacing_um") -> tuple[float, float, float]:
    """Return `spacing_um` as three positive finite floats; a scalar means isotropic.

    Raises
    ------
    TypeError
        If `spacing_um` is not a number or a sequence of numbers.
    ValueError
        If it does not have 1 or 3 entries, or an entry is not positive and finite.
    """
    try:
        values = np.asarray(spacing_um, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a positive number or three numbers (plane, row, col) in µm; "
            f"got {spacing_um!r}. Pass e.g. {name}=2.5 or {name}=(5.0, 2.5, 2.5)."
        ) from None
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(
            f"`{name}` must be one or three positive finite spacings (plane, row, col) in µm; "
            f"got {spacing_um!r}. Pass e.g. {name}=2.5 or {name}=(5.0, 2.5, 2.5)."
        )
    return tuple(float(v) for v in values)


def spacing_in_um(values: Sequence[float], unit: str | None):
    """Convert per-axis spacings in `unit` to µm; None if the unit or a value is unusable.

    `values` and the result are in (plane, row, col) order. A missing `unit` means
    millimetres, the convention of the medical formats. Float32 metadata (NIfTI pixdim) is
    read at its own precision first, and results are rounded to 12 significant digits, so
    2.5 stored as float32, or 0.0025 mm, comes back as exactly 2.5 µm.

    Examples
    --------
    >>> spacing_in_um([0.005, 0.0025, 0.0025], "mm")
    (5.0, 2.5, 2.5)
    >>> spacing_in_um([np.float32(0.7)] * 3, "micron")
    (0.7, 0.7, 0.7)
    >>> spacing_in_um([1.0, 1.0, 1.0], "parsec") is None
    True
    """
    factor = UM_PER_UNIT.get((unit or "mm").strip().lower())
    if factor is None:
        return None
    spacing = []
    for value in values:
        if isinstance(value, np.float32):
            value = float(str(value))
        value = float(value)
        if not math.isfinite(value) or value <= 0:
            return None
        # Drop the last-digit noise of the unit conversion (0.0025 mm -> 2.5 µm, not 2.5000001).
        spacing.append(float(f"{value * factor:.{_SIGNIFICANT_DIGITS}g}"))
    return tuple(spacing)


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically: ``slice_2`` before ``slice_10``.

    Examples
    --------
    >>> sorted(["slice_10.png", "slice_2.png", "slice_1.png"], key=natural_key)
    ['slice_1.png', 'slice_2.png', 'slice_10.png']
    """
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", name) if part)


def output_dtype(dtype: np.dtype, source: str) -> np.dtype:
    """The dtype a loaded volume gets: native byte order, bool as uint8; non-numeric refused."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.dtype(np.uint8)
    if dtype.kind not in "iuf":
        raise VolumeError(
            f"volume {source!r} has non-numeric dtype {dtype}; a volume must hold real "
            "intensities (integer or float). Convert it before saving, e.g. np.abs(volume) for "
            "complex data."
        )
    return np.dtype(dtype.type)  # the canonical native-order dtype of the same kind and size


def corrupt_error(path: Path | str, fmt: str, exc: BaseException) -> VolumeError:
    """The error for a file that its library could not parse."""
    return VolumeError(
        f"cannot read {str(path)!r} as {fmt}: {type(exc).__name__}: {exc}. The file is corrupt, "
        f"truncated or not a valid {fmt} file; re-export or re-copy it."
    )


@contextlib.contextmanager
def reading(path: Path | str, fmt: str) -> Iterator[None]:
    """Turn any parsing failure of a third-party reader into a `VolumeError` naming `path`.

    The readers (nibabel, tifffile, pydicom, ...) raise a zoo of exception types for broken
    files; callers only need to know which file is broken and why.
    """
    try:
        yield
    except (VolumeError, MemoryError):
        raise
    except Exception as exc:
        raise corrupt_error(path, fmt, exc) from exc


def check_file_size(path: Path, end: int, fmt: str) -> None:
    """Raise if `path` is shorter than the `end` offset its header promises (truncated copy)."""
    size = path.stat().st_size
    if size < end:
        raise VolumeError(
            f"{str(path)!r} is truncated: its {fmt} header promises {end} bytes but the file has "
            f"{size}. Re-copy or re-export the file."
        )
