"""Tests of fossilct.dashboard.app on a stand-in run (the real-run test is in the browser test)."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from fossilct import models, training
from fossilct.dashboard import build_app
from fossilct.results import RunError

CLASSES = ["a_like", "b_like"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "small_cnn"
    model = models.build_model("small_cnn", n_classes=2, input_size=32)
    training.save_training_outputs(folder, model, {"epoch": [0]}, CLASSES, {"image_size": 32})
    return folder


def _run(tmp_path, model_dir, *, matching_finished):
    def parameters(key):
        if key == "02_slices":
            return {"image_size": 32}
        if not matching_finished:
            raise RunError(f"{tmp_path}: step 07_matching has not finished")
        return {"library_per_species": 1, "search_effort": {}, "weights": {}}

    return SimpleNamespace(
        run_dir=Path(tmp_path), profile="smoke", seed=0, class_names=CLASSES,
        models={"small_cnn": SimpleNamespace(arch="small_cnn", split_mode="specimen",
                                             path=model_dir)},
        slices=pd.DataFrame({"path": ["p"], "slice_id": ["s"], "species": ["a_like"],
                             "split": ["test"]}),
        inventory=pd.DataFrame({"file": ["a.npy"], "species": ["a_like"],
                                "specimen_id": ["a0"]}),
        data_dir=Path(tmp_path), matching_dir=Path(tmp_path) / "matching",
        parameters=parameters)


def test_the_app_is_built_without_loading_anything(tmp_path, model_dir):
    app = build_app(_run(tmp_path, model_dir, matching_finished=True), start=False)
    assert app.classification.classifier is None and app.matching.library is None
    assert [app.tabs.get_title(k) for k in range(2)] == ["Classification", "Matching"]
    assert "classification: idle" in app.status.value
    assert app.classification.test_pick.options == (("a_like · s", "p"),)


def test_starting_loads_the_model_then_the_library(tmp_path, model_dir):
    app = build_app(_run(tmp_path, model_dir, matching_finished=True), start=False)
    app.start().join(120)
    app.matching._job.join(120)
    assert app.classification.classifier is not None
    assert "model small_cnn ready" in app.status.value
    assert "matching library ready (0 volumes)" in app.status.value  # a.npy does not exist
    assert app.matching.library.skipped["file"].tolist() == ["a.npy"]
    assert "1 left out" in app.matching.library_choice.options[0][0]


def test_a_run_without_matching_shows_why(tmp_path, model_dir):
    app = build_app(_run(tmp_path, model_dir, matching_finished=False), start=False)
    assert app.matching is None and "07_matching has not finished" in app.tabs.children[1].value
