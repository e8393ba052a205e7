"""fossilct.ensemble.spec: the fitted record, its JSON form and its application."""

import json

import numpy as np
import pytest

from fossilct.ensemble import EnsembleSpec, apply_ensemble, apply_temperature

CLASSES = ("a", "b", "c")
P1 = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
P2 = np.array([[0.1, 0.3, 0.6], [0.3, 0.3, 0.4]])


def _voting(**changes):
    values = dict(name="sv", kind="soft_voting", class_names=CLASSES, members=("m1", "m2"),
                  temperatures=(1.0, 1.0), weights=(0.25, 0.75))
    values.update(changes)
    return EnsembleSpec(**values)


def _switching(**changes):
    values = dict(name="sw", kind="switching", class_names=CLASSES, members=("m1", "m2"),
                  temperatures=(1.0, 1.0), switch_species=("b",), switch_threshold=0.6)
    values.update(changes)
    return EnsembleSpec(**values)


def test_soft_voting_by_hand():
    out = apply_ensemble(_voting(), {"m1": P1, "m2": P2})
    np.testing.assert_allclose(out, 0.25 * P1 + 0.75 * P2)


def test_temperatures_scale_members_then_the_combination():
    spec = _voting(temperatures=(2.0, 0.5), ensemble_temperature=1.5)
    expected = apply_temperature(0.25 * apply_temperature(P1, 2.0)
                                 + 0.75 * apply_temperature(P2, 0.5), 1.5)
    np.testing.assert_allclose(apply_ensemble(spec, {"m1": P1, "m2": P2}), expected)


def test_switching_by_hand():
    """m1 predicts a (0.7, kept) on the first slice and b at 0.5 < 0.6 on the second
    (switched to m2)."""
    out = apply_ensemble(_switching(), {"m1": P1, "m2": P2})
    np.testing.assert_allclose(out, [P1[0], P2[1]])


def test_zero_weight_members_are_not_needed():
    spec = _voting(members=("m1", "m2", "m3"), temperatures=(1.0, 1.0, 3.0),
                   weights=(0.5, 0.5, 0.0))
    assert spec.used_members == ("m1", "m2")
    np.testing.assert_allclose(apply_ensemble(spec, {"m1": P1, "m2": P2}), (P1 + P2) / 2)
    top = EnsembleSpec(name="top", kind="top_k", class_names=CLASSES, members=("m2",),
                       temperatures=(1.0,), weights=(1.0,), k=1)
    np.testing.assert_allclose(apply_ensemble(top, {"m1": P1, "m2": P2}), P2)


def test_json_round_trip():
    for spec in (_voting(validation={"score": 0.5, "scores_by_k": [0.1, 0.2]},
                         abstention_threshold=0.7, target_accuracy=0.95),
                 _switching(ensemble_temperature=0.8)):
        text = json.dumps(spec.to_dict())
        assert EnsembleSpec.from_dict(json.loads(text)) == spec


def test_from_dict_names_unknown_and_missing_keys():
    data = _voting().to_dict()
    data["colour"] = "red"
    del data["members"]
    with pytest.raises(ValueError, match=r"run/ensemble\.json: an ensemble entry has unknown "
                                         r"keys \['colour'\] and lacks \['members'\]"):
        EnsembleSpec.from_dict(data, source="run/ensemble.json")


@pytest.mark.parametrize("build, message", [
    (lambda: _voting(kind="stacking"), r"`kind`='stacking'; choose one of"),
    (lambda: _voting(class_names=("a", "a")), r"`class_names` must be >= 2 distinct names"),
    (lambda: _voting(members=("m1", "m1")), r"`members` must be distinct names"),
    (lambda: _voting(temperatures=(1.0,)), r"1 `temperatures` for 2 members"),
    (lambda: _voting(temperatures=(1.0, 0.0)), r"`temperature` must be a finite number > 0; "
                                               r"got 0\.0"),
    (lambda: _voting(ensemble_temperature=-1.0), r"got -1\.0"),
    (lambda: _voting(weights=(0.5, 0.6)), r"`weights` must be 2 non-negative numbers summing "
                                          r"to 1; got \(0\.5, 0\.6\)"),
    (lambda: _voting(weights=None), r"got None"),
    (lambda: _voting(kind="top_k", k=3, weights=(0.5, 0.5)), r"top-k averages its k=3 members"),
    (lambda: _voting(kind="top_k", k=2), r"with equal weights"),
    (lambda: _voting(kind="member"), r"kind 'member' takes 1 member\(s\)"),
    (lambda: _switching(members=("m1", "m2", "m3"), temperatures=(1.0,) * 3),
     r"kind 'switching' takes 2 member\(s\)"),
    (lambda: _switching(switch_species=("z",)), r"`switch_species` \['z'\] are not in "
                                                r"`class_names`"),
    (lambda: _switching(switch_threshold=None), r"`switch_threshold`=None must lie in \[0, 1\]"),
    (lambda: _voting(abstention_threshold=1.5), r"`abstention_threshold`=1\.5 must lie in "
                                                r"\[0, 1\] or be None"),
])
def test_inconsistent_fields(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_apply_errors():
    with pytest.raises(ValueError, match=r"ensemble 'sv' needs the probabilities of \['m2'\]; "
                                         r"got \['m1'\]"):
        apply_ensemble(_voting(), {"m1": P1})
    with pytest.raises(ValueError, match=r"must share one \(N, 3\) shape"):
        apply_ensemble(_voting(), {"m1": P1, "m2": P2[:1]})
    with pytest.raises(ValueError, match=r"must share one \(N, 3\) shape"):
        apply_ensemble(_voting(), {"m1": P1[:, :2], "m2": P2[:, :2]})
