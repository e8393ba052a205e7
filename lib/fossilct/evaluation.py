"""Running a trained model over the held-out splits, and everything notebook 05 reports.

:func:`predict_splits` gives the predictions table (one row per slice of the validation and test
splits, one probability column per class) that ensembles and comparisons reuse instead of
re-running models: they choose on validation and report on test;
:func:`summarise_predictions` turns the test rows into metrics with specimen-bootstrap intervals,
the per-species table, confusion matrices, reliability and ROC data; :func:`report_markdown`
writes the tables as Markdown; :func:`save_evaluation_outputs` writes the folder and checks it;
:func:`read_predictions` reads it back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fossilct import atomic, metrics

__all__ = [
    "PROB_PREFIX",
    "PREDICTED_SPLITS",
    "Evaluation",
    "predict_split",
    "predict_splits",
    "arrays_from_predictions",
    "summarise_predictions",
    "report_markdown",
    "save_evaluation_outputs",
    "save_tta_outputs",
    "read_predictions",
    "measure_throughput",
]

PROB_PREFIX = "prob_"
"""Prefix of the probability columns of a predictions table (``prob_<class name>``)."""
PREDICTED_SPLITS = ("val", "test")
"""Splits every evaluation predicts: validation (to choose ensembles on) and test (to report)."""
PREDICTIONS_FILE = "predictions.csv"
THROUGHPUT_FILE = "throughput.json"
DEFAULT_PREDICT_BATCH = 64


def _dihedral(k: int, flip: bool):
    import tensorflow as tf

    def transform(images, labels):
        images = tf.image.rot90(images, k=k)
        return (tf.image.flip_left_right(images) if flip else images), labels
    return transform


def predict_split(model, manifest: pd.DataFrame, *, class_names: Sequence[str],
                  split: str = "test", batch_size: int = DEFAULT_PREDICT_BATCH,
                  tta: bool = False) -> pd.DataFrame:
    """Predict every slice of one split.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`fossilct.models.build_model` (or loaded from its ``model.keras``).
    manifest : DataFrame
        Slice table with absolute paths (:func:`fossilct.split.read_split_slices`).
    class_names : sequence of str
        The model's output order (``class_names.json``).
    split : {"test", "val", "train"}
    batch_size : int
        Inference batch size.
    tta : bool
        Test-time augmentation: average the probabilities over the 8 flips and 90-degree
        rotations of each slice (report it separately from the plain predictions).

    Returns
    -------
    DataFrame
        In manifest order: ``split``, ``slice_id``, ``specimen_id``, ``species``, ``predicted``
        and one ``prob_<class>`` column per class.

    Raises
    ------
    ValueError
        If `class_names` does not match the model's outputs, or as
        :func:`fossilct.data.select_split` (empty split, unknown species); a class absent
        from the split is allowed.
    FileNotFoundError
        If PNG files of the split are missing.
    """
    from fossilct.data import make_dataset, select_split
    from fossilct.models import model_input_size

    n_out = int(model.output_shape[-1])
    if len(class_names) != n_out:
        raise ValueError(f"{len(class_names)} `class_names` for a model with {n_out} outputs; "
                         "pass the class_names.json saved with the model.")
    rows = select_split(manifest, split, class_names=class_names, require_all_classes=False)
    ds = make_dataset(manifest, split=split, class_names=class_names,
                      image_size=model_input_size(model), batch_size=batch_size, training=False,
                      cache=None, require_all_classes=False)
    transforms = [(k, flip) for flip in (False, True) for k in range(4)] if tta else [(0, False)]
    probs = np.mean([model.predict(ds.map(_dihedral(k, flip)), verbose=0)
                     for k, flip in transforms], axis=0)
    table = pd.DataFrame({
        "split": split,
        "slice_id": rows["slice_id"].to_numpy(), "specimen_id": rows["specimen_id"].to_numpy(),
        "species": rows["species"].to_numpy(),
        "predicted": np.asarray(class_names)[probs.argmax(axis=1)],
    })
    for c, name in enumerate(class_names):
        table[PROB_PREFIX + name] = probs[:, c].astype(np.float64)
    return table


def predict_splits(model, slices: pd.DataFrame, *, class_names: Sequence[str],
                   splits: Sequence[str] = PREDICTED_SPLITS,
                   batch_size: int = DEFAULT_PREDICT_BATCH, tta: bool = False) -> pd.DataFrame:
    """:func:`predict_split` of each of `splits` (default validation and test), one table."""
    return pd.concat([predict_split(model, slices, class_names=class_names, split=split,
                                    batch_size=batch_size, tta=tta) for split in splits],
                     ignore_index=True)


def arrays_from_predictions(predictions: pd.DataFrame, *, class_names: Sequence[str]
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True class indices, probabilities and specimen ids of a predictions table.

    Returns
    -------
    y_true : (N,) ndarray of int64
    probs : (N, K) ndarray of float64
    specimen_ids : (N,) ndarray of str

    Raises
    ------
    ValueError
        Missing columns, or species outside `class_names`.

    Examples
    --------
    >>> table = pd.DataFrame({"slice_id": ["s"], "specimen_id": ["a"], "species": ["y"],
    ...                       "prob_x": [0.2], "prob_y": [0.8]})
    >>> y, probs, specimens = arrays_from_predictions(table, class_names=["x", "y"])
    >>> y.tolist(), probs.tolist(), specimens.tolist()
    ([1], [[0.2, 0.8]], ['a'])
    """
    columns = ["specimen_id", "species"] + [PROB_PREFIX + c for c in class_names]
    missing = [c for c in columns if c not in predictions.columns]
    if missing:
        raise ValueError(f"the predictions table lacks columns {missing}; it must come from "
                         "predict_split with the same class_names.")
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(predictions["species"].astype(str)) - set(index))
    if unknown:
        raise ValueError(f"species {unknown} of the predictions are not in `class_names`.")
    y_true = np.array([index[s] for s in predictions["species"].astype(str)], dtype=np.int64)
    probs = predictions[[PROB_PREFIX + c for c in class_names]].to_numpy(dtype=np.float64)
    return y_true, probs, predictions["specimen_id"].astype(str).to_numpy()


