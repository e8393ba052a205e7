"""Figures of the comparison notebook (08): leaderboard bars with 95% intervals, per-species F1
heat map, pairwise significance matrix. Inputs are the tables of
:class:`fossilct.comparison.Comparison`."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "LEADERBOARD_BARS",
    "plot_leaderboard",
    "plot_species_f1",
    "plot_pairwise_significance",
    "comparison_figures",
]

LEADERBOARD_BARS = ("accuracy", "balanced_accuracy", "macro_f1", "specimen_accuracy")
"""Metrics drawn as bars by default (all on the 0..1 scale where higher is better)."""


def plot_leaderboard(board: pd.DataFrame, *, metrics: Sequence[str] = LEADERBOARD_BARS,
                     width_inches: float = 0.5) -> Figure:
    """Grouped bars: one group per model (leaderboard order), one bar per metric, whiskers at
    the 95% interval.

    Parameters
    ----------
    board : DataFrame
        :func:`fossilct.comparison.leaderboard_table`.
    metrics : sequence of str
        Columns with ``<metric>_ci_low`` / ``_ci_high`` companions.
    width_inches : float
        Width per model.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If a column is missing.

    Examples
    --------
    >>> board = pd.DataFrame({"model": ["a", "b"], "accuracy": [0.9, 0.8],
    ...                       "accuracy_ci_low": [0.85, 0.7], "accuracy_ci_high": [0.95, 0.9]})
    >>> len(plot_leaderboard(board, metrics=["accuracy"]).axes[0].patches)
    2
    """
    needed = ["model"] + [f"{m}{s}" for m in metrics for s in ("", "_ci_low", "_ci_high")]
    missing = [c for c in needed if c not in board.columns]
    if missing:
        raise ValueError(f"`board` lacks columns {missing}; pass leaderboard_table().")
    n, k = len(board), len(metrics)
    fig, ax = plt.subplots(figsize=(max(4.0, width_inches * n * max(k, 2) / 2 + 2.0), 3.4))
    x = np.arange(n)
    width = 0.8 / k
    for i, metric in enumerate(metrics):
        values = board[metric].to_numpy(dtype=float)
        errors = np.abs(np.vstack([values - board[f"{metric}_ci_low"].to_numpy(dtype=float),
                                   board[f"{metric}_ci_high"].to_numpy(dtype=float) - values]))
        ax.bar(x + (i - (k - 1) / 2) * width, values, width=width, label=metric,
               yerr=np.nan_to_num(errors), capsize=2, error_kw={"lw": 0.8})
    ax.set_xticks(x, board["model"], rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test score (95% CI)")
    ax.legend(fontsize=7, ncols=min(k, 4), loc="lower right")
    fig.tight_layout()
    return fig


def plot_species_f1(f1_table: pd.DataFrame, *, cell_inches: float = 0.42) -> Figure:
    """Heat map of per-species F1 (rows models, columns species), values written in the cells.

    Parameters
    ----------
    f1_table : DataFrame
        :func:`fossilct.comparison.per_species_f1_table`.
    cell_inches : float

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If the table is empty.

    Examples
    --------
    >>> f1 = pd.DataFrame([[0.9, 0.5], [0.7, 0.6]], index=["m1", "m2"], columns=["a", "b"])
    >>> plot_species_f1(f1).axes[0].get_xlabel()
    'species'
    """
    if f1_table.empty:
        raise ValueError("`f1_table` is empty: pass per_species_f1_table of at least one model.")
    values = f1_table.to_numpy(dtype=float)
    m, k = values.shape
    fig, ax = plt.subplots(figsize=(max(3.5, cell_inches * k + 2.5), max(2.0, cell_inches * m
                                                                          + 1.4)))
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="F1")
    ax.set_xticks(range(k), f1_table.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(m), f1_table.index, fontsize=7)
    ax.set_xlabel("species")
    ax.set_ylabel("model")
    if k * m <= 400:
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if v > 0.6 else "white")
    fig.tight_layout()
    return fig


def plot_pairwise_significance(pairwise: pd.DataFrame, *, models: Sequence[str],
                               alpha: float = 0.05, cell_inches: float = 0.55) -> Figure:
    """Matrix of accuracy differences (row minus column) with Holm-significant pairs marked.

    The equivalent of a critical-difference diagram for one test set: a cell is starred when
    the paired specimen bootstrap's Holm-adjusted p-value is below `alpha`.

    Parameters
    ----------
    pairwise : DataFrame
        :func:`fossilct.comparison.pairwise_tests`.
    models : sequence of str
        Row and column order (e.g. the leaderboard's).
    alpha : float
        Family-wise significance level.
    cell_inches : float

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        Missing columns, or a pair whose model is not in `models`.

    Examples
    --------
    >>> pairs = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "accuracy_difference": [0.1],
    ...                       "bootstrap_p_holm": [0.01]})
    >>> plot_pairwise_significance(pairs, models=["x", "y"]).axes[0].get_title()
    'accuracy difference, row - column (* Holm p < 0.05)'
    """
    needed = ("model_a", "model_b", "accuracy_difference", "bootstrap_p_holm")
    missing = [c for c in needed if c not in pairwise.columns]
    if missing:
        raise ValueError(f"`pairwise` lacks columns {missing}; pass pairwise_tests().")
    index = {name: i for i, name in enumerate(models)}
    unknown = sorted((set(pairwise["model_a"]) | set(pairwise["model_b"])) - set(index))
    if unknown:
        raise ValueError(f"`pairwise` names models {unknown} that are not in `models`.")
    n = len(models)
    diff = np.full((n, n), np.nan)
    significant = np.zeros((n, n), bool)
    for row in pairwise.to_dict("records"):
        i, j = index[row["model_a"]], index[row["model_b"]]
        diff[i, j], diff[j, i] = row["accuracy_difference"], -row["accuracy_difference"]
        significant[i, j] = significant[j, i] = row["bootstrap_p_holm"] < alpha
    limit = max(np.nanmax(np.abs(diff)) if np.isfinite(diff).any() else 0.0, 1e-3)
    side = max(3.2, cell_inches * n + 1.8)
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    image = ax.imshow(diff, cmap="RdBu", vmin=-limit, vmax=limit)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="accuracy difference")
    ax.set_xticks(range(n), models, rotation=90, fontsize=7)
    ax.set_yticks(range(n), models, fontsize=7)
    for (i, j), v in np.ndenumerate(diff):
        if np.isfinite(v):
            ax.text(j, i, f"{v:+.2f}" + ("*" if significant[i, j] else ""), ha="center",
                    va="center", fontsize=6)
    ax.set_title(f"accuracy difference, row - column (* Holm p < {alpha:g})", fontsize=9)
    fig.tight_layout()
    return fig


def comparison_figures(comparison) -> dict[str, Figure]:
    """All comparison figures, by file stem: ``leaderboard``, ``species_f1`` and (with two or
    more models) ``pairwise_significance``."""
    figures = {"leaderboard": plot_leaderboard(comparison.leaderboard),
               "species_f1": plot_species_f1(
                   comparison.per_species_f1.loc[comparison.leaderboard["model"]])}
    if len(comparison.pairwise):
        figures["pairwise_significance"] = plot_pairwise_significance(
            comparison.pairwise, models=list(comparison.leaderboard["model"]))
    return figures
