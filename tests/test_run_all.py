"""Smoke runs of the whole notebook pipeline through run_all.py (the PLM `tests/test_pipeline.py`)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from fossilct import pipeline

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.smoke


def run_all(*args, timeout=1200):
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One complete smoke-profile run shared by the tests of this module."""
    out = tmp_path_factory.mktemp("outputs")
    result = run_all("--profile", "smoke", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


def _tasks(run_dir):
    steps = pipeline.load_pipeline(ROOT / "parameters" / "pipeline.yaml", root=ROOT)
    profile = pipeline.load_profile(ROOT / "parameters", "smoke")
    return pipeline.resolve_tasks(steps, profile, parameters_dir=ROOT / "parameters",
                                  run_dir=run_dir)


def test_every_notebook_executed_and_wrote_its_artifacts(smoke):
    out, _ = smoke
    run_dir = out / "smoke"
    for task in _tasks(run_dir):
        executed = run_dir / "notebooks" / f"{task.key}.ipynb"
        nb = nbformat.read(executed, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{task.key}: {errors}"
        assert (run_dir / "notebooks" / f"{task.key}.yaml").is_file()
        assert (run_dir / ".stamps" / f"{task.key}.json").is_file()
        for output in task.outputs:
            assert output.exists(), f"{task.key} did not write {output}"
    assert list((run_dir / "logs").glob("run_*.log"))


def test_inventory_contract(smoke):
    out, _ = smoke
    inventory = pd.read_csv(out / "smoke" / "dataset" / "inventory.csv")
    assert list(inventory.columns[:7]) == ["file", "species", "specimen_id", "format", "shape_zyx",
                                           "spacing_zyx_um", "selected"]
    assert inventory["selected"].any()
    assert inventory["format"].nunique() >= 3


def test_second_run_skips_everything_and_force_reruns(smoke):
    out, _ = smoke
    again = run_all("--profile", "smoke", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "fossilct: 0 of" in again.stdout
    listing = run_all("--profile", "smoke", "--out", str(out), "--list")
    assert "[  up to date] 01_dataset" in listing.stdout
    forced = run_all("--profile", "smoke", "--out", str(out), "--only", "01", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "fossilct: 1 of" in forced.stdout


def test_failing_notebook_is_kept_unstamped_and_named(tmp_path):
    data = tmp_path / "scans"
    data.mkdir()
    (data / "specimens.csv").write_text("file,species,specimen_id\nmissing.nii.gz,a,s1\n")
    result = run_all("--profile", "smoke", "--out", str(tmp_path / "out"), "--data", str(data),
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
    result = run_all("--profile", "nope", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "profile 'nope' not found" in result.stderr
    assert not any(tmp_path.iterdir())
    result = run_all("--profile", "smoke", "--out", str(tmp_path), "--data", str(tmp_path))
    assert result.returncode == 2 and "no specimens.csv" in result.stderr


def test_stamps_are_json_with_hashes(smoke):
    out, _ = smoke
    stamp = json.loads((out / "smoke" / ".stamps" / "01_dataset.json").read_text())
    assert len(stamp["notebook"]) == 64
