"""The report's index page: per step, its headline numbers and a link to its notebook page.

Pure functions from a :class:`~fossilct.report.summary.RunSummary` to HTML text; the page is
self-contained (inline style, no script), so it reads offline and from a ``file://`` address.
"""

from __future__ import annotations

import html
from typing import Mapping

import pandas as pd

from fossilct.metrics import METRIC_LABELS
from fossilct.report.summary import RunSummary, StepStatus

__all__ = ["HEADLINE_METRICS", "MATCHING_LABELS", "PAGE_STYLE", "format_estimate", "metrics_table",
           "markdown_html", "page", "notebook_href", "model_card_href", "index_html"]

HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "top3_accuracy",
                    "specimen_accuracy", "ece")
"""Test metrics in the index's model table (every metric is in the model cards)."""

MATCHING_LABELS = {
    "success_axis": "pose success, axis-aligned sections",
    "success_oblique": "pose success, oblique sections",
    "specimen_top1": "specimen identified (top 1)",
    "specimen_top3": "specimen identified (top 3)",
    "species_top1": "species identified (top 1)",
    "median_offset_err_vox": "median offset error (voxels)",
    "median_normal_err_deg": "median normal error (°)",
    "median_angle_err_deg": "median in-plane angle error (°)",
    "seconds_per_query_volume": "seconds per query and volume",
    "seconds_per_query_pose": "seconds per pose query",
    "index_seconds_per_volume": "index build, seconds per volume",
    "n_pose_queries": "pose queries",
    "n_identification_queries": "identification queries",
    "n_queries": "queries",
    "n_failed_queries": "failed queries",
}
"""Rows of the matching table, in order, with their labels; other measures follow as named."""

PAGE_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
       max-width: 1180px; margin: 1.5em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; font-size: 1.25em;
     border-bottom: 1px solid #d8dde6; padding-bottom: 0.2em; }
