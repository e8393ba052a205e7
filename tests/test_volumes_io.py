"""Tests of fossilct.volumes.io and its format readers and writers: round trips of every format,
orientation, real files that packages ship, and one test per kind of bad input, asserting the
message."""

import shutil
import time
import warnings
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image

from fossilct import volumes
from fossilct.volumes import (
    MissingSpacingWarning,
    VolumeError,
    VolumeHeader,
    detect_format,
    load_volume,
    read_header,
    save_volume,
)

from volume_fixtures import (
    EXACT_CASES,
    NIBABEL_DATA,
    NICOM_DATA,
    SHAPE,
    SPACING,
    digest,
    load_quietly,
    make_volume,
    truncate,
)


@pytest.mark.parametrize("name, fmt, dtype", EXACT_CASES)
def test_round_trip_keeps_values_dtype_orientation_and_spacing(tmp_path, name, fmt, dtype):
    volume = make_volume(dtype)
    path = save_volume(tmp_path / name, volume, SPACING, format=fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingSpacingWarning)
        loaded = load_volume(path)
    assert loaded.data.shape == SHAPE
    assert loaded.data.dtype == dtype
    np.testing.assert_array_equal(loaded.data, volume)
    assert loaded.spacing_um == SPACING
    assert loaded.source == str(path)
    assert loaded.format == (fmt or detect_format(path))


@pytest.mark.parametrize("name, fmt, dtype", [("scan.npy", None, np.uint16),
                                              ("slices", "png_folder", np.uint8),
                                              ("slices", "png_folder", np.uint16)])
def test_formats_without_spacing_round_trip_values_and_warn(tmp_path, name, fmt, dtype):
    volume = make_volume(dtype)
    path = save_volume(tmp_path / name, volume, SPACING, format=fmt)
    with pytest.warns(MissingSpacingWarning, match=r"no voxel spacing stored in .* default "
                                                   r"\(1\.0, 1\.0, 1\.0\) µm.*voxel_size_um"):
        loaded = load_volume(path)
    np.testing.assert_array_equal(loaded.data, volume)
    assert loaded.data.dtype == dtype
    assert loaded.spacing_um == volumes.DEFAULT_SPACING_UM


def test_spacing_override_replaces_file_spacing_without_warning(tmp_path):
    path = save_volume(tmp_path / "scan.npy", make_volume(), SPACING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_volume(path, spacing_um=2.5).spacing_um == (2.5, 2.5, 2.5)
    nifti = save_volume(tmp_path / "scan.nii", make_volume(), SPACING)
    assert load_volume(nifti, spacing_um=(1, 2, 3)).spacing_um == (1.0, 2.0, 3.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint32])
def test_dicom_quantises_other_dtypes_within_half_a_step(tmp_path, dtype):
    volume = make_volume(np.float64) * 1000 - 70000
    volume = volume.astype(dtype) if np.dtype(dtype).kind == "f" else \
        (volume - volume.min()).astype(dtype)
    loaded = load_volume(save_volume(tmp_path / "series", volume, SPACING, format="dicom"))
    assert loaded.data.dtype == np.float32
    step = (float(volume.max()) - float(volume.min())) / 65535
    error = np.abs(loaded.data.astype(np.float64) - volume.astype(np.float64))
    assert error.max() <= step / 2 + 1e-3 * step + 1e-6 * np.abs(volume).max()
    assert loaded.spacing_um == SPACING


def test_dicom_stores_8_bit_data_exactly_as_16_bit(tmp_path):
    volume = make_volume(np.uint8)
    loaded = load_volume(save_volume(tmp_path / "series", volume, SPACING, format="dicom"))
    assert loaded.data.dtype == np.uint16
    np.testing.assert_array_equal(loaded.data, volume)


def test_bool_volume_is_saved_and_loaded_as_uint8(tmp_path):
    mask = make_volume(np.float32) > 60
    loaded = load_volume(save_volume(tmp_path / "mask.nii.gz", mask, SPACING))
    assert loaded.data.dtype == np.uint8
    np.testing.assert_array_equal(loaded.data, mask)
    np.save(tmp_path / "mask.npy", mask)
    assert load_quietly(tmp_path / "mask.npy").data.dtype == np.uint8


def test_big_endian_input_loads_in_native_byte_order(tmp_path):
    volume = make_volume(np.dtype(">i2"))
    np.save(tmp_path / "big.npy", volume)
    loaded = load_quietly(tmp_path / "big.npy")
    assert loaded.data.dtype == np.dtype("=i2")
    np.testing.assert_array_equal(loaded.data, volume)


