"""NumPy ``.npy`` (no spacing) and ``.npz`` (arrays ``volume`` and ``spacing_um``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .base import VolumeError, VolumeHeader, check_spacing, check_file_size, output_dtype

__all__ = ["read_npy_header", "read_npy", "write_npy", "read_npz_header", "read_npz", "write_npz"]

NPZ_VOLUME_KEY = "volume"
NPZ_SPACING_KEY = "spacing_um"
# A fixed member timestamp makes equal arrays give equal .npz bytes (np.savez stamps "now").
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def _npy_header(handle) -> tuple[tuple[int, ...], np.dtype, int]:
    version = np.lib.format.read_magic(handle)
    # Format 3.0 differs from 2.0 only in allowing UTF-8 field names (structured dtypes).
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) \
        else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(handle)
    return shape, dtype, handle.tell()


def read_npy_header(path: Path) -> VolumeHeader:
    with open(path, "rb") as handle:
        shape, dtype, offset = _npy_header(handle)
    if dtype.kind != "O":
        check_file_size(path, offset + int(np.prod(shape)) * dtype.itemsize, "npy")
    return VolumeHeader(str(path), "npy", tuple(shape), output_dtype(dtype, str(path)), None)


def read_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _npz_volume_member(path: Path, names: list[str]) -> str:
    if f"{NPZ_VOLUME_KEY}.npy" in names:
        return f"{NPZ_VOLUME_KEY}.npy"
    arrays = [name for name in names if name != f"{NPZ_SPACING_KEY}.npy"]
    if len(arrays) == 1:
        return arrays[0]
    raise VolumeError(
        f"{str(path)!r} holds arrays {[n.removesuffix('.npy') for n in names]} but no "
        f"{NPZ_VOLUME_KEY!r}; save it as np.savez(path, {NPZ_VOLUME_KEY}=volume, "
        f"{NPZ_SPACING_KEY}=(plane, row, col))."
    )


def _npz_spacing(path: Path, archive: np.lib.npyio.NpzFile) -> tuple[float, float, float] | None:
    if NPZ_SPACING_KEY not in archive.files:
        return None
    try:
        return check_spacing(archive[NPZ_SPACING_KEY], name=f"{NPZ_SPACING_KEY} in {path}")
    except (TypeError, ValueError) as exc:
        raise VolumeError(f"{exc} Re-save the file with a valid spacing.") from None


def read_npz_header(path: Path) -> VolumeHeader:
    with zipfile.ZipFile(path) as archive:
        member = _npz_volume_member(path, archive.namelist())
        with archive.open(member) as handle:
            shape, dtype, _ = _npy_header(handle)
    with np.load(path, allow_pickle=False) as archive:
        spacing = _npz_spacing(path, archive)
    return VolumeHeader(str(path), "npz", tuple(shape), output_dtype(dtype, str(path)), spacing)


def read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        member = _npz_volume_member(path, [f"{key}.npy" for key in archive.files])
        return archive[member.removesuffix(".npy")]


def write_npy(path: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    np.save(path, data, allow_pickle=False)


def write_npz(path: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    arrays = {NPZ_VOLUME_KEY: data, NPZ_SPACING_KEY: np.asarray(spacing_um, dtype=np.float64)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE_TIME)
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
