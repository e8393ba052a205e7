"""Figures of the evaluation notebook (05): confusion matrices, per-species bars, reliability
diagram, ROC curves. Inputs are the tables of :class:`fossilct.evaluation.Evaluation`."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "plot_confusion_matrices",
    "plot_per_species",
    "plot_reliability",
    "draw_reliability",
    "plot_roc_curves",
    "evaluation_figures",
]


def _check_square(counts: pd.DataFrame, normalised: pd.DataFrame) -> None:
    if counts.shape != normalised.shape or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion matrices must be square and of equal shape; got "
                         f"{counts.shape} and {normalised.shape}.")


def plot_confusion_matrices(counts: pd.DataFrame, normalised: pd.DataFrame, *,
                            cell_inches: float = 0.45) -> Figure:
    """Counts (left) and row-normalised (right) confusion matrices, rows = true species.

    Parameters
    ----------
    counts, normalised : (K, K) DataFrame
        From :func:`fossilct.metrics.confusion_matrices`.
    cell_inches : float
        Size of one cell.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If the matrices are not square and of equal shape.

    Examples
    --------
    >>> c = pd.DataFrame([[2, 0], [1, 1]], index=["a", "b"], columns=["a", "b"])
    >>> len(plot_confusion_matrices(c, c / 2).axes)
    4
    """
    _check_square(counts, normalised)
    k = counts.shape[0]
    side = max(3.0, cell_inches * k + 1.5)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.0, side))
    for ax, frame, title, fmt, vmax in ((axes[0], counts, "counts", "d", None),
                                        (axes[1], normalised, "row-normalised (recall)", ".2f",
                                         1.0)):
        values = frame.to_numpy()
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(range(k), frame.columns, rotation=90, fontsize=7)
        ax.set_yticks(range(k), frame.index, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=9)
        if k <= 20:
            threshold = np.nanmax(values) / 2 if np.nanmax(values) > 0 else 1
            for (i, j), v in np.ndenumerate(values):
                if v:
                    ax.text(j, i, format(v if fmt == ".2f" else int(v), fmt), ha="center",
                            va="center", fontsize=6, color="white" if v > threshold else "black")
    fig.tight_layout()
    return fig


def plot_per_species(per_species: pd.DataFrame, *, width_inches: float = 0.55) -> Figure:
    """Grouped bars of precision, recall and F1 per species.

    Parameters
    ----------
    per_species : DataFrame
        From :func:`fossilct.metrics.per_species_report`.
    width_inches : float
        Width per species.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If a column is missing.

    Examples
    --------
    >>> t = pd.DataFrame({"precision": [1.0], "recall": [0.5], "f1": [0.67], "support": [2]},
    ...                  index=["a"])
    >>> len(plot_per_species(t).axes[0].patches)
    3
    """
    missing = [c for c in ("precision", "recall", "f1") if c not in per_species.columns]
    if missing:
        raise ValueError(f"`per_species` lacks columns {missing}; pass per_species_report().")
    k = len(per_species)
    fig, ax = plt.subplots(figsize=(max(4.0, width_inches * k + 1.5), 3.2))
    x = np.arange(k)
    for i, column in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (i - 1) * 0.27, per_species[column], width=0.27, label=column)
    ax.set_xticks(x, per_species.index, rotation=90, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.legend(fontsize=7, ncols=3, loc="lower right")
    fig.tight_layout()
    return fig


def _check_reliability(reliability: pd.DataFrame) -> None:
    needed = ("bin_lower", "bin_upper", "count", "mean_confidence", "accuracy")
    missing = [c for c in needed if c not in reliability.columns]
    if missing:
        raise ValueError(f"`reliability` lacks columns {missing}; pass reliability_table().")


def plot_reliability(reliability: pd.DataFrame, *, ece: float | None = None) -> Figure:
    """Reliability diagram: accuracy per confidence bin against the diagonal, with bin counts.

    Parameters
    ----------
    reliability : DataFrame
        From :func:`fossilct.metrics.reliability_table`.
    ece : float, optional
        Shown in the title.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If a column is missing.

    Examples
    --------
    >>> t = pd.DataFrame({"bin_lower": [0.0, 0.5], "bin_upper": [0.5, 1.0], "count": [0, 2],
    ...                   "mean_confidence": [np.nan, 0.85], "accuracy": [np.nan, 0.5]})
    >>> len(plot_reliability(t, ece=0.35).axes)
    2
    """
    _check_reliability(reliability)
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(3.6, 4.4), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
    draw_reliability(ax, ax_count, reliability,
                     title="reliability" + (f" (ECE {ece:.3f})" if ece is not None else ""))
    fig.tight_layout()
    return fig


def draw_reliability(ax, ax_count, reliability: pd.DataFrame, *, title: str) -> None:
    """Draw a reliability diagram on `ax` and its bin counts on `ax_count` (shared x).

    The drawing of :func:`plot_reliability`, for figures that put several diagrams side by
    side (e.g. before and after temperature scaling).

    Raises
    ------
    ValueError
        If a column of :func:`fossilct.metrics.reliability_table` is missing.
    """
    _check_reliability(reliability)
    width = reliability["bin_upper"] - reliability["bin_lower"]
    filled = reliability["count"] > 0
    ax.bar(reliability["bin_lower"][filled], reliability["accuracy"][filled],
           width=width[filled], align="edge", edgecolor="C0", alpha=0.7, label="accuracy")
    ax.plot(reliability["mean_confidence"][filled], reliability["accuracy"][filled], "o",
            color="C1", ms=3, label="bin mean (confidence, accuracy)")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=9)
    ax_count.bar(reliability["bin_lower"], reliability["count"], width=width, align="edge",
                 color="0.6")
    ax_count.set_xlabel("top-1 confidence")
    ax_count.set_ylabel("slices")
    ax_count.set_xlim(0, 1)


def plot_roc_curves(roc: Mapping[str, pd.DataFrame], *,
                    per_class_auc: Mapping[str, float | None] | None = None) -> Figure:
    """One-vs-rest ROC curves of all classes in one panel.

    Parameters
    ----------
    roc : mapping of str to DataFrame
        From :func:`fossilct.metrics.roc_curves` (columns ``fpr``, ``tpr``).
    per_class_auc : mapping, optional
        Class -> AUC, shown in the legend.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If `roc` is empty.

    Examples
    --------
    >>> curve = pd.DataFrame({"fpr": [0.0, 0.0, 1.0], "tpr": [0.0, 1.0, 1.0]})
    >>> len(plot_roc_curves({"a": curve, "b": curve}).axes[0].lines)
    3
    """
    if not roc:
        raise ValueError("`roc` is empty: no class has both positive and negative test slices.")
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for name, curve in roc.items():
        auc = (per_class_auc or {}).get(name)
        label = name if auc is None else f"{name} ({auc:.3f})"
        ax.plot(curve["fpr"], curve["tpr"], lw=1, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("one-vs-rest ROC", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def evaluation_figures(evaluation) -> dict[str, Figure]:
    """All four figures of a :class:`fossilct.evaluation.Evaluation`, by file stem.

    Returns
    -------
    dict of str to Figure
        ``confusion_matrix``, ``per_species``, ``reliability`` and (when some class has
        positives and negatives) ``roc_curves``.
    """
    figures = {
        "confusion_matrix": plot_confusion_matrices(evaluation.confusion_counts,
                                                    evaluation.confusion_normalised),
        "per_species": plot_per_species(evaluation.per_species),
        "reliability": plot_reliability(evaluation.reliability,
                                        ece=evaluation.metrics["ece"]["value"]),
    }
    if evaluation.roc:
        figures["roc_curves"] = plot_roc_curves(
            evaluation.roc, per_class_auc=evaluation.metrics.get("per_class_auc"))
    return figures
