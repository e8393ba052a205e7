"""fossilct.results: reading a run folder through load_run, and refusing unfinished steps."""

import json

import pandas as pd
import pytest

from conftest import copy_run
from fossilct import results

pytestmark = pytest.mark.smoke


def test_load_run_reads_every_product(smoke_run):
    run = results.load_run(smoke_run)
    assert run.profile == "smoke" and run.architectures == ("small_cnn", "mobilenet_v3_small")
    assert run.leakage_architecture == "small_cnn"
    assert run.data_dir == smoke_run / "synthetic"
    assert run.inventory["selected"].dtype == bool
    assert set(run.slices["split"]) == {"train", "val", "test"}
    assert run.slices["path"].map(lambda p: p.startswith(str(smoke_run))).all()
    assert run.class_names == sorted(run.slices["species"].unique())
    model = run.models["small_cnn"]
    assert (model.arch, model.split_mode) == ("small_cnn", "specimen")
    assert model.class_names == run.class_names
    assert model.load() is model.load()  # loaded once
    twin = run.models["small_cnn__slice_level"]
    assert (twin.arch, twin.split_mode) == ("small_cnn", "slice_level")
    ensemble = run.models["ensemble"]
    assert ensemble.class_names == run.class_names
    assert ensemble.load().output_shape[-1] == len(run.class_names)
    assert (run.ensemble_dir / "ensemble.json").is_file()
    assert (run.comparison_dir / "leaderboard.csv").is_file()
    evaluation = run.evaluations["small_cnn"]
    assert 0.0 <= evaluation.metrics["accuracy"]["value"] <= 1.0
    assert set(evaluation.predictions["split"]) == {"val", "test"}
    assert "fossilct" in run.matching_benchmark
    assert run.parameters("03_split")["test_fraction"] == 0.2
    assert run.verify() == []


def test_slice_level_table_is_the_leakage_split(smoke_run):
    run = results.load_run(smoke_run)
    leaky = run.slice_table("slice_level")
    assert leaky["slice_id"].tolist() == run.slices["slice_id"].tolist()
    assert set(leaky["split"]) == {"train", "val", "test"}
    per_specimen = leaky.groupby("specimen_id")["split"].nunique()
    assert (per_specimen > 1).any()  # slices of one specimen spread over splits: leakage


def test_an_unfinished_step_names_the_command_that_makes_it(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run, tmp_path)
    (run_dir / ".stamps" / "05_evaluate__small_cnn.json").unlink()
    run = results.load_run(run_dir)
    assert "small_cnn" not in run.evaluations and "mobilenet_v3_small" in run.evaluations
    with pytest.raises(results.RunError, match=r"step 05_evaluate__small_cnn has not finished "
                                               r".*python run_all.py --profile smoke --out .* "
                                               r"--only 05_evaluate --arch small_cnn"):
        run.output("05_evaluate__small_cnn")
    with pytest.raises(results.RunError, match=r"has no step '09_nothing'"):
        run.output("09_nothing")


def test_verify_finds_modified_products(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run, tmp_path)
    metrics = run_dir / "eval" / "small_cnn" / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": {"value": 1.0}}))
    assert results.load_run(run_dir).verify() == ["05_evaluate__small_cnn", "06_ensemble",
                                                  "08_comparison"]


def test_problems_list_what_the_steps_reported(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run, tmp_path)
    assert results.load_run(run_dir).problems() == []
    counts = pd.read_csv(run_dir / "slices" / "counts.csv", keep_default_na=False)
    counts.loc[0, "error"] = "VolumeError: NaN"
    counts.to_csv(run_dir / "slices" / "counts.csv", index=False)
    problems = results.load_run(run_dir).problems()
    assert problems == [f"02_slices: {counts.loc[0, 'file']} ({counts.loc[0, 'species']}) gave "
                        "no slices: VolumeError: NaN"]


def test_not_a_run_folder(tmp_path):
    with pytest.raises(results.RunError, match=r"is not a fossilct run folder: it has no run.yaml"):
        results.load_run(tmp_path)