def test_equal_input_gives_identical_bytes_in_every_format(tmp_path):
    volume = make_volume()
    targets = [("a.nii", None), ("a.nii.gz", None), ("a.tif", None), ("a.nrrd", None),
               ("a.npy", None), ("a.npz", None), ("t", "tiff_folder"), ("p", "png_folder"),
               ("d", "dicom")]
    first = [digest(save_volume(tmp_path / "one" / name, volume, SPACING, format=fmt))
             for name, fmt in targets]
    time.sleep(1.05)  # a timestamp with one-second resolution would now differ
    second = [digest(save_volume(tmp_path / "two" / name, volume, SPACING, format=fmt))
              for name, fmt in targets]
    assert first == second


@pytest.mark.parametrize("name, fmt", [("a.nii.gz", None), ("a.tif", None), ("a.nrrd", None),
                                       ("a.npz", None), ("t", "tiff_folder"), ("d", "dicom"),
                                       ("p", "png_folder"), ("a.npy", None)])
def test_read_header_agrees_with_load_volume(tmp_path, name, fmt):
    path = save_volume(tmp_path / name, make_volume(), SPACING, format=fmt)
    header = read_header(path)
    loaded = load_quietly(path)
    assert isinstance(header, VolumeHeader)
    assert header.shape == loaded.data.shape == SHAPE
    assert header.dtype == loaded.data.dtype
    assert header.format == loaded.format
    assert header.spacing_um in (None, loaded.spacing_um)
    assert header.nbytes == loaded.data.nbytes


