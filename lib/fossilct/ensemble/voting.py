"""Soft voting: weighted averages of members' probabilities, with the weights or the members
chosen on validation.

Weighted soft voting minimises the validation log loss of ``sum_m w_m p_m`` over the simplex
(``w_m >= 0``, ``sum w_m = 1``). The loss is convex in ``w`` (minus the log of a linear
function), so sequential quadratic programming (SciPy's SLSQP with the analytic gradient) from
uniform weights finds the global minimum; unlike a softmax parametrisation it reaches weights of
exactly zero, which drop a useless member. Top-k voting averages, with equal weights, the ``k``
members with the best validation score, ``k`` itself chosen on validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize

from fossilct.ensemble.errors import NothingToCombineError
from fossilct.ensemble.scores import validation_score
from fossilct.metrics import LOG_LOSS_EPS

__all__ = [
    "WEIGHT_FLOOR",
    "average_probabilities",
    "fit_weights",
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
    weights = np.clip(result.x, 0.0, None)
    weights[weights < WEIGHT_FLOOR] = 0.0
    return weights / weights.sum()


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
