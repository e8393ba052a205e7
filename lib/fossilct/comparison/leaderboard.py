"""The leaderboard: every model's test metrics with 95% specimen-bootstrap intervals.

Metrics come from :func:`fossilct.metrics.evaluate_predictions`, with the same seed for every
model, so that a model evaluated here and in the evaluation step with the same seed and number
of replicates gets the very same intervals. Training time and inference throughput are not
measured here; when given, they become columns.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from fossilct import metrics
from fossilct.predictions import AlignedPredictions

__all__ = [
    "LEADERBOARD_METRICS",
    "LOWER_IS_BETTER",
    "evaluate_models",
    "leaderboard_table",
]

LEADERBOARD_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "top3_accuracy",
                       "auc_ovr_macro", "log_loss", "ece", "specimen_accuracy")
"""Metrics of the leaderboard, in column order."""
LOWER_IS_BETTER = ("log_loss", "ece")


def evaluate_models(test: AlignedPredictions, *,
                    n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP, rng: int = 0) -> dict:
    """Model -> :func:`fossilct.metrics.evaluate_predictions` of its test predictions.

    Raises
    ------
    ValueError
        As :func:`fossilct.metrics.evaluate_predictions`.
    """
    return {name: metrics.evaluate_predictions(test.y_true, p, specimen_ids=test.specimen_ids,
                                               class_names=list(test.class_names),
                                               n_bootstrap=n_bootstrap, rng=rng)
            for name, p in test.by_model().items()}


def _check_resources(resources: Mapping[str, Mapping[str, float]] | None, models) -> dict:
    if resources is None:
        return {}
    unknown = sorted(set(resources) - set(models))
    if unknown:
        raise ValueError(f"`resources` names models {unknown} that are not compared "
                         f"({list(models)}); fix the names.")
    for model, values in resources.items():
        for column, value in values.items():
            if column in LEADERBOARD_METRICS or column == "model" or column.endswith(
                    ("_ci_low", "_ci_high")):
                raise ValueError(f"`resources[{model!r}]` column {column!r} collides with a "
                                 "leaderboard column; name it e.g. 'train_seconds'.")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    np.isfinite(value) and value >= 0):
                raise ValueError(f"`resources[{model!r}][{column!r}]`={value!r} must be a "
                                 "finite number >= 0.")
    return dict(resources)


def leaderboard_table(model_metrics: Mapping[str, Mapping], *, rank_by: str = "macro_f1",
                      resources: Mapping[str, Mapping[str, float]] | None = None
                      ) -> pd.DataFrame:
    """One row per model, best first.

    Parameters
    ----------
    model_metrics : mapping of str to dict
        From :func:`evaluate_models`.
    rank_by : str
        One of ``LEADERBOARD_METRICS``; ``log_loss`` and ``ece`` rank lower first, the others
        higher first; ties keep the input order.
    resources : mapping of str to mapping of str to float, optional
        Model -> extra numeric columns (e.g. ``{"train_seconds": 812.0,
        "slices_per_second": 310.0}``), measured elsewhere; models without them get NaN.

    Returns
    -------
    DataFrame
        ``rank``, ``model``, then for each metric ``<metric>``, ``<metric>_ci_low``,
        ``<metric>_ci_high`` (NaN where undefined), then the resource columns.

    Raises
    ------
    ValueError
        Unknown `rank_by`, no models, resources for unknown models or of the wrong kind.

    Examples
    --------
    >>> m = {k: {"value": 0.5, "ci95": [0.4, 0.6]} for k in LEADERBOARD_METRICS}
    >>> better = {**m, "macro_f1": {"value": 0.7, "ci95": [0.6, 0.8]}}
    >>> leaderboard_table({"a": m, "b": better})["model"].tolist()
    ['b', 'a']
    """
    if rank_by not in LEADERBOARD_METRICS:
        raise ValueError(f"`rank_by`={rank_by!r}; choose one of {LEADERBOARD_METRICS}.")
    if not model_metrics:
        raise ValueError("`model_metrics` is empty: pass at least one evaluated model.")
    resources = _check_resources(resources, model_metrics)
    rows = []
    for name, result in model_metrics.items():
        row = {"model": name}
        for key in LEADERBOARD_METRICS:
            entry = result[key]
            ci = entry.get("ci95") or [None, None]
            row.update({key: entry["value"], f"{key}_ci_low": ci[0], f"{key}_ci_high": ci[1]})
        row.update(resources.get(name, {}))
        rows.append(row)
    table = pd.DataFrame(rows)
    metric_columns = [c for c in table.columns if c != "model"]
    table[metric_columns] = table[metric_columns].astype(np.float64)
    table = table.sort_values(rank_by, ascending=rank_by in LOWER_IS_BETTER, kind="stable",
                              na_position="last").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table
