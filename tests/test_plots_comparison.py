"""fossilct.plots.comparison: the figures draw what they are given, on tiny tables."""

import numpy as np
import pandas as pd
import pytest

from fossilct import comparison, predictions
from fossilct.plots import comparison as comparison_plots
from prediction_fixtures import predictions_table


def _board():
    return pd.DataFrame({"model": ["best", "other"], "accuracy": [0.9, 0.7],
                         "accuracy_ci_low": [0.85, 0.6], "accuracy_ci_high": [0.95, 0.8],
                         "macro_f1": [0.88, 0.65], "macro_f1_ci_low": [0.8, np.nan],
                         "macro_f1_ci_high": [0.93, np.nan]})


def test_leaderboard_bars_with_whiskers():
    fig = comparison_plots.plot_leaderboard(_board(), metrics=["accuracy", "macro_f1"])
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [0.9, 0.7, 0.88, 0.65]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["best", "other"]
    whiskers = ax.containers[0].lines[2][0].get_segments()  # the first metric's error bars
    np.testing.assert_allclose([s[:, 1] for s in whiskers], [[0.85, 0.95], [0.6, 0.8]])
    assert ax.get_ylabel() == "test score (95% CI)"
    with pytest.raises(ValueError, match=r"`board` lacks columns \['ece', 'ece_ci_low', "
                                         r"'ece_ci_high'\]"):
        comparison_plots.plot_leaderboard(_board(), metrics=["ece"])


def test_species_heat_map():
    f1 = pd.DataFrame([[0.9, 0.5, 0.1], [0.7, 0.6, 0.3]], index=["m1", "m2"],
                      columns=["a", "b", "c"])
    fig = comparison_plots.plot_species_f1(f1)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), f1.to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["m1", "m2"]
    assert "0.50" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match=r"`f1_table` is empty"):
        comparison_plots.plot_species_f1(pd.DataFrame())


def test_pairwise_matrix_is_antisymmetric_and_marks_significance():
    pairs = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"],
                          "accuracy_difference": [0.1, 0.3, 0.2],
                          "bootstrap_p_holm": [0.2, 0.01, 0.04]})
    fig = comparison_plots.plot_pairwise_significance(pairs, models=["x", "y", "z"])
    matrix = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(matrix[0, 2], 0.3)
    np.testing.assert_allclose(matrix[2, 0], -0.3)
    assert np.ma.is_masked(matrix[1, 1])  # the diagonal stays empty
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "+0.10" in texts and "+0.30*" in texts and "-0.20*" in texts
    with pytest.raises(ValueError, match=r"names models \['z'\] that are not in `models`"):
        comparison_plots.plot_pairwise_significance(pairs, models=["x", "y"])
    with pytest.raises(ValueError, match=r"`pairwise` lacks columns \['bootstrap_p_holm'\]"):
        comparison_plots.plot_pairwise_significance(pairs.drop(columns="bootstrap_p_holm"),
                                                    models=["x", "y", "z"])


def test_comparison_figures():
    tables = {"m1": predictions_table(seed=1, n_specimens=3, splits=("test",)),
              "m2": predictions_table(seed=2, n_specimens=3, splits=("test",))}
    test = predictions.align_predictions(tables, split="test")
    result = comparison.compare_models(test, n_bootstrap=10)
    figures = comparison_plots.comparison_figures(result)
    assert set(figures) == {"leaderboard", "species_f1", "pairwise_significance"}
    labels = [t.get_text() for t in figures["species_f1"].axes[0].get_yticklabels()]
    assert labels == result.leaderboard["model"].tolist()
