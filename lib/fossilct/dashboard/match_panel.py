"""The matching tab: where does a section lie in which fossil, shown in 2-D and in 3-D.

The :class:`MatchingPanel` holds its state as traitlets (``library``, ``uploaded``, ``known``,
``search``); the library load and every search run as a background :class:`Job` with a progress
bar and a Cancel button that stops the work before its next volume. Everything it asks of the
matching package goes through :mod:`fossilct.dashboard.matching_adapter`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Mapping

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from fossilct import images, inference, matching
from fossilct.dashboard import matching_adapter as adapter
from fossilct.dashboard import scene, views
from fossilct.dashboard.background import Job
from fossilct.dashboard.classify_panel import IMAGE_ACCEPT
from fossilct.dashboard.uploads import (VOLUME_SUFFIXES, read_upload_image, read_upload_volume,
                                        uploads_from_widget)

__all__ = ["N_KNOWN_QUERIES", "query_label", "ranking_tables_html", "MatchingPanel"]

N_KNOWN_QUERIES = 8
"""Sections of known pose offered from the run's library."""
_RUN, _UPLOAD = "run", "upload"


def query_label(known, library) -> str:
    """Menu label of a known-pose query: its number, kind and source volume.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> lib = NS(volumes=[NS(file="a.nii")])
    >>> query_label(NS(query_id=3, kind="oblique", tilt_deg=12.3, target=0), lib)
    'query 3: oblique (tilt 12°) from a.nii'
    """
    tilt = f" (tilt {known.tilt_deg:.0f}°)" if known.kind == "oblique" else ""
    return f"query {known.query_id}: {known.kind}{tilt} from {library.volumes[known.target].file}"


def ranking_tables_html(result) -> str:
    """Species and specimens ranked by score, side by side, as HTML."""
    species = result.species[["rank", "species", "score"]].head(10)
    specimens = result.specimens[["rank", "specimen", "species", "score"]].head(10)
    return ("<div style='display:flex;gap:24px'><div><b>Species</b>"
            f"{views.table_html(species)}</div><div><b>Specimens</b>"
            f"{views.table_html(specimens)}</div></div>")


def _image_box(title: str, width: str = "180px") -> tuple[widgets.VBox, widgets.Image]:
    image = widgets.Image(format="png", layout=widgets.Layout(width=width, height=width,
                                                               object_fit="contain"))
    return widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), image]), image


def _sentence(text: str) -> str:
    """`text` with its first letter capitalised (the rest kept) and a full stop.

    >>> _sentence("pose reliable: margin 0.04 (NCC)")
    'Pose reliable: margin 0.04 (NCC).'
    """
    return text[:1].upper() + text[1:] + "."


def _display_gray(image: np.ndarray) -> np.ndarray:
    """A displayable gray version of any query image (blank when it cannot be made)."""
    try:
        return inference.to_gray_slice(image)
    except (ValueError, TypeError):
        return np.zeros((16, 16), np.uint8)


