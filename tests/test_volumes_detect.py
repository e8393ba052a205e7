"""Tests of fossilct.volumes.detect: format detection by suffix and folder content."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from fossilct.volumes import FORMATS, VolumeError, detect_format, save_volume

from volume_fixtures import SPACING, make_volume

# ---------------------------------------------------------------- detect_format


@pytest.mark.parametrize("name, expected", [("a.nii", "nifti"), ("a.NII.GZ", "nifti"),
                                            ("a.tif", "tiff_stack"), ("a.tiff", "tiff_stack"),
                                            ("a.nrrd", "nrrd"), ("a.nhdr", "nrrd"),
                                            ("a.dcm", "dicom"), ("a.npy", "npy"),
                                            ("a.npz", "npz")])
def test_detect_format_by_suffix(tmp_path, name, expected):
    (tmp_path / name).write_bytes(b"")
    assert detect_format(tmp_path / name) == expected


@pytest.mark.parametrize("fmt", ["tiff_folder", "png_folder", "dicom"])
def test_detect_format_of_slice_folders(tmp_path, fmt):
    assert detect_format(save_volume(tmp_path / "f", make_volume(), SPACING, format=fmt)) == fmt


def test_every_format_has_a_reader_and_a_writer(tmp_path):
    written = {fmt: save_volume(tmp_path / name, make_volume(), SPACING, format=fmt)
               for fmt, name in zip(FORMATS, ["a.nii", "a.tif", "p", "t", "a.nrrd", "d",
                                              "a.npy", "a.npz"])}
    assert {fmt: detect_format(path) for fmt, path in written.items()} == \
        {fmt: fmt for fmt in FORMATS}


def test_detect_format_unknown_suffix(tmp_path):
    (tmp_path / "scan.mha").write_bytes(b"x")
    with pytest.raises(VolumeError, match=r"unknown volume format for .*scan.mha.*\.mha.*"
                                          r"Supported files.*Convert"):
        detect_format(tmp_path / "scan.mha")


def test_detect_format_single_2d_image(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "slice.png")
    with pytest.raises(VolumeError, match=r"slice.png.*single 2-D image.*folder of slices"):
        detect_format(tmp_path / "slice.png")


def test_detect_format_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"volume not found: .*nothere.nii.*Check the "
                                                r"path"):
        detect_format(tmp_path / "nothere.nii")


def test_detect_format_folder_without_slices(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VolumeError, match=r"empty.*no TIFF, PNG or DICOM slices \(it is empty\)"):
        detect_format(tmp_path / "empty")
    (tmp_path / "jpegs").mkdir()
    (tmp_path / "jpegs" / "s1.jpg").write_bytes(b"x")
    with pytest.raises(VolumeError, match=r"no TIFF, PNG or DICOM slices \(it holds: s1.jpg\)"):
        detect_format(tmp_path / "jpegs")


def test_detect_format_folder_mixing_formats(tmp_path):
    folder = save_volume(tmp_path / "f", make_volume(np.uint8), SPACING, format="png_folder")
    tifffile.imwrite(folder / "extra.tif", np.zeros((10, 12), np.uint8))
    with pytest.raises(VolumeError, match=r"mixes slice formats \(1 tiff_folder, 6 png_folder\)"):
        detect_format(folder)
