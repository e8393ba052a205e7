"""Tests of fossilct.matching.errors: the volume checks every matching entry point runs."""

import numpy as np
import pytest

from fossilct.matching.errors import MatchingError, check_volume_and_mask


@pytest.fixture
def cube():
    mask = np.zeros((10, 10, 10), bool)
    mask[2:8, 2:8, 2:8] = True
    return mask.astype(np.uint8) * 200, mask


def test_valid_inputs_come_back_as_float32_and_bool(cube):
    volume, mask = check_volume_and_mask(*cube, voxel_size_um=2.0)
    assert volume.dtype == np.float32 and mask.dtype == bool and volume.max() == 200


def test_matching_error_is_a_value_error():
    assert issubclass(MatchingError, ValueError)


@pytest.mark.parametrize("change,error,message", [
    (lambda v, m: (v[0], m[0]), ValueError, "must be 3-D"),
    (lambda v, m: (v.astype(complex), m), TypeError, "must be real numeric"),
    (lambda v, m: (v, m[:-1]), ValueError, "must have the volume's shape"),
    (lambda v, m: (np.where(m, np.nan, 0.0), m), ValueError, "NaN/inf"),
    (lambda v, m: (v, np.zeros_like(m)), MatchingError, "has no fossil"),
    (lambda v, m: (v, m & (np.indices(m.shape)[0] == 2) & (np.indices(m.shape)[1] < 4)),
     MatchingError, "too small to match"),
])
def test_bad_inputs_are_refused(cube, change, error, message):
    volume, mask = change(*cube)
    with pytest.raises(error, match=message):
        check_volume_and_mask(volume, mask, voxel_size_um=1.0, name="scan.nii")


def test_non_positive_voxel_size_is_refused(cube):
    with pytest.raises(ValueError, match="`voxel_size_um` \\(scan.nii\\) must be positive"):
        check_volume_and_mask(*cube, voxel_size_um=0.0, name="scan.nii")