def test_save_replaces_existing_file_and_folder(tmp_path):
    path = save_volume(tmp_path / "slices", make_volume(), SPACING, format="tiff_folder")
    save_volume(path, make_volume()[:3], SPACING, format="tiff_folder")
    assert load_volume(path).data.shape == (3, 10, 12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slices"]


def test_failed_save_leaves_no_file(tmp_path):
    with pytest.raises(VolumeError, match="PNG stores only uint8 or uint16"):
        save_volume(tmp_path / "slices", make_volume(np.float32), SPACING, format="png_folder")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- orientation and ordering


def test_nifti_third_axis_becomes_plane_axis(tmp_path):
    xyz = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # (x, y, z) = (col, row, plane)
    image = nib.Nifti1Image(xyz, np.diag([1.0, 2.0, 3.0, 1.0]))
    image.header.set_xyzt_units("mm")
    nib.save(image, tmp_path / "xyz.nii")
    loaded = load_volume(tmp_path / "xyz.nii")
    assert loaded.data.shape == (6, 5, 4)
    assert loaded.data[5, 3, 1] == xyz[1, 3, 5]
    assert loaded.spacing_um == (3000.0, 2000.0, 1000.0)


def test_nifti_trailing_singleton_axis_is_dropped_and_scaling_gives_float32(tmp_path):
    xyz1 = make_volume(np.int16).transpose(2, 1, 0)[..., np.newaxis]
    image = nib.Nifti1Image(xyz1, np.eye(4))
    image.header.set_slope_inter(0.5, 10.0)
    nib.save(image, tmp_path / "scaled.nii.gz")
    loaded = load_volume(tmp_path / "scaled.nii.gz")
    assert loaded.data.dtype == np.float32
    np.testing.assert_allclose(loaded.data, make_volume(np.int16) * 0.5 + 10.0)


def test_nrrd_last_listed_axis_becomes_plane_axis(tmp_path):
    xyz = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    nrrd.write(str(tmp_path / "xyz.nrrd"), xyz, {"spacings": [1.0, 2.0, 3.0]})
    loaded = load_volume(tmp_path / "xyz.nrrd")
    assert loaded.data.shape == (6, 5, 4)
    assert loaded.data[5, 3, 1] == xyz[1, 3, 5]
    assert loaded.spacing_um == (3000.0, 2000.0, 1000.0)  # no units: millimetres


@pytest.mark.parametrize("unit, factor", [("micron", 1.0), ("\\u00B5m", 1.0), ("mm", 1000.0)])
def test_imagej_tiff_spacing_is_converted_to_micrometres(tmp_path, unit, factor):
    tifffile.imwrite(tmp_path / "ij.tif", make_volume(np.uint8), imagej=True,
                     resolution=(1 / 0.5, 1 / 0.25), metadata={"spacing": 2.0, "unit": unit})
    assert load_volume(tmp_path / "ij.tif").spacing_um == (2.0 * factor, 0.25 * factor,
                                                          0.5 * factor)


def test_tiff_without_spacing_metadata_warns(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", make_volume(np.uint8))
    with pytest.warns(MissingSpacingWarning, match="plain.tif"):
        assert load_volume(tmp_path / "plain.tif").spacing_um == (1.0, 1.0, 1.0)


def test_slice_folder_is_read_in_natural_order(tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    for index in [10, 2, 0, 11, 1, 9, 3, 8, 4, 7, 5, 6]:  # unpadded names, written shuffled
        Image.fromarray(np.full((10, 12), index, np.uint8)).save(folder / f"slice_{index}.png")
    (folder / "notes.txt").write_text("ignored: not a slice")
    (folder / ".thumbs.png").write_bytes(b"hidden files are ignored")
    loaded = load_volume(folder, spacing_um=1.0)
    assert loaded.format == "png_folder"
    assert loaded.data[:, 0, 0].tolist() == list(range(12))


def test_dicom_series_is_ordered_by_position_not_name_or_instance_number(tmp_path, rng):
    volume = make_volume(np.int16)
    series = save_volume(tmp_path / "series", volume, SPACING, format="dicom")
    files = sorted(series.iterdir())
    names = rng.permutation(len(files))
    for file, new_name, number in zip(files, names, rng.permutation(len(files))):
        dataset = pydicom.dcmread(file)
        dataset.InstanceNumber = int(number) + 1
        dataset.save_as(series / f"IMG{new_name}")  # no suffix: recognised by the DICM magic
        file.unlink()
    loaded = load_volume(series)
    np.testing.assert_array_equal(loaded.data, volume)
    assert loaded.spacing_um == SPACING


# ---------------------------------------------------------------- real files shipped by packages


def test_real_nifti_from_nibabel_loads_with_its_spacing():
    path = NIBABEL_DATA / "anatomical.nii"
    if not path.exists():
        pytest.skip("nibabel test data not installed")
    loaded = load_volume(path)
    raw = np.asarray(nib.load(path).dataobj)
    assert loaded.data.shape == raw.shape[::-1] == (25, 41, 33)
    np.testing.assert_array_equal(loaded.data, raw.transpose(2, 1, 0))
    assert loaded.spacing_um == (2000.0, 2000.0, 2000.0)
    assert loaded.data.dtype == np.int16 and loaded.data.dtype.isnative  # stored big-endian


def test_real_nifti_with_unknown_units_is_read_as_millimetres():
    path = NIBABEL_DATA / "standard.nii.gz"
    if not path.exists():
        pytest.skip("nibabel test data not installed")
    assert read_header(path).spacing_um == (2000.0, 3000.0, 1000.0)


def test_real_4d_nifti_is_refused():
    path = NIBABEL_DATA / "example4d.nii.gz"
    if not path.exists():
        pytest.skip("nibabel test data not installed")
    with pytest.raises(VolumeError, match=r"example4d.nii.gz.*4-D array of shape "
                                          r"\(24, 96, 128, 2\).*single 3-D volume"):
        load_volume(path)


def test_real_dicom_series_from_nibabel_is_ordered_by_position(tmp_path):
    if not (NICOM_DATA / "0.dcm").exists():
        pytest.skip("nibabel's DICOM test data not installed")
    series = tmp_path / "series"
    series.mkdir()
    # Names reversed against the slice positions (0.dcm is the lower slice).
    shutil.copy(NICOM_DATA / "0.dcm", series / "b.dcm")
    shutil.copy(NICOM_DATA / "1.dcm", series / "a.dcm")
    loaded = load_volume(series)
    assert loaded.data.shape == (2, 256, 256)
    np.testing.assert_array_equal(loaded.data[0], pydicom.dcmread(NICOM_DATA / "0.dcm").pixel_array)
    np.testing.assert_array_equal(loaded.data[1], pydicom.dcmread(NICOM_DATA / "1.dcm").pixel_array)
    np.testing.assert_allclose(loaded.spacing_um, (2999.958, 1796.875, 1796.875), rtol=1e-6)


def test_real_multiframe_dicom_from_pydicom_loads_as_volume():
    path = pydicom.data.get_testdata_file("rtdose.dcm")
    if path is None:
        pytest.skip("pydicom test data not installed")
    loaded = load_volume(path)
    assert loaded.data.shape == (15, 10, 10)
    assert loaded.spacing_um == (5000.0, 10000.0, 10000.0)
    np.testing.assert_array_equal(loaded.data, pydicom.dcmread(path).pixel_array)


def test_real_single_ct_slice_from_pydicom_is_a_2d_image():
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    if path is None:
        pytest.skip("pydicom test data not installed")
    with pytest.raises(VolumeError, match=r"CT_small.dcm.*2-D image.*got shape \(128, 128\).*"
                                          r"folder of slices or a 3-D file"):
        load_volume(path)


def test_real_colour_dicom_is_refused():
    path = pydicom.data.get_testdata_file("SC_rgb_small_odd.dcm")
    if path is None:
        pytest.skip("pydicom test data not installed")
    with pytest.raises(VolumeError, match="colour DICOM image.*grayscale"):
        load_volume(path)


def test_real_multipage_tiff_from_scikit_image_loads():
    skimage = pytest.importorskip("skimage")
    path = Path(skimage.__file__).parent / "data" / "multipage.tif"
    if not path.exists():
        pytest.skip("scikit-image sample data not installed")
    with pytest.warns(MissingSpacingWarning):
        loaded = load_volume(path)
    np.testing.assert_array_equal(loaded.data, tifffile.imread(path))
    assert loaded.data.shape == (2, 15, 10)


# ---------------------------------------------------------------- bad input, one test each


def test_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.nrrd"):
        load_volume(tmp_path / "gone.nrrd")


@pytest.mark.parametrize("name", ["x.nii", "x.nii.gz", "x.tif", "x.nrrd", "x.npy", "x.npz",
                                  "x.dcm"])
def test_corrupt_file_is_refused_naming_the_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"not a volume at all " * 20)
    with pytest.raises(VolumeError, match=rf"{name}.*corrupt, truncated or not a valid"):
        load_volume(tmp_path / name)


@pytest.mark.parametrize("name, fmt, fraction", [
    ("a.nii", None, 0.5), ("a.nii", None, 0.97), ("a.nii.gz", None, 0.9),
    ("a.tif", None, 0.5), ("a.tif", None, 0.97), ("b.tif", None, 0.5),
    ("a.nrrd", None, 0.9), ("a.npy", None, 0.97), ("a.npz", None, 0.9),
    ("t", "tiff_folder", 0.9), ("p", "png_folder", 0.5), ("p", "png_folder", 0.99),
    ("d", "dicom", 0.5), ("d", "dicom", 0.97)])
def test_truncated_file_is_refused(tmp_path, name, fmt, fraction):
    volume = make_volume(np.int32 if name == "b.tif" else np.uint16)
    path = save_volume(tmp_path / name, volume, SPACING, format=fmt)
    target = sorted(path.iterdir())[-1] if path.is_dir() else path
    truncate(target, fraction)
    with pytest.raises(VolumeError, match=rf"{target.name}.*(truncated|corrupt)"):
        load_quietly(path)


@pytest.mark.parametrize("name, fmt", [("a.nii", None), ("a.npy", None), ("t", "tiff_folder"),
                                       ("p", "png_folder")])
def test_truncation_is_caught_by_read_header_where_the_header_allows(tmp_path, name, fmt):
    path = save_volume(tmp_path / name, make_volume(), SPACING, format=fmt)
    target = sorted(path.iterdir())[-1] if path.is_dir() else path
    truncate(target, 0.9)
    with pytest.raises(VolumeError, match=rf"{target.name}.* is truncated"):
        read_header(path)


def test_2d_array_is_refused(tmp_path):
    np.save(tmp_path / "slice.npy", np.arange(120.0).reshape(10, 12))
    with pytest.raises(VolumeError, match=r"slice.npy.*2-D image where a 3-D volume is expected: "
                                          r"got shape \(10, 12\).*folder of slices or a 3-D"):
        load_volume(tmp_path / "slice.npy")


def test_single_page_tiff_is_a_2d_image(tmp_path):
    tifffile.imwrite(tmp_path / "page.tif", np.arange(120, dtype=np.uint8).reshape(10, 12))
    with pytest.raises(VolumeError, match=r"page.tif.*got shape \(10, 12\)"):
        load_volume(tmp_path / "page.tif")


def test_inconsistent_slice_sizes_name_the_file_and_both_shapes(tmp_path):
    folder = save_volume(tmp_path / "stack", make_volume(), SPACING, format="tiff_folder")
    tifffile.imwrite(folder / "slice_0003.tif", np.zeros((10, 11), np.uint16))
    with pytest.raises(VolumeError, match=r"inconsistent slice sizes in .*stack.*'slice_0003.tif' "
                                          r"has shape \(10, 11\) but 'slice_0000.tif' has "
                                          r"\(10, 12\)"):
        load_volume(folder)


def test_inconsistent_slice_dtypes_are_refused(tmp_path):
    folder = save_volume(tmp_path / "stack", make_volume(np.uint8), SPACING, format="png_folder")
    Image.fromarray(np.zeros((10, 12), np.uint16)).save(folder / "slice_0002.png")
    with pytest.raises(VolumeError, match=r"inconsistent slice dtypes.*slice_0002.png.*uint16"):
        load_volume(folder, spacing_um=1.0)


def test_colour_slices_are_refused(tmp_path):
    folder = tmp_path / "rgb"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(folder / f"s{index}.png")
    with pytest.raises(VolumeError, match=r"'s0.png'.*shape \(10, 12, 3\).*one 2-D grayscale"):
        load_volume(folder, spacing_um=1.0)


def test_empty_volume_is_refused(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 10, 12), np.uint8))
    with pytest.raises(VolumeError, match=r"empty.npy.*empty volume of shape \(0, 10, 12\)"):
        load_quietly(tmp_path / "empty.npy")


