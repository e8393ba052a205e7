"""Figures of the dataset notebooks (01 inventory, 02 slices, 03 split)."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "plot_mid_slice_gallery",
    "plot_slice_gallery",
    "plot_foreground_histogram",
    "plot_split_balance",
]

SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}

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
        Label (e.g. ``"species · specimen"``, shown on two lines) -> volume; each panel is
        scaled to its volume's 1st..99th percentile so that noisy scans stay readable.
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


def plot_slice_gallery(examples, *, per_species: int = 3, panel_inches: float = 1.2) -> Figure:
    """Raw slice, fossil silhouette and model input of a few slices per species.

    Parameters
    ----------
    examples : pandas.DataFrame
        Columns ``species, plane, raw`` ((S, S) array), ``mask`` ((S, S) bool) and ``image``
        (the model input), as returned by :func:`fossilct.slice_dataset.load_examples`.
    per_species : int
        Examples shown per species (the first ones), each as three panels.
    panel_inches : float
        Edge of one panel.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If `examples` has no rows or lacks a column.
    """
    missing = {"species", "plane", "raw", "mask", "image"} - set(examples.columns)
    if missing or examples.empty:
        raise ValueError(f"`examples` must have rows and columns species, plane, raw, mask, image; "
                         f"missing {sorted(missing)}, {len(examples)} rows. Build the slice "
                         "dataset first (notebook 02).")
    groups = [(name, rows.head(per_species)) for name, rows in examples.groupby("species")]
    fig, axes = plt.subplots(len(groups), 3 * per_species, squeeze=False,
                             figsize=(3 * per_species * panel_inches, len(groups) * panel_inches))
    for ax in axes.flat:
        ax.set_axis_off()
    for row, (species, rows) in enumerate(groups):
        for k, example in enumerate(rows.itertuples()):
            panels = (example.raw, example.mask, example.image)
            for j, (panel, kind) in enumerate(zip(panels, ("raw", "mask", "input"))):
                ax = axes[row, 3 * k + j]
                ax.imshow(panel, cmap="gray", interpolation="nearest")
                ax.set_title(f"{example.plane}" if j == 0 else kind, fontsize=6)
        axes[row, 0].text(-0.1, 0.5, species, transform=axes[row, 0].transAxes, fontsize=7,
                          ha="right", va="center")
    fig.tight_layout()
    return fig


def plot_foreground_histogram(foreground_fraction, *, min_foreground: float,
                              acceptance: str = "frame_fraction", bins: int = 40) -> Figure:
    """Histogram of the fossil's share of each kept slice, with the keep threshold marked when
    the acceptance rule was that share (the study's rule).

    Parameters
    ----------
    foreground_fraction : (K,) array-like of float
        One value per slice, in [0, 1].
    min_foreground : float
        The frame-fraction rule's threshold.
    acceptance : {"frame_fraction", "relative_area"}
        The rule the slices were kept by; under ``relative_area`` no frame threshold applied.
    bins : int
        Histogram bins.

    Returns
    -------
    Figure
    """
    values = np.asarray(foreground_fraction, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(values, bins=bins, color="#4c72b0")
    if acceptance == "frame_fraction":
        ax.axvline(min_foreground, color="k", linestyle="--",
                   label=f"min_foreground = {min_foreground}")
        ax.legend(frameon=False)
    else:
        ax.set_title(f"kept by the {acceptance.replace('_', ' ')} rule", fontsize=9)
    ax.set_xlabel("fossil pixels / slice pixels")
    ax.set_ylabel("slices")
    fig.tight_layout()
    return fig


def plot_split_balance(summary) -> Figure:
    """Slices per species in each split, with the coefficient of variation in the legend.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`fossilct.split.summarise_split`: one row per species, then ``ALL`` and ``CV_%``
        rows; columns ``n_slices_<split>``.

    Returns
    -------
    Figure
    """
    per_species = summary[~summary["species"].isin(["ALL", "CV_%"])]
    cv = summary.set_index("species").loc["CV_%"]
    positions = np.arange(len(per_species))
    width = 0.8 / len(SPLIT_COLOURS)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(per_species) + 2), 3.5))
    for k, (split, colour) in enumerate(SPLIT_COLOURS.items()):
        ax.bar(positions + (k - 1) * width, per_species[f"n_slices_{split}"], width,
               color=colour, label=f"{split} (CV {cv[f'n_slices_{split}']:.1f}%)")
    ax.set_xticks(positions, per_species["species"], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("slices")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
