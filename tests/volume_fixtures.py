"""Shared helpers of the volume tests: a seeded non-cubic volume, quiet loading, damage."""

import hashlib
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from fossilct.volumes import MissingSpacingWarning, Volume, load_volume

SHAPE = (6, 10, 12)  # non-cubic, so any axis mix-up changes the shape
SPACING = (5.0, 2.5, 3.3)  # anisotropic, and 3.3 is not exact in binary
NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
NICOM_DATA = Path(nib.__file__).parent / "nicom" / "tests" / "data"


def make_volume(dtype=np.uint16, seed=0) -> np.ndarray:
    """A seeded (6, 10, 12) volume: a ramp along every axis plus noise, in `dtype`."""
    planes, rows, cols = np.indices(SHAPE)
    noise = np.random.default_rng(seed).random(SHAPE)
    values = 20 * planes + 5 * rows + cols + 10 * noise
    return values.astype(dtype)


def load_quietly(path, **kwargs) -> Volume:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingSpacingWarning)
        return load_volume(path, **kwargs)


def truncate(path: Path, fraction: float = 0.5) -> None:
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * fraction)])


def digest(path: Path) -> str:
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()


# (name, format argument, dtype): every format, with the dtypes each stores exactly.
EXACT_CASES = [
    ("scan.nii", None, np.float32),
    ("scan.nii.gz", None, np.int16),
    ("scan.nii.gz", None, np.uint8),
    ("scan.tif", None, np.uint16),   # ImageJ hyperstack
    ("scan.tiff", None, np.float32),  # ImageJ hyperstack
    ("scan.tif", None, np.int32),    # plain TIFF with JSON metadata
    ("slices", "tiff_folder", np.float64),
    ("slices", "tiff_folder", np.uint8),
    ("scan.nrrd", None, np.float32),
    ("scan.nrrd", None, np.int16),
    ("series", "dicom", np.int16),
    ("series", "dicom", np.uint16),
    ("scan.npz", None, np.int8),
    ("scan.npz", None, np.float64),
]

