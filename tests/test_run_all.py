"""Smoke runs of the whole notebook pipeline through run_all.py: every notebook runs and writes
what the layout declares, and a changed parameter, a damaged output or a moved folder is never
reported as up to date."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_run, run_pipeline
from fossilct import pipeline, synthetic

pytestmark = pytest.mark.smoke


def _tasks(run_dir, profile="smoke"):
    steps = pipeline.load_pipeline(ROOT / "parameters" / "pipeline.yaml", root=ROOT)
    data = pipeline.load_profile(ROOT / "parameters", profile)
    return pipeline.resolve_tasks(steps, data, parameters_dir=ROOT / "parameters",
                                  run_dir=run_dir)


def _profile_variant(tmp_path, **changes):
    """The smoke profile with `changes` ({"03_split.test_fraction": 0.5}) as a file."""
    data = yaml.safe_load((ROOT / "parameters" / "smoke.yaml").read_text())
    for dotted, value in changes.items():
        step, key = dotted.split(".")
        data[step][key] = value
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _ran(stdout):
    return stdout.split("fossilct: ", 1)[1].split(" of ", 1)[0]


def _stamp_times(run_dir):
    return {p.stem: p.stat().st_mtime_ns for p in (run_dir / ".stamps").glob("*.json")
            if p.stem != "hash-cache"}


def test_every_notebook_executed_and_wrote_its_folders(smoke_run):
    for task in _tasks(smoke_run):
        executed = smoke_run / "notebooks" / f"{task.key}.ipynb"
        nb = nbformat.read(executed, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{task.key}: {errors}"
        assert (smoke_run / "notebooks" / f"{task.key}.yaml").is_file()
        assert (smoke_run / ".stamps" / f"{task.key}.json").is_file()
        for output in task.outputs:
            assert output.is_dir() and any(output.iterdir()), f"{task.key} wrote no {output}"
    assert list((smoke_run / "logs").glob("run_*.log"))
    assert yaml.safe_load((smoke_run / "run.yaml").read_text())["profile"] == "smoke"


def test_no_step_writes_into_an_earlier_steps_folder(smoke_run):
    """Each folder is written by one step only: 03 no longer rewrites 02's manifest."""
    stamps = {task.key: json.loads((smoke_run / ".stamps" / f"{task.key}.json").read_text())
              for task in _tasks(smoke_run)}
    for key, stamp in stamps.items():
        for folder, digest in stamp["outputs"].items():
            path = smoke_run / folder.removeprefix("{run_dir}/")
            assert pipeline.hash_path(path) == digest, f"{folder} changed after {key} wrote it"


