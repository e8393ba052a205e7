"""Tests of fossilct.matching.scoring: the matched section in the query's frame and its scores."""

import dataclasses

import numpy as np
import pytest
from matching_fixtures import library_volume, true_pose

from fossilct.matching import prepare_query
from fossilct.matching.benchmark.queries import cut_query
from fossilct.matching.scoring import (DEFAULT_WEIGHTS, METRICS, alignment_scores,
                                       check_weights, combined_score, match_scores,
                                       section_in_query_frame)


@pytest.fixture(scope="module")
def case():
    target = library_volume("lockhartia_like", 3)
    image, placement, _ = cut_query(target.volume, target.mask, normal=(0, 1, 0), offset_vox=1.0,
                                    angle_deg=30.0)
    query = prepare_query(image, pixel_size_um=target.voxel_size_um)
    return target, query, true_pose(query, placement)


def test_the_true_pose_renders_the_query_itself(case):
    target, query, truth = case
    section = section_in_query_frame(query, target.volume, truth)
    assert section.image.shape == section.mask.shape == query.image.shape
    assert section.image.dtype == np.uint8 and not section.image[~section.mask].any()
    scores = match_scores(query, section)
    assert set(scores) == set(METRICS)
    assert scores["dice"] > 0.9 and scores["ncc"] > 0.9 and scores["ssim"] > 0.7


def test_a_shifted_pose_scores_lower(case):
    target, query, truth = case
    shifted = dataclasses.replace(truth, centre=truth.centre + 4.0 * truth.normal)
    good = match_scores(query, section_in_query_frame(query, target.volume, truth))
    bad = match_scores(query, section_in_query_frame(query, target.volume, shifted))
    assert combined_score(bad) < combined_score(good)
    assert bad["ncc"] < good["ncc"]


def test_alignment_scores_of_identical_images():
    image = np.zeros((32, 32), np.uint8)
    image[8:24, 10:20] = 200
    scores = alignment_scores(image, image > 0, image, image > 0)
    assert (scores["dice"], scores["ncc"], scores["ssim"]) == (1.0, 1.0, 1.0)


def test_combined_score_uses_the_default_weights():
    scores = {"dice": 0.2, "ncc": 0.5, "ssim": 0.7, "orb": 0.1}
    expected = sum(w * (0.75 if k == "ncc" else scores[k]) for k, w in DEFAULT_WEIGHTS.items())
    assert combined_score(scores) == pytest.approx(expected)
    assert combined_score(scores, None) == combined_score(scores, dict(DEFAULT_WEIGHTS))


def test_default_weights_cannot_be_changed_by_accident():
    with pytest.raises(TypeError):
        DEFAULT_WEIGHTS["ncc"] = 1.0


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match=r"unknown metrics \['hu'\]"):
        check_weights({"hu": 1.0})
    with pytest.raises(ValueError, match="finite and >= 0"):
        check_weights({"ncc": -0.5})
    with pytest.raises(TypeError, match="must be a mapping"):
        check_weights([0.5, 0.5])
    with pytest.raises(ValueError, match="that `scores` lacks"):
        combined_score({"ncc": 0.5}, {"ncc": 0.5, "ssim": 0.5})
