"""A run killed outright (SIGKILL, no clean-up) while slicing and while training resumes to the
same bytes as a run that was never interrupted, and leaves no temporary file behind."""

import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from conftest import ROOT

pytestmark = pytest.mark.smoke


def _kill_when(out, ready, *, timeout=900):
    """Start the smoke run into `out`, SIGKILL its whole process tree once `ready()` holds."""
    process = subprocess.Popen([sys.executable, str(ROOT / "run_all.py"), "--profile", "smoke",
                                "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the moment to kill it"
    tree = [process.pid, *(p.pid for p in psutil.Process(process.pid).children(recursive=True))]
    for pid in tree:  # the runner, the notebook kernel, the slicing workers: all at once
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=60)
    psutil.wait_procs([p for p in map(_process, tree) if p is not None], timeout=60)


def _process(pid):
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _resume(out):
    result = subprocess.run([sys.executable, str(ROOT / "run_all.py"), "--profile", "smoke",
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_killed_while_slicing_and_while_training_resumes_to_the_same_bytes(smoke_run, tmp_path):
    out = tmp_path / "out"
    run_dir = out / "smoke"
    slices = run_dir / "slices"
    _kill_when(out, lambda: slices.is_dir() and any(slices.glob(".images.*.tmp/*/*.png")))
    assert not (slices / "manifest.csv").exists()
    assert not (run_dir / ".stamps" / "02_slices.json").exists()

    backup = run_dir / "models" / "small_cnn" / "backup" / "state.json"
    _kill_when(out, backup.is_file)
    assert not (run_dir / ".stamps" / "04_train__small_cnn.json").exists()

    _resume(out)
    same = ["slices/manifest.csv", "split/assignments.csv", "models/small_cnn/history.csv",
            "eval/small_cnn/metrics.json", "eval/small_cnn/predictions.csv",
            "ensemble/metrics.json", "comparison/paired_tests.csv"]
    for name in same:
        assert (run_dir / name).read_bytes() == (smoke_run / name).read_bytes(), name
    timing = ["training_minutes", "slices_per_second"]  # measured, so never the same twice
    pd.testing.assert_frame_equal(
        pd.read_csv(run_dir / "comparison" / "leaderboard.csv").drop(columns=timing),
        pd.read_csv(smoke_run / "comparison" / "leaderboard.csv").drop(columns=timing))
    leftovers = [p for p in run_dir.rglob("*") if p.name.endswith((".tmp", ".old"))
                 or ".tmp." in p.name or p.name == "backup"]
    assert not leftovers, leftovers
