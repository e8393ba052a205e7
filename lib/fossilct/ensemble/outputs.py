"""The test report of fitted ensembles and the ensemble step's output folder.

:func:`evaluate_ensembles` applies each fitted spec to the validation and test tables (the same
:func:`~fossilct.ensemble.spec.apply_ensemble` for both) and evaluates it on test once: the
evaluation step's metrics and tables, reliability without temperature scaling, abstention at the
validated threshold, the coverage-accuracy curve and specimen-level accuracy.
:func:`ensemble_report_markdown` writes the report from those numbers and
:func:`save_ensemble_outputs` the folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fossilct import atomic, metrics
from fossilct.ensemble.abstention import abstention_summary, coverage_accuracy_curve
from fossilct.ensemble.calibration import apply_temperature
from fossilct.ensemble.fit import VALIDATION_COLUMNS, EnsembleSelection
from fossilct.ensemble.spec import EnsembleSpec, apply_ensemble
from fossilct.ensemble.specimens import specimen_evaluation
from fossilct.evaluation import (PROB_PREFIX, Evaluation, read_predictions, report_markdown,
                                 summarise_predictions)
from fossilct.predictions import SPLIT_COLUMN, AlignedPredictions, table_from_probabilities

__all__ = [
    "EnsembleResult",
    "evaluate_ensembles",
    "MemberResult",
    "evaluate_members",
    "ensemble_report_markdown",
    "save_ensemble_outputs",
]


@dataclass(frozen=True)
class EnsembleResult:
    """One fitted ensemble, evaluated on test.

    Attributes
    ----------
    spec : EnsembleSpec
    predictions : DataFrame
        Validation and test rows (``split`` column), the evaluation step's layout.
    evaluation : fossilct.evaluation.Evaluation
        Test metrics (95% specimen-bootstrap intervals) and tables.
    uncalibrated : dict
        Test ``reliability`` (DataFrame) and ``ece`` (float) of the same ensemble with every
        temperature set to 1, i.e. before temperature scaling.
    abstention : dict
        :func:`~fossilct.ensemble.abstention.abstention_summary` on test at the validated
        threshold.
    coverage : DataFrame
        Coverage-accuracy curves of validation and test (``split`` column).
    specimens : dict
        :func:`~fossilct.ensemble.specimens.specimen_evaluation` on test (mean log-probability).
    """

    spec: EnsembleSpec
    predictions: pd.DataFrame
    evaluation: Evaluation
    uncalibrated: dict
    abstention: dict
    coverage: pd.DataFrame
    specimens: dict


def _check_splits(selection: EnsembleSelection, splits: Mapping[str, AlignedPredictions]):
    missing = [s for s in ("val", "test") if s not in splits]
    if missing:
        raise ValueError(f"`splits` lacks {missing}; pass read_aligned(paths) (both splits).")
    val, test = splits["val"], splits["test"]
    if val.models != test.models or val.class_names != test.class_names:
        raise ValueError(f"validation and test tables differ: models {list(val.models)} / "
                         f"{list(test.models)}, classes {list(val.class_names)} / "
                         f"{list(test.class_names)}; read both from the same files.")
    for spec in selection.specs.values():
        if tuple(spec.class_names) != tuple(test.class_names):
            raise ValueError(f"ensemble {spec.name!r} was fitted for classes "
                             f"{list(spec.class_names)}, the tables have "
                             f"{list(test.class_names)}.")
    return val, test


def _uncalibrated(spec: EnsembleSpec) -> EnsembleSpec:
    return dataclasses.replace(spec, temperatures=(1.0,) * len(spec.members),
                               ensemble_temperature=1.0)


def _ece(split: AlignedPredictions, probs: np.ndarray, n_bins: int) -> float:
    return metrics.evaluate_predictions(split.y_true, probs, specimen_ids=split.specimen_ids,
                                        class_names=list(split.class_names), n_bootstrap=0,
                                        n_bins=n_bins)["ece"]["value"]


def evaluate_ensembles(selection: EnsembleSelection, splits: Mapping[str, AlignedPredictions],
                       *, n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP, rng: int = 0,
                       n_bins: int = metrics.DEFAULT_ECE_BINS) -> dict[str, EnsembleResult]:
    """Apply every fitted ensemble to validation and test; evaluate it on test.

    Parameters
    ----------
    selection : EnsembleSelection
        From :func:`~fossilct.ensemble.fit.fit_ensembles`.
    splits : mapping with keys "val" and "test" of AlignedPredictions
        :func:`fossilct.predictions.read_aligned` output.
    n_bootstrap : int
        Bootstrap replicates of the intervals.
    rng : int
        Seed; every ensemble gets the same specimen resamples.
    n_bins : int
        Confidence bins of the ECE and reliability tables.

    Returns
    -------
    dict of str to EnsembleResult
        In ``selection.specs`` order.

    Raises
    ------
    ValueError
        Missing splits, tables that differ between splits or from the specs' classes, and as
        :func:`fossilct.metrics.evaluate_predictions`.
    TypeError
        If `rng` is not an int.
    """
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise TypeError(f"`rng` must be an int seed (every ensemble is scored on the same "
                        f"resamples of it); got {type(rng).__name__}.")
    _, test = _check_splits(selection, splits)
    classes = list(test.class_names)
    results = {}
    for name, spec in selection.specs.items():
        probs = {s: apply_ensemble(spec, splits[s].by_model()) for s in ("val", "test")}
        table = pd.concat([table_from_probabilities(splits[s], probs[s]) for s in ("val", "test")],
                          ignore_index=True)
        raw = apply_ensemble(_uncalibrated(spec), test.by_model())
        curves = pd.concat([coverage_accuracy_curve(probs[s], splits[s].y_true).assign(split=s)
                            for s in ("val", "test")], ignore_index=True)
        results[name] = EnsembleResult(
            spec=spec, predictions=table,
            evaluation=summarise_predictions(table[table[SPLIT_COLUMN] == "test"],
                                             class_names=classes, n_bootstrap=n_bootstrap,
                                             rng=rng, n_bins=n_bins),
            uncalibrated={"reliability": metrics.reliability_table(test.y_true, raw,
                                                                   n_bins=n_bins),
                          "ece": _ece(test, raw, n_bins)},
            abstention=abstention_summary(probs["test"], test.y_true,
                                          threshold=spec.abstention_threshold,
                                          specimen_ids=test.specimen_ids, class_names=classes,
                                          n_bootstrap=n_bootstrap, rng=rng),
            coverage=curves,
            specimens=specimen_evaluation(probs["test"], test.specimen_ids, test.y_true,
                                          class_names=classes, n_bootstrap=n_bootstrap, rng=rng),
        )
    return results


@dataclass(frozen=True)
class MemberResult:
    """One member on test, as it is and temperature-scaled.

    Attributes
    ----------
    metrics : dict
        :func:`fossilct.metrics.evaluate_predictions` of the raw probabilities.
    specimens : dict
        :func:`~fossilct.ensemble.specimens.specimen_evaluation` of the raw probabilities.
    calibrated : dict
        Test ``reliability`` (DataFrame) and ``ece`` (float) after the member's validation
        temperature.
    """

    metrics: dict
    specimens: dict
    calibrated: dict


def evaluate_members(selection: EnsembleSelection, test: AlignedPredictions, *,
                     n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP, rng: int = 0,
                     n_bins: int = metrics.DEFAULT_ECE_BINS) -> dict[str, MemberResult]:
    """Test results of each member, for the report's comparison with the ensembles.

    Parameters
    ----------
    selection : EnsembleSelection
        Gives each member's validation temperature.
    test : AlignedPredictions
        The members' test predictions.
    n_bootstrap, rng, n_bins
        As :func:`evaluate_ensembles`.

    Returns
    -------
    dict of str to MemberResult

    Raises
    ------
    ValueError
        If a member of `test` has no temperature in `selection`.
    """
    unknown = [m for m in test.models if m not in selection.temperatures]
    if unknown:
        raise ValueError(f"members {unknown} of the test tables were not fitted on validation "
                         f"(fitted: {list(selection.temperatures)}); pass the same files.")
    classes = list(test.class_names)
    results = {}
    for name, p in test.by_model().items():
        scaled = apply_temperature(p, selection.temperatures[name])
        results[name] = MemberResult(
            metrics=metrics.evaluate_predictions(test.y_true, p, specimen_ids=test.specimen_ids,
                                                 class_names=classes, n_bootstrap=n_bootstrap,
                                                 rng=rng, n_bins=n_bins),
            specimens=specimen_evaluation(p, test.specimen_ids, test.y_true,
                                          class_names=classes, n_bootstrap=n_bootstrap, rng=rng),
            calibrated={"reliability": metrics.reliability_table(test.y_true, scaled,
                                                                 n_bins=n_bins),
                        "ece": _ece(test, scaled, n_bins)},
        )
    return results


def _value(entry, digits: int) -> str:
    if entry is None or entry.get("value") is None:
        return "n/a"
    text = f"{entry['value']:.{digits}f}"
    ci = entry.get("ci95")
    return text if ci is None else f"{text} ({ci[0]:.{digits}f}–{ci[1]:.{digits}f})"


def _number(value, digits: int) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _spec_lines(spec: EnsembleSpec, digits: int) -> list[str]:
    lines = [f"- kind: `{spec.kind}`; members: "
             + ", ".join(f"{m} (T = {t:.3g})" for m, t in zip(spec.members, spec.temperatures))]
    if spec.weights is not None and spec.kind != "member":
        lines.append("- weights: " + ", ".join(f"{m} {w:.{digits}f}"
                                               for m, w in zip(spec.members, spec.weights)))
    if spec.kind == "top_k":
        lines.append(f"- k = {spec.k}")
    if spec.kind == "switching":
        lines.append(f"- general model {spec.members[0]}, specialist {spec.members[1]} for "
                     f"{list(spec.switch_species)}; switch when the general model's top "
                     f"probability < {spec.switch_threshold:g}")
    lines.append(f"- ensemble temperature {spec.ensemble_temperature:.3g}")
    threshold = ("none (target not reached on validation)" if spec.abstention_threshold is None
                 else f"{spec.abstention_threshold:.{digits}f}")
    lines.append(f"- abstention threshold for accuracy {spec.target_accuracy}: {threshold}")
    return lines


def ensemble_report_markdown(selection: EnsembleSelection, results: Mapping[str, EnsembleResult],
                             *, members: Mapping[str, MemberResult], digits: int = 4) -> str:
    """Markdown report of the ensemble step, every number taken from the arguments.

    Parameters
    ----------
    selection : EnsembleSelection
    results : mapping of str to EnsembleResult
        From :func:`evaluate_ensembles`.
    members : mapping of str to MemberResult
        From :func:`evaluate_members`.
    digits : int

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If `results` lacks the chosen ensemble.
    """
    if selection.chosen not in results:
        raise ValueError(f"`results` lacks the chosen ensemble {selection.chosen!r}; pass "
                         "evaluate_ensembles(selection, ...).")
    chosen = results[selection.chosen]
    lines = ["# Ensemble", "",
             f"Every choice below was made on the validation split (score: "
             f"{selection.score}); the test split was used once, to report.", ""]
    lines += [f"Note: {note}" for note in selection.notes] + ([""] if selection.notes else [])
    lines += [f"## Chosen: {selection.chosen}", "", *_spec_lines(chosen.spec, digits), ""]
    lines += ["## Validation", "", "| Model | Kind | " + " | ".join(VALIDATION_COLUMNS) + " |",
              "|---|---|" + "---:|" * len(VALIDATION_COLUMNS)]
    for row in selection.validation.to_dict("records"):
        lines.append(f"| {row['name']} | {row['kind']} | "
                     + " | ".join(_number(row[c], digits) for c in VALIDATION_COLUMNS) + " |")
    lines += ["", "## Test (95% specimen-bootstrap intervals)", "",
              "| Model | Accuracy | Macro F1 | Log loss | ECE without T | ECE with T | "
              "Specimen accuracy (mean log p) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in members.items():
        m = r.metrics
        lines.append(f"| {name} (member, without T) | {_value(m['accuracy'], digits)} | "
                     f"{_value(m['macro_f1'], digits)} | {_value(m['log_loss'], digits)} | "
                     f"{_value(m['ece'], digits)} | {_number(r.calibrated['ece'], digits)} | "
                     f"{_value(r.specimens['accuracy'], digits)} |")
    for name, r in results.items():
        m = r.evaluation.metrics
        marker = " **(chosen)**" if name == selection.chosen else ""
        lines.append(f"| {name}{marker} | {_value(m['accuracy'], digits)} | "
                     f"{_value(m['macro_f1'], digits)} | {_value(m['log_loss'], digits)} | "
                     f"{_number(r.uncalibrated['ece'], digits)} | {_value(m['ece'], digits)} | "
                     f"{_value(r.specimens['accuracy'], digits)} |")
    lines += ["", "## Abstention", "",
              "| Model | Threshold | Validation coverage | Validation accuracy | "
              "Test coverage | Test accuracy of accepted slices |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        a, v = r.abstention, r.spec.validation
        lines.append(f"| {name} | {_number(a['threshold'], digits)} | "
                     f"{_number(v.get('abstention_coverage'), digits)} | "
                     f"{_number(v.get('abstention_accuracy'), digits)} | "
                     f"{_number(a['coverage'], digits)} | {_value(a['accuracy'], digits)} |")
    detail = report_markdown(chosen.evaluation.metrics, chosen.evaluation.per_species,
                             title=f"{selection.chosen} on test", digits=digits)
    # the evaluation step's report, one heading level down, as this report's last section
    lines += [""] + [("#" + line if line.startswith("#") else line)
                     for line in detail.splitlines()]
    return "\n".join(lines) + "\n"


def _check_written(paths: dict[str, Path], result: EnsembleResult,
                   selection: EnsembleSelection) -> None:
    """Re-read what was written and check it against what was meant to be written."""
    table = read_predictions(paths["predictions.csv"].parent)
    probs = table[[c for c in table.columns if c.startswith(PROB_PREFIX)]].to_numpy()
    problems = []
    if table.shape != result.predictions.shape:
        problems.append(f"shape {table.shape} instead of {result.predictions.shape}")
    if table.isna().to_numpy().any():
        problems.append("missing values")
    if set(table[SPLIT_COLUMN]) != {"val", "test"}:
        problems.append(f"splits {sorted(set(table[SPLIT_COLUMN]))}")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        problems.append("probability rows that do not sum to 1")
    if problems:
        raise ValueError(f"{paths['predictions.csv']} was not written as intended: "
                         f"{'; '.join(problems)}.")
    written = json.loads(paths["metrics.json"].read_text())
    if any(key not in written for key in metrics.METRIC_KEYS):
        raise ValueError(f"{paths['metrics.json']} lacks metrics of {metrics.METRIC_KEYS}.")
    record = json.loads(paths["ensemble.json"].read_text())
    for name, spec in selection.specs.items():
        if EnsembleSpec.from_dict(record["specs"][name],
                                  source=str(paths["ensemble.json"])) != spec:
            raise ValueError(f"{paths['ensemble.json']}: ensemble {name!r} does not read back "
                             "equal to the fitted one.")


def save_ensemble_outputs(out_dir: str | os.PathLike, selection: EnsembleSelection,
                          results: Mapping[str, EnsembleResult], *, report: str,
                          figures: Mapping[str, object] | None = None) -> dict[str, Path]:
    """Write the ensemble folder, every file atomically, and check it.

    Files: ``predictions.csv`` (the chosen ensemble, validation and test rows with a ``split``
    column), ``metrics.json`` (its test metrics, the evaluation step's structure),
    ``per_species.csv``, ``coverage.csv`` (its coverage-accuracy curves), ``ensemble.json``
    (every fitted spec, the choice, validation table and notes), ``report.md``,
    ``candidates/<name>/predictions.csv`` and ``metrics.json`` for every fitted ensemble,
    ``<figure>.png`` per figure. The ensemble as one model goes to its own model folder
    (:func:`~fossilct.ensemble.keras_model.save_ensemble_model`).

    Parameters
    ----------
    out_dir : path-like
    selection : EnsembleSelection
    results : mapping of str to EnsembleResult
        From :func:`evaluate_ensembles`; must hold every spec of `selection`.
    report : str
        From :func:`ensemble_report_markdown`.
    figures : mapping of str to Figure, optional

    Returns
    -------
    dict of str to Path

    Raises
    ------
    ValueError
        `results` that do not cover `selection`, or a file that does not read back as written.
    """
    missing = sorted(set(selection.specs) - set(results))
    if missing:
        raise ValueError(f"`results` lacks ensembles {missing} of the selection; pass "
                         "evaluate_ensembles(selection, ...).")
    out_dir = Path(out_dir)
    chosen = results[selection.chosen]
    paths = {name: out_dir / name for name in ("predictions.csv", "metrics.json",
                                               "per_species.csv", "coverage.csv",
                                               "ensemble.json", "report.md")}
    atomic.write_csv(paths["predictions.csv"], chosen.predictions)
    atomic.write_json(paths["metrics.json"], chosen.evaluation.metrics)
    atomic.write_csv(paths["per_species.csv"], chosen.evaluation.per_species.reset_index())
    atomic.write_csv(paths["coverage.csv"], chosen.coverage)
    atomic.write_json(paths["ensemble.json"], selection.to_dict())
    atomic.write_text(paths["report.md"], report)
    for name, result in results.items():
        folder = out_dir / "candidates" / name
        paths[f"candidates/{name}/predictions.csv"] = atomic.write_csv(
            folder / "predictions.csv", result.predictions)
        paths[f"candidates/{name}/metrics.json"] = atomic.write_json(
            folder / "metrics.json", result.evaluation.metrics)
    paths.update(atomic.save_figures(figures, out_dir))
    _check_written(paths, chosen, selection)
    return paths