class MatchingPanel(widgets.VBox):
    """Search a slice in the run's matching library or in an uploaded volume.

    Parameters
    ----------
    table : pandas.DataFrame
        The run's library table (:func:`~fossilct.dashboard.matching_adapter.run_library_table`).
    data_dir, cache_dir : path-like
        The volumes and the index cache of the run.
    options : mapping
        Search weights and effort of the run (notebook 07's).
    seed : int
        Seeds the known-pose queries.
    """

    library = traitlets.Any(None, allow_none=True)
    uploaded = traitlets.Any(None, allow_none=True)
    known = traitlets.List()
    search = traitlets.Any(None, allow_none=True)
    status = traitlets.Unicode("")

    def __init__(self, *, table: pd.DataFrame, data_dir, cache_dir, options: Mapping,
                 seed: int = 0):
        self._table, self._data_dir, self._cache_dir = table, data_dir, cache_dir
        self._options, self._seed = dict(options), int(seed)
        self._job: Job | None = None
        self._query: tuple | None = None  # (name, image, pixel size or None, EvalQuery or None)
        self._surfaces: dict = {}
        self._upload_volume = None  # the uploaded scan as read, for re-slicing
        self.library_choice = widgets.Dropdown(
            options=[(f"run library ({len(table)} volumes, loading…)", _RUN)],
            description="Library", layout=widgets.Layout(width="420px"))
        self.volume_upload = widgets.FileUpload(accept=",".join(VOLUME_SUFFIXES),
                                                description="Upload volume")
        self.query_upload = widgets.FileUpload(accept=IMAGE_ACCEPT, description="Upload slice")
        self.pixel_size = widgets.BoundedFloatText(
            value=0.0, min=0.0, max=1e6, description="Pixel size µm (0: unknown)",
            style={"description_width": "initial"}, layout=widgets.Layout(width="260px"))
        self.known_pick = widgets.Dropdown(options=[], description="Known pose",
                                           layout=widgets.Layout(width="460px"))
        self.search_button = widgets.Button(description="Search", icon="search")
        self.cancel = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=1)
        self.progress_label = widgets.HTML()
        self.message = widgets.HTML()
        self.rankings = widgets.HTML()
        boxes = [_image_box(t) for t in ("Query", "Matched section", "Overlay",
                                         "From the scan file")]
        self.query_image, self.match_image, self.overlay, self.file_image = (b[1] for b in boxes)
        self.pose = widgets.HTML()
        self.errors = widgets.HTML()
        # widgets made in a background thread never reach the page: the figure is made here
        # and only its traces change later
        import plotly.graph_objects as go

        self.figure = go.FigureWidget(layout=scene.scene_layout())
        self.scene_box = widgets.VBox([self.figure], layout=widgets.Layout(
            width="520px", display="none"))
        super().__init__([
            widgets.HBox([self.library_choice, self.volume_upload]),
            widgets.HBox([self.query_upload, self.pixel_size]),
            widgets.HBox([self.known_pick]),
            widgets.HBox([self.search_button, self.cancel, self.progress,
                          self.progress_label]),
            self.message, self.rankings,
            widgets.HBox([widgets.VBox([
                widgets.HBox([b[0] for b in boxes]),
                widgets.HTML(views.message_html("Overlay: query magenta, match green; where "
                                                "they agree it is white.")),
                self.pose, self.errors]), self.scene_box]),
        ])
        self.volume_upload.observe(self._on_volume_upload, "value")
        self.query_upload.observe(self._on_query_upload, "value")
        self.known_pick.observe(self._on_known, "value")
        self.library_choice.observe(lambda _: self.start_search(), "value")
        self.search_button.on_click(lambda _: self.start_search())
        self.cancel.on_click(self._on_cancel)
        self.observe(self._on_library, "library")
        self.observe(self._on_search, "search")

    # --- background work ------------------------------------------------------------------
    def _report(self, done: int, total: int, what: str) -> None:
        self.progress.max, self.progress.value = max(total, 1), done
        self.progress_label.value = html.escape(f"{done}/{total} {what}")

    def _run(self, work, done, label: str) -> Job:
        if self._job is not None and self._job.running():
            self._job.cancel()
        self.cancel.disabled = False
        self.message.value = views.message_html(label, kind="busy")
        self._job = Job(work, done=lambda r: self._finish(done, r), failed=self._failed)
        return self._job.start()

    def _finish(self, done, result) -> None:
        self.cancel.disabled = True
        self.progress_label.value = "done"
        done(result)

    def _failed(self, error: Exception) -> None:
        self.cancel.disabled = True
        text = "Cancelled." if isinstance(error, adapter.SearchCancelled) \
            else f"{type(error).__name__}: {error}"
        self.message.value = views.message_html(text, kind="info" if isinstance(
            error, adapter.SearchCancelled) else "error")

    def _on_cancel(self, _button) -> None:
        if self._job is not None:
            self._job.cancel()
            self.message.value = views.message_html("Cancelling…", kind="busy")

    # --- the library ----------------------------------------------------------------------
    def start_library(self) -> Job:
        """Load the run's library (indexes from the cache) and draw the known-pose queries."""
        self.status = "loading the matching library…"

        def work(job):
            library = adapter.load_library(self._table, self._data_dir,
                                           cache_dir=self._cache_dir, progress=self._report,
                                           cancelled=job.cancelled)
            known = adapter.known_pose_queries(library, N_KNOWN_QUERIES, rng=self._seed) \
                if len(library) else []
            return library, known

        def done(result):
            self.known, self.library = result[1], result[0]
            self.message.value = views.message_html("Library ready: upload a slice or pick a "
                                                    "known-pose query.")
        return self._run(work, done, f"Loading {len(self._table)} library volumes…")

    def _on_library(self, change) -> None:
        library = change.new
        skipped = f", {len(library.skipped)} left out" if len(library.skipped) else ""
        self.library_choice.options = [(f"run library ({len(library)} volumes{skipped})", _RUN)] \
            + [o for o in self.library_choice.options if o[1] == _UPLOAD]
        self.known_pick.options = [("", None)] + [(query_label(q, library), k)
                                                  for k, q in enumerate(self.known)]
        self.status = f"matching library ready ({len(library)} volumes)"

    def _on_volume_upload(self, change) -> None:
        if not change.new:
            return
        upload = uploads_from_widget(change.new)[0]
        self.volume_upload.value = ()

        def work(job):
            volume = read_upload_volume(upload)
            return volume, adapter.library_volume_from_upload(volume, name=upload.name)

        def done(result):
            self._upload_volume, self.uploaded = result
            self.library_choice.options = [o for o in self.library_choice.options
                                           if o[1] != _UPLOAD] + [(f"uploaded: {upload.name}",
                                                                   _UPLOAD)]
            self.library_choice.value = _UPLOAD
            self.message.value = views.message_html(f"Volume {upload.name} ready.")
        self._run(work, done, f"Reading and indexing {upload.name}…")

    def _members(self):
        if self.library_choice.value == _UPLOAD:
            return matching.Library((self.uploaded,), pd.DataFrame(columns=["file", "reason"]))
        return self.library

    # --- queries and search ---------------------------------------------------------------
    def _on_query_upload(self, change) -> None:
        if not change.new:
            return
        upload = uploads_from_widget(change.new)[0]
        self.query_upload.value = ()
        try:
            image = read_upload_image(upload)
        except images.ImageError as error:
            self.message.value = views.message_html(str(error), kind="error")
            return
        # the pixel size typed in wins; else the file's own (DICOM, TIFF in cm), else unknown
        stated = image.pixel_size_um[0] if image.pixel_size_um else None
        self._query = (upload.name, image.pixels, self.pixel_size.value or stated, None)
        self.start_search()

    def _on_known(self, change) -> None:
        if change.new is None:
            return
        known = self.known[change.new]
        self.library_choice.value = _RUN
        self._query = (f"query {known.query_id}", known.image, known.pixel_size_um, known)
        self.start_search()

    def start_search(self) -> Job | None:
        """Search the current query in the chosen library (in the background)."""
        library = self._members()
        if self._query is None:
            return None
        if library is None:
            self.message.value = views.message_html("The library is still loading; the search "
                                                    "starts when you click Search again.",
                                                    kind="busy")
            return None
        name, image, pixel_size, _ = self._query
        self.query_image.value = views.to_png(views.display_image(_display_gray(image)))
        return self._run(lambda job: adapter.search_library(
            image, library, pixel_size_um=pixel_size, options=self._options,
            progress=self._report, cancelled=job.cancelled),
            lambda search: setattr(self, "search", search), f"Searching {name}…")

    # --- results --------------------------------------------------------------------------
    def _on_search(self, change) -> None:
        search = change.new
        best = search.result.best
        if best is None:
            self.message.value = views.message_html("No volume could be searched.", kind="error")
            return
        target = next(v for v in self._members().volumes if v.file == best.file)
        partial = " The query touches the image border: matched as a partial view." \
            if getattr(search.query, "partial", False) else ""
        self.rankings.value = ranking_tables_html(search.result)
        self.query_image.value = views.to_png(views.display_image(search.query.image))
        self.match_image.value = views.to_png(views.display_image(best.image))
        self.overlay.value = views.to_png(views.display_image(
            views.overlay_sections(search.query.image, best.image)))
        self.pose.value = "<br>".join(html.escape(line) for line in adapter.pose_lines(
            best, voxel_size_um=target.voxel_size_um))
        known = self._query[3] if self._query else None
        self.errors.value = "" if known is None else "<b>Pose error</b><br>" + "<br>".join(
            html.escape(line) for line in adapter.pose_error_lines(
                known, best, source_file=self.library.volumes[known.target].file,
                voxel_size_um=target.voxel_size_um))
        self._show_file_section(best, search.query)
        self._show_scene(target, best, search.query)
        # announced last, so that the results are on the page once the message says so
        self.message.value = views.message_html(
            f"Best match: {best.species} ({best.specimen}, {best.file}), score "
            f"{best.score:.3f}; searched in {search.result.seconds:.1f} s.{partial} "
            f"{_sentence(matching.reliability_note(best))}")

    def _show_file_section(self, best, query) -> None:
        source = self._upload_volume if self.library_choice.value == _UPLOAD \
            else Path(self._data_dir) / best.file
        section = adapter.file_section(source, best, query)
        self.file_image.value = views.to_png(views.display_image(
            views.scale_to_uint8(section if section is not None else np.zeros((16, 16)))))

    def _show_scene(self, target, best, query) -> None:
        if target.file not in self._surfaces:
            self._surfaces[target.file] = scene.fossil_surface(target.mask)
        section = adapter.plane_section(target.volume, best, query)
        traces = scene.scene_traces(self._surfaces[target.file],
                                    adapter.plane_corners(best, query), section)
        with self.figure.batch_update():
            self.figure.data = ()
            self.figure.add_traces(traces)
            self.figure.layout.title.text = (f"{best.file}: the matched plane in the fossil "
                                             "(drag to rotate)")
        self.scene_box.layout.display = None
