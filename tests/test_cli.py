"""fossilct.cli: the subcommands parse, dispatch to the same code as run_all.py and the generator,
classify ranks species with a model folder, match finds a section's specimen and pose; bad input
exits with status 2 and a message."""

import json
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fossilct import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_console_script_is_this_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"fossilct": "fossilct.cli:main"}


def test_project_root_is_found_from_a_subfolder(tmp_path):
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "pipeline.yaml").write_text("{}\n")
    (tmp_path / "notebooks" / "deep").mkdir(parents=True)
    assert cli.find_project_root(tmp_path / "notebooks" / "deep") == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match="pass --project DIR"):
        cli.find_project_root(tmp_path / "notebooks" / "deep" / ".." / ".." / "..")


def test_run_is_run_all_from_any_folder_of_the_project(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT / "notebooks")
    assert cli.main(["run", "--profile", "smoke", "--out", str(tmp_path), "--list"]) == 0
    assert f"run folder: {tmp_path / 'smoke'}" in capsys.readouterr().out
    assert cli.main(["run", "--project", str(ROOT), "--profile", "nope"]) == 2
    assert "profile 'nope' not found" in capsys.readouterr().err
    assert cli.main(["run", "--project", str(tmp_path)]) == 2
    assert "no parameters/pipeline.yaml there" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--list"]) == 2
    assert "no fossilct project at or above" in capsys.readouterr().err


def test_synthetic_is_the_generator(tmp_path, capsys):
    assert cli.main(["synthetic", "--out", str(tmp_path / "d"), "--species", "2",
                     "--specimens", "1", "--size", "24", "--rescan-fraction", "0"]) == 0
    assert "wrote 2 volumes" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "d" / "specimens.csv")) == 2


def _disk_png(path, size=48):
    rows, cols = np.mgrid[0:size, 0:size]
    image = (((rows - 20) ** 2 + (cols - 26) ** 2 <= 100) * 200 + 10).astype(np.uint8)
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def constant_model(tmp_path):
    """A model folder whose model answers b (0.731) then a (0.269) for every image."""
    from fossilct import models

    model = models.build_model("small_cnn", n_classes=2, input_size=32)
    classifier = model.get_layer("classifier")
    kernel, _ = classifier.get_weights()
    classifier.set_weights([np.zeros_like(kernel), np.array([0.0, 1.0], np.float32)])
    folder = tmp_path / "model"
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "class_names.json").write_text(json.dumps(["a", "b"]))
    return folder


def test_classify_prints_a_ranked_table_and_writes_the_csv(constant_model, tmp_path, capsys):
    images = [_disk_png(tmp_path / "one.png"), _disk_png(tmp_path / "two.png")]
    out_csv = tmp_path / "ranks.csv"
    assert cli.main(["classify", *map(str, images), "--model", str(constant_model),
                     "--top-k", "5", "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert printed.index("two.png") > printed.index("one.png")
    assert [line.split() for line in printed.splitlines()[1:5]] == [
        ["rank", "species", "probability"], ["1", "b", "0.731"], ["2", "a", "0.269"],
        ["margin", "0.462,", "entropy", "0.840"]]
    table = pd.read_csv(out_csv)
    assert table.columns.tolist()[:4] == ["file", "rank", "species", "probability"]
    assert table["species"].tolist() == ["b", "a", "b", "a"]  # top-k capped at 2 classes
    assert table["probability"].to_numpy() == pytest.approx([0.7311, 0.2689] * 2, abs=1e-4)


def test_classify_bad_input_exits_2_with_a_message(constant_model, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((40, 40), np.uint8))
    cases = [
        (["--model", str(constant_model), str(_disk_png(tmp_path / "x.png")), "--top-k", "0"],
         "--top-k must be at least 1"),
        (["--model", str(tmp_path / "none"), str(tmp_path / "x.png")], "does not exist"),
        (["--model", str(constant_model), str(tmp_path / "missing.png")], "does not exist"),
        (["--model", str(constant_model), str(blank), str(_disk_png(tmp_path / "x.png"))],
         "1 of 2 images could not be classified"),
    ]
    for arguments, message in cases:
        assert cli.main(["classify", *arguments]) == 2
        assert message in capsys.readouterr().err


def test_match_outside_a_run_folder_exits_2(tmp_path, capsys):
    assert cli.main(["match", str(_disk_png(tmp_path / "q.png")), "--run", str(tmp_path)]) == 2
    assert "not a fossilct run folder" in capsys.readouterr().err


# --- on the session's smoke run ------------------------------------------------------------

@pytest.mark.smoke
def test_classify_a_slice_exported_from_the_test_split(smoke_run, tmp_path, capsys):
    from fossilct.results import load_run

    run = load_run(smoke_run)
    name = run.architectures[0]
    png = tmp_path / "test_slice.png"
    png.write_bytes(Path(run.slices.query("split == 'test'")["path"].iloc[0]).read_bytes())
    n_classes = len(run.class_names)
    assert cli.main(["classify", str(png), "--model", str(run.models[name].path),
                     "--top-k", str(n_classes), "--csv", str(tmp_path / "r.csv")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{png}\n rank")
    table = pd.read_csv(tmp_path / "r.csv")
    assert table["rank"].tolist() == list(range(1, n_classes + 1))
    assert sorted(table["species"]) == sorted(run.class_names)
    assert table["probability"].is_monotonic_decreasing
    assert table["probability"].sum() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.smoke
def test_match_finds_the_specimen_and_the_pose_of_an_axis_section(smoke_run, tmp_path, capsys):
    from conftest import copy_run
    from fossilct import slicing, volumes
    from fossilct.results import load_run

    run = load_run(copy_run(smoke_run, tmp_path))  # the command adds an index cache to it
    first = run.inventory.query("selected").drop_duplicates("specimen_id").iloc[0]
    loaded = volumes.load_volume(run.data_dir / first["file"])
    prepared = slicing.prepare_volume(loaded.data, loaded.spacing_um).volume
    query = tmp_path / "query.png"
    cv2.imwrite(str(query), prepared[prepared.shape[0] // 2])
    stamp = (run.run_dir / ".stamps" / "07_matching.json").read_text()
    assert cli.main(["match", str(query), "--run", str(run.run_dir), "--top-k", "2"]) == 0
    printed = capsys.readouterr().out
    ranked = printed.split("\n\n")[0].splitlines()
    assert len(ranked) == 4 and ranked[2].split()[:3] == ["1", first["specimen_id"],
                                                           first["species"]]
    normal = json.loads(printed.split("normal")[1].splitlines()[0].strip())
    assert abs(normal[0]) > 0.99  # cut normal to the plane axis, and found so
    assert "in-plane angle" in printed and "offset" in printed
    assert "pose reliable: " in printed or "pose not reliable: " in printed
    in_file = printed.split(f"the plane in {first['file']}")[1]
    assert abs(json.loads(in_file.split("normal")[1].split("(")[0].strip())[0]) > 0.99
    # the matching step's folder was only read: the step stays up to date
    from fossilct import pipeline

    task = next(t for t in pipeline.resolve_tasks(
        pipeline.load_pipeline(ROOT / "parameters" / "pipeline.yaml", root=ROOT),
        pipeline.load_profile(ROOT / "parameters", "smoke"), parameters_dir=ROOT / "parameters",
        run_dir=run.run_dir) if t.key == "07_matching")
    assert pipeline.decide(task, run.run_dir) == "up to date"
    assert (run.run_dir / ".stamps" / "07_matching.json").read_text() == stamp
