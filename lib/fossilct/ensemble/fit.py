"""Fit every ensemble kind on the validation split and choose one, without touching test.

:func:`fit_ensembles` temperature-scales each member, fits weighted soft voting (weights and
ensemble temperature jointly on the validation log loss), top-k voting and confidence
switching, temperature-scales each combination, chooses each one's abstention
threshold, and names the candidate with the best validation score as the ensemble. With a
single member there is nothing to combine: the result holds that member, temperature-scaled,
and a note saying so (the notebook prints notes as they are).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from fossilct import metrics
from fossilct.ensemble.abstention import DEFAULT_TARGET_ACCURACY, choose_abstention_threshold
from fossilct.ensemble.calibration import apply_temperature, fit_temperature
from fossilct.ensemble.scores import validation_score
from fossilct.ensemble.spec import EnsembleSpec, apply_ensemble
from fossilct.ensemble.switching import DEFAULT_THRESHOLDS, choose_general_and_specialist
from fossilct.ensemble.voting import fit_top_k, fit_weights_and_temperature
from fossilct.predictions import AlignedPredictions

__all__ = ["VALIDATION_COLUMNS", "EnsembleSelection", "fit_ensembles"]

VALIDATION_COLUMNS = ("accuracy", "macro_f1", "log_loss", "ece")
"""Metrics of the validation table (point values, no intervals)."""


@dataclass(frozen=True)
class EnsembleSelection:
    """The ensembles fitted on validation and the one chosen.

    Attributes
    ----------
    specs : dict of str to EnsembleSpec
        Candidates in fitting order (``soft_voting``, ``top_k``, ``switching``; a single
        ``member`` when there is nothing to combine).
    chosen : str
        Candidate with the best validation score (first among ties).
    score : str
        The score that chose (``"macro_f1"`` or ``"accuracy"``).
    temperatures : dict of str to float
        Validation temperature of every member (also those no ensemble uses).
    validation : DataFrame
        One row per member (``raw`` and ``calibrated``) and per candidate: ``name``, ``kind``,
        and the ``VALIDATION_COLUMNS`` on the validation split.
    notes : tuple of str
        What the reader must know (nothing to combine, a rule that gains nothing, ...).
    """

    specs: dict
    chosen: str
    score: str
    temperatures: dict
    validation: pd.DataFrame
    notes: tuple[str, ...]

    @property
    def chosen_spec(self) -> EnsembleSpec:
        """The chosen candidate."""
        return self.specs[self.chosen]

    def to_dict(self) -> dict:
        """JSON-ready record (``ensemble.json``)."""
        return {"chosen": self.chosen, "score": self.score, "temperatures": self.temperatures,
                "specs": {name: spec.to_dict() for name, spec in self.specs.items()},
                "validation": self.validation.to_dict("records"), "notes": list(self.notes)}


def _validation_row(name: str, kind: str, probs, val: AlignedPredictions) -> dict:
    result = metrics.evaluate_predictions(val.y_true, probs, specimen_ids=val.specimen_ids,
                                          class_names=list(val.class_names), n_bootstrap=0)
    return {"name": name, "kind": kind, **{key: result[key]["value"]
                                            for key in VALIDATION_COLUMNS}}


def _finish(spec: EnsembleSpec, val: AlignedPredictions, *, target_accuracy: float,
            score: str, record: dict) -> tuple[EnsembleSpec, np.ndarray]:
    """Add the ensemble temperature, the abstention threshold and the validation record."""
    members = val.by_model()
    if spec.kind != "member":  # a lone member is already scaled by its own temperature
        temperature = fit_temperature(apply_ensemble(spec, members), val.y_true)
        spec = dataclasses.replace(spec, ensemble_temperature=temperature)
    probs = apply_ensemble(spec, members)
    abstention = choose_abstention_threshold(probs, val.y_true, target_accuracy=target_accuracy)
    record = {**record, "score": validation_score(val.y_true, probs,
                                                  class_names=val.class_names, score=score),
              "abstention_coverage": abstention.coverage,
              "abstention_accuracy": abstention.accuracy}
    return dataclasses.replace(spec, abstention_threshold=abstention.threshold,
                               target_accuracy=abstention.target_accuracy,
                               validation=record), probs


def _candidates(val: AlignedPredictions, temperatures: dict, calibrated: dict, *, score: str,
                thresholds: Sequence[float]) -> tuple[list[EnsembleSpec], list[dict], list[str]]:
    names, classes = list(val.models), tuple(val.class_names)
    t_all = tuple(temperatures[m] for m in names)
    stacked = np.stack([calibrated[m] for m in names])
    notes = []

    weights, _ = fit_weights_and_temperature(stacked, val.y_true)  # T is refitted in _finish
    specs = [EnsembleSpec(name="soft_voting", kind="soft_voting", class_names=classes,
                          members=tuple(names), temperatures=t_all,
                          weights=tuple(float(w) for w in weights))]
    records = [{}]
    dropped = [m for m, w in zip(names, weights) if w == 0]
    if dropped:
        notes.append(f"Soft voting gives weight 0 to {dropped} on validation; the ensemble "
                     "does not run them.")

    top = fit_top_k(stacked, val.y_true, class_names=classes, score=score)
    chosen = [names[i] for i in top.order[:top.k]]
    specs.append(EnsembleSpec(name="top_k", kind="top_k", class_names=classes,
                              members=tuple(chosen), temperatures=tuple(temperatures[m]
                                                                        for m in chosen),
                              weights=tuple(1.0 / top.k for _ in chosen), k=top.k))
    records.append({"scores_by_k": list(top.scores_by_k)})

    choice = choose_general_and_specialist(calibrated, val.y_true, class_names=classes,
                                           thresholds=thresholds, score=score)
    if choice.specialist is None:
        notes.append(f"Confidence switching gains nothing on validation: with {choice.general} "
                     "as the general model, no other member improves the validation "
                     f"{score} by switching at any threshold, so no switching ensemble is "
                     "fitted.")
    else:
        rule = choice.rule
        pair = (choice.general, choice.specialist)
        specs.append(EnsembleSpec(name="switching", kind="switching", class_names=classes,
                                  members=pair, temperatures=tuple(temperatures[m] for m in pair),
                                  switch_species=rule.species, switch_threshold=rule.threshold))
        records.append({"general_score": rule.baseline, "switching_gain": rule.gain,
                        "n_switched": rule.n_switched,
                        "gain_by_specialist": {name: fit.gain for name, fit
                                               in choice.candidates.items()}})
    return specs, records, notes


def fit_ensembles(val: AlignedPredictions, *,
                  target_accuracy: float = DEFAULT_TARGET_ACCURACY,
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                  score: str = "macro_f1") -> EnsembleSelection:
    """Fit every ensemble kind on validation and choose the best.

    Parameters
    ----------
    val : AlignedPredictions
        The members' validation predictions (:func:`fossilct.predictions.read_aligned`).
    target_accuracy : float
        Accuracy the abstention threshold must reach on validation (default 0.95).
    thresholds : sequence of float
        Switching thresholds tried (default 0, 0.01, ..., 1).
    score : {"macro_f1", "accuracy"}
        What top-k, switching and the final choice maximise.

    Returns
    -------
    EnsembleSelection

    Raises
    ------
    ValueError
        `val` is not a validation split; bad `target_accuracy`, `thresholds` or `score`.
    """
    if val.split != "val":
        raise ValueError(f"ensembles are fitted on the validation split; got the {val.split!r} "
                         "split. Pass read_aligned(...)['val'].")
    if score not in ("macro_f1", "accuracy"):
        raise ValueError(f"`score`={score!r}; choose 'macro_f1' or 'accuracy'.")
    members = val.by_model()
    temperatures = {m: fit_temperature(p, val.y_true) for m, p in members.items()}
    calibrated = {m: apply_temperature(p, temperatures[m]) for m, p in members.items()}
    rows = []
    for m, p in members.items():
        rows.append(_validation_row(m, "raw", p, val))
        rows.append(_validation_row(f"{m} (T={temperatures[m]:.3g})", "calibrated",
                                    calibrated[m], val))

    if len(members) == 1:
        (name,) = members
        specs = [EnsembleSpec(name="single_member", kind="member", class_names=val.class_names,
                              members=(name,), temperatures=(temperatures[name],),
                              weights=(1.0,))]
        records = [{}]
        notes = [f"Only one member ({name}): nothing to combine. The ensemble step reports "
                 f"{name} temperature-scaled (T = {temperatures[name]:.3g}) with its abstention "
                 "threshold; add architectures to the profile to fit ensembles."]
    else:
        specs, records, notes = _candidates(val, temperatures, calibrated, score=score,
                                            thresholds=thresholds)
    fitted = {}
    for spec, record in zip(specs, records):
        spec, probs = _finish(spec, val, target_accuracy=target_accuracy, score=score,
                              record=record)
        fitted[spec.name] = spec
        rows.append(_validation_row(spec.name, spec.kind, probs, val))
        if spec.abstention_threshold is None:
            notes.append(f"{spec.name}: no confidence threshold reaches the target accuracy "
                         f"{target_accuracy:g} on validation (best accepted accuracy "
                         f"{spec.validation['abstention_accuracy']:.3f} at coverage "
                         f"{spec.validation['abstention_coverage']:.3f}); no abstention "
                         "threshold is reported.")
    chosen = max(fitted, key=lambda name: fitted[name].validation["score"])
    return EnsembleSelection(specs=fitted, chosen=chosen, score=score,
                             temperatures=temperatures, validation=pd.DataFrame(rows),
                             notes=tuple(notes))
