"""What the comparison reads from a run: the prediction folders of every model and ensemble,
the leakage experiment's pair, and each model's cost (training time, inference speed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import pandas as pd

from fossilct.comparison.leakage import leakage_table
from fossilct.predictions import read_aligned

__all__ = ["ENSEMBLE_PREFIX", "prediction_folders", "read_resources", "leakage_from_folders"]

ENSEMBLE_PREFIX = "ensemble:"
"""Names of the ensembles in a comparison: ``ensemble:soft_voting``, ``ensemble:top_k``, ..."""


def prediction_folders(eval_dirs: Mapping[str, str | os.PathLike],
                       ensemble_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Model name -> folder holding its ``predictions.csv``: every evaluated architecture, then
    every ensemble the ensemble step fitted (``candidates/<kind>/``), named ``ensemble:<kind>``.

    Raises
    ------
    FileNotFoundError
        If `ensemble_dir` is given but holds no candidates (run the ensemble step).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "candidates" / "top_k").mkdir(parents=True)
    >>> list(prediction_folders({"small_cnn": "eval/small_cnn"}, folder))
    ['small_cnn', 'ensemble:top_k']
    """
    folders = {name: Path(folder) for name, folder in eval_dirs.items()}
    if ensemble_dir is not None:
        candidates = Path(ensemble_dir) / "candidates"
        if not candidates.is_dir():
            raise FileNotFoundError(f"{str(candidates)!r} does not exist; run the ensemble step "
                                    "(notebook 06) first.")
        for folder in sorted(p for p in candidates.iterdir() if p.is_dir()):
            folders[ENSEMBLE_PREFIX + folder.name] = folder
    return folders


def read_resources(model_dirs: Mapping[str, str | os.PathLike],
                   eval_dirs: Mapping[str, str | os.PathLike]) -> dict[str, dict[str, float]]:
    """Training wall time (``timing.json`` of the model folder, when recorded) and inference
    speed (``throughput.json`` of the evaluation) per architecture.

    Returns
    -------
    dict of str to dict of str to float
        ``{"training_minutes": ..., "slices_per_second": ...}`` per architecture, with only the
        values that were recorded.
    """
    resources: dict[str, dict[str, float]] = {}
    for name in eval_dirs:
        row = {}
        timing = Path(model_dirs.get(name, "")) / "timing.json"
        if name in model_dirs and timing.is_file():
            row["training_minutes"] = float(json.loads(timing.read_text())["seconds"]) / 60.0
        throughput = Path(eval_dirs[name]) / "throughput.json"
        if throughput.is_file():
            row["slices_per_second"] = float(json.loads(throughput.read_text())
                                             ["slices_per_second"])
        if row:
            resources[name] = row
    return resources


def leakage_from_folders(eval_dirs: Mapping[str, str | os.PathLike],
                         twin_dirs: Mapping[str, str | os.PathLike], *, n_bootstrap: int,
                         rng: int = 0) -> pd.DataFrame | None:
    """The leakage table of the architecture that has a slice-level twin, or None without one.

    Parameters
    ----------
    eval_dirs : mapping
        Architecture -> evaluation folder (specimen-level split).
    twin_dirs : mapping
        Architecture -> evaluation folder of its twin trained and tested on the slice-level
        split (at most one; empty when the profile runs no leakage experiment).

    Raises
    ------
    ValueError
        More than one twin, or a twin whose architecture was not evaluated.
    """
    if not twin_dirs:
        return None
    if len(twin_dirs) != 1 or next(iter(twin_dirs)) not in eval_dirs:
        raise ValueError(f"the leakage experiment needs one architecture evaluated on both "
                         f"splits; got twins {list(twin_dirs)} for evaluations "
                         f"{list(eval_dirs)}.")
    arch, twin = next(iter(twin_dirs.items()))
    specimen = read_aligned({arch: eval_dirs[arch]}, splits=("test",))["test"]
    slice_level = read_aligned({arch: twin}, splits=("test",))["test"]
    return leakage_table(specimen, slice_level, n_bootstrap=n_bootstrap, rng=rng)
