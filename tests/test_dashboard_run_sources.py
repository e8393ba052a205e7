"""Tests of fossilct.dashboard.run_sources: the model list comes from the run."""

import json
from types import SimpleNamespace

import pandas as pd

from fossilct.dashboard import run_sources


def _run(tmp_path, *, ensemble=False, record=False):
    models = {"small_cnn": SimpleNamespace(arch="small_cnn", split_mode="specimen",
                                           path=tmp_path / "models/small_cnn"),
              "small_cnn__slice_level": SimpleNamespace(arch="small_cnn", split_mode="slice_level",
                                                        path=tmp_path / "models/twin"),
              "mobilenet_v3_small": SimpleNamespace(arch="mobilenet_v3_small",
                                                    split_mode="specimen", path=tmp_path / "m")}
    if ensemble:
        models["ensemble"] = SimpleNamespace(arch="ensemble", split_mode="specimen",
                                             path=tmp_path / "models/ensemble")
    (tmp_path / "ensemble").mkdir(parents=True, exist_ok=True)
    if record:
        (tmp_path / "ensemble/ensemble.json").write_text(json.dumps({}))
    return SimpleNamespace(run_dir=tmp_path, models=models, ensemble_dir=tmp_path / "ensemble")


def test_model_choices_leave_out_the_leakage_twin(tmp_path):
    labels = [c.label for c in run_sources.model_choices(_run(tmp_path))]
    assert labels == ["mobilenet_v3_small", "small_cnn"]


def test_the_ensemble_comes_last_with_its_record(tmp_path):
    choices = run_sources.model_choices(_run(tmp_path, ensemble=True, record=True))
    assert choices[-1].label == "ensemble"
    assert choices[-1].path == tmp_path / "models/ensemble"
    assert choices[-1].record == tmp_path / "ensemble/ensemble.json"
    assert run_sources.model_choices(_run(tmp_path / "x", ensemble=True))[-1].record is None


def test_pick_test_slices_spreads_over_each_species():
    slices = pd.DataFrame({"path": [f"p{k}" for k in range(10)],
                           "slice_id": [f"s{k}" for k in range(10)],
                           "species": ["a"] * 7 + ["b"] * 3,
                           "split": ["test"] * 6 + ["train"] + ["test"] * 3})
    choices = run_sources.pick_test_slices(slices, per_species=3)
    assert [path for _, path in choices] == ["p0", "p2", "p5", "p7", "p8", "p9"]
    assert choices[0][0] == "a · s0"
