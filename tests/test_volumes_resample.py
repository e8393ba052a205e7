"""Tests of fossilct.volumes.resample: isotropic resampling."""

import numpy as np
import pytest

from fossilct.volumes import resample_isotropic

from volume_fixtures import SHAPE, SPACING, make_volume

# ---------------------------------------------------------------- resample_isotropic


def test_resample_defaults_to_finest_spacing_and_keeps_physical_extent():
    volume = make_volume(np.uint16)
    resampled, target = resample_isotropic(volume, SPACING)
    assert target == 2.5
    assert resampled.dtype == np.float32
    assert resampled.shape == (12, 10, round(12 * 3.3 / 2.5))


def test_resample_places_voxel_centres_physically():
    planes = np.broadcast_to((2.0 * np.arange(5))[:, None, None], (5, 3, 4)).astype(np.float32)
    resampled, _ = resample_isotropic(planes, (2.0, 1.0, 1.0))
    assert resampled.shape == (10, 3, 4)
    # New centre j sits at (j + 0.5) µm; old centre i at 2 (i + 0.5) µm with value 2 i.
    np.testing.assert_allclose(resampled[1:-1, 1, 1], np.arange(1, 9) - 0.5, atol=1e-5)


def test_resample_isotropic_input_is_returned_unchanged():
    volume = make_volume(np.float32)
    resampled, target = resample_isotropic(volume, 2.0)
    assert resampled is volume and target == 2.0
    as_float, _ = resample_isotropic(make_volume(np.uint8), (3.0, 3.0, 3.0))
    np.testing.assert_array_equal(as_float, make_volume(np.uint8))
    assert as_float.dtype == np.float32


def test_resample_to_coarser_target_and_nearest_order_keeps_labels():
    labels = (make_volume(np.float32) > 80).astype(np.uint8) * 3
    resampled, target = resample_isotropic(labels, SPACING, target_um=5.0, order=0)
    assert target == 5.0
    assert resampled.shape == (6, 5, 8)
    assert set(np.unique(resampled)) <= {0.0, 3.0}


def test_resample_is_deterministic():
    first = resample_isotropic(make_volume(), SPACING)[0]
    second = resample_isotropic(make_volume(), SPACING)[0]
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"volume": np.zeros((4, 4))}, ValueError, r"non-empty 3-D array.*got shape \(4, 4\)"),
    ({"volume": np.zeros((2, 0, 3))}, ValueError, r"got shape \(2, 0, 3\)"),
    ({"volume": [[[1.0]]]}, TypeError, "must be a numpy array"),
    ({"volume": np.zeros(SHAPE, complex)}, TypeError, "real numbers; got dtype complex128"),
    ({"order": 6}, ValueError, r"`order` must be an integer spline order in 0..5; got 6"),
    ({"order": 1.0}, ValueError, "`order`"),
    ({"target_um": -1.0}, ValueError, "`target_um`"),
    ({"spacing_um": (1.0, 0.0, 1.0)}, ValueError, "`spacing_um`"),
])
def test_resample_refuses_bad_arguments(kwargs, error, match):
    arguments = {"volume": make_volume(), "spacing_um": SPACING, **kwargs}
    with pytest.raises(error, match=match):
        resample_isotropic(arguments.pop("volume"), arguments.pop("spacing_um"), **arguments)