def test_constant_volume_is_refused(tmp_path):
    save_volume(tmp_path / "flat.nii.gz", np.full(SHAPE, 7, np.uint8), SPACING)
    with pytest.raises(VolumeError, match=r"flat.nii.gz.*constant: all 720 voxels equal 7"):
        load_volume(tmp_path / "flat.nii.gz")


def test_nan_and_inf_are_counted(tmp_path):
    volume = make_volume(np.float32)
    volume[0, 0, :2] = np.nan
    volume[1, 1, 1] = -np.inf
    np.save(tmp_path / "holes.npy", volume)
    with pytest.raises(VolumeError, match=r"holes.npy.*contains 2 NaN and 1 infinite values out "
                                          r"of 720 voxels.*nan_to_num"):
        load_quietly(tmp_path / "holes.npy")


@pytest.mark.parametrize("array", [make_volume(np.float64) * (1 + 1j),
                                   make_volume().astype(str)])
def test_non_numeric_dtype_is_refused(tmp_path, array):
    np.save(tmp_path / "odd.npy", array)
    with pytest.raises(VolumeError, match=rf"odd.npy.*non-numeric dtype {array.dtype}"):
        load_quietly(tmp_path / "odd.npy")


def test_object_dtype_is_refused_from_the_header(tmp_path):
    np.save(tmp_path / "objects.npy", np.empty(SHAPE, dtype=object), allow_pickle=True)
    with pytest.raises(VolumeError, match="non-numeric dtype object"):
        read_header(tmp_path / "objects.npy")


