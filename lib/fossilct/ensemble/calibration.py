"""Temperature scaling of predicted probabilities (Guo et al. 2017), fit on validation.

A model's probabilities ``p = softmax(z)`` are rescaled to ``softmax(z / T)``. The logits ``z``
are not stored, but ``log p = z - logsumexp(z)`` differs from them by a per-row constant that
the softmax cancels, so ``softmax(log p / T)`` is the same distribution and needs only the
predictions table. ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens; the top-1
class never changes. The temperature minimises the mean negative log-likelihood of the
validation slices, a 1-D problem solved by bounded Brent search over ``log T`` (the likelihood
is convex in ``1 / T``, hence unimodal in ``log T``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from fossilct.metrics import LOG_LOSS_EPS

__all__ = [
    "TEMPERATURE_BOUNDS",
    "log_probabilities",
    "apply_temperature",
    "negative_log_likelihood",
    "fit_temperature",
]

TEMPERATURE_BOUNDS = (0.05, 20.0)
"""Search interval of the temperature; a fit at a bound means the data push beyond it."""
_XATOL = 1e-7
"""Tolerance of the search in log T (relative precision of T)."""


def _check_probs(probs, name: str = "probs") -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2 or probs.shape[0] == 0:
        raise ValueError(f"`{name}` must be (n_slices >= 1, n_classes >= 2) probabilities; got "
                         f"shape {probs.shape}.")
    if not np.isfinite(probs).all() or (probs < 0).any() or not np.allclose(
            probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(f"`{name}` rows must be finite, non-negative and sum to 1 (softmax "
                         "outputs of a predictions table).")
    return probs


def _check_labels(y_true, probs: np.ndarray) -> np.ndarray:
    y_true = np.asarray(y_true)
    if y_true.shape != (probs.shape[0],) or not np.issubdtype(y_true.dtype, np.integer) or (
            y_true.size and (y_true.min() < 0 or y_true.max() >= probs.shape[1])):
        raise ValueError(f"`y_true` must hold one class index in [0, {probs.shape[1]}) per row "
                         f"of `probs` ({probs.shape[0]}); got shape {y_true.shape}, dtype "
                         f"{y_true.dtype}.")
    return y_true.astype(np.int64)


def _check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating,
                                                                      np.integer)) or not (
            np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"`temperature` must be a finite number > 0; got {temperature!r}.")
    return float(temperature)


def log_probabilities(probs) -> np.ndarray:
    """``log p`` with p clipped to [``LOG_LOSS_EPS``, 1] (the metrics' log-loss convention).

    Examples
    --------
    >>> log_probabilities(np.array([[1.0, 0.0]])).round(2).tolist()
    [[0.0, -34.54]]
    """
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), LOG_LOSS_EPS, 1.0))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """Temperature-scaled probabilities ``softmax(log p / T)``.

    Parameters
    ----------
    probs : (N, K) array_like of float
        Rows sum to 1.
    temperature : float
        T > 0; 1 returns `probs` (up to the clipping of zeros to ``LOG_LOSS_EPS``).

    Returns
    -------
    (N, K) ndarray of float64

    Raises
    ------
    ValueError
        If `probs` are not probability rows or `temperature` is not > 0.

    Examples
    --------
    >>> apply_temperature(np.array([[0.8, 0.2]]), 2.0).round(4).tolist()
    [[0.6667, 0.3333]]
    """
    probs = _check_probs(probs)
    return _softmax(log_probabilities(probs) / _check_temperature(temperature))


def negative_log_likelihood(probs, y_true) -> float:
    """Mean ``-log p[true class]`` (probabilities clipped to ``LOG_LOSS_EPS``).

    Examples
    --------
    >>> round(negative_log_likelihood(np.array([[0.5, 0.5], [0.9, 0.1]]), [0, 0]), 4)
    0.3993
    """
    probs = _check_probs(probs)
    y_true = _check_labels(y_true, probs)
    return float(-log_probabilities(probs[np.arange(len(y_true)), y_true]).mean())


def fit_temperature(probs, y_true, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
                    ) -> float:
    """The temperature that minimises the validation negative log-likelihood.

    Parameters
    ----------
    probs : (N, K) array_like of float
        Validation probabilities.
    y_true : (N,) array_like of int
        Validation class indices.
    bounds : (float, float)
        Search interval, 0 < low < high (default ``TEMPERATURE_BOUNDS``).

    Returns
    -------
    float
        T in `bounds`.

    Raises
    ------
    ValueError
        Probabilities or labels of the wrong shape or kind; bad `bounds`.

    Examples
    --------
    Every slice predicted ``[0.9, 0.1]`` and three quarters of them right: the best scaled
    confidence is 0.75, reached at ``T = log 9 / log 3 = 2``.

    >>> probs = np.tile([0.9, 0.1], (4, 1))
    >>> round(fit_temperature(probs, [0, 0, 0, 1]), 5)
    2.0
    """
    probs = _check_probs(probs)
    y_true = _check_labels(y_true, probs)
    low, high = bounds
    if not 0 < low < high or not np.isfinite(high):
        raise ValueError(f"`bounds`={bounds!r} must satisfy 0 < low < high < inf.")
    log_p = log_probabilities(probs)
    rows = np.arange(len(y_true))

    def nll(log_t: float) -> float:
        scaled = log_p / np.exp(log_t)
        shift = scaled.max(axis=1)
        log_norm = shift + np.log(np.exp(scaled - shift[:, None]).sum(axis=1))
        return float((log_norm - scaled[rows, y_true]).mean())

    result = minimize_scalar(nll, bounds=(np.log(low), np.log(high)), method="bounded",
                             options={"xatol": _XATOL})
    return float(np.exp(result.x))
