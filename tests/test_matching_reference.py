"""Tests of fossilct.matching.reference: the study's two-stage algorithm."""

import numpy as np
import pytest

from fossilct import synthetic, slicing
from fossilct.matching import (MatchingError, library_volume_from_prepared, match_slice_to_volume,
                               prepare_query)
from fossilct.matching.pose import frame_of, pose_errors
from fossilct.matching.benchmark.queries import cut_query, tilted_normal
from fossilct.matching.reference import (REFERENCE_ANGLES_DEG, REFERENCE_FINE_WEIGHTS,
                                         reference_search)


@pytest.fixture(scope="module")
def target():
    specimen = synthetic.make_specimen("elphidiella_like", size=40, rng=7)
    prepared = slicing.prepare_volume(specimen.volume, specimen.spacing_um)
    return library_volume_from_prepared(prepared, file="a.npz", specimen="a",
                                        species="elphidiella_like", with_index=False)


def test_study_weights_and_search_space():
    assert REFERENCE_FINE_WEIGHTS == {"dice": 0.30, "ncc": 0.25, "ssim": 0.25, "orb": 0.20}
    assert REFERENCE_ANGLES_DEG == tuple(range(0, 331, 30))


@pytest.mark.parametrize("axis,angle", [(0, 0.0), (1, 60.0), (2, 270.0)])
def test_axis_queries_at_searched_angles_are_found(target, axis, angle):
    normal = np.eye(3)[axis]
    image, _, _ = cut_query(target.volume, target.mask, normal=normal, offset_vox=0.0,
                            angle_deg=angle)
    result = reference_search(prepare_query(image, image_size=64), target.volume)
    estimate = frame_of(result.pose.normal, *result.pose.angle_mirror())
    errors = pose_errors(frame_of(normal, angle, False), 0.0, estimate,
                         result.pose.offset(target.volume.shape))
    assert result.axis == axis
    assert errors.success(max_offset_vox=1.0, max_normal_deg=0.1, max_angle_deg=5.0)
    assert 0.5 < result.fit <= 1.0


def test_reference_never_mirrors_nor_tilts(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=tilted_normal(0, 20.0, 30.0),
                            offset_vox=0.5, angle_deg=10.0, mirror=True)
    match = match_slice_to_volume(image, target, method="reference")[0]
    assert match.method == "reference" and not match.mirror
    assert sorted(np.abs(match.normal)) == [0.0, 0.0, 1.0]
    assert match.image.shape == (128, 128)


def test_reference_refuses_bad_axes_and_volumes_without_fossil_slices(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=(1, 0, 0), offset_vox=0.0)
    query = prepare_query(image, image_size=32)
    with pytest.raises(ValueError, match="`axes` must be a non-empty subset"):
        reference_search(query, target.volume, axes=(3,))
    with pytest.raises(MatchingError, match="no slice along the searched axes"):
        reference_search(query, np.zeros((20, 20, 20), np.float32))
