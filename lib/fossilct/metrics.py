"""Classification metrics with 95% bootstrap intervals that resample specimens, not slices.

Slices of one specimen are strongly correlated, so the specimen is the unit of independence: a
bootstrap replicate draws specimens with replacement and takes all slices of each drawn specimen
along (a specimen drawn twice counts twice). Every metric is computed as a weighted metric with
slice weight = the multiplicity of its specimen in the replicate, which is exact and vectorises
over replicates. Point estimates use weight 1 and agree with scikit-learn's definitions
(``precision_recall_fscore_support`` with zero where undefined, ``balanced_accuracy_score``,
``log_loss``, one-vs-rest ``roc_auc_score``).

Macro averages run over the classes present in the (resampled) test set, i.e. scikit-learn's
``labels=<classes in y_true>``; this equals its default whenever every predicted class also occurs
in ``y_true``, and keeps a replicate that happens to draw no specimen of some species from
scoring that species' F1 as 0 merely because another species' slice was mistaken for it.

The one-vs-rest macro AUC averages over the classes that have both positive and negative test
slices; classes absent from the test set are skipped and reported in ``notes``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METRIC_LABELS",
    "METRIC_SHORT_LABELS",
    "METRIC_KEYS",
    "evaluate_predictions",
    "bootstrap_replicates",
    "per_species_report",
    "confusion_matrices",
    "reliability_table",
    "roc_curves",
]

METRIC_KEYS = (
    "accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1",
    "weighted_precision", "weighted_recall", "weighted_f1", "top3_accuracy", "auc_ovr_macro",
    "log_loss", "ece", "specimen_accuracy",
)
"""Keys of :func:`evaluate_predictions` that hold ``{"value", "ci95"}`` entries."""
METRIC_LABELS = {
    "accuracy": "Accuracy (slice)", "balanced_accuracy": "Balanced accuracy",
    "macro_precision": "Macro precision", "macro_recall": "Macro recall",
    "macro_f1": "Macro F1", "weighted_precision": "Weighted precision",
    "weighted_recall": "Weighted recall", "weighted_f1": "Weighted F1",
    "top3_accuracy": "Top-3 accuracy", "auc_ovr_macro": "AUC (one-vs-rest, macro)",
    "log_loss": "Log loss", "ece": "Expected calibration error",
    "specimen_accuracy": "Accuracy (specimen, mean of its slices)",
}
"""Reader-facing name of every metric (reports, the run's HTML report)."""
METRIC_SHORT_LABELS = {
    "accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy", "macro_f1": "Macro F1",
    "top3_accuracy": "Top-3", "auc_ovr_macro": "AUC", "log_loss": "Log loss", "ece": "ECE",
    "specimen_accuracy": "Specimen accuracy",
}
"""Short names for the columns of wide tables (the leaderboard)."""

DEFAULT_N_BOOTSTRAP = 1000
DEFAULT_ECE_BINS = 15
"""Equal-width confidence bins of the expected calibration error (Guo et al. 2017)."""
TOP_K = 3
LOG_LOSS_EPS = 1e-15
"""Probabilities are clipped to [eps, 1] before the logarithm."""
_CHUNK = 50
"""Bootstrap replicates processed at once (bounds memory to ~CHUNK x n_slices floats)."""


def _check_inputs(y_true, probs, class_names) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[1] != len(class_names):
        raise ValueError(f"`probs` must be (n_slices, n_classes={len(class_names)}); got shape "
                         f"{probs.shape}. Pass one probability column per class name.")
    if y_true.shape != (probs.shape[0],):
        raise ValueError(f"`y_true` must be 1-D with one label per row of `probs` "
                         f"({probs.shape[0]}); got shape {y_true.shape}.")
    if probs.shape[0] == 0:
        raise ValueError("no predictions: `probs` has 0 rows; is the test split empty?")
    if not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0 or (
            y_true.max() >= len(class_names)):
        raise ValueError(f"`y_true` must hold class indices in [0, {len(class_names)}); got "
                         f"dtype {y_true.dtype}, range [{y_true.min()}, {y_true.max()}].")
    if not np.isfinite(probs).all() or (probs < 0).any() or not np.allclose(
            probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("`probs` rows must be finite, non-negative and sum to 1 (softmax "
                         "outputs); got rows summing to "
                         f"[{probs.sum(axis=1).min():.4f}, {probs.sum(axis=1).max():.4f}].")
    return y_true.astype(np.int64), probs


def _specimen_index(specimen_ids, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Specimen number of each slice, and the (single) true class of each specimen."""
    specimen_ids = np.asarray(specimen_ids)
    if specimen_ids.shape != y_true.shape:
        raise ValueError(f"`specimen_ids` must have one entry per slice ({y_true.shape[0]}); got "
                         f"shape {specimen_ids.shape}.")
    _, group = np.unique(specimen_ids.astype(str), return_inverse=True)
    n_groups = group.max() + 1
    low = np.full(n_groups, np.iinfo(np.int64).max)
    high = np.full(n_groups, -1)
    np.minimum.at(low, group, y_true)
    np.maximum.at(high, group, y_true)
    mixed = np.flatnonzero(low != high)
    if mixed.size:
        names = np.unique(specimen_ids.astype(str))[mixed[:3]].tolist()
        raise ValueError(f"specimen(s) {names} have slices of different species; a specimen "
                         "belongs to one species. Check specimen_id / species in the manifest.")
    return group, low


def _slice_statistics(y_true, probs, n_bins) -> tuple[np.ndarray, dict]:
    """Per-slice additive statistics (columns of one matrix) and where each one sits."""
    n, k = probs.shape
    pred = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    correct = (pred == y_true).astype(np.float64)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :min(TOP_K, k)]
    in_top = (top == y_true[:, None]).any(axis=1).astype(np.float64)
    nll = -np.log(np.clip(probs[np.arange(n), y_true], LOG_LOSS_EPS, 1.0))
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    cells = np.zeros((n, k * k))
    cells[np.arange(n), y_true * k + pred] = 1.0
    onehot_bin = np.zeros((n, n_bins))
    onehot_bin[np.arange(n), bins] = 1.0
    columns = [cells, in_top[:, None], nll[:, None], onehot_bin, onehot_bin * confidence[:, None],
               onehot_bin * correct[:, None], np.ones((n, 1))]
    edges = np.cumsum([0] + [c.shape[1] for c in columns])
    names = ["cells", "top", "nll", "bin_n", "bin_conf", "bin_correct", "n"]
    return np.hstack(columns), {name: slice(a, b) for name, a, b in zip(names, edges, edges[1:])}


def _classification_scores(sums: np.ndarray, where: dict, k: int, n_bins: int) -> dict:
    """Metrics of B weighted replicates from their summed statistics (B, F)."""
    b = sums.shape[0]
    conf = sums[:, where["cells"]].reshape(b, k, k)
    total = sums[:, where["n"]][:, 0]
    tp = np.einsum("bii->bi", conf)
    support = conf.sum(axis=2)
    predicted = conf.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        present = support > 0
        n_present = present.sum(axis=1)
        weights = support / support.sum(axis=1, keepdims=True)
        out = {
            "accuracy": tp.sum(axis=1) / total,
            "balanced_accuracy": (recall * (support > 0)).sum(axis=1) / (support > 0).sum(axis=1),
            "top3_accuracy": sums[:, where["top"]][:, 0] / total,
            "log_loss": sums[:, where["nll"]][:, 0] / total,
            "ece": np.abs(sums[:, where["bin_correct"]] - sums[:, where["bin_conf"]]).sum(axis=1)
            / total,
        }
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            out[f"macro_{name}"] = (values * present).sum(axis=1) / n_present
            out[f"weighted_{name}"] = (values * weights).sum(axis=1)
    return out


def _auc_per_class(probs, y_true, weights) -> np.ndarray:
    """One-vs-rest AUC of each class for each row of slice `weights` (B, N) -> (B, K).

    Weighted Mann-Whitney statistic with ties counted one half; NaN where a class has no
    positive or no negative weight.
    """
    b, k = weights.shape[0], probs.shape[1]
    auc = np.full((b, k), np.nan)
    for c in range(k):
        order = np.argsort(probs[:, c], kind="stable")
        scores = probs[order, c]
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
        w = weights[:, order]
        positive = (y_true[order] == c)
        pos = np.add.reduceat(w * positive, starts, axis=1)
        neg = np.add.reduceat(w * ~positive, starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc[:, c] = (pos * (below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
    return auc


def _specimen_accuracy(probs, y_true_specimen, group, weights) -> np.ndarray:
    """Accuracy of the specimens' weighted mean probabilities; specimen weight = mean slice
    weight (its multiplicity when whole specimens are resampled)."""
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
    w = weights[:, order]
    mass = np.add.reduceat(w, starts, axis=1)
    summed = np.stack([np.add.reduceat(w * probs[order, c], starts, axis=1)
                       for c in range(probs.shape[1])], axis=2)
    correct = summed.argmax(axis=2) == y_true_specimen[None, :]
    specimen_weight = mass / np.bincount(group)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (specimen_weight * correct).sum(axis=1) / specimen_weight.sum(axis=1)


def _all_scores(probs, y_true, group, y_true_specimen, stats, where, weights, k, n_bins):
    sums = weights @ stats
    scores = _classification_scores(sums, where, k, n_bins)
    auc = _auc_per_class(probs, y_true, weights)
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(auc)
        scores["auc_ovr_macro"] = np.where(valid.any(axis=1),
                                           np.nansum(auc, axis=1) / np.maximum(valid.sum(1), 1),
                                           np.nan)
    scores["specimen_accuracy"] = _specimen_accuracy(probs, y_true_specimen, group, weights)
    return scores


def _entry(value: float, replicates: np.ndarray | None) -> dict:
    value = None if not np.isfinite(value) else float(value)
    if replicates is None or not np.isfinite(replicates).any():
        return {"value": value, "ci95": None}
    low, high = np.nanpercentile(replicates, [2.5, 97.5])
    return {"value": value, "ci95": [float(low), float(high)]}


def _check_options(n_bootstrap, resample: str, n_bins: int, *, minimum: int = 0) -> None:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or (
            n_bootstrap < minimum):
        raise ValueError(f"`n_bootstrap` must be an int >= {minimum}; got {n_bootstrap!r}.")
    if resample not in ("specimen", "slice"):
        raise ValueError(f"`resample`={resample!r}; choose 'specimen' or 'slice'.")
    if n_bins < 1:
        raise ValueError(f"`n_bins`={n_bins} must be >= 1.")


def _scorer(y_true, probs, group, y_true_specimen, n_bins):
    """Function of slice weights (B, N) -> dict of (B,) scores."""
    stats, where = _slice_statistics(y_true, probs, n_bins)
    return lambda w: _all_scores(probs, y_true, group, y_true_specimen, stats, where, w,
                                 probs.shape[1], n_bins)


def _replicates(compute, group, n_bootstrap: int, rng, resample: str) -> dict:
    """Scores of `n_bootstrap` replicates; the draws depend only on `rng` and the unit count."""
    generator = np.random.default_rng(rng)
    units = group if resample == "specimen" else np.arange(len(group))
    n_units = units.max() + 1
    chunks = []
    for start in range(0, n_bootstrap, _CHUNK):
        size = min(_CHUNK, n_bootstrap - start)
        counts = generator.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=size)
        chunks.append(compute(counts[:, units].astype(np.float64)))
    return {key: np.concatenate([c[key] for c in chunks]) for key in METRIC_KEYS}


def evaluate_predictions(y_true, probs, *, specimen_ids, class_names: Sequence[str],
                         n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
                         rng: int | np.random.Generator = 0, resample: str = "specimen",
                         n_bins: int = DEFAULT_ECE_BINS) -> dict:
    """Test-set metrics, each with a 95% bootstrap interval over specimens.

    Parameters
    ----------
    y_true : (N,) ndarray of int
        True class index of each slice.
    probs : (N, K) ndarray of float
        Predicted probabilities (rows sum to 1).
    specimen_ids : (N,) array-like
        Specimen of each slice; all slices of a specimen must share its class.
    class_names : sequence of str, length K
    n_bootstrap : int
        Replicates (default 1000); 0 gives ``ci95`` None.
    rng : int or numpy.random.Generator
        Seed of the bootstrap draws.
    resample : {"specimen", "slice"}
        Unit drawn with replacement. ``"slice"`` treats correlated slices as independent and
        gives too narrow intervals; it exists to show that.
    n_bins : int
        Bins of the expected calibration error (default 15).

    Returns
    -------
    dict
        For each of ``METRIC_KEYS``: ``{"value": float or None, "ci95": [low, high] or None}``
        (None where undefined, e.g. AUC without any class having positives and negatives).
        ``top3_accuracy`` uses the top min(3, K). Also ``n_slices``, ``n_specimens``,
        ``bootstrap`` ({"n", "unit"}), ``per_class_auc`` (class -> value or None) and ``notes``
        (list of str, e.g. classes skipped by the AUC).

    Raises
    ------
    ValueError
        Shapes that do not match, labels out of range, probabilities that are not
        distributions, a specimen with two species, a bad `n_bootstrap` / `resample`.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])
    >>> result = evaluate_predictions([0, 0, 1, 1], probs, specimen_ids=["a", "a", "b", "c"],
    ...                               class_names=["x", "y"], n_bootstrap=50)
    >>> result["accuracy"]["value"], result["auc_ovr_macro"]["value"], result["n_specimens"]
    (1.0, 1.0, 3)
    """
    y_true, probs = _check_inputs(y_true, probs, class_names)
    group, y_true_specimen = _specimen_index(specimen_ids, y_true)
    _check_options(n_bootstrap, resample, n_bins)
    k = probs.shape[1]
    compute = _scorer(y_true, probs, group, y_true_specimen, n_bins)
    point = compute(np.ones((1, len(y_true))))
    replicates = (_replicates(compute, group, n_bootstrap, rng, resample) if n_bootstrap
                  else None)

    result = {key: _entry(point[key][0], None if replicates is None else replicates[key])
              for key in METRIC_KEYS}
    auc = _auc_per_class(probs, y_true, np.ones((1, len(y_true))))[0]
    skipped = [class_names[c] for c in range(k) if np.isnan(auc[c])]
    notes = []
    if skipped:
        notes.append(f"AUC skips class(es) {skipped}: no test slices of theirs (or no others), "
                     "so their one-vs-rest AUC is undefined.")
    result.update(
        n_slices=int(len(y_true)), n_specimens=int(group.max() + 1),
        bootstrap={"n": int(n_bootstrap), "unit": resample},
        per_class_auc={name: (None if np.isnan(a) else float(a))
                       for name, a in zip(class_names, auc)},
        notes=notes,
    )
    return result


def bootstrap_replicates(y_true, probs, *, specimen_ids, class_names: Sequence[str],
                         n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
                         rng: int | np.random.Generator = 0, resample: str = "specimen",
                         n_bins: int = DEFAULT_ECE_BINS) -> dict[str, np.ndarray]:
    """The bootstrap replicates behind :func:`evaluate_predictions`' intervals.

    With the same arguments, the 2.5 and 97.5 percentiles of each array are that function's
    ``ci95``. The resample of replicate ``b`` depends only on `rng` and on the number of
    specimens, so two models' predictions of the same slices called with the same integer `rng`
    are scored on the same resamples: the difference of their arrays is a paired bootstrap.

    Parameters
    ----------
    y_true, probs, specimen_ids, class_names, rng, resample, n_bins
        As :func:`evaluate_predictions`.
    n_bootstrap : int
        Replicates, >= 1.

    Returns
    -------
    dict of str to (n_bootstrap,) ndarray of float64
        One entry per ``METRIC_KEYS``; NaN where a replicate leaves a metric undefined.

    Raises
    ------
    ValueError
        As :func:`evaluate_predictions`; `n_bootstrap` < 1.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])
    >>> reps = bootstrap_replicates([0, 0, 1, 1], probs, specimen_ids=["a", "a", "b", "c"],
    ...                             class_names=["x", "y"], n_bootstrap=5)
    >>> reps["accuracy"].tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    y_true, probs = _check_inputs(y_true, probs, class_names)
    group, y_true_specimen = _specimen_index(specimen_ids, y_true)
    _check_options(n_bootstrap, resample, n_bins, minimum=1)
    return _replicates(_scorer(y_true, probs, group, y_true_specimen, n_bins), group,
                       n_bootstrap, rng, resample)