def test_too_large_volume_is_refused_before_reading(tmp_path, monkeypatch):
    path = save_volume(tmp_path / "big.npz", make_volume(), SPACING)

    def must_not_read(_):
        raise AssertionError("voxels were read although the volume is too large")

    codecs = volumes.io._CODECS
    monkeypatch.setitem(codecs, "npz", codecs["npz"]._replace(read_array=must_not_read))
    with pytest.raises(VolumeError, match=r"big.npz.*too large.*shape \(6, 10, 12\) of uint16 "
                                          r"needs 1.4 KiB, above the limit of 1000 bytes \(max_bytes\).*downsample"):
        load_volume(path, max_bytes=1000)


def test_default_memory_limit_is_a_fraction_of_available_ram(tmp_path, monkeypatch):
    path = save_volume(tmp_path / "big.npy", make_volume(), SPACING)

    class TinyMemory:
        available = 1000

    monkeypatch.setattr(volumes.io.psutil, "virtual_memory", lambda: TinyMemory)
    with pytest.raises(VolumeError, match=r"too large.*limit of 600 bytes \(60% of the available "
                                          r"RAM\)"):
        load_quietly(path)


def test_nrrd_with_non_numeric_type_is_refused(tmp_path):
    header = b"NRRD0004\ntype: block\nblock size: 2\ndimension: 3\nsizes: 2 2 2\n" \
             b"encoding: raw\n\n"
    (tmp_path / "blocks.nrrd").write_bytes(header + bytes(16))
    with pytest.raises(VolumeError, match=r"blocks.nrrd.*NRRD type 'block'.*not a numeric"):
        read_header(tmp_path / "blocks.nrrd")


