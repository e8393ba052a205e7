"""Tests of fossilct.matching.reliability: basins, margins, tilt drops and the reliable flag."""

from types import SimpleNamespace

import numpy as np
import pytest
from matching_fixtures import library_volume, true_pose

from fossilct.matching import match_slice_to_volume, prepare_query
from fossilct.matching.benchmark.queries import cut_query
from fossilct.matching.pose import QueryPose
from fossilct.matching.refine import RefineTarget, pose_score
from fossilct.matching.reliability import (RELIABLE_FIT, RELIABLE_MARGIN, RELIABLE_TILT_DROP,
                                           basin_margins, is_reliable, reliability_note,
                                           same_basin, tilt_drop)


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


def test_reliable_needs_margin_fit_and_tilt_drop():
    assert is_reliable(RELIABLE_MARGIN, RELIABLE_FIT, RELIABLE_TILT_DROP)
    assert not is_reliable(RELIABLE_MARGIN / 2, 0.99, 0.1)
    assert not is_reliable(0.5, RELIABLE_FIT - 0.05, 0.1)
    assert not is_reliable(0.5, 0.99, RELIABLE_TILT_DROP / 2)


def _drop_at_true_pose(volume, mask, normal):
    image, placement, _ = cut_query(volume, mask, normal=normal, offset_vox=0.0, angle_deg=30.0)
    query = prepare_query(image, pixel_size_um=1.0)
    pose, target = true_pose(query, placement), RefineTarget(volume)
    return tilt_drop(query, target, pose, pose_score(query, target, pose))


def test_a_section_that_barely_changes_with_tilt_has_a_small_tilt_drop():
    grid = np.indices((48, 48, 48)) - 23.5
    radius = np.hypot(grid[1], grid[2])
    tube = (radius > 8) & (radius < 11) & (np.abs(grid[0]) < 20)  # its ring barely changes
    across = _drop_at_true_pose(tube.astype(np.float32), tube, (1, 0, 0))
    target = library_volume("elphidiella_like", 7)
    distinctive = _drop_at_true_pose(target.volume, target.mask, (0, 1, 0))
    assert across < RELIABLE_TILT_DROP / 2 and distinctive > 2 * RELIABLE_TILT_DROP


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


def test_the_note_says_whether_to_trust_a_pose_and_why_not():
    def note(**changes):
        match = dict(method="fossilct", refined=True, reliable=False, fit=0.95, reliability=0.05,
                     tilt_drop=0.05)
        return reliability_note(SimpleNamespace(**{**match, **changes}))

    assert note(reliable=True).startswith("pose reliable: ")
    ambiguous = note(reliability=0.001, fit=0.5)
    assert "another pose fits almost as well" in ambiguous and "the fit is low" in ambiguous
    assert "tilt" not in ambiguous
    assert "orientation is uncertain" in note(tilt_drop=0.001)
    assert "not refined" in note(refined=False)
    assert "not assessed" in note(method="reference")
