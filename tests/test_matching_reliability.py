"""Tests of fossilct.matching.reliability: basins, margins and the reliable flag."""

import numpy as np
import pytest
from matching_fixtures import library_volume

from fossilct.matching import match_slice_to_volume
from fossilct.matching.benchmark.queries import cut_query
from fossilct.matching.pose import QueryPose
from fossilct.matching.reliability import (RELIABLE_FIT, RELIABLE_MARGIN, basin_margins,
                                           is_reliable, same_basin)


def _pose(centre=(0.0, 0.0, 0.0), turn_deg=0.0, scale=1.0):
    angle = np.deg2rad(turn_deg)
    row = np.array([0.0, np.cos(angle), np.sin(angle)])
    col = np.array([0.0, -np.sin(angle), np.cos(angle)])
    return QueryPose(np.array([1.0, 0.0, 0.0]), np.asarray(centre, float), scale * row,
                     scale * col)


def test_basins_separate_shifts_turns_and_mirror_images():
    pose = _pose()
    assert same_basin(pose, _pose(centre=(0.0, 1.0, 1.0)), radius_px=20)
    assert not same_basin(pose, _pose(centre=(4.0, 0.0, 0.0)), radius_px=20)
    assert same_basin(pose, _pose(turn_deg=4.0), radius_px=20)
    assert not same_basin(pose, _pose(turn_deg=20.0), radius_px=20)
    mirrored = QueryPose(pose.normal, pose.centre, pose.row_axis, -pose.col_axis)
    assert not same_basin(pose, mirrored, radius_px=20)


def test_margin_ignores_candidates_of_the_same_basin():
    poses = [_pose(), _pose(centre=(0.0, 0.5, 0.0)), _pose(centre=(6.0, 0.0, 0.0))]
    margins = basin_margins(poses, [0.95, 0.94, 0.90], radius_px=10)
    assert margins.tolist() == pytest.approx([0.05, 0.04, -0.05])
    assert basin_margins(poses[:1], [0.9], radius_px=10)[0] == pytest.approx(1.9)
    with pytest.raises(ValueError, match="non-empty and of the same length"):
        basin_margins(poses, [0.9], radius_px=10)


def test_reliable_needs_margin_and_fit():
    assert is_reliable(RELIABLE_MARGIN, RELIABLE_FIT)
    assert not is_reliable(RELIABLE_MARGIN / 2, 0.99)
    assert not is_reliable(0.5, RELIABLE_FIT - 0.05)


def test_a_distinctive_section_is_reliable_and_a_sliver_is_not():
    target = library_volume("elphidiella_like", 7)
    image, _, _ = cut_query(target.volume, target.mask, normal=(0, 1, 0), offset_vox=0.0,
                            angle_deg=30.0)
    match = match_slice_to_volume(image, target, pixel_size_um=target.voxel_size_um)[0]
    assert match.reliable and match.reliability >= RELIABLE_MARGIN
    flat = np.full((40, 40), 0.05, np.float32)
    flat[18:22, 10:30] = 0.8  # a featureless bar fits many places alike
    sliver = match_slice_to_volume(flat, target, pixel_size_um=target.voxel_size_um)[0]
    assert not sliver.reliable and sliver.reliability < match.reliability
