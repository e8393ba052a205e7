"""Paired tests between models evaluated on the same test slices.

Two tests per pair, each corrected over the comparisons by Holm's step-down method:

* **Exact McNemar**: a binomial test (p = 1/2) on the discordant slices, those that exactly one
  of the two models gets right. It treats slices as independent; slices of one specimen are
  not, so its p-values are optimistic. It is reported because it is the customary test.
* **Paired specimen bootstrap** of the accuracy difference: each replicate draws test specimens
  with replacement and scores *both* models on that same draw
  (:func:`fossilct.metrics.bootstrap_replicates` with one integer seed). Its 95% percentile
  interval and p-value respect the specimen as the unit of independence; this is the test to
  read. The two-sided p-value is ``min(1, 2 min(P(d <= 0), P(d >= 0)))`` over replicates
  ``d``, each proportion counted as ``(count + 1) / (B + 1)`` so that it is never 0.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from fossilct import metrics
from fossilct.predictions import AlignedPredictions

__all__ = [
    "mcnemar_exact",
    "holm_adjust",
    "bootstrap_p_value",
    "accuracy_replicates",
    "paired_tests",
    "pairwise_tests",
]


def mcnemar_exact(correct_a, correct_b) -> dict:
    """Exact McNemar test of two models' per-slice correctness.

    Parameters
    ----------
    correct_a, correct_b : (N,) array_like of bool
        Whether each model is right on each slice (same slices, same order).

    Returns
    -------
    dict
        ``only_a`` (slices only A gets right), ``only_b``, ``p_value`` (two-sided exact
        binomial on the ``only_a + only_b`` discordant slices; 1 without any).

    Raises
    ------
    ValueError
        Shapes that differ.

    Examples
    --------
    10 against 2 discordant slices: ``p = 2 (1 + 12 + 66) / 2**12 = 158 / 4096``.

    >>> result = mcnemar_exact([True] * 10 + [False] * 2, [False] * 10 + [True] * 2)
    >>> result["only_a"], result["only_b"], result["p_value"] == 158 / 4096
    (10, 2, True)
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"`correct_a` and `correct_b` must be 1-D and of one length; got shapes "
                         f"{a.shape} and {b.shape}.")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    p = 1.0 if n == 0 else float(binomtest(only_a, n, 0.5, alternative="two-sided").pvalue)
    return {"only_a": only_a, "only_b": only_b, "p_value": min(p, 1.0)}


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).

    The i-th smallest of m p-values is multiplied by ``m - i + 1``; adjusted values are made
    non-decreasing in that order and capped at 1.

    Parameters
    ----------
    p_values : (m,) array_like of float

    Returns
    -------
    (m,) ndarray of float64
        In the input order.

    Raises
    ------
    ValueError
        Values outside [0, 1] or NaN.

    Examples
    --------
    >>> holm_adjust([0.01, 0.04, 0.03]).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"`p_values` must be a 1-D array of numbers in [0, 1]; got {p!r}.")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def bootstrap_p_value(differences) -> float:
    """Two-sided bootstrap p-value of a zero difference (see the module docstring).

    Examples
    --------
    >>> bootstrap_p_value([0.1] * 99)
    0.02
    >>> bootstrap_p_value([-1, 1])
    1.0
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ValueError("`differences` holds no finite replicate.")
    below = (np.count_nonzero(d <= 0) + 1) / (d.size + 1)
    above = (np.count_nonzero(d >= 0) + 1) / (d.size + 1)
    return float(min(1.0, 2 * min(below, above)))


def _seed(rng) -> int:
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise TypeError(f"`rng` must be an int seed here (every model is scored on the same "
                        f"resamples of that seed); got {type(rng).__name__}.")
    return int(rng)


def accuracy_replicates(test: AlignedPredictions, *, n_bootstrap: int, rng: int
                        ) -> dict[str, np.ndarray]:
    """Model -> (n_bootstrap,) accuracies on the same specimen resamples.

    Raises
    ------
    TypeError
        If `rng` is not an int.
    ValueError
        As :func:`fossilct.metrics.bootstrap_replicates`.
    """
    seed = _seed(rng)
    return {name: metrics.bootstrap_replicates(test.y_true, p, specimen_ids=test.specimen_ids,
                                               class_names=list(test.class_names),
                                               n_bootstrap=n_bootstrap, rng=seed)["accuracy"]
            for name, p in test.by_model().items()}


def _pair_row(test, replicates, a: str, b: str) -> dict:
    correct = {m: test.member(m).argmax(axis=1) == test.y_true for m in (a, b)}
    mcnemar = mcnemar_exact(correct[a], correct[b])
    diff = replicates[a] - replicates[b]
    low, high = np.nanpercentile(diff, [2.5, 97.5])
    return {"model_a": a, "model_b": b,
            "accuracy_difference": float(correct[a].mean() - correct[b].mean()),
            "difference_ci_low": float(low), "difference_ci_high": float(high),
            "only_a_right": mcnemar["only_a"], "only_b_right": mcnemar["only_b"],
            "mcnemar_p": mcnemar["p_value"], "bootstrap_p": bootstrap_p_value(diff)}


def _with_holm(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=[
        "model_a", "model_b", "accuracy_difference", "difference_ci_low", "difference_ci_high",
        "only_a_right", "only_b_right", "mcnemar_p", "bootstrap_p"])
    table["mcnemar_p_holm"] = holm_adjust(table["mcnemar_p"]) if len(table) else []
    table["bootstrap_p_holm"] = holm_adjust(table["bootstrap_p"]) if len(table) else []
    return table


def paired_tests(test: AlignedPredictions, *, reference: str,
                 n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP, rng: int = 0,
                 replicates: dict | None = None) -> pd.DataFrame:
    """The reference model against each other model, Holm-corrected over those comparisons.

    Parameters
    ----------
    test : AlignedPredictions
        Test predictions of all models (same slices).
    reference : str
        Usually the leaderboard's best model.
    n_bootstrap : int
    rng : int
        Seed shared by all models.
    replicates : dict, optional
        :func:`accuracy_replicates` already computed with the same `n_bootstrap` and `rng`.

    Returns
    -------
    DataFrame
        One row per other model: ``model_a`` (the reference), ``model_b``,
        ``accuracy_difference`` (a - b) with its paired-bootstrap ``difference_ci_low/high``,
        ``only_a_right``, ``only_b_right``, ``mcnemar_p``, ``bootstrap_p`` and their Holm
        adjustments ``mcnemar_p_holm``, ``bootstrap_p_holm``. Empty with one model.

    Raises
    ------
    ValueError
        Unknown `reference`.
    TypeError
        Non-integer `rng`.
    """
    if reference not in test.models:
        raise ValueError(f"`reference`={reference!r} is not among the models {list(test.models)}.")
    replicates = replicates or accuracy_replicates(test, n_bootstrap=n_bootstrap, rng=rng)
    return _with_holm([_pair_row(test, replicates, reference, other)
                       for other in test.models if other != reference])


def pairwise_tests(test: AlignedPredictions, *, n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP,
                   rng: int = 0, replicates: dict | None = None) -> pd.DataFrame:
    """Every pair of models, Holm-corrected over all ``M (M - 1) / 2`` pairs.

    Returns
    -------
    DataFrame
        Columns as :func:`paired_tests`; ``model_a`` precedes ``model_b`` in ``test.models``.
    """
    replicates = replicates or accuracy_replicates(test, n_bootstrap=n_bootstrap, rng=rng)
    return _with_holm([_pair_row(test, replicates, a, b)
                       for a, b in combinations(test.models, 2)])