p.meta { color: #4a5568; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e5e8ee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tbody th { font-weight: normal; } td { white-space: nowrap; }
td small { color: #6b7280; }
div.wide { overflow-x: auto; } div.wide td { white-space: normal; min-width: 5.5em; }
thead th { background: #f2f4f8; border-bottom: 2px solid #c9d0db; }
tr.total td, tr.total th { font-weight: 600; }
.done { color: #1e7a3a; } .missing { color: #a33a1d; }
.detail { color: #6b7280; font-size: 0.85em; text-align: left; max-width: 44em; }
a { color: #1f5fbf; }
"""
"""Style of the index and model-card pages (inline: no external file to lose)."""


def markdown_html(text: str) -> str:
    """Markdown (with tables) to an HTML fragment; raw HTML in `text` is shown, not run.

    Examples
    --------
    >>> markdown_html("# A <b>\\n\\n| x |\\n|---|\\n| 1 |").splitlines()[0]
    '<h1>A &lt;b&gt;</h1>'
    """
    import mistune

    return mistune.create_markdown(escape=True, plugins=["table"])(text)


def page(title: str, body: str) -> str:
    """A complete HTML document with :data:`PAGE_STYLE` and no external resource."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{PAGE_STYLE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def notebook_href(key: str) -> str:
    """Address of a task's notebook page, relative to the report folder."""
    return f"notebooks/{key}.html"


def model_card_href(name: str) -> str:
    """Address of a model card's page, relative to the report folder."""
    return f"model_cards/{name}.html"


def format_estimate(entry: Mapping | None, *, digits: int = 3) -> str:
    """``value (low–high)`` of a metrics entry ``{"value", "ci95"}``; ``n/a`` when absent.

    Examples
    --------
    >>> format_estimate({"value": 0.25, "ci95": [0.0, 0.75]})
    '0.250 (0.000–0.750)'
    >>> format_estimate({"value": 0.5, "ci95": None}, digits=2)
    '0.50'
    """
    if not entry or entry.get("value") is None:
        return "n/a"
    text = f"{entry['value']:.{digits}f}"
    ci = entry.get("ci95")
    return text if ci is None else f"{text} ({ci[0]:.{digits}f}–{ci[1]:.{digits}f})"


def metrics_table(metrics: Mapping[str, Mapping], keys=None) -> pd.DataFrame:
    """Metrics with intervals as a two-column table (metric label, formatted estimate).

    Parameters
    ----------
    metrics : mapping
        A ``metrics.json`` of the evaluation step (or any with ``{"value", "ci95"}`` entries).
    keys : sequence of str, optional
        Which entries, in order; default: every entry that has a ``value``.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric`` and ``value (95% CI)``.
    """
    keys = keys or [k for k, v in metrics.items() if isinstance(v, Mapping) and "value" in v]
    return pd.DataFrame({"metric": [METRIC_LABELS.get(k, k) for k in keys],
                         "value (95% CI)": [format_estimate(metrics.get(k)) for k in keys]})


def _estimate_html(entry: Mapping | None) -> str:
    """A metric for a table cell: the value, and its interval small below it."""
    text = format_estimate(entry)
    value, _, interval = text.partition(" (")
    return value + (f"<br><small>{interval[:-1]}</small>" if interval else "")


def _table(frame: pd.DataFrame, *, index: bool = True, totals: tuple = (),
           escape: bool = True) -> str:
    """`frame` as an HTML table; ``escape=False`` for cells that already are HTML."""
    text = frame.to_html(index=index, border=0, escape=escape, na_rep="")
    for label in totals:  # bold the totals rows
        text = text.replace(f"<tr>\n      <th>{html.escape(label)}</th>",
                            f'<tr class="total">\n      <th>{html.escape(label)}</th>')
    return text


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _steps_section(steps: tuple[StepStatus, ...]) -> str:
    rows = []
    for s in steps:
        state = ('<span class="done">finished</span>' if s.finished
                 else '<span class="missing">not finished</span>')
        page_link = _link(notebook_href(s.key), "notebook") if s.has_notebook else ""
        rows.append(f"<tr><td>{html.escape(s.key)}</td><td>{state}</td><td>{page_link}</td>"
                    f'<td class="detail">{html.escape(s.detail)}</td></tr>')
    return ("<h2>Steps</h2>\n<table>\n<thead><tr><th>step</th><th>status</th><th>page</th>"
            "<th></th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")


def _section(title: str, key_prefix: str | tuple, summary: RunSummary,
             content: str | None) -> str:
    keys = [s.key for s in summary.steps if s.key.startswith(key_prefix) and s.has_notebook]
    links = " · ".join(_link(notebook_href(k), k) for k in keys)
    body = content if content is not None else "<p>This step has not finished.</p>"
    return f"<h2>{html.escape(title)}</h2>\n" + (f"<p>{links}</p>\n" if links else "") + body


def _dataset(summary: RunSummary) -> str | None:
    if summary.species is None:
        return None
    source = ("the synthetic dataset generated by this run" if summary.synthetic
              else "your scans")
    kept = summary.species[summary.species["selected"].astype(bool)]
    columns = [c for c in ("species", "n_specimens", "n_files", "selected", "reason")
               if c in summary.species.columns]
    return (f"<p>Volumes: {html.escape(source)} ({html.escape(str(summary.data_dir))}). "
            f"{len(kept)} of {len(summary.species)} species kept, {int(kept['n_specimens'].sum())}"
            f" specimens.</p>\n" + _table(summary.species[columns], index=False))


def _slices(summary: RunSummary) -> str | None:
    counts = summary.slices_per_species
    if counts is None:
        return None
    frame = counts.rename("slices").to_frame()
    frame.loc["total"] = int(counts.sum())
    frame.index.name = None
    return _table(frame, totals=("total",))


def _split(summary: RunSummary) -> str | None:
    if summary.split is None:
        return None
    return ("<p>Specimen-level split: every specimen (re-scans included) lies in one split "
            "only.</p>\n" + _table(summary.split, totals=("all slices", "specimens")))


def _models(summary: RunSummary) -> str | None:
    if not summary.models:
        return None
    rows = []
    for name, model in summary.models.items():
        metrics = model.metrics or {}
        row = {"model": html.escape(name), "split": html.escape(model.split_mode)}
        row.update({METRIC_LABELS[k]: _estimate_html(metrics.get(k)) for k in HEADLINE_METRICS})
        row["test slices / specimens"] = (f"{metrics['n_slices']} / {metrics['n_specimens']}"
                                          if metrics else "not evaluated")
        row["model card"] = _link(model_card_href(name), "card")
        rows.append(row)
    text = _table(pd.DataFrame(rows), index=False, escape=False)
    note = ("<p>Test split; below each value its 95% interval from a bootstrap that resamples "
            "test specimens. <code>ensemble</code> combines the trained models as chosen on the "
            "validation split. A <code>__slice_level</code> model is the leakage experiment: its "
            "numbers are inflated by design and are not results.</p>\n")
    return note + text


def _matching(summary: RunSummary) -> str | None:
    if summary.matching is None:
        return None
    frame = pd.DataFrame(summary.matching)
    order = [k for k in MATCHING_LABELS if k in frame.index]
    frame = frame.loc[order + [k for k in frame.index if k not in MATCHING_LABELS]]
    frame.index = [MATCHING_LABELS.get(k, k) for k in frame.index]
    frame = frame.map(lambda v: "–" if pd.isna(v) else (f"{v:.3g}" if isinstance(v, float)
                                                          else str(v)))
    return ("<p>Sections of known pose located in their volume (success: offset within 3 "
            "voxels, normal within 5°, in-plane angle within 10°, mirror right) and specimens "
            "identified over the library.</p>\n" + _table(frame))


def _comparison(summary: RunSummary) -> str | None:
    if summary.leaderboard is None:
        return None
    leakage = ("" if summary.leakage is None else
               "<p>Leakage experiment: the same architecture tested after a split by slice "
               "instead of by specimen.</p>\n" + _table(summary.leakage.round(3), index=False))
    return f'<div class="wide">{markdown_html(summary.leaderboard)}</div>\n' + leakage


def _other(summary: RunSummary) -> str:
    parts = []
    for key, metrics in summary.other_metrics.items():
        parts.append(_section(key, key, summary, _table(metrics_table(metrics), index=False)))
    return "\n".join(parts)


def index_html(summary: RunSummary) -> str:
    """The index page of a run's report.

    Parameters
    ----------
    summary : RunSummary
        From :func:`fossilct.report.summarize_run`.

    Returns
    -------
    str
        A complete HTML document; links are relative to the report folder.
    """
    head = (f"<h1>fossilct run “{html.escape(summary.run_name)}”</h1>\n"
            f'<p class="meta">profile {html.escape(summary.profile)} · seed {summary.seed} · '
            f"run folder {html.escape(str(summary.run_dir))}</p>\n"
            "<p>Built from the run folder by <code>fossilct report</code> (the runner rebuilds "
            "it after every run); each notebook page shows the executed notebook, code folded."
            "</p>")
    sections = [
        head,
        _steps_section(summary.steps),
        _section("Dataset", "01_", summary, _dataset(summary)),
        _section("Slices per species", "02_", summary, _slices(summary)),
        _section("Split (slices per species and split)", "03_", summary, _split(summary)),
        _section("Models: test metrics", ("05_", "06_"), summary, _models(summary)),
        _section("Slice-to-volume matching benchmark", "07_", summary, _matching(summary)),
        _section("Comparison of the models", "08_", summary, _comparison(summary)),
        _other(summary),
    ]
    return page(f"fossilct report · {summary.run_name}", "\n".join(p for p in sections if p))
