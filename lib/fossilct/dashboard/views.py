"""Pure view functions of the dashboard: images to PNG, overlays, tables, bars, messages.

Everything here takes arrays, DataFrames or records and returns bytes, arrays or HTML strings;
the widgets of :mod:`~fossilct.dashboard.classify_panel` and :mod:`~.match_panel` only assign
them. HTML is built with every user-supplied text escaped (file names come from uploads).
"""

from __future__ import annotations

import base64
import html
from typing import Sequence

import cv2
import numpy as np
import pandas as pd

__all__ = [
    "DISPLAY_SIDE",
    "to_png",
    "scale_to_uint8",
    "display_image",
    "overlay_mask",
    "overlay_sections",
    "probability_bars_html",
    "summary_html",
    "batch_table",
    "table_html",
    "csv_download_html",
    "message_html",
]

DISPLAY_SIDE = 224
"""Longer side (pixels) to which small images are enlarged for display."""
_GREEN = np.array([60, 200, 90], np.float32)
_TABLE_STYLE = ("<style>.fossilct-table th, .fossilct-table td {text-align: left; "
                "padding: 1px 10px 1px 0; vertical-align: top}</style>")


def to_png(image: np.ndarray) -> bytes:
    """Encode a gray (H, W) or RGB (H, W, 3) uint8 or bool array as PNG bytes.

    Raises
    ------
    ValueError
        Another shape.

    Examples
    --------
    >>> to_png(np.zeros((4, 4), np.uint8))[:4]
    b'\\x89PNG'
    """
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]  # OpenCV writes BGR
    elif image.ndim != 2:
        raise ValueError(f"`image` must be (H, W) or (H, W, 3); got shape {image.shape}.")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image.astype(np.uint8)))
    return encoded.tobytes()


def scale_to_uint8(image: np.ndarray) -> np.ndarray:
    """Stretch any real image's range to 0..255 for display (a constant image gives zeros).

    Examples
    --------
    >>> scale_to_uint8(np.array([[-1.0, 0.0, 3.0]])).tolist()
    [[0, 64, 255]]
    """
    image = np.asarray(image, dtype=np.float64)
    low, high = float(np.min(image)), float(np.max(image))
    if high <= low:
        return np.zeros(image.shape, np.uint8)
    return np.rint((image - low) / (high - low) * 255).astype(np.uint8)