@dataclass(frozen=True)
class Evaluation:
    """Everything reported about one predictions table.

    Attributes
    ----------
    metrics : dict
        :func:`fossilct.metrics.evaluate_predictions` (goes to ``metrics.json``).
    per_species : DataFrame
        Precision, recall, F1, support per species.
    confusion_counts, confusion_normalised : DataFrame
        Rows true, columns predicted.
    reliability : DataFrame
        Reliability-diagram bins.
    roc : dict of str to DataFrame
        One-vs-rest ROC curve per class with positives and negatives.
    """

    metrics: dict
    per_species: pd.DataFrame
    confusion_counts: pd.DataFrame
    confusion_normalised: pd.DataFrame
    reliability: pd.DataFrame
    roc: dict


def summarise_predictions(predictions: pd.DataFrame, *, class_names: Sequence[str],
                          split: str = "test",
                          n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP,
                          rng: int | np.random.Generator = 0,
                          n_bins: int = metrics.DEFAULT_ECE_BINS) -> Evaluation:
    """Metrics (95% specimen-bootstrap CIs), tables and curve data of one split's predictions.

    Parameters
    ----------
    predictions : DataFrame
        From :func:`predict_splits`; only the rows of `split` are summarised (a table without a
        ``split`` column is taken whole).
    class_names : sequence of str
    split : str
        Default ``"test"``.
    n_bootstrap, rng, n_bins
        See :func:`fossilct.metrics.evaluate_predictions`.

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        As :func:`arrays_from_predictions` and :func:`fossilct.metrics.evaluate_predictions`.
    """
    if "split" in predictions.columns:
        predictions = predictions[predictions["split"] == split]
    y_true, probs, specimens = arrays_from_predictions(predictions, class_names=class_names)
    counts, normalised = metrics.confusion_matrices(y_true, probs, class_names=class_names)
    return Evaluation(
        metrics=metrics.evaluate_predictions(y_true, probs, specimen_ids=specimens,
                                             class_names=class_names, n_bootstrap=n_bootstrap,
                                             rng=rng, n_bins=n_bins),
        per_species=metrics.per_species_report(y_true, probs, class_names=class_names),
        confusion_counts=counts, confusion_normalised=normalised,
        reliability=metrics.reliability_table(y_true, probs, n_bins=n_bins),
        roc=metrics.roc_curves(y_true, probs, class_names=class_names),
    )


