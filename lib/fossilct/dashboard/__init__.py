"""The dashboard of a run: classify uploaded or test slices, match a slice to the fossils.

Notebook 09 shows it (``voila notebooks/09_dashboard.ipynb``)::

    from fossilct import dashboard, results
    app = dashboard.build_app(results.load_run("outputs/quick"))
    app

Pure functions do the work (:mod:`~.views`: images, overlays, tables, bars; :mod:`~.scene`: the
3-D scene; :mod:`~.run_sources`: what the run offers; :mod:`~.matching_adapter`: everything
asked of the matching package); the widget classes (:mod:`~.classify_panel`,
:mod:`~.match_panel`, :mod:`~.app`) hold their state as traitlets and only wire widgets to those
functions. :mod:`~.uploads` reads uploads safely; :mod:`~.background` runs work off the
kernel's main thread.
"""

from fossilct.dashboard.app import DashboardApp, build_app

__all__ = ["DashboardApp", "build_app"]
