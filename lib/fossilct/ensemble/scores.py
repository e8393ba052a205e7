"""The validation scores that ensemble choices maximise, computed by :mod:`fossilct.metrics`."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fossilct import metrics

__all__ = ["SCORES", "validation_score", "per_species_f1"]

SCORES = ("macro_f1", "accuracy")
"""Scores a choice can maximise. Macro-F1 (the default everywhere) weights every species
equally, so fixing a weak species counts as much as a common one; accuracy weights slices."""


def per_species_f1(y_true, probs, *, class_names: Sequence[str]) -> np.ndarray:
    """(K,) F1 of each species, as :func:`fossilct.metrics.per_species_report`."""
    return metrics.per_species_report(y_true, probs, class_names=class_names)["f1"].to_numpy()


def validation_score(y_true, probs, *, class_names: Sequence[str], score: str = "macro_f1"
                     ) -> float:
    """Macro-F1 (over the species present, as the metrics module) or accuracy of `probs`.

    Parameters
    ----------
    y_true : (N,) array_like of int
    probs : (N, K) array_like of float
    class_names : sequence of str, length K
    score : {"macro_f1", "accuracy"}

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Unknown `score`, or inputs refused by :func:`fossilct.metrics.per_species_report`.

    Examples
    --------
    >>> probs = np.eye(3)[[0, 0, 2, 2]]
    >>> validation_score([0, 1, 2, 2], probs, class_names="abc"), validation_score(
    ...     [0, 1, 2, 2], probs, class_names="abc", score="accuracy")
    (0.5555555555555555, 0.75)
    """
    if score not in SCORES:
        raise ValueError(f"`score`={score!r}; choose one of {SCORES}.")
    report = metrics.per_species_report(y_true, probs, class_names=list(class_names))
    if score == "accuracy":  # correct slices = recall x support, summed over species
        return float((report["recall"] * report["support"]).sum() / report["support"].sum())
    present = report["support"] > 0
    return float(report.loc[present, "f1"].mean())
