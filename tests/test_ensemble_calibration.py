"""fossilct.ensemble.calibration: temperature scaling, fit on hand-solvable examples."""

import numpy as np
import pytest

from fossilct.ensemble import calibration


def test_three_class_temperature_matches_the_closed_form():
    """Every slice predicted [q, (1-q)/2, (1-q)/2] and a fraction a of them right (the others
    split evenly over the two other classes): the likelihood is best when the scaled top
    probability equals a, i.e. 1 / (1 + 2 r^(1/T)) = a with r = (1-q) / (2q), so
    T = log r / log((1-a) / (2a))."""
    q, a = 0.8, 0.6
    probs = np.tile([q, (1 - q) / 2, (1 - q) / 2], (10, 1))
    y = np.array([0] * 6 + [1, 1, 2, 2])
    expected = np.log((1 - q) / (2 * q)) / np.log((1 - a) / (2 * a))
    assert expected == pytest.approx(1.8928, abs=1e-4)
    temperature = calibration.fit_temperature(probs, y)
    assert temperature == pytest.approx(expected, rel=1e-5)
    assert calibration.apply_temperature(probs, temperature)[0, 0] == pytest.approx(a, abs=1e-6)


def test_scaling_keeps_the_ranking_and_t1_is_the_identity():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=50)
    for t in (0.3, 1.0, 4.0):
        scaled = calibration.apply_temperature(probs, t)
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
        np.testing.assert_array_equal(np.argsort(scaled, axis=1), np.argsort(probs, axis=1))
    np.testing.assert_allclose(calibration.apply_temperature(probs, 1.0), probs, atol=1e-12)
    assert (calibration.apply_temperature(probs, 0.5).max(axis=1) > probs.max(axis=1)).all()
    assert calibration.apply_temperature(probs, 2).dtype == np.float64


def test_fit_reduces_the_validation_nll_and_stays_within_bounds():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3))
    logits[np.arange(300), y] += 1.0
    overconfident = np.exp(4 * logits) / np.exp(4 * logits).sum(axis=1, keepdims=True)
    t = calibration.fit_temperature(overconfident, y)
    assert t > 2.0
    assert (calibration.negative_log_likelihood(calibration.apply_temperature(overconfident, t), y)
            < calibration.negative_log_likelihood(overconfident, y))
    # all right: sharper is always better, the search stops at the lower bound
    sure = np.tile([0.7, 0.3], (5, 1))
    assert calibration.fit_temperature(sure, np.zeros(5, int), bounds=(0.1, 10)) == (
        pytest.approx(0.1, rel=1e-4))


def test_zero_probabilities_are_clipped_not_infinite():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert np.isfinite(calibration.log_probabilities(probs)).all()
    scaled = calibration.apply_temperature(probs, 3.0)
    assert np.isfinite(scaled).all() and scaled[0, 0] < 1.0


@pytest.mark.parametrize("call, message", [
    (lambda: calibration.apply_temperature(np.ones((2, 2)), 1.0), r"rows must be finite"),
    (lambda: calibration.apply_temperature(np.ones(3) / 3, 1.0), r"got shape \(3,\)"),
    (lambda: calibration.apply_temperature(np.eye(2), 0.0), r"`temperature` must be a finite "
                                                           r"number > 0; got 0\.0"),
    (lambda: calibration.apply_temperature(np.eye(2), True), r"got True"),
    (lambda: calibration.apply_temperature(np.eye(2), np.nan), r"got nan"),
    (lambda: calibration.fit_temperature(np.eye(2), [0, 2]), r"one class index in \[0, 2\)"),
    (lambda: calibration.fit_temperature(np.eye(2), [0.0, 1.0]), r"dtype float64"),
    (lambda: calibration.fit_temperature(np.eye(2), [0, 1], bounds=(2, 1)),
     r"`bounds`=\(2, 1\) must satisfy 0 < low < high"),
    (lambda: calibration.negative_log_likelihood(np.eye(2), [0]), r"got shape \(1,\)"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
