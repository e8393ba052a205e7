"""Folders of 8- or 16-bit grayscale PNG slices (``png_folder``), read with Pillow.

PNG has no field for physical voxel size along three axes, so a PNG folder never carries
spacing: give it with ``spacing_um=`` or the specimens table's ``voxel_size_um``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .base import VolumeError, VolumeHeader, output_dtype, reading
from .detect import list_slices
from .stacks import check_slice_headers, slice_names, stack_slices

__all__ = ["read_folder_header", "read_folder", "write_folder"]

# Pillow modes of single-channel images and the dtype their pixels decode to.
_MODE_DTYPES = {"1": np.dtype(bool), "L": np.dtype(np.uint8), "I;16": np.dtype(np.uint16),
                "I": np.dtype(np.int32), "F": np.dtype(np.float32)}
WRITABLE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk type and CRC that close every PNG file


def _check_complete(path: Path) -> None:
    """Refuse a PNG whose closing chunk is missing: Pillow decodes such a cut-off file."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - len(_PNG_END)))
        if handle.read() != _PNG_END:
            raise VolumeError(
                f"{str(path)!r} is truncated: it does not end with the PNG end chunk (IEND). "
                "Re-copy or re-export the slice."
            )


def _slice_info(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    _check_complete(path)
    with reading(path, "png_folder"), Image.open(path) as image:
        width, height = image.size
        if image.mode not in _MODE_DTYPES:
            channels = len(image.getbands())
            return (height, width, channels), np.dtype(np.uint8)
        return (height, width), _MODE_DTYPES[image.mode]


def _read_slice(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def read_folder_header(folder: Path) -> VolumeHeader:
    _, files = list_slices(folder)
    shape, dtype = check_slice_headers(folder, "png_folder", files,
                                       [_slice_info(path) for path in files])
    return VolumeHeader(str(folder), "png_folder", (len(files),) + shape,
                        output_dtype(dtype, str(folder)), None)


def read_folder(folder: Path) -> np.ndarray:
    _, files = list_slices(folder)
    shape, dtype = check_slice_headers(folder, "png_folder", files,
                                       [_slice_info(path) for path in files])
    return stack_slices(files, "png_folder", shape, dtype, _read_slice)


def write_folder(folder: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    if data.dtype not in WRITABLE_DTYPES:
        raise VolumeError(
            f"PNG stores only uint8 or uint16 grayscale; got dtype {data.dtype}. Rescale to "
            "uint8/uint16 first, or save as format='tiff_folder', which keeps any dtype."
        )
    for name, image in zip(slice_names(data.shape[0], ".png"), data):
        Image.fromarray(image).save(folder / name)
