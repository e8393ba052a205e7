"""The headline numbers of a run folder, read once through :func:`fossilct.results.load_run`.

Everything the index page and the model cards show comes from here, so that no number is typed
by hand: a step that has not finished yields ``None`` for its part (and its status says why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fossilct.manifest import SPLITS
from fossilct.results import Run, RunError

__all__ = ["StepStatus", "ModelSummary", "RunSummary", "split_table", "summarize_run"]

KNOWN_STEPS = ("01_dataset", "02_slices", "03_split", "04_train", "05_evaluate", "06_ensemble",
               "07_matching", "08_comparison")
"""Steps the index shows in their own sections; any other finished step with a
``metrics.json`` gets a generic metrics section."""


@dataclass(frozen=True)
class StepStatus:
    """One task of the run.

    Attributes
    ----------
    key : str
        Task key, e.g. ``04_train__small_cnn``.
    step : str
    finished : bool
        Its stamp exists.
    detail : str
        Empty when finished; otherwise why not and the command that makes it.
    has_notebook : bool
        An executed notebook exists (also for a failed step: it shows where it stopped).
    """

    key: str
    step: str
    finished: bool
    detail: str
    has_notebook: bool


@dataclass(frozen=True)
class ModelSummary:
    """A trained model and, once evaluated, its test metrics.

    Attributes
    ----------
    name : str
        ``small_cnn``, or ``small_cnn__slice_level`` for the leakage twin.
    arch, split_mode : str
    path : pathlib.Path
        The model folder.
    class_names : list of str
    params : dict
        ``params.yaml`` of the model folder (an ensemble's holds its spec under ``ensemble``).
    history : pandas.DataFrame or None
        One row per epoch (``history.csv``); None for the ensemble, which is not trained.
    metrics : dict or None
        Test metrics (entries ``{"value", "ci95"}``): ``eval/<name>/metrics.json``, or
        ``ensemble/metrics.json`` for the ensemble; None before evaluation.
    split_table : pandas.DataFrame or None
        :func:`split_table` of the split the model was trained on.
    """

    name: str
    arch: str
    split_mode: str
    path: Path
    class_names: list
    params: dict
    history: pd.DataFrame | None = field(repr=False)
    metrics: dict | None = field(repr=False)
    split_table: pd.DataFrame | None = field(repr=False)


@dataclass(frozen=True)
class RunSummary:
    """What a run folder holds, step by step (None: the step has not finished).

    Attributes
    ----------
    run_name, profile : str
    seed : int
    run_dir, data_dir : pathlib.Path
    synthetic : bool or None
        Whether the dataset step generated the synthetic dataset (None: it has not run).
    steps : tuple of StepStatus
        In run order.
    species : pandas.DataFrame or None
        ``dataset/species.csv``: specimens and files per species, kept or not and why.
    slices_per_species : pandas.Series or None
        Slices written per species (the slice step's manifest).
    split : pandas.DataFrame or None
        :func:`split_table` of the specimen-level split.
    models : dict of str to ModelSummary
    matching : dict or None
        ``matching/benchmark.json``: method -> measure -> value.
    leaderboard : str or None
        ``comparison/leaderboard.md``: every model on the same test slices, with intervals.
    leakage : pandas.DataFrame or None
        ``comparison/leakage.csv``: the slice-level twin against its specimen-level model.
    other_metrics : dict of str to dict
        Task key -> ``metrics.json`` of any other finished step that writes one.
    """

    run_name: str
    profile: str
    seed: int
    run_dir: Path
    data_dir: Path
    synthetic: bool | None
    steps: tuple
    species: pd.DataFrame | None = field(repr=False)
    slices_per_species: pd.Series | None = field(repr=False)
    split: pd.DataFrame | None = field(repr=False)
    models: dict = field(repr=False)
    matching: dict | None = field(repr=False)
    leaderboard: str | None = field(repr=False)
    leakage: pd.DataFrame | None = field(repr=False)
    other_metrics: dict = field(repr=False)


def split_table(slices: pd.DataFrame) -> pd.DataFrame:
    """Slices per species and split, with the totals and the number of specimens per split.

    Parameters
    ----------
    slices : pandas.DataFrame
        A slice table with ``species``, ``specimen_id`` and ``split`` columns, e.g.
        :meth:`fossilct.results.Run.slice_table`.

    Returns
    -------
    pandas.DataFrame
        Index: the species, then ``all slices`` and ``specimens``; columns: the splits present,
        in train, val, test order; integer counts.

    Raises
    ------
    ValueError
        If a column is missing.

    Examples
    --------
    >>> table = pd.DataFrame({"species": ["a", "a", "b", "b"], "specimen_id": ["a1", "a2", "b1",
    ...                       "b1"], "split": ["train", "test", "train", "train"]})
    >>> split_table(table).to_dict("index")["specimens"]
    {'train': 2, 'test': 1}
    """
    missing = sorted({"species", "specimen_id", "split"} - set(slices.columns))
    if missing:
        raise ValueError(f"the slice table lacks columns {missing}; pass Run.slices or "
                         "Run.slice_table(mode) (a table of the split step).")
    splits = slices["split"].astype(str)
    order = [s for s in SPLITS if s in set(splits)]
    counts = pd.crosstab(slices["species"], splits).reindex(columns=order, fill_value=0)
    counts.loc["all slices"] = counts.sum()
    counts.loc["specimens"] = slices.groupby(splits)["specimen_id"].nunique().reindex(order)
    counts.columns.name = counts.index.name = None
    return counts.astype(int)


def _finished(run: Run, key: str) -> str:
    """Empty when `key` finished, else the reason with the command that makes it."""
    try:
        run.output(key)
    except RunError as exc:
        return str(exc)
    return ""


def _steps(run: Run) -> tuple[StepStatus, ...]:
    return tuple(StepStatus(key=key, step=record["step"], finished=run.is_finished(key),
                            detail=_finished(run, key),
                            has_notebook=(run.run_dir / "notebooks" / f"{key}.ipynb").is_file())
                 for key, record in run.tasks.items())


def _if_finished(run: Run, key: str, read):
    return read() if key in run.tasks and run.is_finished(key) else None


def _test_metrics(run: Run, name: str, arch: str) -> dict | None:
    if arch == "ensemble":  # evaluated by the ensemble step itself
        path = run.ensemble_dir / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else None
    evaluation = run.evaluations.get(name)
    return evaluation.metrics if evaluation is not None else None


def _models(run: Run, *, split_ready: bool) -> dict[str, ModelSummary]:
    return {name: ModelSummary(
        name=name, arch=model.arch, split_mode=model.split_mode, path=model.path,
        class_names=model.class_names, params=model.params,
        history=None if model.arch == "ensemble" else model.history,
        metrics=_test_metrics(run, name, model.arch),
        split_table=split_table(run.slice_table(model.split_mode)) if split_ready else None)
        for name, model in run.models.items()}


def _comparison_file(run: Run, name: str) -> Path | None:
    if "08_comparison" not in run.tasks or not run.is_finished("08_comparison"):
        return None
    path = run.comparison_dir / name
    return path if path.is_file() else None


def _other_metrics(run: Run) -> dict[str, dict]:
    found = {}
    for key, record in run.tasks.items():
        if record["step"] in KNOWN_STEPS or not run.is_finished(key):
            continue
        path = run.output(key) / "metrics.json"
        if path.is_file():
            found[key] = json.loads(path.read_text())
    return found


def summarize_run(run: Run) -> RunSummary:
    """Read the headline numbers of every finished step of `run`.

    Parameters
    ----------
    run : fossilct.results.Run
        From :func:`fossilct.results.load_run`.

    Returns
    -------
    RunSummary
    """
    from fossilct import slice_dataset

    split_ready = "03_split" in run.tasks and run.is_finished("03_split")
    dataset = _if_finished(run, "01_dataset", lambda: run.parameters("01_dataset"))
    leaderboard = _comparison_file(run, "leaderboard.md")
    leakage = _comparison_file(run, "leakage.csv")
    return RunSummary(
        run_name=run.run_dir.name, profile=run.profile, seed=run.seed, run_dir=run.run_dir,
        data_dir=run.data_dir,
        synthetic=None if dataset is None else bool(dataset.get("use_synthetic")),
        steps=_steps(run),
        species=_if_finished(run, "01_dataset", lambda: run.species),
        slices_per_species=_if_finished(
            run, "02_slices", lambda: slice_dataset.read_slices(run.output("02_slices"))
            ["species"].value_counts().sort_index()),
        split=split_table(run.slices) if split_ready else None,
        models=_models(run, split_ready=split_ready),
        matching=_if_finished(run, "07_matching", lambda: run.matching_benchmark),
        leaderboard=None if leaderboard is None else leaderboard.read_text(),
        leakage=None if leakage is None else pd.read_csv(leakage),
        other_metrics=_other_metrics(run))