def display_image(image: np.ndarray, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Enlarge (nearest neighbour, pixels stay visible) or shrink an image to `side` pixels.

    Examples
    --------
    >>> display_image(np.zeros((32, 16), np.uint8), side=64).shape
    (64, 32)
    """
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    scale = side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    interp = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    return cv2.resize(image, size, interpolation=interp)


def overlay_mask(gray: np.ndarray, mask: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """A gray image with a mask tinted green over it.

    Parameters
    ----------
    gray : (H, W) ndarray of uint8
    mask : (H, W) ndarray of bool
    alpha : float, keyword-only
        Opacity of the tint.

    Returns
    -------
    (H, W, 3) ndarray of uint8

    Raises
    ------
    ValueError
        Shapes that differ.

    Examples
    --------
    >>> out = overlay_mask(np.zeros((2, 2), np.uint8), np.array([[1, 0], [0, 0]], bool))
    >>> out[0, 0].tolist(), out[1, 1].tolist()
    ([27, 90, 40], [0, 0, 0])
    """
    gray, mask = np.asarray(gray), np.asarray(mask, bool)
    if gray.shape != mask.shape:
        raise ValueError(f"`gray` {gray.shape} and `mask` {mask.shape} must have one shape.")
    rgb = np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32)
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * _GREEN
    return np.rint(rgb).astype(np.uint8)


def overlay_sections(query: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Query in magenta, matched section in green: where they agree the overlay is gray/white.

    Parameters
    ----------
    query, match : (S, S) ndarray of uint8
        In the same frame (``Query.image`` and ``Match.image``).

    Returns
    -------
    (S, S, 3) ndarray of uint8

    Examples
    --------
    >>> overlay_sections(np.full((1, 1), 200, np.uint8), np.zeros((1, 1), np.uint8)).tolist()
    [[[200, 0, 200]]]
    """
    query, match = np.asarray(query, np.uint8), np.asarray(match, np.uint8)
    if query.shape != match.shape:
        raise ValueError(f"`query` {query.shape} and `match` {match.shape} must have one shape.")
    return np.stack([query, match, query], axis=-1)


def probability_bars_html(species: Sequence[str], probabilities: Sequence[float], *,
                          top: int = 10) -> str:
    """A horizontal bar chart of ranked probabilities, as HTML (no plotting library).

    Examples
    --------
    >>> '72.0%' in probability_bars_html(["a", "b"], [0.72, 0.28])
    True
    """
    rows = []
    for name, p in list(zip(species, probabilities))[:top]:
        width = max(0.0, min(100.0, 100.0 * float(p)))
        rows.append(
            f"<tr><td style='padding-right:8px;white-space:nowrap'>{html.escape(str(name))}</td>"
            f"<td style='width:220px'><div style='background:#4c78a8;height:12px;"
            f"width:{width:.1f}%'></div></td>"
            f"<td style='padding-left:6px;text-align:right'>{100 * float(p):.1f}%</td></tr>")
    return "<table class='fossilct-bars'>" + "".join(rows) + "</table>"


def summary_html(summary, *, abstention_threshold: float | None) -> str:
    """Top species, margin, entropy and the uncertainty flag of a ProbabilitySummary."""
    flag = ""
    if summary.uncertain:
        flag = (f" <b style='color:#b45309'>UNCERTAIN</b> (top probability below the "
                f"abstention threshold {abstention_threshold:.2f})")
    elif summary.uncertain is False:
        flag = f" (above the abstention threshold {abstention_threshold:.2f})"
    return (f"<b>{html.escape(summary.species[0])}</b> "
            f"{100 * summary.probabilities[0]:.1f}%{flag}<br>"
            f"margin to the second {summary.margin:.3f} · entropy {summary.entropy:.3f} "
            f"(0 certain, 1 uniform)")


def batch_table(predictions: Sequence) -> pd.DataFrame:
    """One row per image: top species and probability, margin, entropy, flags, message.

    Parameters
    ----------
    predictions : sequence of fossilct.inference.Prediction

    Returns
    -------
    pandas.DataFrame
        ``file, species, probability, margin, entropy, uncertain, foreground_fraction,
        segmentable, message``; refused images have an empty species and NaN numbers.
    """
    columns = ["file", "species", "probability", "margin", "entropy", "uncertain",
               "foreground_fraction", "segmentable", "message"]
    tables = [p.table() for p in predictions]
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True)
    return table[table["rank"] <= 1][columns].reset_index(drop=True)


def table_html(table: pd.DataFrame, *, digits: int = 3) -> str:
    """A DataFrame as an escaped HTML table with rounded numbers, left-aligned."""
    body = table.round(digits).fillna("").to_html(index=False, escape=True, na_rep="",
                                                  classes="fossilct-table", border=0)
    return _TABLE_STYLE + body


def csv_download_html(table: pd.DataFrame, *, filename: str, label: str) -> str:
    """A download link holding `table` as CSV in a data URI (works offline and in Voilà).

    Examples
    --------
    >>> link = csv_download_html(pd.DataFrame({"a": [1]}), filename="x.csv", label="CSV")
    >>> 'download="x.csv"' in link and "base64," in link
    True
    """
    payload = base64.b64encode(table.to_csv(index=False).encode("utf-8")).decode("ascii")
    return (f'<a class="fossilct-download" download="{html.escape(filename)}" '
            f'href="data:text/csv;base64,{payload}" '
            f'style="padding:4px 10px;border:1px solid #4c78a8;border-radius:3px;'
            f'text-decoration:none">{html.escape(label)}</a>')


def message_html(text: str, *, kind: str = "info") -> str:
    """A short escaped message; `kind` is ``info``, ``error`` or ``busy``.

    Examples
    --------
    >>> message_html("<b>x</b>", kind="error")
    "<div class='fossilct-error' style='color:#b91c1c'>&lt;b&gt;x&lt;/b&gt;</div>"
    """
    colours = {"info": "#374151", "error": "#b91c1c", "busy": "#1d4ed8"}
    if kind not in colours:
        raise ValueError(f"`kind` must be one of {sorted(colours)}; got {kind!r}.")
    return (f"<div class='fossilct-{kind}' style='color:{colours[kind]}'>"
            f"{html.escape(str(text))}</div>")
