"""The dashboard app of a run: a status line and two tabs, usable before anything heavy loaded.

:func:`build_app` only reads the run's tables and builds widgets, so the page appears at once;
the chosen model (TensorFlow included) loads in a background thread, then the matching library
(volumes and cached indexes). The status line says what is still loading; an image uploaded
meanwhile is classified as soon as the model is ready.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from fossilct.dashboard import matching_adapter as adapter
from fossilct.dashboard import views
from fossilct.dashboard.background import Job
from fossilct.dashboard.classify_panel import ClassificationPanel
from fossilct.dashboard.match_panel import MatchingPanel
from fossilct.dashboard.run_sources import model_choices, pick_test_slices

__all__ = ["DashboardApp", "build_app"]


class DashboardApp(widgets.VBox):
    """The app: title, status line, and the classification and matching tabs.

    Attributes
    ----------
    classification : ClassificationPanel
    matching : MatchingPanel or None
        None when the run's matching step has not finished (the tab says so).
    """

    def __init__(self, run, *, start: bool = True):
        from fossilct.results import RunError

        self.run = run
        self.classification = ClassificationPanel(
            model_choices(run), class_names=run.class_names,
            test_slices=pick_test_slices(run.slices),
            image_size=run.parameters("02_slices").get("image_size"))
        try:
            parameters = run.parameters("07_matching")
            self.matching = MatchingPanel(
                table=adapter.run_library_table(run.inventory, parameters),
                data_dir=run.data_dir, cache_dir=run.matching_dir / "index",
                options=adapter.run_search_options(parameters), seed=run.seed)
            matching_tab = self.matching
        except RunError as error:
            self.matching = None
            matching_tab = widgets.HTML(views.message_html(str(error), kind="error"))
        self.status = widgets.HTML()
        tabs = widgets.Tab(children=[self.classification, matching_tab])
        tabs.set_title(0, "Classification")
        tabs.set_title(1, "Matching")
        self.tabs = tabs
        title = (f"<h2 style='margin:4px 0'>fossilct · run {html.escape(run.run_dir.name)} "
                 f"<small>(profile {html.escape(run.profile)})</small></h2>")
        super().__init__([widgets.HTML(title), self.status, tabs])
        for panel in (self.classification, self.matching):
            if panel is not None:
                panel.observe(self._on_status, "status")
        self._on_status()
        if start:
            self.start()

    def _on_status(self, _change=None) -> None:
        parts = [f"classification: {self.classification.status or 'idle'}"]
        if self.matching is not None:
            parts.append(f"matching: {self.matching.status or 'idle'}")
        self.status.value = views.message_html(" · ".join(parts))

    def start(self) -> Job:
        """Load the first model, then the matching library, in the background."""
        model_job = self.classification.load_model()

        def wait(job):
            if model_job is not None:
                model_job.join()

        return Job(wait, done=lambda _: self.matching and self.matching.start_library(),
                   failed=lambda error: None).start()


def build_app(run, *, start: bool = True) -> DashboardApp:
    """The dashboard of a run (what notebook 09 shows).

    Parameters
    ----------
    run : fossilct.results.Run
        From :func:`fossilct.results.load_run`.
    start : bool, keyword-only
        Start loading the model and the library in the background (default True; tests pass
        False and drive the loading themselves).

    Returns
    -------
    DashboardApp
        An ``ipywidgets.VBox``; display it (the notebook's last line).

    Raises
    ------
    fossilct.results.RunError
        If the run lacks its slices or split (steps 02 and 03 must have finished).
    """
    return DashboardApp(run, start=start)
