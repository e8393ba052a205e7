"""fossilct.ensemble.switching: the rule, the specialist's species, the threshold and the
choice of general model and specialist, all on validation."""

import numpy as np
import pytest

from fossilct.ensemble import NothingToCombineError, switching

CLASSES = ["a", "b", "c"]


def test_rule_switches_only_unsure_predictions_of_the_specialists_species():
    general = np.array([[0.5, 0.3, 0.2],    # predicts a, unsure -> switch
                        [0.9, 0.05, 0.05],  # predicts a, sure -> keep
                        [0.2, 0.5, 0.3],    # predicts b (not the specialist's) -> keep
                        [0.3, 0.3, 0.4]])   # predicts c, unsure -> switch
    specialist = np.full((4, 3), 1 / 3)
    out = switching.switch_probabilities(general, specialist, species_mask=[True, False, True],
                                         threshold=0.6)
    switched = (out == specialist).all(axis=1)
    assert switched.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(out[~switched], general[~switched])
    never = switching.switch_probabilities(general, specialist, species_mask=[True, True, True],
                                           threshold=0.0)
    np.testing.assert_array_equal(never, general)


def test_specialist_species_compare_f1_per_species():
    y = [0, 0, 1, 1, 2, 2]
    general = np.eye(3)[[0, 1, 1, 1, 2, 2]]     # F1: a 0.667, b 0.8, c 1
    specialist = np.eye(3)[[0, 0, 1, 2, 2, 2]]  # F1: a 1, b 0.667, c 0.8
    assert switching.specialist_species(general, specialist, y,
                                        class_names=CLASSES).tolist() == [True, False, False]


def _slices():
    """Seven slices; G predicts a wrongly on two b slices (top probability 0.55 and 0.65) and
    rightly on two a slices (0.62 and 0.9), and is sure and right on three c slices."""
    y = np.array([1, 1, 0, 0, 2, 2, 2])
    general = np.array([[0.55, 0.45, 0.0], [0.65, 0.35, 0.0], [0.62, 0.38, 0.0],
                        [0.9, 0.1, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    return general, y


def _onehot(labels):
    return np.eye(3)[labels] * 0.8 + 0.2 / 3


def test_threshold_is_the_smallest_with_the_best_validation_score():
    general, y = _slices()
    perfect = _onehot(y)  # F1 1 everywhere: beats G on a (0.667) and b (0), ties on c
    rule = switching.fit_switching(general, perfect, y, class_names=CLASSES,
                                   thresholds=[0.5, 0.6, 0.63, 0.66, 0.7, 0.95],
                                   score="accuracy")
    # 0.6 and 0.63 switch the 0.55 slice only; 0.66, 0.7 and 0.95 also the 0.65 one (and the
    # right 0.62 one, which S keeps right): all reach 7/7, the smallest is taken
    assert rule.species == ("a", "b")
    assert rule.threshold == 0.66
    assert rule.score == 1.0 and rule.baseline == pytest.approx(5 / 7)
    assert rule.n_switched == 3 and rule.gain == pytest.approx(2 / 7)


def test_no_gain_means_never_switch():
    general, y = _slices()
    rule = switching.fit_switching(general, general.copy(), y, class_names=CLASSES)
    assert rule.species == () and rule.threshold == 0.0
    assert rule.n_switched == 0 and rule.gain == 0.0


def test_general_is_the_best_member_and_specialist_the_best_gain():
    """S is worse than G overall (it calls every c slice b: accuracy 4/7 against 5/7) but
    better on a; switching to it on G's unsure a predictions fixes both of G's errors."""
    general, y = _slices()
    members = {"useless": np.full((7, 3), 1 / 3), "g": general,
               "s": _onehot([1, 1, 0, 0, 1, 1, 1])}
    choice = switching.choose_general_and_specialist(members, y, class_names=CLASSES,
                                                     score="accuracy")
    assert choice.member_scores == pytest.approx({"useless": 2 / 7, "g": 5 / 7, "s": 4 / 7})
    assert choice.general == "g"
    assert set(choice.candidates) == {"useless", "s"}
    assert choice.candidates["useless"].gain == 0.0
    assert choice.specialist == "s" and choice.rule is choice.candidates["s"]
    assert choice.rule.species == ("a", "b") and choice.rule.gain == pytest.approx(2 / 7)


def test_nothing_improves_a_perfect_general_model():
    general, y = _slices()
    choice = switching.choose_general_and_specialist(
        {"g": general, "perfect": _onehot(y)}, y, class_names=CLASSES, score="accuracy")
    assert choice.general == "perfect"
    assert choice.specialist is None and choice.rule is None


def test_errors():
    with pytest.raises(NothingToCombineError, match=r"at least one candidate specialist; got "
                                                   r"\['g'\]"):
        switching.choose_general_and_specialist({"g": np.eye(3)}, [0, 1, 2], class_names=CLASSES)
    with pytest.raises(ValueError, match=r"`thresholds` must be a 1-D sequence in \[0, 1\]; got "
                                         r"\[0\.5, 1\.5\]"):
        switching.fit_switching(np.eye(3), np.eye(3), [0, 1, 2], class_names=CLASSES,
                                thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match=r"arrays of one shape; got \(3, 3\) and \(2, 3\)"):
        switching.switch_probabilities(np.eye(3), np.eye(3)[:2], species_mask=[True] * 3,
                                       threshold=0.5)
    with pytest.raises(ValueError, match=r"`species_mask` must have one entry per class \(3\); "
                                         r"got shape \(2,\)"):
        switching.switch_probabilities(np.eye(3), np.eye(3), species_mask=[True, False],
                                       threshold=0.5)
    with pytest.raises(ValueError, match=r"`score`='auc'"):
        switching.fit_switching(np.eye(3), np.eye(3), [0, 1, 2], class_names=CLASSES,
                                score="auc")
