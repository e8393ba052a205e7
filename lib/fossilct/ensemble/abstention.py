"""Abstention: answer only when the top probability reaches a threshold chosen on validation.

A slice is *accepted* when its top-1 probability is at least the threshold; coverage is the
share of accepted slices, and the accuracy that matters is the accuracy of the accepted ones.
The threshold is the smallest one at which the validation accuracy of the accepted slices
reaches the target (largest coverage that meets it). When no threshold reaches the target on
validation, none is chosen (``threshold`` None): the model cannot promise that accuracy, and the
test report says so. A target met only by the few most confident slices gives a threshold with
a small validation coverage; that coverage is recorded and reported next to the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from fossilct import metrics

__all__ = [
    "DEFAULT_TARGET_ACCURACY",
    "coverage_accuracy_curve",
    "AbstentionChoice",
    "choose_abstention_threshold",
    "abstention_summary",
]

DEFAULT_TARGET_ACCURACY = 0.95


def _confidence_and_correct(probs, y_true) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[0] == 0 or y_true.shape != (probs.shape[0],):
        raise ValueError(f"`probs` must be (n_slices >= 1, n_classes) with one label per row in "
                         f"`y_true`; got shapes {probs.shape} and {y_true.shape}.")
    return probs.max(axis=1), probs.argmax(axis=1) == y_true


def coverage_accuracy_curve(probs, y_true) -> pd.DataFrame:
    """Coverage and accepted-slice accuracy at every distinct confidence threshold.

    Parameters
    ----------
    probs : (N, K) array_like of float
    y_true : (N,) array_like of int

    Returns
    -------
    DataFrame
        One row per distinct top-1 probability ``threshold`` (ascending; a slice is accepted
        when its top probability >= threshold): ``n_accepted``, ``coverage``, ``accuracy``.
        The first row accepts every slice.

    Raises
    ------
    ValueError
        Shapes that do not match.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    >>> coverage_accuracy_curve(probs, [0, 1, 1]).round(3).to_dict("list")
    {'threshold': [0.6, 0.7, 0.9], 'n_accepted': [3, 2, 1], 'coverage': [1.0, 0.667, 0.333], \
'accuracy': [0.667, 1.0, 1.0]}
    """
    confidence, correct = _confidence_and_correct(probs, y_true)
    order = np.argsort(-confidence, kind="stable")
    conf_desc, correct_desc = confidence[order], correct[order]
    n_correct = np.cumsum(correct_desc)
    # the last position of each distinct confidence: everything up to it is accepted
    last = np.flatnonzero(np.r_[conf_desc[1:] != conf_desc[:-1], True])
    n_accepted = last + 1
    curve = pd.DataFrame({"threshold": conf_desc[last], "n_accepted": n_accepted,
                          "coverage": n_accepted / len(confidence),
                          "accuracy": n_correct[last] / n_accepted})
    return curve.iloc[::-1].reset_index(drop=True)


@dataclass(frozen=True)
class AbstentionChoice:
    """The validated abstention threshold.

    Attributes
    ----------
    threshold : float or None
        Accept a slice when its top probability >= threshold; None when the target is not
        reached on validation at any threshold.
    target_accuracy : float
    coverage, accuracy : float
        On validation, at `threshold`; without a threshold, at the threshold of the highest
        accepted accuracy (the best the model offers), for the report.
    """

    threshold: float | None
    target_accuracy: float
    coverage: float
    accuracy: float

    @property
    def reached(self) -> bool:
        """Whether the target accuracy is reached on validation."""
        return self.threshold is not None


def choose_abstention_threshold(probs, y_true, *,
                                target_accuracy: float = DEFAULT_TARGET_ACCURACY
                                ) -> AbstentionChoice:
    """Smallest threshold whose accepted validation slices reach `target_accuracy`.

    Parameters
    ----------
    probs : (N, K) array_like of float
        Validation probabilities.
    y_true : (N,) array_like of int
    target_accuracy : float
        In (0, 1].

    Returns
    -------
    AbstentionChoice

    Raises
    ------
    ValueError
        `target_accuracy` outside (0, 1], shapes that do not match.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    >>> choose_abstention_threshold(probs, [0, 1, 1], target_accuracy=0.9).threshold
    0.7
    >>> choose_abstention_threshold(probs, [1, 1, 1], target_accuracy=0.9).reached
    False
    """
    if not 0 < target_accuracy <= 1:
        raise ValueError(f"`target_accuracy`={target_accuracy!r} must lie in (0, 1], e.g. 0.95.")
    curve = coverage_accuracy_curve(probs, y_true)
    meets = np.flatnonzero(curve["accuracy"].to_numpy() >= target_accuracy - 1e-12)
    if meets.size:
        row = curve.iloc[meets[0]]
        return AbstentionChoice(threshold=float(row["threshold"]),
                                target_accuracy=float(target_accuracy),
                                coverage=float(row["coverage"]), accuracy=float(row["accuracy"]))
    row = curve.iloc[int(np.argmax(curve["accuracy"].to_numpy()))]
    return AbstentionChoice(threshold=None, target_accuracy=float(target_accuracy),
                            coverage=float(row["coverage"]), accuracy=float(row["accuracy"]))


def abstention_summary(probs, y_true, *, threshold: float | None, specimen_ids,
                       class_names: Sequence[str],
                       n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP,
                       rng: int | np.random.Generator = 0) -> dict:
    """Coverage and accuracy of the accepted slices at a fixed threshold (the test report).

    Parameters
    ----------
    probs : (N, K) array_like of float
        Test probabilities.
    y_true : (N,) array_like of int
    threshold : float or None
        From :func:`choose_abstention_threshold`; None reports that no threshold was chosen.
    specimen_ids : (N,) array_like
    class_names : sequence of str
    n_bootstrap, rng
        Specimen bootstrap of the accepted slices' accuracy
        (:func:`fossilct.metrics.evaluate_predictions`).

    Returns
    -------
    dict
        ``threshold``, ``n_slices``, ``n_accepted``, ``coverage`` and ``accuracy``
        (``{"value", "ci95"}`` over the accepted slices, resampling their specimens; None when
        nothing is accepted). Without a threshold, ``n_accepted``, ``coverage`` and
        ``accuracy`` are None (not applicable).

    Raises
    ------
    ValueError
        As :func:`fossilct.metrics.evaluate_predictions`.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    >>> summary = abstention_summary(probs, [0, 1, 1], threshold=0.7, specimen_ids=["a", "b", "c"],
    ...                              class_names="xy", n_bootstrap=0)
    >>> summary["n_accepted"], summary["accuracy"]["value"]
    (2, 1.0)
    """
    confidence, _ = _confidence_and_correct(probs, y_true)
    if threshold is None:
        return {"threshold": None, "n_slices": int(len(confidence)), "n_accepted": None,
                "coverage": None, "accuracy": None}
    accepted = confidence >= threshold
    summary = {"threshold": float(threshold), "n_slices": int(len(confidence)),
               "n_accepted": int(accepted.sum()), "coverage": float(accepted.mean()),
               "accuracy": None}
    if accepted.any():
        result = metrics.evaluate_predictions(
            np.asarray(y_true)[accepted], np.asarray(probs, dtype=np.float64)[accepted],
            specimen_ids=np.asarray(specimen_ids)[accepted], class_names=list(class_names),
            n_bootstrap=n_bootstrap, rng=rng)
        summary["accuracy"] = result["accuracy"]
    return summary
