"""Figures of the matching notebook (07): pose errors, success against tilt, a match gallery."""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fossilct.matching.benchmark.evaluation import (MAX_ANGLE_DEG, MAX_NORMAL_DEG,  # noqa: E402
                                                    MAX_OFFSET_VOX)

__all__ = ["plot_error_histograms", "plot_success_vs_tilt", "plot_match_gallery"]

GALLERY_ROW_GAP = 0.32
"""Gap between gallery rows (room for a two-line title), as a fraction of a panel."""
GALLERY_TITLE_CHARS = 58
"""Characters per line of a gallery row's title."""

_ERRORS = (("normal_err_deg", "normal error (deg)", "max_normal_deg"),
           ("offset_err_vox", "offset error (voxels)", "max_offset_vox"),
           ("angle_err_deg", "in-plane angle error (deg)", "max_angle_deg"))


def _check_table(poses: pd.DataFrame, columns) -> None:
    if not isinstance(poses, pd.DataFrame) or len(poses) == 0:
        raise ValueError("`poses` must be a non-empty DataFrame from "
                         "fossilct.matching.benchmark.evaluate_poses.")
    missing = sorted(set(columns) - set(poses.columns))
    if missing:
        raise ValueError(f"`poses` lacks columns {missing}; pass the table of evaluate_poses.")


def plot_error_histograms(poses: pd.DataFrame, *, max_normal_deg: float = MAX_NORMAL_DEG,
                          max_offset_vox: float = MAX_OFFSET_VOX,
                          max_angle_deg: float = MAX_ANGLE_DEG,
                          clip_quantile: float = 0.95) -> Figure:
    """Histograms of the normal, offset and in-plane angle errors, one colour per method.

    Parameters
    ----------
    poses : pandas.DataFrame
        From :func:`fossilct.matching.benchmark.evaluate_poses` (methods concatenated).
    max_normal_deg, max_offset_vox, max_angle_deg : float, keyword-only
        Success thresholds, drawn as dashed lines (default the benchmark's).
    clip_quantile : float, keyword-only
        Errors beyond this quantile (over all methods) are piled into the last bin, so gross
        failures do not squash the histogram.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        An empty table or missing columns.
    """
    _check_table(poses, ["method"] + [c for c, _, _ in _ERRORS])
    limits = {"max_normal_deg": max_normal_deg, "max_offset_vox": max_offset_vox,
              "max_angle_deg": max_angle_deg}
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (column, label, limit) in zip(axes, _ERRORS):
        values = poses[column].dropna()
        top = max(float(values.quantile(clip_quantile)) if len(values) else 1.0,
                  2 * limits[limit])
        bins = np.linspace(0.0, top, 25)
        for method, table in poses.groupby("method", sort=False):
            data = np.clip(table[column].dropna(), 0.0, top)
            ax.hist(data, bins=bins, alpha=0.55, label=f"{method} (n={len(data)})")
        ax.axvline(limits[limit], color="k", linestyle="--", linewidth=1)
        ax.set_xlabel(label)
        ax.set_ylabel("queries")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_success_vs_tilt(poses: pd.DataFrame, *, bin_deg: float = 5.0) -> Figure:
    """Pose success rate against the query's tilt from the nearest axis, one line per method.

    Parameters
    ----------
    poses : pandas.DataFrame
        From :func:`~fossilct.matching.benchmark.evaluate_poses`.
    bin_deg : float, keyword-only
        Width of the tilt bins (axis-aligned queries form the 0 bin).

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        An empty table, missing columns or a non-positive bin width.
    """
    _check_table(poses, ["method", "tilt_deg", "success"])
    if not bin_deg > 0:
        raise ValueError(f"`bin_deg` must be positive; got {bin_deg}.")
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for method, table in poses.groupby("method", sort=False):
        tilt = table["tilt_deg"].to_numpy(dtype=float)
        centre = np.where(tilt == 0, 0.0, (np.floor(tilt / bin_deg) + 0.5) * bin_deg)
        rates = table.groupby(centre)["success"].agg(["mean", "size"])
        ax.plot(rates.index, 100 * rates["mean"], marker="o", label=method)
        for x, (rate, size) in rates.iterrows():
            ax.annotate(str(int(size)), (x, 100 * rate), fontsize=7, textcoords="offset points",
                        xytext=(0, 5), ha="center")
    ax.set_xlabel("tilt from the nearest axis (deg; 0 = axis-aligned)")
    ax.set_ylabel("pose success (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _overlay(query: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Query in magenta, match in green: agreement shows gray/white."""
    rgb = np.zeros(query.shape + (3,), np.float32)
    rgb[..., 0] = query / 255.0
    rgb[..., 2] = query / 255.0
    rgb[..., 1] = match / 255.0
    return rgb


def plot_match_gallery(entries: Sequence, *, panel_inches: float = 1.9) -> Figure:
    """Rows of query, matched section and their overlay (failures included).

    Parameters
    ----------
    entries : sequence of GalleryEntry
        From :func:`fossilct.matching.benchmark.gallery_entries`.
    panel_inches : float, keyword-only
        Edge of one panel.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If `entries` is empty.
    """
    if len(entries) == 0:
        raise ValueError("`entries` is empty: nothing to show. Ask gallery_entries for some "
                         "successes or failures.")
    height = len(entries) * (panel_inches * (1 + GALLERY_ROW_GAP)) + 0.4
    fig, axes = plt.subplots(len(entries), 3, squeeze=False, figsize=(3 * panel_inches, height))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.25 / height, top=1 - 0.15 / height,
                        wspace=0.04, hspace=GALLERY_ROW_GAP)
    for row, entry in enumerate(entries):
        panels = (entry.query_image, entry.match_image,
                  _overlay(entry.query_image, entry.match_image))
        for col, (panel, name) in enumerate(zip(panels, ("query", "best match", "overlay"))):
            ax = axes[row, col]
            ax.imshow(panel, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if col == 2:
                for mask, colour in ((entry.query_mask, "m"), (entry.match_mask, "g")):
                    if mask.any() and not mask.all():
                        ax.contour(mask, [0.5], colors=colour, linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == len(entries) - 1:
                ax.set_xlabel(name, fontsize=9)
        colour = "tab:green" if entry.success else "tab:red"
        axes[row, 0].set_ylabel("ok" if entry.success else "failed", color=colour, fontsize=8)
        axes[row, 1].text(0.5, 1.03, textwrap.fill(entry.title, GALLERY_TITLE_CHARS),
                          transform=axes[row, 1].transAxes, ha="center", va="bottom",
                          fontsize=7, color=colour)
    return fig
