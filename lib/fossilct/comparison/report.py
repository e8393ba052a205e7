"""Everything notebook 08 reports, in one record; its Markdown and its output folder.

:func:`compare_models` runs the leaderboard, the paired tests, the per-species tables and the
shared confusions on the models' aligned test predictions; :func:`comparison_report_markdown`
writes the report from those numbers; :func:`save_comparison_outputs` writes
``leaderboard.{csv,md,json}``, the other tables, ``report.md`` and figures, then reads the
leaderboard back to check it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fossilct import atomic, metrics
from fossilct.comparison.leaderboard import (LEADERBOARD_METRICS, evaluate_models,
                                             leaderboard_table)
from fossilct.comparison.leakage import LEAKAGE_METRICS
from fossilct.comparison.paired import accuracy_replicates, paired_tests, pairwise_tests
from fossilct.comparison.species import (common_confusions, per_species_f1_table,
                                         species_extremes)
from fossilct.predictions import AlignedPredictions

__all__ = [
    "Comparison",
    "compare_models",
    "leaderboard_markdown",
    "comparison_report_markdown",
    "save_comparison_outputs",
]

SIGNIFICANCE = 0.05
"""Family-wise level at which a Holm-adjusted p-value is called significant in the report."""


@dataclass(frozen=True)
class Comparison:
    """The comparison of several models on the same test slices.

    Attributes
    ----------
    metrics : dict of str to dict
        Model -> :func:`fossilct.metrics.evaluate_predictions` output.
    leaderboard : DataFrame
        :func:`~fossilct.comparison.leaderboard.leaderboard_table`, best first.
    rank_by : str
    reference : str
        The model the paired tests compare the others with (the best, unless chosen).
    paired : DataFrame
        :func:`~fossilct.comparison.paired.paired_tests` of the reference.
    pairwise : DataFrame
        :func:`~fossilct.comparison.paired.pairwise_tests` (all pairs).
    per_species_f1 : DataFrame
        Models x species.
    species_extremes : DataFrame
        Best and worst model per species.
    confusions : DataFrame
        True -> predicted pairs every model gets wrong.
    leakage : DataFrame or None
        :func:`~fossilct.comparison.leakage.leakage_table`, when given.
    n_slices, n_specimens : int
        Size of the test split.
    bootstrap : dict
        ``{"n": replicates, "unit": "specimen", "seed": seed}``.
    """

    metrics: dict
    leaderboard: pd.DataFrame
    rank_by: str
    reference: str
    paired: pd.DataFrame
    pairwise: pd.DataFrame
    per_species_f1: pd.DataFrame
    species_extremes: pd.DataFrame
    confusions: pd.DataFrame
    leakage: pd.DataFrame | None
    n_slices: int
    n_specimens: int
    bootstrap: dict


def compare_models(test: AlignedPredictions, *, rank_by: str = "macro_f1",
                   reference: str | None = None,
                   resources: Mapping[str, Mapping[str, float]] | None = None,
                   leakage: pd.DataFrame | None = None,
                   n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP, rng: int = 0) -> Comparison:
    """Compare models (members and ensembles alike) on their aligned test predictions.

    Parameters
    ----------
    test : AlignedPredictions
        ``read_aligned(paths, splits=("test",))["test"]``; a
        disagreement between two tables is an error there, naming both.
    rank_by : str
        Leaderboard order (default macro-F1).
    reference : str, optional
        Model the paired tests start from; default the leaderboard's first.
    resources : mapping, optional
        Model -> extra numeric columns (training time, throughput), measured elsewhere.
    leakage : DataFrame, optional
        :func:`~fossilct.comparison.leakage.leakage_table` output, for the report.
    n_bootstrap : int
    rng : int
        One seed for every model: the same specimen resamples, hence paired intervals.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        As :func:`~fossilct.comparison.leaderboard.leaderboard_table` and
        :func:`~fossilct.comparison.paired.paired_tests`.
    TypeError
        If `rng` is not an int.
    """
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or (
            n_bootstrap < 1):
        raise ValueError(f"`n_bootstrap`={n_bootstrap!r} must be an int >= 1: the intervals "
                         "and the paired tests need replicates.")
    model_metrics = evaluate_models(test, n_bootstrap=n_bootstrap, rng=rng)
    board = leaderboard_table(model_metrics, rank_by=rank_by, resources=resources)
    reference = reference if reference is not None else str(board["model"].iloc[0])
    replicates = accuracy_replicates(test, n_bootstrap=n_bootstrap, rng=rng)
    f1 = per_species_f1_table(test)
    first = next(iter(model_metrics.values()))
    return Comparison(
        metrics=model_metrics, leaderboard=board, rank_by=rank_by, reference=reference,
        paired=paired_tests(test, reference=reference, replicates=replicates),
        pairwise=pairwise_tests(test, replicates=replicates),
        per_species_f1=f1, species_extremes=species_extremes(f1),
        confusions=common_confusions(test), leakage=leakage,
        n_slices=first["n_slices"], n_specimens=first["n_specimens"],
        bootstrap={"n": int(n_bootstrap), "unit": "specimen", "seed": int(rng)},
    )


def _interval(value, low, high, digits: int) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if low is None or not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def leaderboard_markdown(board: pd.DataFrame, *, digits: int = 4) -> str:
    """The leaderboard as a Markdown table, each metric as ``value (low–high)``.

    Raises
    ------
    ValueError
        If a leaderboard column is missing.

    Examples
    --------
    >>> row = {"rank": 1, "model": "m", **{k: 0.5 for k in LEADERBOARD_METRICS},
    ...        **{f"{k}_ci_{e}": 0.5 for k in LEADERBOARD_METRICS for e in ("low", "high")}}
    >>> leaderboard_markdown(pd.DataFrame([row]), digits=1).splitlines()[2][:29]
    '| 1 | m | 0.5 (0.5–0.5) | 0.5'
    """
    missing = [c for c in ("rank", "model", *LEADERBOARD_METRICS) if c not in board.columns]
    if missing:
        raise ValueError(f"`board` lacks columns {missing}; pass leaderboard_table().")
    extra = [c for c in board.columns if c not in ("rank", "model") and c not in
             LEADERBOARD_METRICS and not c.endswith(("_ci_low", "_ci_high"))]
    header = ["Rank", "Model", *(metrics.METRIC_SHORT_LABELS[k] for k in LEADERBOARD_METRICS),
              *extra]
    lines = ["| " + " | ".join(header) + " |", "|---:|---|" + "---:|" * (len(header) - 2)]
    for row in board.to_dict("records"):
        cells = [str(row["rank"]), str(row["model"])]
        cells += [_interval(row[k], row[f"{k}_ci_low"], row[f"{k}_ci_high"], digits)
                  for k in LEADERBOARD_METRICS]
        cells += ["n/a" if not np.isfinite(row[c]) else f"{row[c]:.4g}" for c in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _paired_lines(paired: pd.DataFrame, digits: int) -> list[str]:
    lines = ["| Against | Accuracy difference (95% CI) | Only reference right | Only other "
             "right | McNemar p (Holm) | Bootstrap p (Holm) |", "|---|---:|---:|---:|---:|---:|"]
    for row in paired.to_dict("records"):
        difference = _interval(row["accuracy_difference"], row["difference_ci_low"],
                               row["difference_ci_high"], digits)
        lines.append(
            f"| {row['model_b']} | {difference} | "
            f"{row['only_a_right']} | {row['only_b_right']} | {row['mcnemar_p']:.3g} "
            f"({row['mcnemar_p_holm']:.3g}) | {row['bootstrap_p']:.3g} "
            f"({row['bootstrap_p_holm']:.3g}) |")
    return lines


def comparison_report_markdown(comparison: Comparison, *, title: str = "Model comparison",
                               digits: int = 4) -> str:
    """Markdown report body generated from a :class:`Comparison` (no hand-written numbers).

    Returns
    -------
    str
    """
    c = comparison
    best = c.leaderboard.iloc[0]
    best_value = _interval(best[c.rank_by], best[f"{c.rank_by}_ci_low"],
                           best[f"{c.rank_by}_ci_high"], digits)
    lines = [f"# {title}", "",
             f"{len(c.leaderboard)} models on the same {c.n_slices} test slices of "
             f"{c.n_specimens} specimens; 95% intervals from {c.bootstrap['n']} bootstrap "
             f"replicates resampling specimens (seed {c.bootstrap['seed']}, the same resamples "
             f"for every model). Ranked by {metrics.METRIC_SHORT_LABELS[c.rank_by]}: best "
             f"{best['model']} ({best_value}).",
             "", "## Leaderboard", "", leaderboard_markdown(c.leaderboard, digits=digits).rstrip()]
    lines += ["", f"## {c.reference} against each other model", "",
              "Accuracy differences are reference minus other. McNemar's exact test treats "
              "slices as independent (optimistic); the paired specimen bootstrap does not. "
              f"Holm-adjusted p-values below {SIGNIFICANCE} are significant at that "
              "family-wise level.", ""]
    if c.paired.empty:
        lines.append("Only one model: nothing to compare.")
    else:
        lines += _paired_lines(c.paired, digits)
        significant = c.paired.loc[c.paired["bootstrap_p_holm"] < SIGNIFICANCE, "model_b"]
        lines += ["", f"Significantly different from {c.reference} (paired bootstrap, Holm): "
                      + (", ".join(significant) if len(significant) else "none") + "."]
    lines += ["", "## Per species: best and worst model (F1)", "",
              "| Species | Best | F1 | Worst | F1 | Spread |", "|---|---|---:|---|---:|---:|"]
    for species, row in c.species_extremes.iterrows():
        lines.append(f"| {species} | {row['best_model']} | {row['best_f1']:.{digits}f} | "
                     f"{row['worst_model']} | {row['worst_f1']:.{digits}f} | "
                     f"{row['spread']:.{digits}f} |")
    lines += ["", "## Confusions every model makes", ""]
    if c.confusions.empty:
        lines.append("No true -> predicted confusion is shared by all models.")
    else:
        models = [m for m in c.confusions.columns if m not in ("true", "predicted", "min_count")]
        lines += ["| True | Predicted | " + " | ".join(models) + " |",
                  "|---|---|" + "---:|" * len(models)]
        for row in c.confusions.to_dict("records"):
            lines.append(f"| {row['true']} | {row['predicted']} | "
                         + " | ".join(str(row[m]) for m in models) + " |")
    if c.leakage is not None:
        lines += ["", "## Leakage: specimen-level against slice-level split", "",
                  "Each model scored on its own split's test set; intervals resample that "
                  "set's specimens, the inflation's resample both independently.", "",
                  "| Split | " + " | ".join(metrics.METRIC_SHORT_LABELS[m] for m in LEAKAGE_METRICS)
                  + " | Slices | Specimens |", "|---|" + "---:|" * (len(LEAKAGE_METRICS) + 2)]
        for split, row in c.leakage.iterrows():
            counts = ("", "") if split == "inflation" else (int(row["n_slices"]),
                                                            int(row["n_specimens"]))
            lines.append(f"| {split} | " + " | ".join(
                _interval(row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"], digits)
                for m in LEAKAGE_METRICS) + f" | {counts[0]} | {counts[1]} |")
    return "\n".join(lines) + "\n"


def _json_ready(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    return value


def _leaderboard_json(comparison: Comparison) -> dict:
    resources = [c for c in comparison.leaderboard.columns if c not in ("rank", "model")
                 and c not in LEADERBOARD_METRICS and not c.endswith(("_ci_low", "_ci_high"))]
    models = []
    for row in comparison.leaderboard.to_dict("records"):
        result = comparison.metrics[row["model"]]
        models.append({"rank": int(row["rank"]), "model": row["model"],
                       "metrics": {k: result[k] for k in LEADERBOARD_METRICS},
                       "resources": {c: _json_ready(row[c]) for c in resources}})
    return {"rank_by": comparison.rank_by, "reference": comparison.reference,
            "n_slices": comparison.n_slices, "n_specimens": comparison.n_specimens,
            "bootstrap": comparison.bootstrap, "models": models,
            "paired_tests": [{k: _json_ready(v) for k, v in row.items()}
                             for row in comparison.paired.to_dict("records")]}


def _check_leaderboard(paths: dict[str, Path], comparison: Comparison) -> None:
    board = pd.read_csv(paths["leaderboard.csv"], keep_default_na=False, na_values=[""])
    always_defined = [k for k in LEADERBOARD_METRICS if k != "auc_ovr_macro"]
    problems = []
    if board.shape != comparison.leaderboard.shape:
        problems.append(f"shape {board.shape} instead of {comparison.leaderboard.shape}")
    elif board[always_defined].isna().to_numpy().any():
        problems.append(f"missing values in {always_defined}")
    elif board["model"].astype(str).tolist() != comparison.leaderboard["model"].tolist():
        problems.append("models in another order")
    if problems:
        raise ValueError(f"{paths['leaderboard.csv']} was not written as intended: "
                         f"{'; '.join(problems)}.")
    record = json.loads(paths["leaderboard.json"].read_text())
    if [m["model"] for m in record["models"]] != board["model"].astype(str).tolist():
        raise ValueError(f"{paths['leaderboard.json']} lists other models than "
                         f"{paths['leaderboard.csv']}.")


def save_comparison_outputs(out_dir: str | os.PathLike, comparison: Comparison, *, report: str,
                            figures: Mapping[str, object] | None = None) -> dict[str, Path]:
    """Write the comparison folder, every file atomically, and check the leaderboard.

    Files: ``leaderboard.csv`` (flat, one row per model), ``leaderboard.md``,
    ``leaderboard.json`` (nested ``{"value", "ci95"}`` metrics, resources, paired tests),
    ``paired_tests.csv``, ``pairwise_tests.csv``, ``per_species_f1.csv``,
    ``species_extremes.csv``, ``common_confusions.csv``, ``leakage.csv`` (when present),
    ``report.md`` and ``<figure>.png``.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    ValueError
        If the leaderboard does not read back as written.
    """
    out_dir = Path(out_dir)
    c = comparison
    paths = {
        "leaderboard.csv": atomic.write_csv(out_dir / "leaderboard.csv", c.leaderboard),
        "leaderboard.md": atomic.write_text(out_dir / "leaderboard.md",
                                            leaderboard_markdown(c.leaderboard)),
        "leaderboard.json": atomic.write_json(out_dir / "leaderboard.json",
                                              _leaderboard_json(c)),
        "paired_tests.csv": atomic.write_csv(out_dir / "paired_tests.csv", c.paired),
        "pairwise_tests.csv": atomic.write_csv(out_dir / "pairwise_tests.csv", c.pairwise),
        "per_species_f1.csv": atomic.write_csv(out_dir / "per_species_f1.csv",
                                               c.per_species_f1.reset_index()),
        "species_extremes.csv": atomic.write_csv(out_dir / "species_extremes.csv",
                                                 c.species_extremes.reset_index()),
        "common_confusions.csv": atomic.write_csv(out_dir / "common_confusions.csv",
                                                  c.confusions),
        "report.md": atomic.write_text(out_dir / "report.md", report),
    }
    if c.leakage is not None:
        paths["leakage.csv"] = atomic.write_csv(out_dir / "leakage.csv", c.leakage.reset_index())
    paths.update(atomic.save_figures(figures, out_dir))
    _check_leaderboard(paths, c)
    return paths
