"""fossilct.ensemble.abstention: coverage-accuracy curve, validated threshold, test summary."""

import numpy as np
import pytest

from fossilct.ensemble import abstention

# top probabilities 0.95 (wrong), 0.9, 0.8, 0.7 (right), 0.6 (wrong)
PROBS = np.array([[0.95, 0.05], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
Y = np.array([1, 1, 0, 1, 1])


def test_curve_by_hand():
    curve = abstention.coverage_accuracy_curve(PROBS, Y)
    assert curve["threshold"].tolist() == [0.6, 0.7, 0.8, 0.9, 0.95]
    assert curve["n_accepted"].tolist() == [5, 4, 3, 2, 1]
    np.testing.assert_allclose(curve["coverage"], [1.0, 0.8, 0.6, 0.4, 0.2])
    np.testing.assert_allclose(curve["accuracy"], [3 / 5, 3 / 4, 2 / 3, 1 / 2, 0.0])


def test_tied_confidences_share_one_row():
    probs = np.array([[0.8, 0.2], [0.8, 0.2], [0.6, 0.4]])
    curve = abstention.coverage_accuracy_curve(probs, [0, 1, 0])
    assert curve["threshold"].tolist() == [0.6, 0.8]
    assert curve["n_accepted"].tolist() == [3, 2]


@pytest.mark.parametrize("target, threshold, coverage", [
    (0.5, 0.6, 1.0),    # everything accepted already reaches 0.6
    (0.7, 0.7, 0.8),    # 0.7 is the first threshold at or above 0.7 (3/4)
    (0.75, 0.7, 0.8),   # exactly reached
])
def test_smallest_threshold_meeting_the_target(target, threshold, coverage):
    choice = abstention.choose_abstention_threshold(PROBS, Y, target_accuracy=target)
    assert choice.reached and choice.threshold == threshold
    assert choice.coverage == pytest.approx(coverage)
    assert choice.accuracy >= target


def test_unreachable_target_gives_no_threshold_and_the_best_on_offer():
    choice = abstention.choose_abstention_threshold(PROBS, Y, target_accuracy=0.9)
    assert not choice.reached and choice.threshold is None
    assert choice.accuracy == pytest.approx(0.75) and choice.coverage == pytest.approx(0.8)


def test_test_summary_at_the_validated_threshold():
    specimens = ["s1", "s1", "s2", "s3", "s4"]
    summary = abstention.abstention_summary(PROBS, Y, threshold=0.7, specimen_ids=specimens,
                                            class_names=["a", "b"], n_bootstrap=50, rng=0)
    assert summary["n_accepted"] == 4 and summary["coverage"] == pytest.approx(0.8)
    assert summary["accuracy"]["value"] == pytest.approx(0.75)
    low, high = summary["accuracy"]["ci95"]
    assert 0 <= low <= 0.75 <= high <= 1
    none = abstention.abstention_summary(PROBS, Y, threshold=None, specimen_ids=specimens,
                                         class_names=["a", "b"])
    assert none == {"threshold": None, "n_slices": 5, "n_accepted": None, "coverage": None,
                    "accuracy": None}
    nothing = abstention.abstention_summary(PROBS, Y, threshold=0.99, specimen_ids=specimens,
                                            class_names=["a", "b"], n_bootstrap=0)
    assert nothing["n_accepted"] == 0 and nothing["accuracy"] is None


@pytest.mark.parametrize("target", [0.0, 1.2, -0.5])
def test_bad_target(target):
    with pytest.raises(ValueError, match=rf"`target_accuracy`={target!r} must lie in \(0, 1\]"):
        abstention.choose_abstention_threshold(PROBS, Y, target_accuracy=target)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"one label per row in `y_true`; got shapes \(5, 2\) "
                                         r"and \(4,\)"):
        abstention.coverage_accuracy_curve(PROBS, Y[:4])
