"""fossilct.ensemble.voting: log-loss weights and top-k on hand-computed examples."""

import numpy as np
import pytest

from fossilct.ensemble import (NothingToCombineError, apply_temperature, fit_temperature,
                               negative_log_likelihood, voting)

A, B = [0.9, 0.1], [0.1, 0.9]


@pytest.mark.parametrize("n_a, n_b, expected", [
    (3, 1, 0.8125),   # (0.9 * 3 - 0.1 * 1) / (0.8 * 4)
    (1, 1, 0.5),      # symmetric
    (5, 2, (0.9 * 5 - 0.1 * 2) / (0.8 * 7)),
])
def test_weights_solve_the_first_order_condition(n_a, n_b, expected):
    """On n_a slices A gives the true class 0.9 and B 0.1, on n_b the reverse: the mixture's
    loss -n_a log(0.1 + 0.8 w) - n_b log(0.9 - 0.8 w) is minimal at
    w = (0.9 n_a - 0.1 n_b) / (0.8 (n_a + n_b))."""
    members = [[A] * n_a + [B] * n_b, [B] * n_a + [A] * n_b]
    weights = voting.fit_weights(members, np.zeros(n_a + n_b, int))
    np.testing.assert_allclose(weights, [expected, 1 - expected], atol=1e-5)


def test_a_dominated_member_gets_exactly_zero():
    good = [[0.8, 0.2]] * 4
    useless = [[0.5, 0.5]] * 4
    weights = voting.fit_weights([useless, good, useless], np.zeros(4, int))
    assert weights.tolist() == [0.0, 1.0, 0.0]


def test_average_is_the_weighted_sum():
    members = np.array([[[1.0, 0.0], [0.2, 0.8]], [[0.5, 0.5], [0.6, 0.4]]])
    np.testing.assert_allclose(voting.average_probabilities(members, [0.25, 0.75]),
                               [[0.625, 0.375], [0.5, 0.5]])


def test_top_k_ranks_members_and_prefers_fewer_on_ties():
    right, wrong = [0.7, 0.3], [0.25, 0.75]
    members = [[right, right, wrong], [right, wrong, right], [wrong, right, right]]
    top = voting.fit_top_k(members, [0, 0, 0], class_names=["a", "b"], score="accuracy")
    assert top.k == 3 and top.order == (0, 1, 2)
    np.testing.assert_allclose(top.scores_by_k, [2 / 3, 1 / 3, 1.0])
    same = voting.fit_top_k([[right, wrong]] * 3, [0, 0], class_names=["a", "b"],
                            score="accuracy")
    assert same.k == 1 and same.scores_by_k == (0.5, 0.5, 0.5)
    ranked = voting.fit_top_k([[wrong, wrong], [right, wrong], [right, right]], [0, 0],
                              class_names=["a", "b"], score="accuracy")
    assert ranked.order == (2, 1, 0) and ranked.k == 1
    assert ranked.member_scores == (0.0, 0.5, 1.0)


def test_one_member_is_nothing_to_combine():
    with pytest.raises(NothingToCombineError, match=r"soft voting needs at least 2 members; "
                                                   r"got 1"):
        voting.fit_weights([[A]], [0])
    with pytest.raises(NothingToCombineError, match=r"top-k voting needs at least 2 members"):
        voting.fit_top_k([[A]], [0], class_names=["a", "b"])
    assert issubclass(NothingToCombineError, ValueError)


@pytest.mark.parametrize("call, message", [
    (lambda: voting.average_probabilities([[A]], [0.5]), r"`weights` must be 1 non-negative "
                                                         r"numbers summing to 1; got \[0\.5\]"),
    (lambda: voting.average_probabilities([[A], [B]], [1.5, -0.5]), r"got \[1\.5, -0\.5\]"),
    (lambda: voting.average_probabilities([A, B], [0.5, 0.5]), r"\(n_members, n_slices, "
                                                               r"n_classes\); got shape \(2, 2\)"),
    (lambda: voting.fit_weights([[A], [[0.7, 0.7]]], [0]), r"rows must be finite"),
    (lambda: voting.fit_weights([[A], [B]], [2]), r"one class index in \[0, 2\) per slice"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _pooled_loss(members, y, weights, temperature):
    pooled = apply_temperature(voting.average_probabilities(members, weights), temperature)
    return negative_log_likelihood(pooled, y)


def test_joint_fit_matches_a_brute_force_search():
    """Two members: every weight on a 0.001 grid, each with its own best temperature; the
    joint optimum is no worse than the best grid point, and sits next to it."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    logits = rng.normal(size=(2, 200, 3))
    logits[0, np.arange(200), y] += 1.2
    logits[1, np.arange(200), y] += 0.8
    members = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    grid = np.linspace(0, 1, 1001)
    losses = []
    for w in grid:
        pool = voting.average_probabilities(members, [w, 1 - w])
        losses.append(_pooled_loss(members, y, [w, 1 - w], fit_temperature(pool, y)))
    weights, temperature = voting.fit_weights_and_temperature(members, y)
    assert _pooled_loss(members, y, weights, temperature) <= min(losses) + 1e-9
    assert abs(weights[0] - grid[int(np.argmin(losses))]) <= 2e-3


def test_joint_fit_averages_independent_members_that_the_linear_pool_drops():
    """Seven members with independent errors: the linear pool's log loss prefers the best
    member, the pool with a temperature prefers averaging and reaches a far lower loss."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 600)
    logits = rng.normal(size=(7, 600, 4))
    logits[:, np.arange(600), y] += np.linspace(1.0, 2.8, 7)[:, None]
    members = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    linear = voting.fit_weights(members, y)
    weights, temperature = voting.fit_weights_and_temperature(members, y)
    assert (weights > 0).sum() > (linear > 0).sum()
    assert temperature < 1
    best_linear = _pooled_loss(members, y, linear,
                               fit_temperature(voting.average_probabilities(members, linear), y))
    assert _pooled_loss(members, y, weights, temperature) < 0.8 * best_linear
    with pytest.raises(NothingToCombineError, match=r"at least 2 members"):
        voting.fit_weights_and_temperature(members[:1], y)
