"""Tests of fossilct.volumes.dicom: series ordering, bad series and compressed slices."""

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from fossilct.volumes import VolumeError, load_volume, read_header, save_volume

from volume_fixtures import SPACING, make_volume


def test_dicom_folder_with_two_series_is_refused(tmp_path):
    first = save_volume(tmp_path / "a", make_volume(), SPACING, format="dicom")
    second = save_volume(tmp_path / "b", make_volume(seed=1), SPACING, format="dicom")
    shutil.copy(sorted(second.iterdir())[0], first / "other.dcm")
    with pytest.raises(VolumeError, match=r"holds 2 DICOM series.*own folder"):
        load_volume(first)


def test_dicom_series_with_a_missing_slice_is_refused(tmp_path):
    series = save_volume(tmp_path / "s", make_volume(), SPACING, format="dicom")
    (series / "slice_0003.dcm").unlink()
    with pytest.raises(VolumeError, match=r"irregular slice gaps: 0.0100 mm between "
                                          r"'slice_0002.dcm' and 'slice_0004.dcm'.*missing"):
        load_volume(series)


def test_dicom_series_with_a_duplicate_slice_is_refused(tmp_path):
    series = save_volume(tmp_path / "s", make_volume(), SPACING, format="dicom")
    shutil.copy(series / "slice_0002.dcm", series / "copy.dcm")
    with pytest.raises(VolumeError, match=r"'(copy|slice_0002).dcm' and '(copy|slice_0002).dcm' "
                                          r"lie at the same slice position"):
        load_volume(series)


def _rewrite_series(series: Path, edit) -> None:
    """Apply `edit(dataset, index)` to every file of a written series, in file order."""
    for index, file in enumerate(sorted(series.iterdir())):
        dataset = pydicom.dcmread(file)
        edit(dataset, index)
        dataset.save_as(file)


def test_dicom_series_without_positions_is_ordered_by_instance_number(tmp_path):
    volume = make_volume(np.int16)
    series = save_volume(tmp_path / "s", volume, SPACING, format="dicom")

    def drop_position(dataset, index):
        del dataset.ImagePositionPatient

    _rewrite_series(series, drop_position)
    for file in sorted(series.iterdir()):
        file.rename(series / f"z{99 - int(file.stem[-4:])}.dcm")  # names now in reverse order
    loaded = load_volume(series)
    np.testing.assert_array_equal(loaded.data, volume)
    assert loaded.spacing_um == SPACING  # plane spacing from SliceThickness

    _rewrite_series(series, lambda dataset, index: setattr(dataset, "InstanceNumber", 1))
    with pytest.raises(VolumeError, match="no ImagePositionPatient and repeats InstanceNumber"):
        load_volume(series)

    def drop_number(dataset, index):
        del dataset.InstanceNumber

    _rewrite_series(series, drop_number)
    with pytest.raises(VolumeError, match="neither ImagePositionPatient nor InstanceNumber"):
        load_volume(series)


def test_dicom_series_mixing_orientations_is_refused(tmp_path):
    series = save_volume(tmp_path / "s", make_volume(), SPACING, format="dicom")

    def tilt_third(dataset, index):
        if index == 2:
            dataset.ImageOrientationPatient = [1, 0, 0, 0, 0, 1]

    _rewrite_series(series, tilt_third)
    with pytest.raises(VolumeError, match=r"mixes slice orientations: 'slice_0002.dcm' differs"):
        load_volume(series)


def test_dicom_unsupported_bit_depth_is_refused(tmp_path):
    series = save_volume(tmp_path / "s", make_volume(), SPACING, format="dicom")
    _rewrite_series(series, lambda dataset, index: setattr(dataset, "BitsAllocated", 12))
    with pytest.raises(VolumeError, match=r"BitsAllocated=12, which is not supported"):
        read_header(series)


def test_dicom_folder_mixing_multiframe_and_single_frame_files_is_refused(tmp_path):
    path = pydicom.data.get_testdata_file("rtdose.dcm")
    if path is None:
        pytest.skip("pydicom test data not installed")
    series = save_volume(tmp_path / "s", make_volume(), SPACING, format="dicom")
    dose = pydicom.dcmread(path)
    dose.SeriesInstanceUID = pydicom.dcmread(series / "slice_0000.dcm").SeriesInstanceUID
    dose.save_as(series / "dose.dcm")
    with pytest.raises(VolumeError, match=r"mixes a multi-frame file \('dose.dcm'\)"):
        read_header(series)


def _series_of_copies(source: Path, folder: Path, n_slices: int = 2) -> Path:
    """A folder of `n_slices` copies of one real DICOM slice, stepped 1 mm along the normal."""
    folder.mkdir()
    for index in range(n_slices):
        dataset = pydicom.dcmread(source)
        position = [float(v) for v in dataset.ImagePositionPatient]
        cosines = np.array([float(v) for v in dataset.ImageOrientationPatient])
        normal = np.cross(cosines[:3], cosines[3:])
        dataset.ImagePositionPatient = [f"{v:.4f}" for v in np.add(position, index * normal)]
        dataset.save_as(folder / f"im{index}")
    return folder


def test_real_compressed_dicom_slices_load(tmp_path):
    path = pydicom.data.get_testdata_file("MR_small_RLE.dcm")
    if path is None:
        pytest.skip("pydicom test data not installed")
    loaded = load_volume(_series_of_copies(Path(path), tmp_path / "rle"))
    assert loaded.data.shape == (2, 64, 64)
    np.testing.assert_array_equal(loaded.data[1], pydicom.dcmread(path).pixel_array)
    assert loaded.spacing_um[0] == pytest.approx(1000.0, rel=1e-3)


def test_compressed_dicom_without_decoder_names_the_compression(tmp_path):
    path = pydicom.data.get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    if path is None:
        pytest.skip("pydicom test data not installed")
    try:
        pydicom.dcmread(path).pixel_array
    except RuntimeError:
        pass
    else:
        pytest.skip("a JPEG-LS decoder is installed")
    with pytest.raises(VolumeError, match=r"(?s)pixels are compressed \(JPEG-LS Lossless.*"
                                          r"Decompress the series first"):
        load_volume(_series_of_copies(Path(path), tmp_path / "jpegls"))