def _format(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report_markdown(metrics_dict: Mapping, per_species: pd.DataFrame, *,
                    title: str = "Evaluation", digits: int = 4) -> str:
    """Markdown report: metric table with 95% CIs, notes, per-species table.

    Parameters
    ----------
    metrics_dict : mapping
        :func:`fossilct.metrics.evaluate_predictions` output.
    per_species : DataFrame
        :func:`fossilct.metrics.per_species_report` output.
    title : str
        First heading.
    digits : int
        Decimals shown.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If `metrics_dict` lacks a metric of ``fossilct.metrics.METRIC_KEYS``.

    Examples
    --------
    >>> m = {k: {"value": 0.5, "ci95": [0.4, 0.6]} for k in metrics.METRIC_KEYS}
    >>> table = pd.DataFrame({"precision": [1.0], "recall": [0.5], "f1": [0.667],
    ...                       "support": [2]}, index=pd.Index(["a"], name="species"))
    >>> print(report_markdown(m, table, digits=2).splitlines()[4])
    | Accuracy (slice) | 0.50 | 0.40 – 0.60 |
    """
    missing = [k for k in metrics.METRIC_KEYS if k not in metrics_dict]
    if missing:
        raise ValueError(f"`metrics_dict` lacks {missing}; pass evaluate_predictions' output.")
    lines = [f"# {title}", "", "| Metric | Value | 95% CI |", "|---|---:|---:|"]
    for key in metrics.METRIC_KEYS:
        entry = metrics_dict[key]
        ci = entry.get("ci95")
        interval = "n/a" if ci is None else f"{_format(ci[0], digits)} – {_format(ci[1], digits)}"
        lines.append(f"| {metrics.METRIC_LABELS[key]} | {_format(entry['value'], digits)} | "
                     f"{interval} |")
    boot = metrics_dict.get("bootstrap")
    if boot is not None:
        lines += ["", f"Test set: {metrics_dict.get('n_slices')} slices of "
                      f"{metrics_dict.get('n_specimens')} specimens. Intervals: {boot['n']} "
                      f"bootstrap replicates resampling {boot['unit']}s (percentile method)."]
    for note in metrics_dict.get("notes", []):
        lines.append(f"\nNote: {note}")
    lines += ["", "## Per species", "", "| Species | Precision | Recall | F1 | Support |",
              "|---|---:|---:|---:|---:|"]
    for species, row in per_species.iterrows():
        lines.append(f"| {species} | {row['precision']:.{digits}f} | {row['recall']:.{digits}f} "
                     f"| {row['f1']:.{digits}f} | {int(row['support'])} |")
    return "\n".join(lines) + "\n"


def measure_throughput(model, *, batch_size: int = DEFAULT_PREDICT_BATCH, n_batches: int = 5
                       ) -> dict:
    """Inference speed of `model` on batches of its own input size (images in memory, so disk
    and decoding do not count; the first, compiling batch is not timed).

    Returns
    -------
    dict
        ``slices_per_second``, ``batch_size``, ``n_batches``, ``input_size``.

    Examples
    --------
    >>> from fossilct.models import build_model
    >>> speed = measure_throughput(build_model("small_cnn", n_classes=2, input_size=32),
    ...                            batch_size=4, n_batches=2)
    >>> speed["slices_per_second"] > 0, speed["input_size"]
    (True, 32)
    """
    import time

    from fossilct.models import model_input_size

    if int(batch_size) < 1 or int(n_batches) < 1:
        raise ValueError(f"`batch_size` and `n_batches` must be >= 1; got {batch_size}, "
                         f"{n_batches}.")
    size = model_input_size(model)
    batch = np.zeros((int(batch_size), size, size, 1), np.float32)
    model.predict_on_batch(batch)
    start = time.perf_counter()
    for _ in range(int(n_batches)):
        model.predict_on_batch(batch)
    seconds = time.perf_counter() - start
    return {"slices_per_second": int(batch_size) * int(n_batches) / seconds,
            "batch_size": int(batch_size), "n_batches": int(n_batches), "input_size": size}


def save_evaluation_outputs(out_dir: str | os.PathLike, evaluation: Evaluation, *,
                            predictions: pd.DataFrame, report: str,
                            figures: Mapping[str, object] | None = None,
                            throughput: Mapping | None = None,
                            prefix: str = "") -> dict[str, Path]:
    """Write an evaluation folder, every file atomically, then check what was written.

    Files (each name preceded by `prefix`, e.g. ``"tta_"`` for test-time augmentation):
    ``predictions.csv``, ``metrics.json``, ``per_species.csv``, ``confusion_counts.csv``,
    ``confusion_normalised.csv``, ``reliability.csv``, ``report.md``, ``<name>.png`` for
    each figure and ``throughput.json`` when `throughput` (:func:`measure_throughput`) is given.

    Returns
    -------
    dict of str to Path
        File name (without prefix) -> path.

    Raises
    ------
    ValueError
        If the predictions read back differ in shape from `predictions` or hold NaN
        probabilities, or the accuracy has no value.
    """
    out_dir = Path(out_dir)
    names = {name: out_dir / f"{prefix}{name}" for name in (
        PREDICTIONS_FILE, "metrics.json", "per_species.csv", "confusion_counts.csv",
        "confusion_normalised.csv", "reliability.csv", "report.md")}
    atomic.write_csv(names[PREDICTIONS_FILE], predictions)
    atomic.write_json(names["metrics.json"], evaluation.metrics)
    atomic.write_csv(names["per_species.csv"], evaluation.per_species.reset_index())
    atomic.write_csv(names["confusion_counts.csv"], evaluation.confusion_counts.reset_index())
    atomic.write_csv(names["confusion_normalised.csv"],
                     evaluation.confusion_normalised.reset_index())
    atomic.write_csv(names["reliability.csv"], evaluation.reliability)
    atomic.write_text(names["report.md"], report)
    names.update(atomic.save_figures(figures, out_dir, prefix=prefix))
    if throughput is not None:
        names[THROUGHPUT_FILE] = atomic.write_json(out_dir / f"{prefix}{THROUGHPUT_FILE}",
                                                   dict(throughput))
    back = read_predictions(out_dir, prefix=prefix)
    probabilities = back.filter(like=PROB_PREFIX)
    if back.shape != predictions.shape or probabilities.isna().any().any():
        raise ValueError(f"{names[PREDICTIONS_FILE]} reads back as {back.shape} (written "
                         f"{predictions.shape}) or with missing probabilities; the disk may be "
                         "full. Re-run the evaluation.")
    if evaluation.metrics["accuracy"]["value"] is None:
        raise ValueError(f"{names['metrics.json']}: the accuracy has no value; check the test "
                         "split.")
    return names


def save_tta_outputs(out_dir: str | os.PathLike, model, slices: pd.DataFrame, *,
                     class_names: Sequence[str], enabled: bool, title: str,
                     batch_size: int = DEFAULT_PREDICT_BATCH,
                     n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP,
                     rng: int | np.random.Generator = 0) -> dict[str, Path]:
    """With `enabled`, evaluate with test-time augmentation (8 flips and rotations) and write the
    folder's ``tta_`` files (see :func:`save_evaluation_outputs`); else write nothing.

    Returns
    -------
    dict of str to Path
        Empty when not `enabled`.
    """
    if not enabled:
        return {}
    from fossilct.plots.evaluation import evaluation_figures

    predictions = predict_splits(model, slices, class_names=class_names, batch_size=batch_size,
                                 tta=True)
    result = summarise_predictions(predictions, class_names=class_names,
                                   n_bootstrap=n_bootstrap, rng=rng)
    return save_evaluation_outputs(
        out_dir, result, predictions=predictions, prefix="tta_",
        report=report_markdown(result.metrics, result.per_species, title=f"{title}, TTA"),
        figures=evaluation_figures(result))


def read_predictions(eval_dir: str | os.PathLike, *, prefix: str = "") -> pd.DataFrame:
    """The predictions table of an evaluation folder (validation and test rows).

    Raises
    ------
    FileNotFoundError
        If the folder has no predictions (the message names the step that writes them).
    ValueError
        If the table has no ``split`` column or no validation rows: it was written before
        evaluations predicted the validation split; re-run the evaluation step.
    """
    path = Path(eval_dir) / f"{prefix}{PREDICTIONS_FILE}"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run the evaluation step "
                                "(notebook 05) for this model.")
    table = pd.read_csv(path, dtype={"split": str, "slice_id": str, "specimen_id": str,
                                     "species": str, "predicted": str}, keep_default_na=False)
    if "split" not in table.columns or not table["split"].isin(["val"]).any():
        raise ValueError(f"{path} holds no validation predictions (it predates them); re-run "
                         "the evaluation step for this model (`python run_all.py --only 05 "
                         "--force`).")
    return table
