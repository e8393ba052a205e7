"""fossilct.ensemble.fit: every kind fitted on validation, the choice, and the single-member
case."""

import json

import numpy as np
import pytest

from fossilct import predictions
from fossilct.ensemble import (EnsembleSpec, apply_ensemble, apply_temperature, fit_ensembles,
                               fit_temperature, fit_weights_and_temperature, validation_score)
from prediction_fixtures import predictions_table


@pytest.fixture(scope="module")
def splits():
    tables = {"m1": predictions_table(seed=1, skill=2.0, weak="a", sharpness=2.0),
              "m2": predictions_table(seed=2, skill=1.5),
              "m3": predictions_table(seed=3, skill=0.8, sharpness=0.5)}
    return {s: predictions.align_predictions(tables, split=s) for s in ("val", "test")}


@pytest.fixture(scope="module")
def selection(splits):
    return fit_ensembles(splits["val"], target_accuracy=0.9)


def test_every_kind_is_fitted_on_validation(splits, selection):
    val = splits["val"]
    assert list(selection.specs) == ["soft_voting", "top_k", "switching"]
    for name, p in val.by_model().items():
        assert selection.temperatures[name] == pytest.approx(fit_temperature(p, val.y_true))
    voting = selection.specs["soft_voting"]
    calibrated = np.stack([apply_temperature(val.member(m), selection.temperatures[m])
                           for m in val.models])
    weights, temperature = fit_weights_and_temperature(calibrated, val.y_true)
    np.testing.assert_allclose(voting.weights, weights)
    assert voting.ensemble_temperature == pytest.approx(temperature)
    probs = {name: apply_ensemble(spec, val.by_model())
             for name, spec in selection.specs.items()}
    for name, spec in selection.specs.items():
        # the ensemble temperature is the validation optimum of the combination
        unscaled = apply_ensemble(EnsembleSpec.from_dict({**spec.to_dict(),
                                                          "ensemble_temperature": 1.0}),
                                  val.by_model())
        assert spec.ensemble_temperature == pytest.approx(
            fit_temperature(unscaled, val.y_true), rel=1e-5)
        assert spec.validation["score"] == pytest.approx(
            validation_score(val.y_true, probs[name], class_names=val.class_names))
        assert spec.target_accuracy == 0.9
        accepted = probs[name].max(axis=1) >= spec.abstention_threshold
        accuracy = (probs[name].argmax(axis=1) == val.y_true)[accepted].mean()
        assert accuracy >= 0.9 and spec.validation["abstention_accuracy"] == pytest.approx(
            accuracy)
    best = max(selection.specs, key=lambda n: selection.specs[n].validation["score"])
    assert selection.chosen == best and selection.chosen_spec is selection.specs[best]


def test_switching_uses_the_best_member_as_general(splits, selection):
    spec = selection.specs["switching"]
    scores = {m: validation_score(splits["val"].y_true, p, class_names=splits["val"].class_names)
              for m, p in splits["val"].by_model().items()}
    assert spec.members[0] == max(scores, key=scores.get)
    assert spec.validation["switching_gain"] > 0
    # the ensemble temperature never changes a top class, so the score is the rule's
    assert spec.validation["score"] == pytest.approx(spec.validation["general_score"]
                                                     + spec.validation["switching_gain"])
    gains = spec.validation["gain_by_specialist"]
    assert spec.members[1] == max(gains, key=gains.get)


def test_validation_table_lists_members_and_candidates(selection):
    table = selection.validation
    assert table["kind"].tolist() == ["raw", "calibrated"] * 3 + ["soft_voting", "top_k",
                                                                    "switching"]
    assert table.loc[table["kind"] == "raw", "name"].tolist() == ["m1", "m2", "m3"]
    raw, calibrated = table.iloc[0], table.iloc[1]
    assert raw["accuracy"] == calibrated["accuracy"]  # scaling never changes the top class
    assert calibrated["log_loss"] <= raw["log_loss"]
    record = json.loads(json.dumps(selection.to_dict()))
    assert record["chosen"] == selection.chosen and set(record["specs"]) == set(selection.specs)


def test_the_test_split_is_refused(splits):
    with pytest.raises(ValueError, match=r"fitted on the validation split; got the 'test' split"):
        fit_ensembles(splits["test"])
    with pytest.raises(ValueError, match=r"`score`='auc'; choose 'macro_f1' or 'accuracy'"):
        fit_ensembles(splits["val"], score="auc")


def test_single_member_is_a_note_not_a_crash():
    table = predictions_table(seed=1, sharpness=2.0)
    val = predictions.align_predictions({"only": table}, split="val")
    selection = fit_ensembles(val)
    assert list(selection.specs) == ["single_member"]
    spec = selection.chosen_spec
    assert spec.kind == "member" and spec.members == ("only",)
    assert spec.temperatures == (pytest.approx(fit_temperature(val.member("only"), val.y_true)),)
    assert spec.ensemble_temperature == 1.0
    assert any("Only one member (only): nothing to combine" in note for note in selection.notes)


def test_identical_members_give_no_switching_and_say_so():
    table = predictions_table(seed=1)
    val = predictions.align_predictions({"x": table, "y": table}, split="val")
    selection = fit_ensembles(val)
    assert "switching" not in selection.specs
    assert any("Confidence switching gains nothing" in note for note in selection.notes)
    assert selection.specs["top_k"].k == 1


def test_unreachable_abstention_target_is_a_note():
    """The most confident slice is wrong, and so is every threshold's accepted set."""
    probs = np.array([[[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]]])
    val = predictions.AlignedPredictions(
        split="val", models=("m",), class_names=("a", "b"),
        slice_ids=np.array(["s0", "s1", "s2", "s3"]), specimen_ids=np.array(["p", "q", "r", "t"]),
        y_true=np.array([1, 0, 1, 0]), probs=probs, sources=("m",))
    selection = fit_ensembles(val, target_accuracy=0.9)
    assert selection.chosen_spec.abstention_threshold is None
    assert any("single_member: no confidence threshold reaches the target accuracy 0.9 on "
               "validation (best accepted accuracy 0.500 at coverage 1.000)" in note
               for note in selection.notes)
