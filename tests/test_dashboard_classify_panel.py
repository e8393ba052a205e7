"""Tests of the classification tab, driven by setting widget values (no browser)."""

import datetime

import cv2
import numpy as np
import pytest

from fossilct import models, training
from fossilct.dashboard import classify_panel
from fossilct.dashboard.run_sources import ModelChoice

CLASSES = ["a_like", "b_like"]


def _disc(size=64, radius=18, hole=0):
    grid = np.hypot(*(np.indices((size, size)) - (size - 1) / 2))
    image = np.where(grid <= radius, 210, 12).astype(np.uint8)
    image[grid <= hole] = 40
    return image


def _files(*named):
    return tuple({"name": name, "type": "", "size": len(data), "content": memoryview(data),
                  "last_modified": datetime.datetime.now()} for name, data in named)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    model = models.build_model("small_cnn", n_classes=2, input_size=32)
    training.save_training_outputs(folder, model, {"epoch": [0]}, CLASSES, {"image_size": 32})
    return folder


@pytest.fixture
def panel(model_dir, tmp_path):
    slice_path = tmp_path / "test_slice.png"
    cv2.imwrite(str(slice_path), _disc(hole=6))
    panel = classify_panel.ClassificationPanel(
        [ModelChoice("tiny", model_dir)], class_names=CLASSES,
        test_slices=[("a_like · s1", str(slice_path))])
    panel.load_model().join(60)
    return panel


def test_uploads_are_classified_with_the_images_shown(panel):
    png = cv2.imencode(".png", _disc())[1].tobytes()
    panel.upload.value = _files(("../../disc.png", png))
    [prediction] = panel.predictions
    assert prediction.name == "disc.png" and prediction.segmentable
    assert "disc.png" in panel.table.value and "base64," in panel.download.value
    assert panel.shown.value == "disc.png" and len(panel.original.value) > 100
    assert len(panel.cam.value) > 100 and "Grad-CAM for" in panel.cam_note.value
    assert panel.upload.value == ()


def test_the_message_announces_results_already_on_the_page(panel):
    """The browser renders widget updates in the order they are sent: table first, then news."""
    seen = []
    panel.message.observe(lambda change: seen.append(
        (panel.table.value, panel.original.value)) if "classified" in change.new else None,
        names="value")
    panel.upload.value = _files(("disc.png", cv2.imencode(".png", _disc())[1].tobytes()))
    [(table, original)] = seen
    assert "disc.png" in table and len(original) > 100


def test_bad_inputs_give_messages_not_errors(panel):
    constant = cv2.imencode(".png", np.full((40, 40), 5, np.uint8))[1].tobytes()
    panel.upload.value = _files(("notes.txt", b"hello"), ("flat.png", constant),
                                ("cut.png", cv2.imencode(".png", _disc())[1].tobytes()[:70]))
    messages = {p.name: p.message for p in panel.predictions}
    assert "not an image that can be read" in messages["notes.txt"]
    assert "constant" in messages["flat.png"] and "truncated" in messages["cut.png"]
    assert "3 refused" in panel.message.value
    panel.shown.value = "flat.png"
    assert "constant" in panel.summary.value


def test_test_slices_and_sensitivity_and_crop(panel):
    panel.test_pick.value = (panel.test_pick.options[0][1],)
    panel.add_test.click()
    [before] = panel.predictions
    panel.crop_on.value = True
    panel.crop_rows.value, panel.crop_cols.value = (10, 54), (10, 54)
    assert panel.crop_boxes == {"a_like · s1": (10, 10, 54, 54)}
    assert panel.predictions[0].crop_box == (10, 10, 54, 54)
    panel.crop_rows.value = (10, 15)  # too small: a message, the last result stays
    assert "smaller than 16" in panel.message.value
    panel.crop_on.value = False
    panel.sensitivity.value = -0.2
    assert panel.predictions[0].foreground_fraction >= before.foreground_fraction
    panel.clear.click()
    assert panel.predictions == [] and panel.table.value == ""


def test_images_uploaded_while_the_model_loads_wait_for_it(model_dir):
    panel = classify_panel.ClassificationPanel([ModelChoice("tiny", model_dir)],
                                               class_names=CLASSES, test_slices=[])
    panel.upload.value = _files(("d.png", cv2.imencode(".png", _disc())[1].tobytes()))
    assert "loading" in panel.message.value and panel.predictions == []
    panel.load_model().join(60)
    assert len(panel.predictions) == 1 and panel.status == "model tiny ready"


def test_a_model_that_cannot_be_loaded_is_reported(tmp_path):
    panel = classify_panel.ClassificationPanel([ModelChoice("gone", tmp_path)],
                                               class_names=CLASSES, test_slices=[])
    panel.load_model().join(30)
    assert "model.keras" in panel.message.value and "could not be loaded" in panel.status


def test_a_run_without_models_says_so():
    panel = classify_panel.ClassificationPanel([], class_names=CLASSES, test_slices=[])
    assert "no trained model" in panel.message.value and panel.load_model() is None
