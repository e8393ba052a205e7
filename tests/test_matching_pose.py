"""Tests of fossilct.matching.pose: pose geometry, conventions and errors."""

import numpy as np
import pytest

from fossilct import planes
from fossilct.matching.pose import QueryPose, frame_of, pose_errors, pose_from_turn, sample_at_pose
from fossilct.matching.benchmark.queries import tilted_normal


@pytest.mark.parametrize("angle", [0.0, 30.0, 135.0, 300.0])
@pytest.mark.parametrize("mirror", [False, True])
def test_angle_and_mirror_round_trip_through_the_planes_convention(angle, mirror):
    normal = tilted_normal(1, 17.0, 40.0)
    u, v = planes.plane_basis(normal, angle_deg=angle, mirror=mirror)
    pose = QueryPose(normal, np.zeros(3), 2.0 * u, 2.0 * v)
    found_angle, found_mirror = pose.angle_mirror()
    assert found_mirror == mirror
    assert abs((found_angle - angle + 180) % 360 - 180) < 1e-6
    assert pose.scale == pytest.approx(2.0)


def test_facing_up_flips_only_the_normal_and_describes_the_same_section():
    normal = tilted_normal(1, 17.0, 40.0)
    assert normal[0] < 0
    u, v = planes.plane_basis(normal, angle_deg=30.0, mirror=False)
    pose = QueryPose(normal, np.array([10.0, 12.0, 9.0]), 2.0 * u, 2.0 * v)
    up = pose.facing_up()
    assert up.normal[0] > 0 and np.allclose(up.normal, -pose.normal)
    assert up.offset((20, 24, 18)) == pytest.approx(-pose.offset((20, 24, 18)))
    angle, mirror = up.angle_mirror()
    shown = planes.plane_basis(up.normal, angle_deg=angle, mirror=mirror)
    assert np.allclose(shown, (u, v))                      # the pixels' directions are unchanged
    assert up.facing_up() is up


def test_offset_is_measured_from_the_volume_centre():
    pose = QueryPose(np.array([0.0, 1.0, 0.0]), np.array([3.0, 7.0, 1.0]), np.zeros(3), np.zeros(3))
    assert pose.offset((9, 10, 11)) == pytest.approx(7.0 - 4.5)


def test_pose_from_turn_matches_the_rotation_search_convention():
    u0, v0 = planes.plane_basis((1, 0, 0))
    # no turn, no mirror: query rows run along the section's rows
    pose = pose_from_turn((1, 0, 0), (0, 0, 0), u0=u0, v0=v0, turn_deg=0, mirror=False, scale=1)
    assert np.allclose(pose.row_axis, u0) and np.allclose(pose.col_axis, v0)
    # a turn alpha of the signature is a planes angle of -alpha
    pose = pose_from_turn((1, 0, 0), (0, 0, 0), u0=u0, v0=v0, turn_deg=40, mirror=False, scale=1)
    assert pose.angle_mirror()[0] == pytest.approx(320.0)
    pose = pose_from_turn((1, 0, 0), (0, 0, 0), u0=u0, v0=v0, turn_deg=40, mirror=True, scale=1)
    assert pose.angle_mirror() == (pytest.approx(320.0), True)


def test_sample_at_pose_reads_where_the_query_pixels_lie(rng):
    volume = rng.random((6, 7, 8)).astype(np.float32)
    normal = np.array([1.0, 0.0, 0.0])
    u, v = planes.plane_basis(normal)
    image = planes.sample_plane(volume, normal, 0.5)  # volume[3]
    pose = QueryPose(normal, np.array([3.0, 3.0, 3.5]), u, v)
    points = np.stack(np.meshgrid(np.arange(7.0), np.arange(8.0), indexing="ij"), axis=-1)
    assert np.allclose(sample_at_pose(volume, pose, points, np.array([3.0, 3.5])), image, atol=1e-5)


def test_sampling_a_boolean_mask_equals_sampling_it_as_float(rng):
    mask = rng.random((9, 10, 11)) > 0.5
    pose = QueryPose(np.array([1.0, 0, 0]), np.array([4.2, 5.1, 4.7]), np.array([0, 0.8, 0.6]),
                np.array([0, -0.6, 0.8]))
    points = rng.uniform(0, 6, (20, 2))
    as_float = sample_at_pose(mask.astype(np.float32), pose, points, np.array([3.0, 3.0]))
    assert np.array_equal(sample_at_pose(mask, pose, points, np.array([3.0, 3.0])), as_float)
    assert 0 < as_float.max() <= 1


def test_pose_errors_are_zero_for_the_same_pose_seen_from_behind():
    true = frame_of((0.6, 0.8, 0.0), 25.0, True)
    behind = np.stack([true[0], true[1], -true[2]])
    errors = pose_errors(true, 2.5, behind, -2.5)
    assert errors.normal_deg == pytest.approx(0.0, abs=1e-6)
    assert errors.offset_vox == pytest.approx(0.0)
    assert errors.angle_deg == pytest.approx(0.0, abs=1e-6)
    assert errors.mirror_ok


def test_pose_errors_measure_each_component():
    true = frame_of((1, 0, 0), 10.0, False)
    assert pose_errors(true, 0.0, frame_of((1, 0, 0), 25.0, False), 2.0).angle_deg == \
        pytest.approx(15.0)
    assert pose_errors(true, 0.0, frame_of((1, 0, 0), 10.0, False), 2.0).offset_vox == 2.0
    assert not pose_errors(true, 0.0, frame_of((1, 0, 0), 10.0, True), 0.0).mirror_ok
    tilted = frame_of(tilted_normal(0, 7.0, 0.0), 10.0, False)
    errors = pose_errors(true, 0.0, tilted, 0.0)
    assert errors.normal_deg == pytest.approx(7.0)
    assert not errors.success(max_offset_vox=3, max_normal_deg=5, max_angle_deg=10)
    assert errors.success(max_offset_vox=3, max_normal_deg=8, max_angle_deg=10)
