"""Write a run's report folder: ``report/index.html``, one page per executed notebook, and a
model card per trained model (Markdown and HTML)."""

from __future__ import annotations

import html
import os
from pathlib import Path

from fossilct import atomic
from fossilct.report.index_page import (index_html, markdown_html, model_card_href,
                                        notebook_href, page)
from fossilct.report.model_card import model_card_markdown
from fossilct.report.notebook_page import notebook_html
from fossilct.report.summary import summarize_run
from fossilct.results import load_run

__all__ = ["REPORT_DIR", "write_report"]

REPORT_DIR = "report"
"""The report's folder inside the run folder. It belongs to no step: rewriting it never makes a
step out of date."""


def write_report(run_dir: str | os.PathLike) -> Path:
    """Build ``<run_dir>/report/`` from the run folder, replacing the previous one atomically.

    Parameters
    ----------
    run_dir : path-like
        A run folder (with ``run.yaml``); steps that have not finished are shown as such.

    Returns
    -------
    pathlib.Path
        The index page, ``<run_dir>/report/index.html``.

    Raises
    ------
    fossilct.results.RunError
        If `run_dir` is not a run folder.
    """
    import nbformat

    run = load_run(run_dir)
    summary = summarize_run(run)
    with atomic.atomic_dir(run.run_dir / REPORT_DIR) as folder:
        (folder / "index.html").write_text(index_html(summary), encoding="utf-8")
        for step in summary.steps:
            if not step.has_notebook:
                continue
            notebook = nbformat.read(run.run_dir / "notebooks" / f"{step.key}.ipynb",
                                     as_version=4)
            path = folder / notebook_href(step.key)
            path.parent.mkdir(exist_ok=True)
            path.write_text(notebook_html(notebook, title=step.key), encoding="utf-8")
        for name, model in summary.models.items():
            card = model_card_markdown(model, run=summary)
            path = folder / model_card_href(name)
            path.parent.mkdir(exist_ok=True)
            path.with_suffix(".md").write_text(card, encoding="utf-8")
            nav = f'<p><a href="../index.html">← report index</a> · {html.escape(name)}</p>\n'
            path.write_text(page(f"Model card · {name}", nav + markdown_html(card)),
                            encoding="utf-8")
        folder.chmod(0o755)  # mkdtemp made it private; the run folder's other files are not
    return run.run_dir / REPORT_DIR / "index.html"
