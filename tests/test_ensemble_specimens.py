"""fossilct.ensemble.specimens: mean log-probability per specimen."""

import numpy as np
import pytest

from fossilct import metrics
from fossilct.ensemble import specimens


def test_mean_log_probability_differs_from_the_mean_probability():
    """Two slices say [0.8, 0.2], one is sure of the other class [0.01, 0.99]: the mean
    probability (0.537 vs 0.463) picks the first class, the mean log-probability
    (2 log 0.8 + log 0.01 = -5.05 vs 2 log 0.2 + log 0.99 = -3.23) the second."""
    probs = np.array([[0.8, 0.2], [0.8, 0.2], [0.01, 0.99]])
    table = specimens.specimen_table(probs, ["s", "s", "s"], [1, 1, 1], class_names=["a", "b"])
    assert table["predicted"].tolist() == ["b"] and table["correct"].tolist() == [True]
    expected = np.exp(np.array([-5.0515, -3.2289]) / 3)  # means of the three slices
    np.testing.assert_allclose(table[["prob_a", "prob_b"]].to_numpy()[0],
                               expected / expected.sum(), rtol=1e-3)
    by_mean = metrics.evaluate_predictions([1, 1, 1], probs, specimen_ids=["s"] * 3,
                                           class_names=["a", "b"], n_bootstrap=0)
    assert by_mean["specimen_accuracy"]["value"] == 0.0


def test_aggregation_orders_specimens_and_counts_slices():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    names, p, y, n = specimens.aggregate_by_specimen(probs, ["z", "b", "b", "z"], [0, 1, 1, 0])
    assert names.tolist() == ["b", "z"] and y.tolist() == [1, 0] and n.tolist() == [2, 2]
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    single = specimens.aggregate_by_specimen(probs[:1], ["z"], [0])[1]
    np.testing.assert_allclose(single, probs[:1])


def test_evaluation_is_the_accuracy_over_specimens():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=60)
    ids = np.repeat([f"s{i}" for i in range(12)], 5)
    y = np.repeat(np.arange(12) % 3, 5)
    result = specimens.specimen_evaluation(probs, ids, y, class_names="abc", n_bootstrap=30)
    table = specimens.specimen_table(probs, ids, y, class_names="abc")
    assert result["accuracy"]["value"] == pytest.approx(table["correct"].mean())
    assert result["n_slices"] == 12 and result["accuracy"]["ci95"] is not None


def test_errors():
    with pytest.raises(ValueError, match=r"specimen\(s\) \['s'\] have slices of different "
                                         r"species"):
        specimens.aggregate_by_specimen(np.eye(2), ["s", "s"], [0, 1])
    with pytest.raises(ValueError, match=r"must match; got shapes \(2, 2\), \(1,\), \(2,\)"):
        specimens.aggregate_by_specimen(np.eye(2), ["s"], [0, 1])
