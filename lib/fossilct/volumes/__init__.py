"""Volume I/O: read and write micro-CT volumes in (plane, row, col) order with spacing in µm.

Supported formats (`FORMATS`): NIfTI (``.nii``, ``.nii.gz``), multi-page TIFF, folders of TIFF
or PNG slices (natural sort order: ``slice_2`` before ``slice_10``), NRRD, DICOM (a series
folder, ordered by slice position, or a multi-frame file), ``.npy`` and ``.npz``.

>>> from fossilct import volumes
>>> volumes.FORMATS
('nifti', 'tiff_stack', 'png_folder', 'tiff_folder', 'nrrd', 'dicom', 'npy', 'npz')

Every problem with an input raises `VolumeError` (a `ValueError`) or `FileNotFoundError` with a
message naming the file, the problem and the fix. A file without spacing loads with the 1 µm
default and a `MissingSpacingWarning`. This is the only module, with the training checkpoints,
that touches disk; everything downstream takes arrays.
"""

from .base import (DEFAULT_SPACING_UM, FORMATS, MissingSpacingWarning, Volume, VolumeError,
                    VolumeHeader)
from .detect import detect_format
from .io import DEFAULT_MAX_MEMORY_FRACTION, load_volume, read_header, save_volume
from .resample import DEFAULT_ORDER, resample_isotropic

# Tracebacks and reprs name the public path, not the private module.
for _public in (VolumeError, MissingSpacingWarning, VolumeHeader, Volume):
    _public.__module__ = __name__
del _public

__all__ = [
    "VolumeError",
    "MissingSpacingWarning",
    "FORMATS",
    "DEFAULT_SPACING_UM",
    "DEFAULT_MAX_MEMORY_FRACTION",
    "DEFAULT_ORDER",
    "VolumeHeader",
    "Volume",
    "detect_format",
    "read_header",
    "load_volume",
    "save_volume",
    "resample_isotropic",
]
