"""The HTML report of a run folder, and a model card for each trained model.

``fossilct report outputs/quick`` (and the runner, after every run) writes::

    outputs/quick/report/
        index.html               per step: headline numbers, status, link to its page
        notebooks/<key>.html     each executed notebook, code folded, figures embedded
        model_cards/<name>.md    the model card of each trained model (and .html)

Every page is self-contained (no script, no network), so the folder reads offline, from a
``file://`` address, or copied elsewhere. Everything shown is read from the run folder through
:func:`fossilct.results.load_run`:

- :mod:`~fossilct.report.summary`: :func:`summarize_run`, the numbers of every finished step;
- :mod:`~fossilct.report.index_page`: :func:`index_html`, the index page;
- :mod:`~fossilct.report.notebook_page`: :func:`notebook_html`, one notebook as a page;
- :mod:`~fossilct.report.model_card`: :func:`model_card_markdown`;
- :mod:`~fossilct.report.writer`: :func:`write_report`, the one function that writes.
"""

from fossilct.report.index_page import format_estimate, index_html
from fossilct.report.model_card import model_card_markdown
from fossilct.report.notebook_page import notebook_html
from fossilct.report.summary import ModelSummary, RunSummary, StepStatus, summarize_run
from fossilct.report.writer import REPORT_DIR, write_report

__all__ = [
    "StepStatus",
    "ModelSummary",
    "RunSummary",
    "summarize_run",
    "format_estimate",
    "index_html",
    "notebook_html",
    "model_card_markdown",
    "REPORT_DIR",
    "write_report",
]
