"""Which reader a path needs: by file suffix, or by the slice files a folder holds."""

from __future__ import annotations

import os
from pathlib import Path

from .base import VolumeError, natural_key

__all__ = ["detect_format"]

SUFFIX_FORMATS = {
    ".nii": "nifti", ".nii.gz": "nifti",
    ".tif": "tiff_stack", ".tiff": "tiff_stack",
    ".nrrd": "nrrd", ".nhdr": "nrrd",
    ".dcm": "dicom", ".dicom": "dicom", ".ima": "dicom",
    ".npy": "npy", ".npz": "npz",
}
FOLDER_FORMATS = {".tif": "tiff_folder", ".tiff": "tiff_folder", ".png": "png_folder",
                  ".dcm": "dicom", ".dicom": "dicom", ".ima": "dicom"}
_IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_DICOM_MAGIC_OFFSET = 128  # DICOM Part 10 files: 128-byte preamble, then b"DICM"


def full_suffix(path: Path) -> str:
    """Lower-cased suffix, keeping ``.nii.gz`` whole."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _is_dicom_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(_DICOM_MAGIC_OFFSET)
        return handle.read(4) == b"DICM"


def _folder_format(entry: Path) -> str | None:
    suffix = entry.suffix.lower()
    if suffix in FOLDER_FORMATS:
        return FOLDER_FORMATS[suffix]
    if suffix == "" and entry.name != "DICOMDIR" and _is_dicom_file(entry):
        return "dicom"
    return None


def list_slices(folder: Path) -> tuple[str, list[Path]]:
    """Return the slice format of `folder` and its slice files in natural sort order.

    Hidden files and files that are not slices (notes, ``DICOMDIR``, thumbnails in another
    format) are ignored; a folder that mixes slice formats is refused.
    """
    found: dict[str, list[Path]] = {}
    others: list[str] = []
    for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        fmt = _folder_format(entry)
        if fmt is None:
            others.append(entry.name)
        else:
            found.setdefault(fmt, []).append(entry)
    if not found:
        seen = f" (it holds: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''})" \
            if others else " (it is empty)"
        raise VolumeError(
            f"folder {str(folder)!r} holds no TIFF, PNG or DICOM slices{seen}. A folder volume "
            "must contain one 2-D slice per file (.tif/.tiff, .png or DICOM); convert the "
            "slices or point to a 3-D file instead."
        )
    if len(found) > 1:
        counts = ", ".join(f"{len(files)} {fmt}" for fmt, files in found.items())
        raise VolumeError(
            f"folder {str(folder)!r} mixes slice formats ({counts}); keep one volume's slices, "
            "in one format, per folder."
        )
    (fmt, files), = found.items()
    return fmt, files


def detect_format(path: str | os.PathLike) -> str:
    """Name the format of a volume file or slice folder, one of `FORMATS`.

    Files are recognised by suffix (``.nii``, ``.nii.gz``, ``.tif``, ``.tiff``, ``.nrrd``,
    ``.nhdr``, ``.dcm``, ``.npy``, ``.npz``; a DICOM file may also have no suffix). Folders by
    the slices they hold: TIFF -> ``"tiff_folder"``, PNG -> ``"png_folder"``, DICOM ->
    ``"dicom"``. Only folder listings and, for suffix-less files, the 4-byte DICOM magic are
    read.

    Parameters
    ----------
    path : path-like
        A volume file or a folder of slices.

    Returns
    -------
    str
        The format name.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    VolumeError
        If the suffix is unknown, `path` is a single 2-D image (PNG, JPEG, ...), or a folder
        holds no slices or mixes slice formats.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(folder / "scan.npy", np.zeros((2, 3, 4)))
    >>> detect_format(folder / "scan.npy")
    'npy'
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"volume not found: {str(path)!r} does not exist. Check the path (and, for a "
            "specimens table, the `file` column relative to the data folder)."
        )
    if path.is_dir():
        return list_slices(path)[0]
    suffix = full_suffix(path)
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    if suffix in _IMAGE_2D_SUFFIXES:
        raise VolumeError(
            f"{str(path)!r} is a single 2-D image ({suffix}) where a 3-D volume is expected; "
            "pass a folder of slices or a 3-D file."
        )
    if suffix == "" and _is_dicom_file(path):
        return "dicom"
    known = ", ".join(sorted(SUFFIX_FORMATS))
    raise VolumeError(
        f"unknown volume format for {str(path)!r} (suffix {suffix or 'none'!r}). Supported "
        f"files: {known}; or a folder of TIFF/PNG/DICOM slices. Convert the file, e.g. with "
        "Fiji (File > Save As > Tiff) or 3D Slicer (NRRD/NIfTI)."
    )
