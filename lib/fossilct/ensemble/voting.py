"""Soft voting: weighted averages of members' probabilities, with the weights or the members
chosen on validation.

:func:`fit_weights` minimises the validation log loss of the linear pool ``sum_m w_m p_m``
over the simplex (``w_m >= 0``, ``sum w_m = 1``). That loss is convex in ``w`` (minus the log
of a linear function), so sequential quadratic programming (SciPy's SLSQP with the analytic
gradient) from uniform weights finds the global minimum; unlike a softmax parametrisation it
reaches weights of exactly zero, which drop a useless member.

The ensembles use :func:`fit_weights_and_temperature`, which minimises the log loss of what is
finally reported, ``softmax(log(sum_m w_m p_m) / T)``, over the weights and the ensemble
temperature together. The linear pool alone is under-confident when members err
independently (averaging flattens the distribution), so its log loss favours the single best
member; once a temperature may sharpen the pool, averaging several members can be much better,
and fitting the weights without it would miss that. The joint problem is not convex: it is
solved from two starts (uniform weights, and the linear pool's optimum), the better kept.

Top-k voting averages, with equal weights, the ``k`` members with the best validation score,
``k`` itself chosen on validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize

from fossilct.ensemble.calibration import TEMPERATURE_BOUNDS, fit_temperature
from fossilct.ensemble.errors import NothingToCombineError
from fossilct.ensemble.scores import validation_score
from fossilct.metrics import LOG_LOSS_EPS

__all__ = [
    "WEIGHT_FLOOR",
    "average_probabilities",
    "fit_weights",
    "fit_weights_and_temperature",
    "TopK",
    "fit_top_k",
]

WEIGHT_FLOOR = 1e-6
"""Fitted weights below this are set to 0 (and the rest renormalised): the optimiser stops near,
not at, the boundary, and a member with weight 1e-9 would still have to be run."""


def _check_members(member_probs, y_true=None) -> tuple[np.ndarray, np.ndarray | None]:
    probs = np.asarray(member_probs, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[1] == 0 or probs.shape[2] < 2:
        raise ValueError(f"`member_probs` must be (n_members, n_slices, n_classes); got shape "
                         f"{probs.shape}.")
    if not np.isfinite(probs).all() or (probs < 0).any() or not np.allclose(
            probs.sum(axis=2), 1.0, atol=1e-3):
        raise ValueError("`member_probs` rows must be finite, non-negative and sum to 1.")
    if y_true is None:
        return probs, None
    y_true = np.asarray(y_true)
    if y_true.shape != (probs.shape[1],) or not np.issubdtype(y_true.dtype, np.integer) or (
            y_true.min() < 0 or y_true.max() >= probs.shape[2]):
        raise ValueError(f"`y_true` must hold one class index in [0, {probs.shape[2]}) per "
                         f"slice ({probs.shape[1]}); got shape {y_true.shape}.")
    return probs, y_true.astype(np.int64)


def average_probabilities(member_probs, weights) -> np.ndarray:
    """Weighted average ``sum_m w_m p_m`` of the members' probabilities.

    Parameters
    ----------
    member_probs : (M, N, K) array_like of float
    weights : (M,) array_like of float
        Non-negative, summing to 1.

    Returns
    -------
    (N, K) ndarray of float64

    Raises
    ------
    ValueError
        Wrong shapes, or weights that are negative or do not sum to 1.

    Examples
    --------
    >>> average_probabilities([[[1.0, 0.0]], [[0.5, 0.5]]], [0.5, 0.5]).tolist()
    [[0.75, 0.25]]
    """
    probs, _ = _check_members(member_probs)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (probs.shape[0],) or (weights < 0).any() or not np.isclose(
            weights.sum(), 1.0, atol=1e-9):
        raise ValueError(f"`weights` must be {probs.shape[0]} non-negative numbers summing to 1; "
                         f"got {weights.tolist()}.")
    return np.einsum("m,mnk->nk", weights, probs)


def fit_weights(member_probs, y_true) -> np.ndarray:
    """Soft-voting weights that minimise the validation log loss.

    Parameters
    ----------
    member_probs : (M, N, K) array_like of float
        Validation probabilities of M >= 2 members (temperature-scaled ones in the ensembles).
    y_true : (N,) array_like of int

    Returns
    -------
    (M,) ndarray of float64
        Non-negative, summing to 1; weights below ``WEIGHT_FLOOR`` are 0.

    Raises
    ------
    NothingToCombineError
        If M < 2.
    ValueError
        Wrong shapes or labels.

    Examples
    --------
    Three slices where member A is right and one where B is: the optimum weight of A is
    ``(0.9 * 3 - 0.1) / (0.8 * 4) = 0.8125``.

    >>> a, b = [0.9, 0.1], [0.1, 0.9]
    >>> fit_weights([[a, a, a, b], [b, b, b, a]], [0, 0, 0, 0]).round(4).tolist()
    [0.8125, 0.1875]
    """
    probs, y_true = _check_members(member_probs, y_true)
    n_members = probs.shape[0]
    if n_members < 2:
        raise NothingToCombineError(f"soft voting needs at least 2 members; got {n_members}.")
    true_probs = probs[:, np.arange(len(y_true)), y_true]

    def loss(w):
        return float(-np.log(np.maximum(w @ true_probs, LOG_LOSS_EPS)).mean())

    def grad(w):
        return -(true_probs / np.maximum(w @ true_probs, LOG_LOSS_EPS)).mean(axis=1)

    result = minimize(loss, np.full(n_members, 1.0 / n_members), jac=grad, method="SLSQP",
                      bounds=[(0.0, 1.0)] * n_members,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                    "jac": lambda w: np.ones_like(w)}],
                      options={"ftol": 1e-12, "maxiter": 1000})
    return _floor(result.x)


def _floor(weights: np.ndarray) -> np.ndarray:
    weights = np.clip(weights, 0.0, None)
    weights[weights < WEIGHT_FLOOR] = 0.0
    return weights / weights.sum()


def _pooled_nll(probs: np.ndarray, y_true: np.ndarray):
    """Loss and gradient of ``softmax(log(sum_m w_m p_m) / T)`` in ``x = (w, log T)``."""
    rows = np.arange(len(y_true))

    def loss_and_grad(x):
        w, temperature = x[:-1], np.exp(x[-1])
        pooled = np.maximum(np.einsum("m,mnk->nk", w, probs), LOG_LOSS_EPS)
        z = np.log(pooled) / temperature
        z_max = z.max(axis=1, keepdims=True)
        soft = np.exp(z - z_max)
        norm = soft.sum(axis=1, keepdims=True)
        soft /= norm
        loss = float((np.log(norm[:, 0]) + z_max[:, 0] - z[rows, y_true]).mean())
        residual = soft
        residual[rows, y_true] -= 1.0                      # dloss/dz, times N
        grad_w = np.einsum("nk,mnk->m", residual / (temperature * pooled), probs) / len(rows)
        grad_log_t = -float((residual * z).sum()) / len(rows)
        return loss, np.r_[grad_w, grad_log_t]

    return loss_and_grad


def fit_weights_and_temperature(member_probs, y_true, *,
                                bounds: tuple[float, float] = TEMPERATURE_BOUNDS
                                ) -> tuple[np.ndarray, float]:
    """Soft-voting weights and ensemble temperature that minimise the validation log loss of
    ``softmax(log(sum_m w_m p_m) / T)``.

    Parameters
    ----------
    member_probs : (M, N, K) array_like of float
        Validation probabilities of M >= 2 members (temperature-scaled ones in the ensembles).
    y_true : (N,) array_like of int
    bounds : (float, float)
        Interval of the temperature.

    Returns
    -------
    weights : (M,) ndarray of float64
        Non-negative, summing to 1; weights below ``WEIGHT_FLOOR`` are 0.
    temperature : float
        The best temperature for those weights (:func:`fit_temperature` of their pool).

    Raises
    ------
    NothingToCombineError
        If M < 2.
    ValueError
        Wrong shapes or labels.

    Examples
    --------
    Three members right on two of three slices each, each time at 0.6: the linear pool needs
    all three (at 0.6 each it is right everywhere), and a low temperature sharpens it.

    >>> right, wrong = [0.6, 0.4], [0.4, 0.6]
    >>> members = [[right, right, wrong], [right, wrong, right], [wrong, right, right]]
    >>> weights, temperature = fit_weights_and_temperature(members, [0, 0, 0])
    >>> weights.round(3).tolist(), temperature < 0.2
    ([0.333, 0.333, 0.333], True)
    """
    probs, y_true = _check_members(member_probs, y_true)
    n_members = probs.shape[0]
    if n_members < 2:
        raise NothingToCombineError(f"soft voting needs at least 2 members; got {n_members}.")
    objective = _pooled_nll(probs, y_true)
    log_bounds = (float(np.log(bounds[0])), float(np.log(bounds[1])))
    best = None
    for start in (np.full(n_members, 1.0 / n_members), fit_weights(probs, y_true)):
        log_t = np.log(fit_temperature(np.einsum("m,mnk->nk", start, probs), y_true,
                                       bounds=bounds))
        result = minimize(objective, np.r_[start, log_t], jac=True, method="SLSQP",
                          bounds=[(0.0, 1.0)] * n_members + [log_bounds],
                          constraints=[{"type": "eq", "fun": lambda x: x[:-1].sum() - 1.0,
                                        "jac": lambda x: np.r_[np.ones(n_members), 0.0]}],
                          options={"ftol": 1e-12, "maxiter": 1000})
        if best is None or result.fun < best.fun:
            best = result
    weights = _floor(best.x[:-1])
    return weights, fit_temperature(np.einsum("m,mnk->nk", weights, probs), y_true,
                                    bounds=bounds)


@dataclass(frozen=True)
class TopK:
    """Result of :func:`fit_top_k`.

    Attributes
    ----------
    k : int
        Chosen number of members.
    order : tuple of int
        Member indices from best to worst validation score (ties: input order).
    member_scores : tuple of float
        Validation score of each member, in input order.
    scores_by_k : tuple of float
        Validation score of the average of the best ``k`` members, for k = 1..M.
    """

    k: int
    order: tuple[int, ...]
    member_scores: tuple[float, ...]
    scores_by_k: tuple[float, ...]


def fit_top_k(member_probs, y_true, *, class_names: Sequence[str], score: str = "macro_f1"
              ) -> TopK:
    """Top-k voting: rank members by validation score, choose k on validation.

    The candidate for each k averages (equal weights) the k best members; the chosen k has the
    best validation score, the smallest k among ties (fewer models to run).

    Parameters
    ----------
    member_probs : (M, N, K) array_like of float
        Validation probabilities of M >= 2 members.
    y_true : (N,) array_like of int
    class_names : sequence of str, length K
    score : {"macro_f1", "accuracy"}

    Returns
    -------
    TopK

    Raises
    ------
    NothingToCombineError
        If M < 2.
    ValueError
        Wrong shapes or labels, unknown `score`.

    Examples
    --------
    Each member is right on two of three slices; two of them out-vote a third only together:

    >>> right, wrong = [0.7, 0.3], [0.25, 0.75]
    >>> members = [[right, right, wrong], [right, wrong, right], [wrong, right, right]]
    >>> top = fit_top_k(members, [0, 0, 0], class_names=["a", "b"], score="accuracy")
    >>> top.k, [round(s, 3) for s in top.scores_by_k]
    (3, [0.667, 0.333, 1.0])
    """
    probs, y_true = _check_members(member_probs, y_true)
    if probs.shape[0] < 2:
        raise NothingToCombineError(f"top-k voting needs at least 2 members; got "
                                    f"{probs.shape[0]}.")
    member_scores = [validation_score(y_true, p, class_names=class_names, score=score)
                     for p in probs]
    order = np.argsort(-np.asarray(member_scores), kind="stable")
    scores_by_k = [validation_score(y_true, probs[order[:k]].mean(axis=0),
                                    class_names=class_names, score=score)
                   for k in range(1, len(order) + 1)]
    return TopK(k=int(np.argmax(scores_by_k)) + 1, order=tuple(int(i) for i in order),
                member_scores=tuple(member_scores), scores_by_k=tuple(scores_by_k))
