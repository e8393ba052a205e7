"""fossilct.ensemble.outputs: test evaluation of fitted ensembles, report, output folder."""

import json

import numpy as np
import pandas as pd
import pytest

from fossilct import metrics, predictions
from fossilct.ensemble import (EnsembleSpec, apply_ensemble, ensemble_report_markdown,
                               evaluate_ensembles, evaluate_members, fit_ensembles,
                               save_ensemble_outputs)
from fossilct.ensemble import outputs
from prediction_fixtures import write_tables


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    paths = write_tables(tmp_path_factory.mktemp("eval"), {
        "m1": dict(seed=1, skill=2.0, weak="a", sharpness=2.0),
        "m2": dict(seed=2, skill=1.5), "m3": dict(seed=3, skill=0.8, sharpness=0.5)})
    return predictions.read_aligned(paths)


@pytest.fixture(scope="module")
def fitted(splits):
    selection = fit_ensembles(splits["val"], target_accuracy=0.9)
    results = evaluate_ensembles(selection, splits, n_bootstrap=40, rng=0)
    members = evaluate_members(selection, splits["test"], n_bootstrap=40, rng=0)
    return selection, results, members


def test_results_apply_the_spec_to_both_splits(splits, fitted):
    selection, results, _ = fitted
    assert list(results) == list(selection.specs)
    for result in results.values():
        table = result.predictions
        assert table["split"].value_counts().to_dict() == {"val": 120, "test": 120}
        for split in ("val", "test"):
            rows = table[table["split"] == split]
            np.testing.assert_allclose(rows[["prob_a", "prob_b", "prob_c", "prob_d"]],
                                       apply_ensemble(result.spec, splits[split].by_model()))
        test = splits["test"]
        probs = apply_ensemble(result.spec, test.by_model())
        direct = metrics.evaluate_predictions(test.y_true, probs, specimen_ids=test.specimen_ids,
                                              class_names=list(test.class_names),
                                              n_bootstrap=40, rng=0)
        assert result.evaluation.metrics == direct
        accepted = probs.max(axis=1) >= result.spec.abstention_threshold
        assert result.abstention["n_accepted"] == accepted.sum()
        assert set(result.coverage["split"]) == {"val", "test"}
        assert result.specimens["n_slices"] == 24  # specimens
        assert np.isfinite(result.uncalibrated["ece"])


def test_members_are_reported_raw_and_calibrated(splits, fitted):
    members = fitted[2]
    assert list(members) == ["m1", "m2", "m3"]
    m1 = members["m1"]
    assert m1.metrics["accuracy"]["value"] == pytest.approx(
        (splits["test"].member("m1").argmax(axis=1) == splits["test"].y_true).mean())
    # m1 is over-confident (logits doubled): its validation temperature lowers test ECE
    assert m1.calibrated["ece"] < m1.metrics["ece"]["value"]


def test_report_is_generated_from_the_numbers(fitted):
    selection, results, members = fitted
    report = ensemble_report_markdown(selection, results, members=members)
    chosen = results[selection.chosen].evaluation.metrics
    assert report.startswith("# Ensemble\n")
    assert f"## Chosen: {selection.chosen}" in report
    assert f"{chosen['accuracy']['value']:.4f} ({chosen['accuracy']['ci95'][0]:.4f}–" in report
    assert f"| {selection.chosen} **(chosen)** |" in report
    assert "| m2 (member, without T) |" in report
    assert f"\n## {selection.chosen} on test\n" in report and "\n### Per species\n" in report
    for note in selection.notes:
        assert f"Note: {note}" in report
    with pytest.raises(ValueError, match=r"`results` lacks the chosen ensemble"):
        ensemble_report_markdown(selection, {}, members=members)


def test_folder_is_written_and_checked(fitted, tmp_path):
    selection, results, members = fitted
    report = ensemble_report_markdown(selection, results, members=members)
    paths = save_ensemble_outputs(tmp_path / "ensemble", selection, results, report=report)
    chosen = results[selection.chosen]
    table = pd.read_csv(paths["predictions.csv"])
    assert table.shape == chosen.predictions.shape
    assert json.loads(paths["metrics.json"].read_text()) == json.loads(
        json.dumps(chosen.evaluation.metrics))
    record = json.loads(paths["ensemble.json"].read_text())
    assert record["chosen"] == selection.chosen
    assert EnsembleSpec.from_dict(record["specs"][selection.chosen]) == selection.chosen_spec
    for name in selection.specs:
        assert (tmp_path / "ensemble" / "candidates" / name / "predictions.csv").is_file()
    assert paths["report.md"].read_text() == report
    with pytest.raises(ValueError, match=r"`results` lacks ensembles \['switching'\]"):
        save_ensemble_outputs(tmp_path / "other", selection,
                              {k: v for k, v in results.items() if k != "switching"},
                              report=report)


def test_the_check_catches_a_bad_file(fitted, tmp_path):
    selection, results, _ = fitted
    paths = save_ensemble_outputs(tmp_path, selection, results, report="r")
    chosen = results[selection.chosen]
    chosen.predictions.iloc[:5].to_csv(paths["predictions.csv"], index=False)
    with pytest.raises(ValueError, match=r"predictions\.csv was not written as intended: shape "
                                         r"\(5, 9\) instead of \(240, 9\)"):
        outputs._check_written(paths, chosen, selection)


def test_splits_must_agree(splits, fitted):
    selection = fitted[0]
    with pytest.raises(TypeError, match=r"`rng` must be an int seed .* got Generator"):
        evaluate_ensembles(selection, splits, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"`splits` lacks \['test'\]"):
        evaluate_ensembles(selection, {"val": splits["val"]})
    other = predictions.align_predictions(
        {"m1": predictions.table_from_probabilities(splits["val"], splits["val"].member("m1"))},
        split="val")
    with pytest.raises(ValueError, match=r"validation and test tables differ: models \['m1'\] / "
                                         r"\['m1', 'm2', 'm3'\]"):
        evaluate_ensembles(selection, {"val": other, "test": splits["test"]})
    with pytest.raises(ValueError, match=r"members \['m2', 'm3'\] of the test tables were not "
                                         r"fitted on validation \(fitted: \['m1'\]\)"):
        evaluate_members(fit_ensembles(other), splits["test"])
