"""Shared fixtures: tiny, seeded, synthetic arrays built on the fly (no downloads)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test made are closed after it (pyplot keeps them open otherwise)."""
    yield
    plt.close("all")


@pytest.fixture
def rng():
    """A fresh seeded generator per test, so tests never share random state."""
    return np.random.default_rng(0)


@pytest.fixture
def two_blob_volume():
    """A seeded (8, 32, 32) float32 volume holding two bright blobs on a noisy background.

    The larger blob (radius 6) is centred at (4, 10, 10), the smaller (radius 3) at (4, 24, 24).
    """
    planes, rows, cols = np.mgrid[0:8, 0:32, 0:32]
    big = (planes - 4) ** 2 + (rows - 10) ** 2 + (cols - 10) ** 2 <= 36
    small = (planes - 4) ** 2 + (rows - 24) ** 2 + (cols - 24) ** 2 <= 9
    noise = np.random.default_rng(1).normal(0.0, 0.05, size=big.shape)
    return (0.1 + 0.8 * (big | small) + noise).astype(np.float32)


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def run_pipeline(*args, timeout=1200):
    """``python run_all.py ARGS`` in the repository, output captured."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One complete smoke-profile run shared by the whole session: its run folder (read-only;
    copy it with `copy_run` before changing anything). ``FOSSILCT_SMOKE_RUN`` names an existing
    smoke run folder to use instead, when developing."""
    import os

    if os.environ.get("FOSSILCT_SMOKE_RUN"):
        return __import__("pathlib").Path(os.environ["FOSSILCT_SMOKE_RUN"])
    out = tmp_path_factory.mktemp("outputs")
    result = run_pipeline("--profile", "smoke", "--out", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "smoke"


def copy_run(run_dir, destination):
    """A copy of a run folder that a test may change (stamps stay valid: they are relative)."""
    import shutil

    target = destination / "outputs" / run_dir.name
    shutil.copytree(run_dir, target, symlinks=True)
    return target
