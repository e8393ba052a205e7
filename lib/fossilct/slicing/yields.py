"""Slice yield per species: requested, written, and why not.

:func:`summarise_yield` reads the per-file counts of a slice-dataset build (one row per file:
``requested``, ``written``, ``candidates`` offered by the file's plan, the candidates rejected
per reason, ``error``) and sums them per species, so that a species that silently ends up with a
handful of training slices is flagged, with its cause: files that could not be read or held no
fossil, or a plan that ran out of candidates (too few planes estimated to pass the acceptance
rule, or too many of them rejected once cut).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_MIN_YIELD", "summarise_yield"]

DEFAULT_MIN_YIELD = 0.8
"""A species with fewer than this share of its requested slices is flagged."""

_REQUIRED = ("file", "species", "requested", "written", "no_fossil", "error")


def _rejection_columns(counts: pd.DataFrame) -> list[str]:
    """``no_fossil`` and every ``below_*`` column: the reasons a cut candidate is skipped."""
    return ["no_fossil"] + [c for c in counts.columns if c.startswith("below_")]


def _why_not(files: pd.DataFrame, rejections: list[str]) -> str:
    """Explain a species' shortfall from its files' rows (empty when nothing is short)."""
    parts = []
    failed = files[files["failed"]]
    if len(failed):
        parts.append(f"{len(failed)} of {len(files)} files failed to read or held no fossil")
    short = files[~files["failed"] & (files["written"] < files["requested"])]
    if len(short):
        planned = (f"{int(short['candidates'].sum())} candidate planes"
                   if "candidates" in short.columns else "their candidate planes")
        rejected = [f"{int(short[c].sum())} {c}" for c in rejections if short[c].sum() > 0]
        parts.append(f"{len(short)} of {len(files)} files used up {planned}"
                     f" ({', '.join(rejected) or 'none rejected'})")
    return "; ".join(parts)


def summarise_yield(counts: pd.DataFrame, *, min_yield: float = DEFAULT_MIN_YIELD) -> pd.DataFrame:
    """Sum a build's per-file counts per species and flag species short of their quota.

    Parameters
    ----------
    counts : pandas.DataFrame
        One row per file, as ``counts.csv`` of :func:`fossilct.slice_dataset.build_slice_dataset`:
        ``file, species, requested, written, no_fossil, error`` plus, when present,
        ``candidates`` and the rule's rejections (``below_*`` columns).
    min_yield : float, keyword-only
        Species with ``written < min_yield * requested`` are flagged (``under_quota``); in
        (0, 1], default 0.8.

    Returns
    -------
    pandas.DataFrame
        One row per species (sorted): ``species, files, files_failed, requested, written,
        yield_pct`` (100 * written / requested), ``shortfall``, ``candidates`` (when given),
        one column per rejection reason (``no_fossil``, ``below_*``), ``under_quota`` (bool)
        and ``why_not`` (empty when every file met its share; else the files that failed,
        and the files that used up their candidate planes, with how many of those were
        rejected for each reason).

    Raises
    ------
    ValueError
        Missing columns or `min_yield` outside (0, 1].

    Examples
    --------
    >>> counts = pd.DataFrame({"file": ["a1", "a2", "b1"], "species": ["a", "a", "b"],
    ...                        "requested": [60, 60, 120], "written": [60, 20, 120],
    ...                        "candidates": [64, 32, 240], "no_fossil": [0, 2, 0],
    ...                        "below_min_foreground": [3, 10, 9], "error": ["", "", ""]})
    >>> summary = summarise_yield(counts)
    >>> summary[["species", "written", "yield_pct", "under_quota"]].values.tolist()
    [['a', 80, 66.7, True], ['b', 120, 100.0, False]]
    >>> summary["why_not"].iloc[0]
    '1 of 2 files used up 32 candidate planes (2 no_fossil, 10 below_min_foreground)'
    """
    if not isinstance(counts, pd.DataFrame):
        raise ValueError(f"`counts` must be a DataFrame (counts.csv); got {type(counts).__name__}.")
    missing = [c for c in _REQUIRED if c not in counts.columns]
    if missing:
        raise ValueError(f"`counts` lacks columns {missing}; pass the counts table of the slice "
                         f"build (slices/counts.csv or BuildResult.counts).")
    if not 0.0 < float(min_yield) <= 1.0:
        raise ValueError(f"`min_yield` must be in (0, 1]; got {min_yield}.")
    rejections = _rejection_columns(counts)
    planned = ["candidates"] if "candidates" in counts.columns else []
    numeric = ["requested", "written", *planned, *rejections]
    frame = counts.assign(species=counts["species"].astype(str),
                          failed=counts["error"].fillna("").astype(str) != "")
    grouped = frame.groupby("species", sort=True)
    out = grouped[numeric].sum().astype(np.int64)
    out.insert(0, "files_failed", grouped["failed"].sum().astype(np.int64))
    out.insert(0, "files", grouped["file"].size().astype(np.int64))
    requested = out["requested"].where(out["requested"] > 0)
    out.insert(out.columns.get_loc("written") + 1, "yield_pct",
               (100.0 * out["written"] / requested).round(1).fillna(100.0))
    out.insert(out.columns.get_loc("yield_pct") + 1, "shortfall", out["requested"] - out["written"])
    out["under_quota"] = out["written"] < float(min_yield) * out["requested"]
    out["why_not"] = [_why_not(files, rejections) for _, files in grouped]
    return out.reset_index()
