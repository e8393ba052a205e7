"""The classification tab: images in, ranked species out, with what the model saw and where.

:func:`classify_inputs` (pure, apart from the model call) does the work; the
:class:`ClassificationPanel` widget holds the state as traitlets (``classifier``, ``inputs``,
``crop_boxes``, ``predictions``) and each callback reads widget values, calls a function and
assigns the result.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from fossilct import images, inference
from fossilct.dashboard import views
from fossilct.dashboard.background import Job
from fossilct.dashboard.run_sources import ModelChoice, load_choice
from fossilct.dashboard.uploads import read_upload_image, uploads_from_widget

__all__ = ["IMAGE_ACCEPT", "SENSITIVITY_RANGE", "Input", "read_inputs", "classify_inputs",
           "ClassificationPanel"]

IMAGE_ACCEPT = ".png,.jpg,.jpeg,.tif,.tiff,.dcm,image/png,image/jpeg,image/tiff"
"""File types the upload button offers (the content decides, not the name)."""
SENSITIVITY_RANGE = (-0.3, 0.3)
"""Range of the threshold-offset slider, in [0, 1] intensity units."""
CSV_NAME = "fossilct_classification.csv"


@dataclass(frozen=True, eq=False)
class Input:
    """One uploaded or picked image: its name, and its pixels or why it could not be read."""

    name: str
    image: np.ndarray | None
    error: str = ""


def read_inputs(sources: Sequence, read) -> list[Input]:
    """Read each source with `read`; a source that fails keeps its error message.

    Parameters
    ----------
    sources : sequence of (name, source)
    read : callable
        ``read(source) -> ndarray``; raises ValueError or OSError for a bad source.

    Examples
    --------
    >>> def read(x):
    ...     if x is None:
    ...         raise ValueError("no data")
    ...     return np.zeros((2, 2))
    >>> [(i.name, i.error) for i in read_inputs([("a", 1), ("b", None)], read)]
    [('a', ''), ('b', 'no data')]
    """
    inputs = []
    for name, source in sources:
        try:
            inputs.append(Input(name, read(source)))
        except (ValueError, OSError) as error:
            inputs.append(Input(name, None, str(error)))
    return inputs


def classify_inputs(classifier: inference.Classifier, inputs: Sequence[Input], *,
                    threshold_offset: float, crop_boxes: dict) -> list[inference.Prediction]:
    """Predictions for the inputs; unreadable inputs become refused predictions.

    Parameters
    ----------
    classifier : fossilct.inference.Classifier
    inputs : sequence of Input
    threshold_offset : float
        Segmentation sensitivity.
    crop_boxes : dict of str to (row0, col0, row1, col1)
        Manual crops by input name.

    Returns
    -------
    list of fossilct.inference.Prediction
        In input order.
    """
    readable = [i for i in inputs if i.image is not None]
    predicted = iter(inference.predict_images(
        classifier, [i.image for i in readable], names=[i.name for i in readable],
        threshold_offset=threshold_offset,
        crop_boxes=[crop_boxes.get(i.name) for i in readable])) if readable else iter(())
    return [next(predicted) if i.image is not None
            else inference.Prediction(i.name, None, False, f"not read: {i.error}", np.nan)
            for i in inputs]


def _image_box(title: str) -> tuple[widgets.VBox, widgets.Image]:
    image = widgets.Image(format="png", layout=widgets.Layout(width="200px", height="200px",
                                                               object_fit="contain"))
    return widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), image]), image


class ClassificationPanel(widgets.VBox):
    """Upload or pick slices, choose a model, see the ranking, the model input and Grad-CAM.

    Parameters
    ----------
    choices : sequence of ModelChoice
    class_names : sequence of str
        The run's class names (for a model folder without ``class_names.json``).
    image_size : int, optional
        The run's slice size (the slicing step's ``image_size``): every model was trained on
        slices of that size.
    test_slices : sequence of (label, path)
        Slices of the run's test split to pick from.
    """

    classifier = traitlets.Any(None, allow_none=True)
    inputs = traitlets.List()
    crop_boxes = traitlets.Dict()
    predictions = traitlets.List()
    status = traitlets.Unicode("")

    def __init__(self, choices: Sequence[ModelChoice], *, class_names: Sequence[str],
                 test_slices: Sequence[tuple[str, str]], image_size: int | None = None):
        self._choices = {c.label: c for c in choices}
        self._class_names = list(class_names)
        self._image_size = image_size
        self._loaded: dict = {}
        self._syncing = False
        self.model = widgets.Dropdown(options=list(self._choices), description="Model")
        self.upload = widgets.FileUpload(accept=IMAGE_ACCEPT, multiple=True,
                                         description="Upload images")
        self.test_pick = widgets.SelectMultiple(options=list(test_slices), rows=6,
                                                description="Test slices",
                                                layout=widgets.Layout(width="420px"))
        self.add_test = widgets.Button(description="Classify selected", icon="play")
        self.clear = widgets.Button(description="Clear", icon="trash")
        self.sensitivity = widgets.FloatSlider(
            value=0.0, min=SENSITIVITY_RANGE[0], max=SENSITIVITY_RANGE[1], step=0.01,
            description="Threshold offset", continuous_update=False,
            style={"description_width": "initial"},
            tooltip="Added to the automatic threshold; negative keeps fainter structures")
        self.crop_on = widgets.Checkbox(description="Manual crop", indent=False,
                                        layout=widgets.Layout(width="130px"))
        self.crop_rows = widgets.IntRangeSlider(description="Rows", continuous_update=False)
        self.crop_cols = widgets.IntRangeSlider(description="Cols", continuous_update=False)
        self.shown = widgets.Dropdown(description="Show", options=[])
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.download = widgets.HTML()
        self.summary = widgets.HTML()
        self.bars = widgets.HTML()
        self.cam_note = widgets.HTML()
        boxes = [_image_box(t) for t in ("Original", "Segmented silhouette", "Model input",
                                         "Grad-CAM (top class)")]
        self.original, self.silhouette, self.model_input, self.cam = (b[1] for b in boxes)
        super().__init__([
            widgets.HBox([self.model, self.upload, self.clear]),
            widgets.HBox([self.test_pick, self.add_test]),
            widgets.HBox([self.sensitivity]),
            self.message,
            widgets.HTML("<h4>Results</h4>"), self.table, self.download,
            widgets.HTML("<h4>Detail</h4>"), self.shown,
            widgets.HBox([b[0] for b in boxes]), self.cam_note,
            widgets.HBox([self.crop_on, self.crop_rows, self.crop_cols]),
            widgets.HBox([self.summary, self.bars]),
        ])
        self.model.observe(self._on_model, "value")
        self.upload.observe(self._on_upload, "value")
        self.add_test.on_click(self._on_add_test)
        self.clear.on_click(self._on_clear)
        self.sensitivity.observe(self._on_settings, "value")
        for control in (self.crop_on, self.crop_rows, self.crop_cols):
            control.observe(self._on_crop, "value")
        self.observe(self._on_settings, ["classifier", "inputs", "crop_boxes"])
        self.observe(self._on_predictions, "predictions")
        self.shown.observe(self._on_shown, "value")
        if not self._choices:
            self.message.value = views.message_html(
                "This run has no trained model: run the training step first.", kind="error")

    # --- model loading (background) -------------------------------------------------------
    def load_model(self, label: str | None = None) -> Job | None:
        """Load the chosen model in the background; ``classifier`` is set when it is ready."""
        label = label or self.model.value
        if label is None:
            return None
        if label in self._loaded:
            self.classifier = self._loaded[label]
            return None
        self.classifier = None
        self.status = f"loading model {label}…"
        choice = self._choices[label]
        return Job(lambda job: load_choice(choice, class_names=self._class_names,
                                           image_size=self._image_size),
                   done=lambda c: self._model_ready(label, c),
                   failed=lambda e: self._model_failed(label, e)).start()

    def _model_ready(self, label: str, classifier: inference.Classifier) -> None:
        self._loaded[label] = classifier
        if self.model.value == label:
            self.classifier = classifier
            self.status = f"model {label} ready"

    def _model_failed(self, label: str, error: Exception) -> None:
        self.status = f"model {label} could not be loaded"
        self.message.value = views.message_html(f"{label}: {error}", kind="error")

    def _on_model(self, change) -> None:
        self.load_model(change.new)

    # --- inputs ---------------------------------------------------------------------------
    def _on_upload(self, change) -> None:
        if not change.new:
            return
        uploads = uploads_from_widget(change.new)
        self.inputs = self.inputs + read_inputs(
            [(u.name, u) for u in uploads], lambda upload: read_upload_image(upload).pixels)
        self.upload.value = ()

    def _on_add_test(self, _button) -> None:
        picked = [(label, path) for label, path in self.test_pick.options
                  if path in self.test_pick.value]
        self.inputs = self.inputs + read_inputs(picked,
                                                lambda path: images.read_image(path).pixels)

    def _on_clear(self, _button) -> None:
        self.crop_boxes, self.inputs = {}, []

    # --- prediction -----------------------------------------------------------------------
    def _on_settings(self, _change=None) -> None:
        if self.classifier is None:
            if self.inputs:
                self.message.value = views.message_html("The model is loading; the images are "
                                                        "classified as soon as it is ready.",
                                                        kind="busy")
            return
        try:
            self.predictions = classify_inputs(self.classifier, self.inputs,
                                               threshold_offset=self.sensitivity.value,
                                               crop_boxes=self.crop_boxes)
        except ValueError as error:  # a crop box the segmentation refuses (too small)
            self.message.value = views.message_html(str(error), kind="error")

    def _on_predictions(self, change) -> None:
        table = views.batch_table(change.new)
        refused = int((~table["segmentable"].astype(bool)).sum()) if len(table) else 0
        self.table.value = views.table_html(table) if len(table) else ""
        self.download.value = "" if not change.new else views.csv_download_html(
            pd.concat([p.table() for p in change.new], ignore_index=True),
            filename=CSV_NAME, label="Download CSV (every species of every image)")
        names = [p.name for p in change.new]
        keep = self.shown.value if self.shown.value in names else (names[-1] if names else None)
        self.shown.options = names
        self.shown.value = keep
        self._on_shown()
        # announced last, so that the table is on the page once the message says so
        self.message.value = views.message_html(
            f"{len(table)} image(s) classified, {refused} refused (see the message column)."
            if len(table) else "Upload images or pick test slices to classify them.")

    # --- the shown image ------------------------------------------------------------------
    def _prediction(self, name) -> inference.Prediction | None:
        return next((p for p in self.predictions if p.name == name), None)

    def _on_shown(self, _change=None) -> None:
        prediction = self._prediction(self.shown.value)
        self._show_crop(prediction)
        self._show_images(prediction)

    def _show_images(self, p: inference.Prediction | None) -> None:
        blank = views.to_png(np.zeros((1, 1), np.uint8))
        self.original.value = blank if p is None or p.original is None else \
            views.to_png(views.display_image(p.original))
        self.silhouette.value = blank if p is None or p.silhouette is None else \
            views.to_png(views.display_image(views.overlay_mask(p.original, p.silhouette)))
        self.model_input.value = blank if p is None or p.model_input is None else \
            views.to_png(views.display_image(p.model_input))
        self.cam.value, self.cam_note.value = blank, ""
        self.summary.value = self.bars.value = ""
        if p is None:
            return
        if p.summary is None:
            self.summary.value = views.message_html(f"{p.name}: {p.message}", kind="error")
            return
        self.summary.value = views.summary_html(
            p.summary, abstention_threshold=self.classifier.abstention_threshold)
        self.bars.value = views.probability_bars_html(p.summary.species,
                                                      p.summary.probabilities)
        try:
            activation = inference.class_activation_map(self.classifier, p.model_input)
        except ValueError as error:
            self.cam_note.value = views.message_html(f"Grad-CAM: {error}")
            return
        self.cam.value = views.to_png(views.display_image(activation.overlay))
        self.cam_note.value = views.message_html(
            f"Grad-CAM for {activation.class_name}: bright where the top class's evidence is.")

    def _show_crop(self, p: inference.Prediction | None) -> None:
        self._syncing = True
        try:
            usable = p is not None and p.original is not None
            rows, cols = p.original.shape if usable else (1, 1)
            box = (p.crop_box if usable else None) or (0, 0, rows, cols)
            self.crop_rows.max = self.crop_cols.max = max(rows, cols)
            self.crop_rows.value, self.crop_cols.value = (box[0], box[2]), (box[1], box[3])
            self.crop_rows.max, self.crop_cols.max = rows, cols
            self.crop_on.value = usable and p.crop_box is not None
            for control in (self.crop_on, self.crop_rows, self.crop_cols):
                control.disabled = not usable
        finally:
            self._syncing = False

    def _on_crop(self, _change) -> None:
        name = self.shown.value
        if self._syncing or name is None:
            return
        boxes = {k: v for k, v in self.crop_boxes.items() if k != name}
        if self.crop_on.value:
            boxes[name] = (self.crop_rows.value[0], self.crop_cols.value[0],
                           self.crop_rows.value[1], self.crop_cols.value[1])
        self.crop_boxes = boxes
