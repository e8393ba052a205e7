"""Figures of the ensemble notebook (06): soft-voting weights, coverage-accuracy curve with the
validated abstention threshold, reliability before and after temperature scaling."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fossilct.plots.evaluation import draw_reliability

__all__ = [
    "plot_ensemble_weights",
    "plot_coverage_accuracy",
    "plot_reliability_before_after",
    "ensemble_figures",
]


def plot_ensemble_weights(spec, *, width_inches: float = 0.6) -> Figure:
    """Bar chart of an ensemble's member weights, each labelled with its temperature.

    Parameters
    ----------
    spec : fossilct.ensemble.EnsembleSpec
        A spec with weights (``member``, ``soft_voting`` or ``top_k``).
    width_inches : float
        Width per member.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If `spec` has no weights (``switching``).

    Examples
    --------
    >>> from fossilct.ensemble import EnsembleSpec
    >>> spec = EnsembleSpec(name="sv", kind="soft_voting", class_names=("a", "b"),
    ...                     members=("m1", "m2"), temperatures=(1.2, 0.8), weights=(0.7, 0.3))
    >>> len(plot_ensemble_weights(spec).axes[0].patches)
    2
    """
    if spec.weights is None:
        raise ValueError(f"ensemble {spec.name!r} of kind {spec.kind!r} has no weights to plot; "
                         "pass a soft_voting, top_k or member spec.")
    n = len(spec.members)
    fig, ax = plt.subplots(figsize=(max(3.2, width_inches * n + 1.5), 3.0))
    x = np.arange(n)
    bars = ax.bar(x, spec.weights, color=["C0" if w > 0 else "0.7" for w in spec.weights])
    for bar, t in zip(bars, spec.temperatures):
        ax.annotate(f"T={t:.2g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, spec.members, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, max(1.0, max(spec.weights)) * 1.12)
    ax.set_ylabel("weight")
    ax.set_title(f"{spec.name}: weights fitted on validation log loss", fontsize=9)
    fig.tight_layout()
    return fig


def plot_coverage_accuracy(curves: pd.DataFrame, *, threshold: float | None,
                           target_accuracy: float | None = None) -> Figure:
    """Accuracy of the accepted slices against coverage, per split, with the chosen threshold.

    Parameters
    ----------
    curves : DataFrame
        :func:`fossilct.ensemble.coverage_accuracy_curve` rows with a ``split`` column
        (``EnsembleResult.coverage``).
    threshold : float or None
        The validated abstention threshold (marked on each curve); None draws no marker.
    target_accuracy : float, optional
        Drawn as a horizontal line.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If a column is missing.

    Examples
    --------
    >>> curves = pd.DataFrame({"threshold": [0.5, 0.9], "coverage": [1.0, 0.5],
    ...                        "accuracy": [0.8, 1.0], "split": ["val", "val"]})
    >>> len(plot_coverage_accuracy(curves, threshold=0.9, target_accuracy=0.95).axes[0].lines)
    3
    """
    missing = [c for c in ("threshold", "coverage", "accuracy", "split") if c not in curves]
    if missing:
        raise ValueError(f"`curves` lacks columns {missing}; pass EnsembleResult.coverage.")
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    for i, (split, curve) in enumerate(curves.groupby("split", sort=False)):
        ax.step(curve["coverage"], curve["accuracy"], where="post", color=f"C{i}", lw=1.2,
                label=split)
        if threshold is not None:
            accepted = curve[curve["threshold"] >= threshold]
            if len(accepted):
                point = accepted.iloc[0]
                ax.plot(point["coverage"], point["accuracy"], "o", color=f"C{i}", ms=5)
    if target_accuracy is not None:
        ax.axhline(target_accuracy, color="k", ls="--", lw=1,
                   label=f"target {target_accuracy:g}")
    ax.set_xlabel("coverage (share of slices answered)")
    ax.set_ylabel("accuracy of answered slices")
    ax.set_xlim(0, 1.02)
    title = ("no threshold reaches the target on validation" if threshold is None
             else f"abstain below top probability {threshold:.3f}")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_reliability_before_after(before: pd.DataFrame, after: pd.DataFrame, *,
                                  ece_before: float | None = None,
                                  ece_after: float | None = None) -> Figure:
    """Reliability diagrams without (left) and with (right) temperature scaling.

    Parameters
    ----------
    before, after : DataFrame
        :func:`fossilct.metrics.reliability_table` outputs.
    ece_before, ece_after : float, optional
        Shown in the titles.

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
    >>> len(plot_reliability_before_after(t, t).axes)
    4
    """
    fig, axes = plt.subplots(2, 2, figsize=(6.8, 4.4), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1]})
    for col, (table, ece, label) in enumerate(((before, ece_before, "without temperature"),
                                               (after, ece_after, "with temperature"))):
        draw_reliability(axes[0, col], axes[1, col], table,
                         title=label + (f" (ECE {ece:.3f})" if ece is not None else ""))
    fig.tight_layout()
    return fig


def ensemble_figures(selection, results) -> dict[str, Figure]:
    """The ensemble step's figures, by file stem.

    Returns
    -------
    dict of str to Figure
        ``weights`` (soft voting, when fitted), ``coverage_accuracy`` and ``reliability``
        (before and after temperature scaling, test) of the chosen ensemble.
    """
    chosen = results[selection.chosen]
    figures = {}
    if "soft_voting" in selection.specs:
        figures["weights"] = plot_ensemble_weights(selection.specs["soft_voting"])
    figures["coverage_accuracy"] = plot_coverage_accuracy(
        chosen.coverage, threshold=chosen.spec.abstention_threshold,
        target_accuracy=chosen.spec.target_accuracy)
    figures["reliability"] = plot_reliability_before_after(
        chosen.uncalibrated["reliability"], chosen.evaluation.reliability,
        ece_before=chosen.uncalibrated["ece"], ece_after=chosen.evaluation.metrics["ece"]["value"])
    return figures
