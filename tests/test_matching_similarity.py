"""Tests of fossilct.matching.similarity: metrics agree with scikit-image and OpenCV."""

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from fossilct.matching import similarity


@pytest.fixture
def pair(rng):
    """A smooth random image and a noisy, brightened copy of it."""
    base = cv2.GaussianBlur(rng.random((48, 40)).astype(np.float32), (0, 0), 2.0)
    other = 1.7 * base + 0.2 + rng.normal(0, 0.02, base.shape).astype(np.float32)
    return base, other


def test_dice_counts_overlap_and_empty_masks():
    a = np.zeros((6, 6), bool)
    b = np.zeros((6, 6), bool)
    assert similarity.dice(a, b) == 1.0
    a[:3] = True
    assert similarity.dice(a, b) == 0.0
    b[1:4] = True
    assert similarity.dice(a, b) == pytest.approx(2 * 12 / 36)


def test_ncc_matches_opencv_template_matching(pair):
    a, b = pair
    expected = cv2.matchTemplate(a, b.astype(np.float32), cv2.TM_CCOEFF_NORMED)[0, 0]
    assert similarity.ncc(a, b) == pytest.approx(float(expected), abs=1e-5)


def test_ncc_is_invariant_to_gain_and_offset_and_zero_for_constant(pair):
    a, b = pair
    assert similarity.ncc(a, 3 * b - 5) == pytest.approx(similarity.ncc(a, b), abs=1e-9)
    assert similarity.ncc(a, np.ones_like(a)) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_ssim_matches_scikit_image(pair, dtype):
    a, b = pair
    if dtype == np.uint8:
        a = np.uint8(np.clip(a * 255, 0, 255))
        b = np.uint8(np.clip(b / b.max() * 255, 0, 255))
        data_range = 255.0
    else:
        a, b = a.astype(dtype), b.astype(dtype)
        data_range = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    expected = structural_similarity(a, b, data_range=data_range)
    assert similarity.ssim(a, b, data_range=data_range) == pytest.approx(expected, abs=1e-6)
    assert similarity.ssim(a, b) == pytest.approx(expected, abs=1e-6)  # default data range


def test_ssim_of_identical_images_is_one(pair):
    assert similarity.ssim(pair[0], pair[0]) == pytest.approx(1.0)


def test_hu_distance_matches_opencv_match_shapes():
    a = np.zeros((40, 40), np.uint8)
    cv2.ellipse(a, (20, 18), (12, 6), 20, 0, 360, 1, -1)
    b = np.zeros((40, 40), np.uint8)
    cv2.ellipse(b, (22, 20), (10, 7), 70, 0, 300, 1, -1)
    expected = cv2.matchShapes(a, b, cv2.CONTOURS_MATCH_I2, 0)
    assert similarity.hu_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_hu_similarity_is_rotation_invariant():
    a = np.zeros((41, 41), np.uint8)
    cv2.ellipse(a, (20, 20), (14, 6), 0, 0, 360, 1, -1)
    turned = np.rot90(a).copy()
    assert similarity.hu_similarity(a, turned) == pytest.approx(1.0, abs=1e-6)
    b = np.zeros_like(a)
    cv2.circle(b, (20, 20), 9, 1, -1)
    assert similarity.hu_similarity(a, b) < 0.9


def test_orb_score_is_high_for_a_turned_copy_and_zero_for_blank(rng):
    image = np.zeros((128, 128), np.uint8)
    for _ in range(25):
        centre = tuple(int(x) for x in rng.integers(20, 108, 2))
        cv2.circle(image, centre, int(rng.integers(3, 12)), int(rng.integers(80, 255)), -1)
    matrix = cv2.getRotationMatrix2D((63.5, 63.5), 30, 1.0)
    turned = cv2.warpAffine(image, matrix, (128, 128))
    assert similarity.orb_score(image, turned) > 0.2
    assert similarity.orb_score(image, np.zeros_like(image)) == 0.0
    assert 0.0 <= similarity.orb_score(image, image[::-1].copy()) <= 1.0


def test_combine_scores_weights_metrics():
    assert similarity.combine_scores({"a": 1.0, "b": 0.5}, {"a": 0.5, "b": 1.0}) == 1.0


@pytest.mark.parametrize("func", [similarity.dice, similarity.ncc, similarity.ssim,
                                  similarity.hu_distance, similarity.orb_score])
def test_metrics_reject_mismatched_shapes(func):
    with pytest.raises(ValueError, match="same shape"):
        func(np.zeros((16, 16)), np.zeros((16, 17)))


def test_metrics_reject_non_2d():
    with pytest.raises(ValueError, match="must be 2-D"):
        similarity.ncc(np.zeros((2, 8, 8)), np.zeros((2, 8, 8)))


def test_metrics_reject_non_numeric():
    with pytest.raises(TypeError, match="must hold numbers"):
        similarity.ncc(np.full((8, 8), "a"), np.zeros((8, 8)))


def test_ssim_rejects_small_images_and_bad_range():
    with pytest.raises(ValueError, match="at least 7 px"):
        similarity.ssim(np.zeros((5, 9)), np.zeros((5, 9)))
    with pytest.raises(ValueError, match="`data_range` must be positive"):
        similarity.ssim(np.zeros((9, 9)), np.zeros((9, 9)), data_range=-1.0)


def test_orb_rejects_bad_options():
    with pytest.raises(ValueError, match="ORB options out of range"):
        similarity.orb_score(np.zeros((32, 32)), np.zeros((32, 32)), ratio=1.5)


def test_combine_scores_rejects_missing_metric_and_negative_weight():
    with pytest.raises(ValueError, match="that `scores` lacks"):
        similarity.combine_scores({"a": 1.0}, {"b": 1.0})
    with pytest.raises(ValueError, match="must be >= 0"):
        similarity.combine_scores({"a": 1.0}, {"a": -1.0})
