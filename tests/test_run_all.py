"""Smoke runs of the whole notebook pipeline through run_all.py (the PLM `tests/test_pipeline.py`)."""

import json
import re
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


@pytest.fixture
def smoke(smoke_run):
    """The session's smoke-profile run (``conftest.smoke_run``)."""
    return smoke_run


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


def test_every_figure_a_step_saves_is_also_shown_inline(smoke):
    out, _ = smoke
    run_dir = out / "smoke"
    checked = 0
    for task in _tasks(run_dir):
        saved = [p for folder in task.outputs if folder.is_dir() for p in folder.glob("*.png")]
        notebook = nbformat.read(run_dir / "notebooks" / f"{task.key}.ipynb", as_version=4)
        shown = _outputs(notebook, "image/png")
        assert len(shown) >= len(saved), f"{task.key} saved {len(saved)} figures, shows {shown}"
        checked += bool(saved)
    assert checked  # not vacuous: steps do save figures


TENSORFLOW_NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations|NodeDef mentions"
                              r"|^[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]", re.M)


def test_notebooks_and_logs_hold_no_tensorflow_startup_noise(smoke):
    out, _ = smoke
    run_dir = out / "smoke"
    for task in _tasks(run_dir):
        notebook = nbformat.read(run_dir / "notebooks" / f"{task.key}.ipynb", as_version=4)
        text = "".join(_outputs(notebook, "stream"))
        assert not TENSORFLOW_NOISE.search(text), f"{task.key}: {text[:500]}"
    for log in (run_dir / "logs").glob("run_*.log"):
        match = TENSORFLOW_NOISE.search(log.read_text())
        assert match is None, f"{log}: {match and match.group(0)}"


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
