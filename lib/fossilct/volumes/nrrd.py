"""NRRD (``.nrrd``, detached ``.nhdr``) through pynrrd.

NRRD lists axes fastest first (col, row, plane); arrays are read in C order, so the last listed
axis is the plane axis. Spacing is the length of each ``space directions`` vector, or
``spacings``, in ``space units`` (or ``units``); without units millimetres are assumed, as in
3D Slicer and ITK, which write most NRRD files. Files are written gzip-compressed with diagonal
``space directions`` in millimetres.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import nrrd
import numpy as np

from .base import VolumeError, VolumeHeader, output_dtype, spacing_in_um

__all__ = ["read_header", "read_array", "write"]

_TYPE_NAMES = {
    "i1": ("signed char", "int8", "int8_t"),
    "u1": ("uchar", "unsigned char", "uint8", "uint8_t"),
    "i2": ("short", "short int", "signed short", "signed short int", "int16", "int16_t"),
    "u2": ("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"),
    "i4": ("int", "signed int", "int32", "int32_t"),
    "u4": ("uint", "unsigned int", "uint32", "uint32_t"),
    "i8": ("longlong", "long long", "long long int", "signed long long", "signed long long int",
           "int64", "int64_t"),
    "u8": ("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"),
    "f4": ("float",),
    "f8": ("double",),
}
_DTYPES = {name: np.dtype(code) for code, names in _TYPE_NAMES.items() for name in names}
_WRITE_UNIT = "mm"
_UM_PER_WRITE_UNIT = 1e3
# gzip level 1: micro-CT noise barely compresses further, and level 9 is several times slower.
_GZIP_LEVEL = 1
_TIMESTAMP_LINE = re.compile(rb"# on [^\n]*\(GMT\)\.\n")


def _dtype(path: Path, header: dict) -> np.dtype:
    type_name = str(header.get("type", "")).strip().lower()
    if type_name not in _DTYPES:
        raise VolumeError(
            f"{str(path)!r} has NRRD type {type_name!r}, which is not a numeric voxel type; "
            "re-export the volume as an integer or float NRRD."
        )
    return _DTYPES[type_name]


def _spacing(header: dict) -> tuple[float, float, float] | None:
    """(plane, row, col) spacing in µm, from NRRD's fastest-first per-axis fields."""
    directions = header.get("space directions")
    if directions is not None:
        rows = [np.asarray(row, dtype=float) for row in directions]
        if len(rows) != 3 or any(row.size == 0 or not np.all(np.isfinite(row)) for row in rows):
            return None
        steps = [float(np.linalg.norm(row)) for row in rows]
        units = header.get("space units")
    elif "spacings" in header:
        steps = [float(value) for value in header["spacings"]]
        units = header.get("units")
    else:
        return None
    if len(steps) != 3 or (units is not None and len(set(units)) != 1):
        return None
    return spacing_in_um(steps[::-1], units[0] if units else None)


def read_header(path: Path) -> VolumeHeader:
    header = nrrd.read_header(str(path))
    shape = tuple(int(size) for size in header["sizes"])[::-1]
    dtype = output_dtype(_dtype(path, header), str(path))
    return VolumeHeader(str(path), "nrrd", shape, dtype, _spacing(header))


def read_array(path: Path) -> np.ndarray:
    data, _ = nrrd.read(str(path), index_order="C")
    return data


def write(path: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    if data.dtype == np.float16:  # NRRD has no half-float type
        data = data.astype(np.float32)
    steps = [value / _UM_PER_WRITE_UNIT for value in spacing_um[::-1]]
    header = {
        "encoding": "gzip",
        "space dimension": 3,
        "space directions": np.diag(steps),
        "space units": [_WRITE_UNIT] * 3,
        "kinds": ["domain"] * 3,
    }
    buffer = io.BytesIO()
    nrrd.write(buffer, np.ascontiguousarray(data), header, index_order="C",
               compression_level=_GZIP_LEVEL)
    # pynrrd stamps the wall-clock time into a comment; drop it so equal input gives equal bytes.
    path.write_bytes(_TIMESTAMP_LINE.sub(b"", buffer.getvalue(), count=1))