def per_species_report(y_true, probs, *, class_names: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support of each species (scikit-learn's zero-division = 0).

    Returns
    -------
    DataFrame
        Index ``species`` (the class names, in order); columns ``precision``, ``recall``,
        ``f1``, ``support`` (int).

    Examples
    --------
    >>> per_species_report([0, 1, 1], np.eye(2)[[0, 0, 1]], class_names=["a", "b"])["recall"].tolist()
    [1.0, 0.5]
    """
    y_true, probs = _check_inputs(y_true, probs, class_names)
    counts, _ = confusion_matrices(y_true, probs, class_names=class_names)
    conf = counts.to_numpy().astype(np.float64)
    tp, support, predicted = np.diag(conf), conf.sum(axis=1), conf.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame({
            "precision": np.where(predicted > 0, tp / predicted, 0.0),
            "recall": np.where(support > 0, tp / support, 0.0),
            "f1": np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0),
            "support": support.astype(int),
        }, index=pd.Index(list(class_names), name="species"))
    return frame


def confusion_matrices(y_true, probs, *, class_names: Sequence[str]
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Confusion matrix of the top-1 predictions: counts and row-normalised.

    Returns
    -------
    counts : DataFrame of int
        Rows = true species (index ``true``), columns = predicted species (``predicted``).
    normalised : DataFrame of float
        Each row divided by its total (the recall of that species on the diagonal); rows of
        species without test slices are 0.

    Examples
    --------
    >>> counts, normalised = confusion_matrices([0, 1, 1], np.eye(2)[[0, 0, 1]],
    ...                                         class_names=["a", "b"])
    >>> counts.to_numpy().tolist(), normalised.to_numpy().tolist()
    ([[1, 0], [1, 1]], [[1.0, 0.0], [0.5, 0.5]])
    """
    y_true, probs = _check_inputs(y_true, probs, class_names)
    k = len(class_names)
    conf = np.bincount(y_true * k + probs.argmax(axis=1), minlength=k * k).reshape(k, k)
    rows = conf.sum(axis=1, keepdims=True)
    normalised = np.divide(conf, rows, out=np.zeros(conf.shape), where=rows > 0)
    index = pd.Index(list(class_names), name="true")
    columns = pd.Index(list(class_names), name="predicted")
    return (pd.DataFrame(conf, index=index, columns=columns),
            pd.DataFrame(normalised, index=index, columns=columns))


def reliability_table(y_true, probs, *, n_bins: int = DEFAULT_ECE_BINS) -> pd.DataFrame:
    """Reliability-diagram data: per confidence bin, mean top-1 confidence and accuracy.

    Returns
    -------
    DataFrame
        One row per bin: ``bin_lower``, ``bin_upper``, ``count``, ``mean_confidence``,
        ``accuracy`` (NaN for empty bins). ECE = sum(count * |accuracy - mean_confidence|) / N.

    Examples
    --------
    >>> table = reliability_table([0, 1], np.array([[0.9, 0.1], [0.8, 0.2]]), n_bins=2)
    >>> table["count"].tolist(), table["accuracy"].tolist()[1]
    ([0, 2], 0.5)
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true, probs = _check_inputs(y_true, probs, [str(i) for i in range(probs.shape[-1])])
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame({"bin_lower": edges[:-1], "bin_upper": edges[1:], "count": count,
                         "mean_confidence": mean_conf, "accuracy": accuracy})


def roc_curves(y_true, probs, *, class_names: Sequence[str]) -> dict[str, pd.DataFrame]:
    """One-vs-rest ROC curve of each class that has positive and negative test slices.

    Returns
    -------
    dict of str to DataFrame
        Class name -> columns ``fpr``, ``tpr``, ``threshold``; classes without positives or
        negatives are left out (their AUC is undefined).

    Examples
    --------
    >>> curves = roc_curves([0, 1], np.array([[0.8, 0.2], [0.3, 0.7]]), class_names=["a", "b"])
    >>> sorted(curves), float(curves["a"]["tpr"].iloc[-1])
    (['a', 'b'], 1.0)
    """
    from sklearn.metrics import roc_curve

    y_true, probs = _check_inputs(y_true, probs, class_names)
    curves = {}
    for c, name in enumerate(class_names):
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, threshold = roc_curve(positive, probs[:, c])
        curves[name] = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": threshold})
    return curves