def test_colour_stack_is_refused_with_a_colour_hint(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros(SHAPE + (3,), np.uint8), photometric="rgb")
    with pytest.raises(VolumeError, match=r"rgb.tif.*4-D array of shape \(6, 10, 12, 3\).*colour"
                                          r" image: convert it to grayscale"):
        load_volume(tmp_path / "rgb.tif")


def test_data_that_disagrees_with_its_header_is_refused(tmp_path, monkeypatch):
    path = save_volume(tmp_path / "a.npz", make_volume(), SPACING)
    codecs = volumes.io._CODECS
    monkeypatch.setitem(codecs, "npz", codecs["npz"]._replace(
        read_array=lambda _: make_volume()[:3]))
    with pytest.raises(VolumeError, match=r"a.npz.*decoded to shape \(3, 10, 12\), but its header "
                                          r"says \(6, 10, 12\)"):
        load_volume(path)


def test_npz_without_volume_key_is_refused(tmp_path):
    np.savez(tmp_path / "many.npz", a=make_volume(), b=make_volume())
    with pytest.raises(VolumeError, match=r"many.npz.*holds arrays \['a', 'b'\] but no 'volume'"):
        read_header(tmp_path / "many.npz")
    np.savez(tmp_path / "one.npz", scan=make_volume())
    assert read_header(tmp_path / "one.npz").shape == SHAPE


def test_npz_with_invalid_spacing_is_refused(tmp_path):
    np.savez(tmp_path / "bad.npz", volume=make_volume(), spacing_um=[1.0, -2.0, 1.0])
    with pytest.raises(VolumeError, match=r"spacing_um in .*bad.npz.*positive.*Re-save"):
        read_header(tmp_path / "bad.npz")


@pytest.mark.parametrize("spacing, error, match", [
    ((1.0, 2.0), ValueError, r"one or three positive finite spacings.*\(1.0, 2.0\)"),
    (0.0, ValueError, "positive"),
    ((1.0, np.nan, 1.0), ValueError, "finite"),
    ("fine", TypeError, r"`spacing_um` must be a positive number.*'fine'"),
])
def test_invalid_spacing_argument(tmp_path, spacing, error, match):
    path = save_volume(tmp_path / "a.npz", make_volume(), SPACING)
    with pytest.raises(error, match=match):
        load_volume(path, spacing_um=spacing)
    with pytest.raises(error, match=match):
        save_volume(tmp_path / "b.npz", make_volume(), spacing)


@pytest.mark.parametrize("max_bytes, error, match", [(0, ValueError, "must be positive; got 0"),
                                                     (1.5, TypeError, "positive integer"),
                                                     (True, TypeError, "positive integer")])
def test_invalid_max_bytes(tmp_path, max_bytes, error, match):
    path = save_volume(tmp_path / "a.npz", make_volume(), SPACING)
    with pytest.raises(error, match=match):
        load_volume(path, max_bytes=max_bytes)


# ---------------------------------------------------------------- save_volume bad input


@pytest.mark.parametrize("data, error, match", [
    ([[[1, 2]]], TypeError, "must be a numpy array.*got list"),
    (np.zeros((10, 12)), VolumeError, r"must be 3-D.*got shape \(10, 12\).*np.newaxis"),
    (np.zeros((0, 10, 12)), VolumeError, r"empty \(shape \(0, 10, 12\)\)"),
    (np.full(SHAPE, np.nan), VolumeError, "720 NaN/inf values"),
    (np.zeros(SHAPE, complex), VolumeError, "non-numeric dtype complex128"),
])
def test_save_volume_refuses_bad_data(tmp_path, data, error, match):
    with pytest.raises(error, match=match):
        save_volume(tmp_path / "a.npy", data, SPACING)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, fmt, match", [
    ("scan.mha", None, r"cannot infer the format from .*scan.mha.*format='tiff_folder'"),
    ("folder", None, r"suffix 'none'"),
    ("scan.nii", "zarr", r"unknown `format` 'zarr'; choose one of"),
    ("scan.tif", "nifti", r"`format`='nifti' does not match the path .*scan.tif"),
    ("scan.nii", "dicom", r"`format`='dicom' does not match"),
])
def test_save_volume_refuses_unknown_or_mismatched_format(tmp_path, name, fmt, match):
    with pytest.raises(VolumeError, match=match):
        save_volume(tmp_path / name, make_volume(), SPACING, format=fmt)
