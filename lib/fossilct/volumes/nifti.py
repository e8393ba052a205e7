"""NIfTI-1/2 (``.nii``, ``.nii.gz``) through nibabel.

NIfTI stores voxels in (i, j, k) = (x, y, z) index order with i fastest. The third axis, the one
scanners step through slice by slice, becomes the plane axis: the array is transposed to
(k, j, i) = (plane, row, col), and back when writing. The affine is not applied (no reorientation
to RAS): the voxel grid is kept as scanned. Spacing comes from ``pixdim`` in the units of
``xyzt_units``; unknown units are taken as millimetres, as ITK and 3D Slicer do. Files are
written with micrometre units, in which typical micro-CT spacings are exact in float32.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from .base import VolumeHeader, check_file_size, output_dtype, spacing_in_um

__all__ = ["read_header", "read_array", "write"]

_WRITE_UNIT = "micron"


def _load(path: Path):
    # mmap=False: the array must not keep the file open (an atomic overwrite replaces it).
    return nib.load(path, mmap=False)


def _is_scaled(image) -> bool:
    return not (image.dataobj.slope == 1 and image.dataobj.inter == 0)


def _spatial_shape(image) -> tuple[int, ...]:
    """(x, y, z) shape with trailing singleton axes dropped (a 3-D scan saved as x*y*z*1)."""
    shape = list(image.header.get_data_shape())
    while len(shape) > 3 and shape[-1] == 1:
        shape.pop()
    return tuple(shape)


def read_header(path: Path) -> VolumeHeader:
    image = _load(path)
    header = image.header
    xyz_shape = _spatial_shape(image)
    if path.name.lower().endswith(".nii"):
        end = int(image.dataobj.offset) + int(np.prod(header.get_data_shape())) \
            * header.get_data_dtype().itemsize
        check_file_size(path, end, "NIfTI")
    dtype = np.dtype(np.float32) if _is_scaled(image) else header.get_data_dtype()
    spacing = None
    if len(xyz_shape) == 3:
        unit = header.get_xyzt_units()[0]
        zooms = header.get_zooms()[:3]
        spacing = spacing_in_um(zooms[::-1], None if unit == "unknown" else unit)
    shape = xyz_shape[:3][::-1] + xyz_shape[3:] if len(xyz_shape) >= 3 else xyz_shape[::-1]
    return VolumeHeader(str(path), "nifti", shape, output_dtype(dtype, str(path)), spacing)


def read_array(path: Path) -> np.ndarray:
    image = _load(path)
    data = image.get_fdata(dtype=np.float32) if _is_scaled(image) else np.asarray(image.dataobj)
    return data.reshape(_spatial_shape(image)).transpose(2, 1, 0)


def write(path: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    if data.dtype == np.float16:  # NIfTI has no half-float type
        data = data.astype(np.float32)
    plane_um, row_um, col_um = spacing_um
    affine = np.diag([col_um, row_um, plane_um, 1.0])
    image = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), affine,
                            dtype=data.dtype)
    image.header.set_xyzt_units(xyz=_WRITE_UNIT)
    image.header.set_zooms((col_um, row_um, plane_um))
    nib.save(image, path)
