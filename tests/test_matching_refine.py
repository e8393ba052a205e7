"""Tests of fossilct.matching.refine: Gauss-Newton refinement of poses against the volume."""

import numpy as np
import pytest
from matching_fixtures import library_volume, true_pose

from fossilct.matching import prepare_query
from fossilct.matching.benchmark.queries import cut_query, tilted_normal
from fossilct.matching.pose import QueryPose
from fossilct.matching.refine import (RefineTarget, pose_score, pose_scores, refine_pose,
                                      refine_poses)


@pytest.fixture(scope="module")
def case():
    target = library_volume("elphidiella_like", 7)
    image, placement, _ = cut_query(target.volume, target.mask, normal=tilted_normal(0, 12.0, 50.0),
                                    offset_vox=1.0, angle_deg=40.0)
    query = prepare_query(image, pixel_size_um=target.voxel_size_um)
    return target, query, true_pose(query, placement)


def _turned(pose: QueryPose, tilt_deg: float, shift: float) -> QueryPose:
    """The pose tilted about its row axis and shifted along its normal."""
    angle = np.deg2rad(tilt_deg)
    u = pose.row_axis / pose.scale
    rotate = (np.cos(angle) * np.eye(3) + np.sin(angle) * np.cross(np.eye(3), u)
              + (1 - np.cos(angle)) * np.outer(u, u))
    return QueryPose(rotate @ pose.normal, pose.centre + shift * pose.normal,
                     rotate @ pose.row_axis, rotate @ pose.col_axis)


def test_the_true_pose_scores_highest(case):
    target, query, truth = case
    scores = pose_scores(query, target.refine_target,
                         [truth, _turned(truth, 6.0, 0.0), _turned(truth, 0.0, 2.0)])
    assert scores[0] > 0.97 and scores[0] > scores[1] and scores[0] > scores[2]
    assert pose_score(query, target.refine_target, truth) == pytest.approx(scores[0])


def test_refinement_returns_to_the_true_pose_from_ten_degrees_off(case):
    target, query, truth = case
    start = _turned(truth, 10.0, 1.5)
    pose, score = refine_pose(query, target.refine_target, start, fixed_scale=True)
    tilt = np.degrees(np.arccos(min(1.0, abs(float(pose.normal @ truth.normal)))))
    assert tilt < 1.0 and np.linalg.norm(pose.centre - truth.centre) < 0.7
    assert pose.scale == pytest.approx(truth.scale)
    assert score > pose_score(query, target.refine_target, start)


def test_many_poses_refine_together_in_input_order(case):
    target, query, truth = case
    starts = [_turned(truth, 8.0, 0.0), _turned(truth, -5.0, 1.0)]
    poses, scores = refine_poses(query, target.refine_target, starts, fixed_scale=True)
    assert len(poses) == 2 and scores.shape == (2,) and (scores > 0.95).all()
    assert refine_poses(query, target.refine_target, [])[0] == []


def test_refine_target_smooths_on_demand_and_caches():
    image = np.zeros((9, 9, 9), np.float32)
    image[4, 4, 4] = 1.0
    target = RefineTarget(image)
    assert target.smoothed(0.0) is target.image
    smooth = target.smoothed(1.0)
    assert smooth is target.smoothed(1.0) and smooth.max() < 1.0
    assert smooth.sum() == pytest.approx(1.0, rel=1e-3)