def _outputs(notebook, kind):
    """Outputs of the code cells of an executed notebook: stream texts or image/png payloads."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if kind == "stream" and output.get("output_type") == "stream":
                found.append(output["text"])
            elif kind == "image/png" and "image/png" in output.get("data", {}):
                found.append(output["data"]["image/png"])
    return found


def test_every_figure_a_step_saves_is_also_shown_inline(smoke_run):
    checked = 0
    for task in _tasks(smoke_run):
        saved = [p for folder in task.outputs if folder.is_dir() for p in folder.glob("*.png")]
        notebook = nbformat.read(smoke_run / "notebooks" / f"{task.key}.ipynb", as_version=4)
        shown = _outputs(notebook, "image/png")
        assert len(shown) >= len(saved), f"{task.key} saved {len(saved)} figures, shows {shown}"
        checked += bool(saved)
    assert checked  # not vacuous: steps do save figures


TENSORFLOW_NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations|NodeDef mentions"
                              r"|^[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]", re.M)


def test_notebooks_and_logs_hold_no_tensorflow_startup_noise(smoke_run):
    for task in _tasks(smoke_run):
        notebook = nbformat.read(smoke_run / "notebooks" / f"{task.key}.ipynb", as_version=4)
        text = "".join(_outputs(notebook, "stream"))
        assert not TENSORFLOW_NOISE.search(text), f"{task.key}: {text[:500]}"
    for log in (smoke_run / "logs").glob("run_*.log"):
        match = TENSORFLOW_NOISE.search(log.read_text())
        assert match is None, f"{log}: {match and match.group(0)}"


def test_inventory_contract(smoke_run):
    inventory = pd.read_csv(smoke_run / "dataset" / "inventory.csv")
    assert list(inventory.columns[:7]) == ["file", "species", "specimen_id", "format", "shape_zyx",
                                           "spacing_zyx_um", "selected"]
    assert inventory["selected"].any()
    assert inventory["format"].nunique() >= 3


def test_second_run_skips_everything_and_force_reruns(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run, tmp_path)  # a moved run folder stays up to date
    again = run_pipeline("--profile", "smoke", "--out", run_dir.parent)
    assert again.returncode == 0, again.stderr
    assert _ran(again.stdout) == "0"
    listing = run_pipeline("--profile", "smoke", "--out", run_dir.parent, "--list")
    assert "[  up to date] 01_dataset" in listing.stdout
    forced = run_pipeline("--profile", "smoke", "--out", run_dir.parent, "--only", "01",
                          "--force")
    assert forced.returncode == 0, forced.stderr
    assert _ran(forced.stdout) == "1"


def test_a_changed_split_retrains_and_reevaluates(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run, tmp_path)
    before = _stamp_times(run_dir)
    trained = yaml.safe_load((run_dir / "models" / "small_cnn" / "params.yaml").read_text())
    variant = _profile_variant(tmp_path, **{"03_split.test_fraction": 0.4})
    result = run_pipeline("--profile", variant, "--out", run_dir.parent)
    assert result.returncode == 0, result.stderr
    after = _stamp_times(run_dir)
    rerun = sorted(k for k in after if after[k] != before[k])
    assert rerun == ["03_split", "04_train__mobilenet_v3_small", "04_train__small_cnn",
                     "04_train__small_cnn__slice_level", "05_evaluate__mobilenet_v3_small",
                     "05_evaluate__small_cnn", "05_evaluate__small_cnn__slice_level",
                     "06_ensemble", "08_comparison"]
    retrained = yaml.safe_load((run_dir / "models" / "small_cnn" / "params.yaml").read_text())
    assert retrained["split_fingerprint"] != trained["split_fingerprint"]


def test_evaluating_a_model_on_another_split_is_refused(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run, tmp_path)
    variant = _profile_variant(tmp_path, **{"03_split.test_fraction": 0.4})
    assert run_pipeline("--profile", variant, "--out", run_dir.parent,
                        "--only", "03").returncode == 0
    result = run_pipeline("--profile", variant, "--out", run_dir.parent, "--only", "05")
    assert result.returncode == 1
    assert "was trained on another slice table or split" in result.stderr
    assert "Re-train it first" in result.stderr


def test_a_damaged_output_reruns_its_step(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run, tmp_path)
    metrics = run_dir / "eval" / "small_cnn" / "metrics.json"
    metrics.write_text(metrics.read_text()[:40])
    (run_dir / "models" / "small_cnn" / "model.keras").unlink()
    before = _stamp_times(run_dir)
    result = run_pipeline("--profile", "smoke", "--out", run_dir.parent)
    assert result.returncode == 0, result.stderr
    after = _stamp_times(run_dir)
    assert sorted(k for k in after if after[k] != before[k]) == [
        "04_train__small_cnn", "05_evaluate__small_cnn", "06_ensemble", "08_comparison"]
    assert json.loads(metrics.read_text())["accuracy"]["value"] is not None


def test_a_volume_that_cannot_be_read_is_reported_and_strict_stops(tmp_path):
    data = tmp_path / "scans"
    synthetic.write_dataset(data, n_species=2, n_specimens=5, size=32, seed=4,
                            rescan_fraction=0.0, formats=["npy"])
    table = pd.read_csv(data / "specimens.csv")
    bad = table.sort_values("file").groupby("species")["file"].nth(2).iloc[0]
    broken = np.load(data / bad).astype(np.float32)
    broken[0, 0, 0] = np.nan
    np.save(data / bad, broken)  # fossilct's writers refuse NaN: write it as a scanner might
    out = tmp_path / "out"
    result = run_pipeline("--profile", "smoke", "--data", data, "--out", out, "--only", "01,02")
    assert result.returncode == 0, result.stderr
    assert f"02_slices: {bad}" in result.stdout and "gave no slices" in result.stdout
    nb = nbformat.read(out / "smoke" / "notebooks" / "02_slices.ipynb", as_version=4)
    assert bad in json.dumps([c.get("outputs") for c in nb.cells if c.cell_type == "code"])
    strict = run_pipeline("--profile", "smoke", "--data", data, "--out", out, "--only", "02",
                          "--strict")
    assert strict.returncode == 1
    assert "could not be sliced (strict mode)" in strict.stderr and bad in strict.stderr


def test_failing_notebook_is_kept_unstamped_and_named(tmp_path):
    data = tmp_path / "scans"
    data.mkdir()
    (data / "specimens.csv").write_text("file,species,specimen_id\nmissing.nii.gz,a,s1\n")
    result = run_pipeline("--profile", "smoke", "--out", tmp_path / "out", "--data", data,
                          "--only", "01")
    assert result.returncode == 1
    assert "step 01_dataset failed in cell" in result.stderr
    assert "missing.nii.gz" in result.stderr
    run_dir = tmp_path / "out" / "smoke"
    assert (run_dir / "notebooks" / "01_dataset.ipynb").is_file()
    assert not (run_dir / ".stamps" / "01_dataset.json").exists()


def test_interrupt_leaves_no_stamp(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(ROOT / "run_all.py"), "--profile", "smoke",
                                "--out", str(out), "--only", "01"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    executed = out / "smoke" / "notebooks" / "01_dataset.ipynb"
    deadline = time.monotonic() + 120
    while not executed.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "no stamp written" in stderr or "failed in cell" in stderr
    assert not (out / "smoke" / ".stamps" / "01_dataset.json").exists()


def test_bad_profile_fails_before_anything_runs(tmp_path):
    result = run_pipeline("--profile", "nope", "--out", tmp_path)
    assert result.returncode == 2
    assert "profile 'nope' not found" in result.stderr
    assert not any(tmp_path.iterdir())
    result = run_pipeline("--profile", "smoke", "--out", tmp_path, "--data", tmp_path)
    assert result.returncode == 2 and "no specimens.csv" in result.stderr


@pytest.mark.parametrize("kind", ["read-only folder", "a file"])
def test_an_unwritable_out_is_a_clear_error(tmp_path, kind):
    out = tmp_path / "locked"
    if kind == "a file":
        out.write_text("")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        out.mkdir()
        out.chmod(0o500)
    result = run_pipeline("--profile", "smoke", "--out", out)
    assert result.returncode == 2
    assert "cannot write the run folder" in result.stderr and "--out" in result.stderr
    assert "Traceback" not in result.stderr


def test_stamps_are_json_with_relative_hashes(smoke_run):
    stamp = json.loads((smoke_run / ".stamps" / "01_dataset.json").read_text())
    assert len(stamp["notebook"]) == 64
    assert list(stamp["outputs"]) == ["{run_dir}/dataset"]
