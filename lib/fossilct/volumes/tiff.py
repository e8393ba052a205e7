"""TIFF: one multi-page file (``tiff_stack``) or a folder of 2-D files (``tiff_folder``).

Spacing is read, in this order, from the JSON ``spacing_um`` that `save_volume` writes into
the ImageDescription, or from ImageJ metadata (``spacing`` and ``unit`` for the plane axis,
X/YResolution for the columns and rows). A TIFF that carries neither has no usable spacing.
Stacks of uint8, uint16 or float32 are written as ImageJ hyperstacks (so Fiji shows the
calibration); other dtypes, and every slice of a folder, as plain TIFF with the JSON metadata
plus X/YResolution in pixels per centimetre.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

import numpy as np
import tifffile

from .base import (VolumeError, VolumeHeader, check_file_size, output_dtype, reading,
                    spacing_in_um)
from .detect import list_slices
from .stacks import check_slice_headers, slice_names, stack_slices

__all__ = [
    "read_stack_header",
    "read_stack",
    "write_stack",
    "read_folder_header",
    "read_folder",
    "write_folder",
]

_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
_IMAGEJ_UNIT = "micron"
_UM_PER_CM = 1e4


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_problems(path: Path) -> Iterator[None]:
    """Raise on what tifffile only logs: a broken page chain makes it return fewer pages."""
    handler = _Collect()
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.messages:
        raise VolumeError(
            f"cannot read {str(path)!r} as TIFF: {'; '.join(handler.messages)}. The file is "
            "corrupt or truncated; re-export or re-copy it."
        )


def _check_extent(path: Path, tif: tifffile.TiffFile) -> None:
    end = 0
    for page in tif.pages:
        for offset, count in zip(page.dataoffsets, page.databytecounts):
            end = max(end, offset + count)
    check_file_size(path, end, "TIFF")


def _resolution_um(page: tifffile.TiffPage, tag: str, um_per_unit: float) -> float:
    numerator, denominator = page.tags[tag].value
    return denominator / numerator * um_per_unit if numerator else float("nan")


def _spacing(tif: tifffile.TiffFile) -> tuple[float, float, float] | None:
    if tif.shaped_metadata and "spacing_um" in tif.shaped_metadata[0]:
        return spacing_in_um(tif.shaped_metadata[0]["spacing_um"], "um")
    meta = tif.imagej_metadata
    page = tif.pages.first
    if meta and "spacing" in meta and "XResolution" in page.tags and "YResolution" in page.tags:
        unit = str(meta.get("unit", "")).replace("\\u00B5", "µ")
        factor = spacing_in_um([1.0], unit)
        if factor is None:
            return None
        row_um = _resolution_um(page, "YResolution", factor[0])
        col_um = _resolution_um(page, "XResolution", factor[0])
        return spacing_in_um((meta["spacing"] * factor[0], row_um, col_um), "um")
    return None


def read_stack_header(path: Path) -> VolumeHeader:
    with _tifffile_problems(path), tifffile.TiffFile(path) as tif:
        _check_extent(path, tif)
        series = tif.series[0]
        header = VolumeHeader(str(path), "tiff_stack", tuple(series.shape),
                              output_dtype(series.dtype, str(path)), _spacing(tif))
    return header


def read_stack(path: Path) -> np.ndarray:
    with _tifffile_problems(path), tifffile.TiffFile(path) as tif:
        return tif.series[0].asarray()


def _slice_info(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with reading(path, "tiff_folder"), _tifffile_problems(path), tifffile.TiffFile(path) as tif:
        _check_extent(path, tif)
        series = tif.series[0]
        return tuple(series.shape), series.dtype


def read_folder_header(folder: Path) -> VolumeHeader:
    _, files = list_slices(folder)
    shape, dtype = check_slice_headers(folder, "tiff_folder", files,
                                       [_slice_info(path) for path in files])
    with reading(files[0], "tiff_folder"), tifffile.TiffFile(files[0]) as tif:
        spacing = _spacing(tif)
    return VolumeHeader(str(folder), "tiff_folder", (len(files),) + shape,
                        output_dtype(dtype, str(folder)), spacing)


def read_folder(folder: Path) -> np.ndarray:
    _, files = list_slices(folder)
    shape, dtype = check_slice_headers(folder, "tiff_folder", files,
                                       [_slice_info(path) for path in files])
    return stack_slices(files, "tiff_folder", shape, dtype, tifffile.imread)


def _plain_options(spacing_um: tuple[float, float, float], axes: str) -> dict:
    _, row_um, col_um = spacing_um
    return {"resolution": (_UM_PER_CM / col_um, _UM_PER_CM / row_um),
            "resolutionunit": "CENTIMETER",
            "metadata": {"axes": axes, "spacing_um": list(spacing_um)}}


def write_stack(path: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    plane_um, row_um, col_um = spacing_um
    if data.dtype in _IMAGEJ_DTYPES:
        tifffile.imwrite(path, data, imagej=True, resolution=(1 / col_um, 1 / row_um),
                         metadata={"axes": "ZYX", "spacing": plane_um, "unit": _IMAGEJ_UNIT})
    else:
        tifffile.imwrite(path, data, **_plain_options(spacing_um, "ZYX"))


def write_folder(folder: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    options = _plain_options(spacing_um, "YX")
    for name, image in zip(slice_names(data.shape[0], ".tif"), data):
        tifffile.imwrite(folder / name, image, **options)
