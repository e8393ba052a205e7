"""Reading a run folder: what ran, with which parameters, and what every step produced.

The API that the ensemble, comparison and dashboard notebooks use, and the one to use in your own
notebook::

    from fossilct.results import load_run
    run = load_run("outputs/quick")
    run.slices.groupby("split").size()        # the slice table with its specimen-level split
    run.evaluations["small_cnn"].metrics["accuracy"]
    model = run.models["small_cnn"].load()    # keras.Model, loaded on first use

A run folder describes itself (``run.yaml``, written by ``run_all.py``): its profile, its steps and
the folder each wrote. A step counts as finished only when its stamp exists (written after its
notebook ran without error); reading the product of a step that has not finished raises
:class:`RunError` naming the step and the command that makes it. :meth:`Run.verify` also checks
that nothing was modified since (content hashes).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = ["RunError", "ModelFolder", "EvaluationFolder", "Run", "load_run"]


class RunError(FileNotFoundError):
    """A run folder, or a step of it, is missing, unfinished or modified."""


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True)
class ModelFolder:
    """A trained model's folder (``models/<name>/``); the model loads on first :meth:`load`.

    Attributes
    ----------
    name : str
        ``small_cnn``, or ``small_cnn__slice_level`` for the leakage twin.
    arch : str
        Registry name of the architecture.
    split_mode : str
        ``specimen``, or ``slice_level`` for the leakage twin.
    path : pathlib.Path
    """

    name: str
    arch: str
    split_mode: str
    path: Path
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def class_names(self) -> list[str]:
        """Label order of the model's outputs."""
        return json.loads((self.path / "class_names.json").read_text())

    @property
    def params(self) -> dict:
        """The training parameters that ran (``params.yaml``)."""
        return _read_yaml(self.path / "params.yaml")

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch of both training phases."""
        return pd.read_csv(self.path / "history.csv")

    def load(self):
        """The ``keras.Model`` (loaded once, then cached)."""
        if "model" not in self._cache:
            from fossilct.training import load_training_outputs

            self._cache["model"], _ = load_training_outputs(self.path)
        return self._cache["model"]


@dataclass(frozen=True)
class EvaluationFolder:
    """An evaluation folder (``eval/<name>/``) written by the evaluation step."""

    name: str
    path: Path

    @property
    def metrics(self) -> dict:
        """Test metrics, each ``{"value", "ci95"}`` (``metrics.json``)."""
        return json.loads((self.path / "metrics.json").read_text())

    @property
    def predictions(self) -> pd.DataFrame:
        """Per-slice probabilities of the validation and test splits (``split`` column)."""
        from fossilct.evaluation import read_predictions

        return read_predictions(self.path)

    @property
    def per_species(self) -> pd.DataFrame:
        """Precision, recall, F1 and support per species on the test split."""
        return pd.read_csv(self.path / "per_species.csv")


class Run:
    """A run folder written by ``run_all.py``; build it with :func:`load_run`.

    Attributes
    ----------
    run_dir : pathlib.Path
    profile : str
        The profile that ran (``quick``).
    seed : int
    data_dir : pathlib.Path
        The volumes (the generated synthetic dataset, or the user's ``--data`` folder).
    architectures : tuple of str
    leakage_architecture : str or None
        The architecture also trained on a slice-level split, if any.
    tasks : dict
        Task key (``04_train__small_cnn``) -> its record in ``run.yaml``.
    """

    def __init__(self, run_dir: Path, record: dict):
        self.run_dir = run_dir
        self.profile = str(record["profile"])
        self.seed = int(record["seed"])
        self.data_dir = self._path(record["data_dir"])
        self.architectures = tuple(record.get("architectures") or ())
        self.leakage_architecture = record.get("leakage_architecture")
        self.tasks = dict(record["tasks"])

    def __repr__(self) -> str:
        return (f"Run({str(self.run_dir)!r}, profile={self.profile!r}, "
                f"architectures={list(self.architectures)})")

    def _path(self, text: str) -> Path:
        return self.run_dir / text[len("{run_dir}/"):] if text.startswith("{run_dir}/") \
            else Path(text)

    def _command(self, key: str) -> str:
        record = self.tasks[key]
        out = self.run_dir.parent
        command = f"python run_all.py --profile {self.profile} --out {out} --only {record['step']}"
        return command + (f" --arch {record['arch']}" if record.get("arch") else "")

    def is_finished(self, key: str) -> bool:
        """Whether task `key` ran to the end (its stamp exists)."""
        return (self.run_dir / ".stamps" / f"{key}.json").is_file()

    def output(self, key: str, index: int = 0) -> Path:
        """The `index`-th folder task `key` writes, after checking that the task finished.

        Raises
        ------
        RunError
            Unknown task, or a task that has not finished (the message gives the command).
        """
        if key not in self.tasks:
            raise RunError(f"{self.run_dir}: the run has no step {key!r}; its steps are "
                           f"{', '.join(self.tasks)}.")
        if not self.is_finished(key):
            raise RunError(f"{self.run_dir}: step {key} has not finished (no stamp: it never ran, "
                           f"failed or was interrupted). Make it with `{self._command(key)}`.")
        return self._path(self.tasks[key]["outputs"][index])

    def parameters(self, key: str) -> dict:
        """The parameters task `key` ran with (``notebooks/<key>.yaml``)."""
        self.output(key)
        return _read_yaml(self.run_dir / "notebooks" / f"{key}.yaml")

    def verify(self) -> list[str]:
        """Task keys whose recorded inputs or outputs changed since they ran (empty: all intact).

        Re-hashes every product, so it reads the whole run folder once.
        """
        from fossilct import pipeline

        stale = []
        for key in self.tasks:
            if not self.is_finished(key):
                continue
            stamp = json.loads((self.run_dir / ".stamps" / f"{key}.json").read_text())
            for label, digest in {**stamp["inputs"], **stamp["outputs"]}.items():
                if pipeline.hash_path(self._path(label)) != digest:
                    stale.append(key)
                    break
        return stale

    def problems(self) -> list[str]:
        """What the finished steps reported that a reader must not miss: files that could not be
        sliced, species left out after that or short of their slice quota, remarks of the
        split."""
        found = []
        if self.is_finished("02_slices"):
            from fossilct.slice_dataset import file_errors, read_counts, read_dropped

            slices_dir = self.output("02_slices")
            found += [f"02_slices: {r.file} ({r.species}) gave no slices: {r.error}"
                      for r in file_errors(read_counts(slices_dir)).itertuples()]
            found += [f"02_slices: species {r.species} left out: {r.reason}"
                      for r in read_dropped(slices_dir).itertuples()]
            from fossilct.slicing import summarise_yield

            yields = summarise_yield(read_counts(slices_dir))
            found += [f"02_slices: species {r.species} got {r.written} of {r.requested} slices "
                      f"({r.yield_pct:.0f}% of its quota): {r.why_not}"
                      for r in yields[yields["under_quota"]].itertuples()]
        if self.is_finished("03_split"):
            notes = (self.output("03_split") / "notes.txt").read_text().splitlines()
            found += [f"03_split: {note}" for note in notes if note.strip()]
        return found

    @functools.cached_property
    def inventory(self) -> pd.DataFrame:
        """One row per volume file (``dataset/inventory.csv``), checked."""
        from fossilct.specimens import read_inventory

        return read_inventory(self.output("01_dataset"))

    @functools.cached_property
    def species(self) -> pd.DataFrame:
        """Which species were kept and why (``dataset/species.csv``)."""
        from fossilct.specimens import read_species_report

        return read_species_report(self.output("01_dataset"))

    def slice_table(self, mode: str = "specimen") -> pd.DataFrame:
        """The slice table with absolute image paths and the split of `mode`.

        ``mode="slice_level"`` gives the leakage experiment's split, never valid for reporting.
        """
        from fossilct.split import read_split_slices

        return read_split_slices(self.output("02_slices"), self.output("03_split"), mode=mode)

    @functools.cached_property
    def slices(self) -> pd.DataFrame:
        """The slice table with its specimen-level split (see :meth:`slice_table`)."""
        return self.slice_table()

    @functools.cached_property
    def class_names(self) -> list[str]:
        """Sorted species of the slice table: the output order of every model of the run."""
        from fossilct.manifest import class_names_of

        return class_names_of(self.slices)

    def _per_model(self, step: str) -> dict[str, Path]:
        return {key.split("__", 1)[1]: key for key, record in self.tasks.items()
                if record["step"] == step}

    @functools.cached_property
    def models(self) -> dict[str, ModelFolder]:
        """Model name -> :class:`ModelFolder`, for every finished training (the leakage twin
        included, with ``split_mode`` ``slice_level``) and the ensemble step's model
        (``ensemble``, arch ``ensemble``) once that step finished."""
        models = {name: ModelFolder(name=name, arch=self.tasks[key]["arch"],
                                    split_mode=self.tasks[key]["variant"] or "specimen",
                                    path=self.output(key))
                  for name, key in self._per_model("04_train").items() if self.is_finished(key)}
        if "06_ensemble" in self.tasks and self.is_finished("06_ensemble"):
            models["ensemble"] = ModelFolder(name="ensemble", arch="ensemble",
                                             split_mode="specimen",
                                             path=self.output("06_ensemble", 1))
        return models

    @functools.cached_property
    def evaluations(self) -> dict[str, EvaluationFolder]:
        """Model name -> :class:`EvaluationFolder`, for every finished evaluation."""
        return {name: EvaluationFolder(name=name, path=self.output(key))
                for name, key in self._per_model("05_evaluate").items()
                if self.is_finished(key)}

    @property
    def ensemble_dir(self) -> Path:
        """The ensemble step's folder (``ensemble.json``, predictions, metrics, report)."""
        return self.output("06_ensemble")

    @property
    def comparison_dir(self) -> Path:
        """The comparison step's folder (``leaderboard.csv``, ``report.md``, ...)."""
        return self.output("08_comparison")

    @property
    def matching_dir(self) -> Path:
        """The matching benchmark's folder (its index cache is ``index/`` inside it)."""
        return self.output("07_matching")

    @functools.cached_property
    def matching_benchmark(self) -> dict:
        """Pose and identification results of both methods (``matching/benchmark.json``)."""
        return json.loads((self.matching_dir / "benchmark.json").read_text())


def load_run(run_dir: str | os.PathLike) -> Run:
    """Open a run folder written by ``run_all.py``.

    Parameters
    ----------
    run_dir : path-like
        ``outputs/<run_name>`` (the folder holding ``run.yaml``).

    Returns
    -------
    Run
        Products are read on first access; each access checks that its step finished.

    Raises
    ------
    RunError
        If `run_dir` is not a run folder (no ``run.yaml``).
    """
    run_dir = Path(run_dir).resolve()
    record_path = run_dir / "run.yaml"
    if not record_path.is_file():
        raise RunError(f"{run_dir} is not a fossilct run folder: it has no run.yaml. Give the "
                       "folder run_all.py wrote (outputs/<profile>), or make one with "
                       "`python run_all.py --profile quick`.")
    return Run(run_dir, _read_yaml(record_path))
