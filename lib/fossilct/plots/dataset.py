"""Figures of the dataset notebooks (01 inventory, 02 slices, 03 split)."""

from __future__ import annotations

from typing import Mapping

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["plot_mid_slice_gallery"]

AXIS_NAMES = ("plane", "row", "col")


def _mid_slices(volume: np.ndarray, *, bright_percentile: float = 97.0) -> list[np.ndarray]:
    """The three orthogonal sections through the centroid of the brightest voxels.

    Cutting through the bright (dense) voxels rather than the volume centre keeps an off-centre
    fossil in view without segmenting it.
    """
    threshold = np.percentile(volume, bright_percentile)
    bright = volume > threshold
    if not bright.any():  # constant volume, or the object is larger than the top percentiles
        bright = volume >= threshold
    p, m, n = np.round(np.argwhere(bright).mean(axis=0)).astype(int)
    return [volume[p], volume[:, m], volume[:, :, n]]


def plot_mid_slice_gallery(examples: Mapping[str, np.ndarray], *, panel_inches: float = 1.8
                           ) -> Figure:
    """Orthogonal mid-slices of one volume per label, one row per label.

    Parameters
    ----------
    examples : mapping of str to (P, M, N) ndarray
        Label (e.g. ``"species · specimen"``, shown on two lines) -> volume; each panel is scaled to its volume's 1st..99th
        percentile so that noisy scans stay readable.
    panel_inches : float
        Edge of one panel.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If `examples` is empty or a volume is not 3-D.
    """
    if not examples:
        raise ValueError("`examples` is empty: no volume to show. Check that the inventory "
                         "selected at least one species.")
    for label, volume in examples.items():
        if np.ndim(volume) != 3:
            raise ValueError(f"`examples[{label!r}]` must be 3-D (plane, row, col); got shape "
                             f"{np.shape(volume)}.")
    fig, axes = plt.subplots(len(examples), 3, squeeze=False,
                             figsize=(3 * panel_inches, len(examples) * panel_inches))
    for row, (label, volume) in enumerate(examples.items()):
        low, high = np.percentile(volume, [1, 99])
        for col, (section, axis) in enumerate(zip(_mid_slices(volume), AXIS_NAMES)):
            ax = axes[row, col]
            ax.imshow(section, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"normal to {axis}", fontsize=8)
        axes[row, 0].set_ylabel(label.replace(" · ", "\n"), fontsize=7)
    fig.tight_layout()
    return fig
