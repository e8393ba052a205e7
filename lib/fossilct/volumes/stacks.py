"""Folders of 2-D slices (TIFF, PNG): one file per plane, stacked in natural sort order."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .base import VolumeError, reading

__all__ = ["check_slice_headers", "stack_slices", "slice_names"]


def check_slice_headers(folder: Path, fmt: str, files: Sequence[Path],
                        infos: Sequence[tuple[tuple[int, ...], np.dtype]]) -> tuple[tuple, np.dtype]:
    """Return the common (shape, dtype) of the slices; refuse non-2-D or mismatching slices.

    `infos` holds each file's (shape, dtype) as its header states them.
    """
    first_shape, first_dtype = infos[0]
    for path, (shape, dtype) in zip(files, infos):
        if len(shape) != 2:
            raise VolumeError(
                f"slice {path.name!r} in {str(folder)!r} has shape {shape}; each file of a "
                f"{fmt} must be one 2-D grayscale image (M, N). Save colour or multi-page "
                "images as single grayscale slices."
            )
        if shape != first_shape:
            raise VolumeError(
                f"inconsistent slice sizes in {str(folder)!r}: {path.name!r} has shape {shape} "
                f"but {files[0].name!r} has {first_shape}. All slices of a volume must have the "
                "same size; re-export the stack or crop every slice alike."
            )
        if dtype != first_dtype:
            raise VolumeError(
                f"inconsistent slice dtypes in {str(folder)!r}: {path.name!r} is {dtype} but "
                f"{files[0].name!r} is {first_dtype}; re-export all slices with one bit depth."
            )
    return first_shape, first_dtype


def stack_slices(files: Sequence[Path], fmt: str, shape: tuple[int, int], dtype: np.dtype,
                 read_slice: Callable[[Path], np.ndarray]) -> np.ndarray:
    """Read each file with `read_slice` into one preallocated (P, M, N) array."""
    volume = np.empty((len(files),) + tuple(shape), dtype=dtype)
    for index, path in enumerate(files):
        with reading(path, fmt):
            volume[index] = read_slice(path)
    return volume


def slice_names(n_planes: int, suffix: str) -> list[str]:
    """File names for written slices, zero-padded so that plain and natural sorting agree.

    Examples
    --------
    >>> slice_names(3, ".png")
    ['slice_0000.png', 'slice_0001.png', 'slice_0002.png']
    """
    width = max(4, len(str(n_planes - 1)))
    return [f"slice_{index:0{width}d}{suffix}" for index in range(n_planes)]
