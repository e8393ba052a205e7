"""Figures of the training notebook (04): learning curves with the two phases marked."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_training_curves"]


def plot_training_curves(history: Mapping[str, Sequence[float]], *,
                         panel_inches: float = 3.2) -> Figure:
    """Loss and accuracy per epoch, training and validation, phase 1 shaded, best epoch marked.

    Parameters
    ----------
    history : mapping of str to sequence
        As returned by :func:`fossilct.training.fit_model`: ``epoch``, ``phase``, ``loss``,
        ``val_loss`` and optionally ``accuracy``, ``val_accuracy``.
    panel_inches : float
        Height of a panel.

    Returns
    -------
    Figure
        One panel for the loss, one for the accuracy (when present). The best epoch is the one
        with the lowest validation loss, i.e. the weights that were kept.

    Raises
    ------
    ValueError
        If a required entry is missing or the history is empty.

    Examples
    --------
    >>> fig = plot_training_curves({"epoch": [1, 2, 3], "phase": [1, 2, 2],
    ...                             "loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.95]})
    >>> len(fig.axes)
    1
    """
    missing = [k for k in ("epoch", "phase", "loss", "val_loss") if k not in history]
    if missing:
        raise ValueError(f"`history` lacks {missing}; pass the dict fit_model returned.")
    epochs = np.asarray(history["epoch"])
    if epochs.size == 0:
        raise ValueError("`history` is empty: no epoch was trained.")
    phases = np.asarray(history["phase"])
    best = epochs[int(np.argmin(history["val_loss"]))]
    metrics = [m for m in ("loss", "accuracy") if m in history]
    fig, axes = plt.subplots(1, len(metrics), squeeze=False,
                             figsize=(1.6 * panel_inches * len(metrics), panel_inches))
    for ax, metric in zip(axes[0], metrics):
        ax.plot(epochs, history[metric], "o-", ms=3, label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s-", ms=3, label="validation")
        if (phases == 1).any():
            ax.axvspan(epochs[phases == 1].min() - 0.5, epochs[phases == 1].max() + 0.5,
                       color="0.9", zorder=0, label="phase 1 (frozen backbone)")
        ax.axvline(best, color="C3", ls="--", lw=1, label=f"kept: epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
