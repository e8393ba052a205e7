"""fossilct.plots.ensemble: the figures draw what they are given, on tiny tables."""

import numpy as np
import pandas as pd
import pytest

from fossilct import metrics, predictions
from fossilct.ensemble import (EnsembleSpec, coverage_accuracy_curve, evaluate_ensembles,
                               fit_ensembles)
from fossilct.plots import ensemble as ensemble_plots
from prediction_fixtures import predictions_table

Y = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1],
                  [0.1, 0.2, 0.7], [0.1, 0.1, 0.8]])


def test_weights_bars_and_temperature_labels():
    spec = EnsembleSpec(name="sv", kind="soft_voting", class_names=("a", "b", "c"),
                        members=("m1", "m2", "m3"), temperatures=(1.5, 0.8, 1.0),
                        weights=(0.6, 0.4, 0.0))
    fig = ensemble_plots.plot_ensemble_weights(spec)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [0.6, 0.4, 0.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["m1", "m2", "m3"]
    assert [t.get_text() for t in ax.texts] == ["T=1.5", "T=0.8", "T=1"]
    assert ax.get_ylabel() == "weight"
    switching = EnsembleSpec(name="sw", kind="switching", class_names=("a", "b", "c"),
                             members=("m1", "m2"), temperatures=(1.0, 1.0),
                             switch_species=("a",), switch_threshold=0.5)
    with pytest.raises(ValueError, match=r"ensemble 'sw' of kind 'switching' has no weights"):
        ensemble_plots.plot_ensemble_weights(switching)


def test_coverage_curve_marks_the_threshold_per_split():
    curves = pd.concat([coverage_accuracy_curve(PROBS, Y).assign(split="val"),
                        coverage_accuracy_curve(PROBS[::-1], Y).assign(split="test")])
    fig = ensemble_plots.plot_coverage_accuracy(curves, threshold=0.7, target_accuracy=0.95)
    ax = fig.axes[0]
    markers = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(markers) == 2
    val = curves[(curves["split"] == "val") & (curves["threshold"] >= 0.7)].iloc[0]
    np.testing.assert_allclose(markers[0].get_xydata(), [[val["coverage"], val["accuracy"]]])
    assert ax.get_xlabel().startswith("coverage") and "0.700" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["val", "test", "target 0.95"]
    none = ensemble_plots.plot_coverage_accuracy(curves, threshold=None)
    assert "no threshold" in none.axes[0].get_title()
    with pytest.raises(ValueError, match=r"`curves` lacks columns \['split'\]"):
        ensemble_plots.plot_coverage_accuracy(curves.drop(columns="split"), threshold=0.5)


def test_reliability_before_and_after():
    before = metrics.reliability_table(Y, PROBS, n_bins=5)
    after = metrics.reliability_table(Y, np.full_like(PROBS, 1 / 3), n_bins=5)
    fig = ensemble_plots.plot_reliability_before_after(before, after, ece_before=0.2,
                                                       ece_after=0.05)
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title() == "without temperature (ECE 0.200)"
    assert fig.axes[1].get_title() == "with temperature (ECE 0.050)"
    assert sum(p.get_height() for p in fig.axes[2].patches) == len(Y)
    with pytest.raises(ValueError, match=r"`reliability` lacks columns \['count'\]"):
        ensemble_plots.plot_reliability_before_after(before.drop(columns="count"), after)


def test_ensemble_figures_of_a_fit():
    tables = {"m1": predictions_table(seed=1, n_specimens=3),
              "m2": predictions_table(seed=2, n_specimens=3)}
    splits = {s: predictions.align_predictions(tables, split=s) for s in ("val", "test")}
    selection = fit_ensembles(splits["val"])
    results = evaluate_ensembles(selection, splits, n_bootstrap=10)
    figures = ensemble_plots.ensemble_figures(selection, results)
    assert set(figures) == {"weights", "coverage_accuracy", "reliability"}
    single = fit_ensembles(predictions.align_predictions({"m1": tables["m1"]}, split="val"))
    single_results = evaluate_ensembles(
        single, {s: predictions.align_predictions({"m1": tables["m1"]}, split=s)
                 for s in ("val", "test")}, n_bootstrap=10)
    assert set(ensemble_plots.ensemble_figures(single, single_results)) == {
        "coverage_accuracy", "reliability"}
