"""Specimen-level predictions: one answer per specimen from all its slices.

The slices of a specimen are treated as independent pieces of evidence about one species, so
their log-probabilities add: the specimen's score of a class is the mean over its slices of
``log p`` (a normalised geometric mean of the probabilities). One confidently wrong slice
counts, a slice that is unsure of everything barely does. (The ``specimen_accuracy`` of
:func:`fossilct.metrics.evaluate_predictions` averages the probabilities instead; both are
reported, each under its own name.)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from fossilct import metrics
from fossilct.ensemble.calibration import log_probabilities
from fossilct.evaluation import PROB_PREFIX

__all__ = ["aggregate_by_specimen", "specimen_table", "specimen_evaluation"]


def aggregate_by_specimen(probs, specimen_ids, y_true
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean log-probability of each specimen's slices, as a distribution.

    Parameters
    ----------
    probs : (N, K) array_like of float
    specimen_ids : (N,) array_like
    y_true : (N,) array_like of int
        All slices of a specimen share one class.

    Returns
    -------
    specimens : (S,) ndarray of str
        Sorted specimen ids.
    specimen_probs : (S, K) ndarray of float64
        ``softmax(mean log p)`` over each specimen's slices.
    specimen_true : (S,) ndarray of int64
    n_slices : (S,) ndarray of int64

    Raises
    ------
    ValueError
        Shapes that do not match, or a specimen with slices of two classes.

    Examples
    --------
    Specimen ``a``: geometric means ``sqrt(0.9 * 0.4) = 0.6`` and ``sqrt(0.1 * 0.6) = 0.245``,
    normalised to 0.71 and 0.29.

    >>> probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    >>> specimens, p, y, n = aggregate_by_specimen(probs, ["a", "a", "b"], [0, 0, 1])
    >>> specimens.tolist(), p.round(2).tolist(), n.tolist()
    (['a', 'b'], [[0.71, 0.29], [0.2, 0.8]], [2, 1])
    """
    probs = np.asarray(probs, dtype=np.float64)
    specimen_ids = np.asarray(specimen_ids).astype(str)
    y_true = np.asarray(y_true, dtype=np.int64)
    if probs.ndim != 2 or specimen_ids.shape != (len(probs),) or y_true.shape != (len(probs),):
        raise ValueError(f"`probs` (N, K), `specimen_ids` (N,) and `y_true` (N,) must match; got "
                         f"shapes {probs.shape}, {specimen_ids.shape}, {y_true.shape}.")
    specimens, group = np.unique(specimen_ids, return_inverse=True)
    n_slices = np.bincount(group, minlength=len(specimens))
    summed = np.zeros((len(specimens), probs.shape[1]))
    np.add.at(summed, group, log_probabilities(probs))
    mean_log = summed / n_slices[:, None]
    specimen_probs = np.exp(mean_log - mean_log.max(axis=1, keepdims=True))
    specimen_probs /= specimen_probs.sum(axis=1, keepdims=True)
    specimen_true = np.full(len(specimens), -1)
    specimen_true[group] = y_true
    mixed = np.flatnonzero(np.bincount(group, weights=(y_true != specimen_true[group]),
                                       minlength=len(specimens)) > 0)
    if mixed.size:
        raise ValueError(f"specimen(s) {specimens[mixed[:3]].tolist()} have slices of different "
                         "species; a specimen belongs to one species. Check the manifest.")
    return specimens, specimen_probs, specimen_true, n_slices.astype(np.int64)


def specimen_table(probs, specimen_ids, y_true, *, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per specimen: ``specimen_id``, ``species``, ``predicted``, ``n_slices``,
    ``correct`` and ``prob_<class>`` (mean log-probability, normalised).

    Raises
    ------
    ValueError
        As :func:`aggregate_by_specimen`.
    """
    specimens, p, y, n = aggregate_by_specimen(probs, specimen_ids, y_true)
    names = np.asarray(list(class_names))
    table = pd.DataFrame({"specimen_id": specimens, "species": names[y],
                          "predicted": names[p.argmax(axis=1)], "n_slices": n,
                          "correct": p.argmax(axis=1) == y})
    for c, name in enumerate(class_names):
        table[PROB_PREFIX + name] = p[:, c]
    return table


def specimen_evaluation(probs, specimen_ids, y_true, *, class_names: Sequence[str],
                        n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP,
                        rng: int | np.random.Generator = 0) -> dict:
    """Metrics of the specimen-level predictions, 95% intervals resampling specimens.

    Returns
    -------
    dict
        :func:`fossilct.metrics.evaluate_predictions` of the specimen table (``accuracy`` is
        the specimen accuracy of the mean log-probability, ``n_slices`` counts specimens).

    Raises
    ------
    ValueError
        As :func:`aggregate_by_specimen` and :func:`fossilct.metrics.evaluate_predictions`.
    """
    specimens, p, y, _ = aggregate_by_specimen(probs, specimen_ids, y_true)
    return metrics.evaluate_predictions(y, p, specimen_ids=specimens,
                                        class_names=list(class_names),
                                        n_bootstrap=n_bootstrap, rng=rng)
