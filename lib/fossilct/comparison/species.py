"""Strengths and weaknesses per species: F1 of every model, the best and worst model of each
species, and the confusions that every model makes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fossilct import metrics
from fossilct.predictions import AlignedPredictions

__all__ = ["per_species_f1_table", "species_extremes", "common_confusions"]


def per_species_f1_table(test: AlignedPredictions) -> pd.DataFrame:
    """F1 of each model (rows, in ``test.models`` order) on each species (columns).

    Species without test slices have F1 0 (scikit-learn's zero-division convention).
    """
    rows = {name: metrics.per_species_report(test.y_true, p,
                                             class_names=list(test.class_names))["f1"]
            for name, p in test.by_model().items()}
    table = pd.DataFrame(rows).T
    table.index.name, table.columns.name = "model", "species"
    return table


def species_extremes(f1_table: pd.DataFrame) -> pd.DataFrame:
    """Best and worst model of each species by F1.

    Parameters
    ----------
    f1_table : DataFrame
        From :func:`per_species_f1_table` (models x species).

    Returns
    -------
    DataFrame
        Index ``species``: ``best_model``, ``best_f1``, ``worst_model``, ``worst_f1``,
        ``spread`` (best - worst). Ties go to the model listed first.

    Raises
    ------
    ValueError
        If the table is empty.

    Examples
    --------
    >>> f1 = pd.DataFrame({"x": [0.9, 0.5], "y": [0.2, 0.4]}, index=["m1", "m2"])
    >>> species_extremes(f1)[["best_model", "worst_model"]].to_dict("list")
    {'best_model': ['m1', 'm2'], 'worst_model': ['m2', 'm1']}
    """
    if f1_table.empty:
        raise ValueError("`f1_table` is empty: pass per_species_f1_table of at least one model.")
    values = f1_table.to_numpy(dtype=np.float64)
    best, worst = values.argmax(axis=0), values.argmin(axis=0)
    columns = np.arange(values.shape[1])
    table = pd.DataFrame({
        "best_model": f1_table.index[best], "best_f1": values[best, columns],
        "worst_model": f1_table.index[worst], "worst_f1": values[worst, columns],
    }, index=pd.Index(f1_table.columns, name="species"))
    table["spread"] = table["best_f1"] - table["worst_f1"]
    return table


def common_confusions(test: AlignedPredictions) -> pd.DataFrame:
    """True -> predicted pairs that every model gets wrong at least once.

    Returns
    -------
    DataFrame
        ``true``, ``predicted``, one count column per model and ``min_count`` (the count that
        every model reaches), sorted by ``min_count`` then ``true``, ``predicted``; empty when
        no confusion is shared by all models.
    """
    counts = {name: metrics.confusion_matrices(test.y_true, p,
                                               class_names=list(test.class_names))[0]
              for name, p in test.by_model().items()}
    stacked = np.stack([c.to_numpy() for c in counts.values()])
    shared = (stacked > 0).all(axis=0)
    np.fill_diagonal(shared, False)
    true_idx, pred_idx = np.nonzero(shared)
    names = np.asarray(test.class_names)
    table = pd.DataFrame({"true": names[true_idx], "predicted": names[pred_idx]})
    for m, name in enumerate(counts):
        table[name] = stacked[m, true_idx, pred_idx].astype(int)
    table["min_count"] = stacked[:, true_idx, pred_idx].min(axis=0).astype(int)
    return table.sort_values(["min_count", "true", "predicted"],
                             ascending=[False, True, True]).reset_index(drop=True)
