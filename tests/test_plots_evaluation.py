import numpy as np
import pandas as pd
import pytest

from fossilct import metrics
from fossilct.plots import evaluation as evaluation_plots

NAMES = ["a", "b", "c"]
Y = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1],
                  [0.1, 0.2, 0.7], [0.1, 0.1, 0.8]])


def test_confusion_matrices_show_counts_and_row_fractions():
    counts, normalised = metrics.confusion_matrices(Y, PROBS, class_names=NAMES)
    fig = evaluation_plots.plot_confusion_matrices(counts, normalised)
    left, right = fig.axes[:2]  # then the two colour bars
    np.testing.assert_array_equal(left.images[0].get_array(), counts.to_numpy())
    np.testing.assert_allclose(right.images[0].get_array(), normalised.to_numpy())
    assert [t.get_text() for t in left.get_yticklabels()] == NAMES
    assert "0.50" in [t.get_text() for t in right.texts]
    with pytest.raises(ValueError, match=r"must be square and of equal shape"):
        evaluation_plots.plot_confusion_matrices(counts.iloc[:2], normalised)


def test_per_species_bars():
    table = metrics.per_species_report(Y, PROBS, class_names=NAMES)
    fig = evaluation_plots.plot_per_species(table)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, np.concatenate([table["precision"], table["recall"],
                                                        table["f1"]]))
    with pytest.raises(ValueError, match=r"`per_species` lacks columns \['f1'\]"):
        evaluation_plots.plot_per_species(table.drop(columns="f1"))


def test_reliability_diagram():
    table = metrics.reliability_table(Y, PROBS, n_bins=5)
    fig = evaluation_plots.plot_reliability(table, ece=0.123)
    assert "ECE 0.123" in fig.axes[0].get_title()
    assert sum(p.get_height() for p in fig.axes[1].patches) == len(Y)
    with pytest.raises(ValueError, match=r"`reliability` lacks columns \['accuracy'\]"):
        evaluation_plots.plot_reliability(table.drop(columns="accuracy"))


def test_roc_curves_one_line_per_class():
    curves = metrics.roc_curves(Y, PROBS, class_names=NAMES)
    fig = evaluation_plots.plot_roc_curves(curves, per_class_auc={"a": 1.0})
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:3] == ["a (1.000)", "b", "c"]
    with pytest.raises(ValueError, match=r"`roc` is empty"):
        evaluation_plots.plot_roc_curves({})


def test_evaluation_figures_skip_roc_without_curves():
    from fossilct import evaluation

    y = np.array([0, 0])
    probs = np.array([[0.9, 0.1], [0.4, 0.6]])
    table = pd.DataFrame({"slice_id": ["s1", "s2"], "specimen_id": ["a", "b"],
                          "species": ["x", "x"], "prob_x": probs[:, 0], "prob_y": probs[:, 1]})
    summary = evaluation.summarise_predictions(table, class_names=["x", "y"], n_bootstrap=10)
    assert sorted(evaluation_plots.evaluation_figures(summary)) == [
        "confusion_matrix", "per_species", "reliability"]
    assert y.size == 2
