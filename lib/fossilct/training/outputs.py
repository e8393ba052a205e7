"""Checkpoint helpers: write and read a trained model's folder (the only training I/O besides
the backup folder of :func:`fossilct.training.fit_model`).

Folder layout (``outputs/<profile>/models/<arch>/``)::

    model.keras        loads with plain keras.models.load_model; takes raw 8-bit slices
    class_names.json   label order of the model's outputs
    history.csv        one row per epoch of both phases
    params.yaml        the parameters that actually ran
    logs/              TensorBoard event files (train / validation scalars per epoch)
    timing.json        wall time of the training (epochs, seconds), when given
    <name>.png         the figures passed in (the notebook's training curves: curves.png)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fossilct import atomic

__all__ = ["OUTPUT_FILES", "save_training_outputs", "load_training_outputs",
           "read_training_params", "check_trained_on", "tensorboard_series",
           "open_tensorboard_writers", "write_tensorboard_rows", "write_tensorboard_logs"]

OUTPUT_FILES = ("model.keras", "class_names.json", "history.csv", "params.yaml", "logs")


def _plain(value: Any) -> Any:
    """YAML-safe copy: NumPy scalars to Python, tuples to lists, paths to str."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def _check_history(history: Mapping[str, Sequence]) -> None:
    lengths = {k: len(v) for k, v in history.items()}
    if not lengths or "epoch" not in history or len(set(lengths.values())) != 1:
        raise ValueError(f"`history` must map names to equally long per-epoch lists including "
                         f"'epoch' (as fit_model returns); got lengths {lengths}.")


def tensorboard_series(history: Mapping[str, Sequence]) -> dict[str, list[tuple[str, str]]]:
    """Which history column goes to which TensorBoard run and tag (Keras' layout).

    Returns
    -------
    dict
        ``{"train": [(tag, column), ...], "validation": [...]}``: ``epoch_<name>`` for each
        training metric and the learning rate, ``epoch_<name>`` of each ``val_<name>`` column.

    Examples
    --------
    >>> tensorboard_series({"epoch": [1], "phase": [1], "loss": [0.5], "val_loss": [0.6]})
    {'train': [('epoch_loss', 'loss')], 'validation': [('epoch_loss', 'val_loss')]}
    """
    skip = {"epoch", "phase"}
    return {"train": [(f"epoch_{k}", k) for k in history
                      if k not in skip and not k.startswith("val_")],
            "validation": [(f"epoch_{k[4:]}", k) for k in history if k.startswith("val_")]}


def write_tensorboard_rows(writers: Mapping[str, Any], history: Mapping[str, Sequence], *,
                           start: int = 0) -> None:
    """Append the history rows from `start` on to open TensorBoard writers, then flush.

    Parameters
    ----------
    writers : mapping
        ``"train"`` and ``"validation"`` -> ``tf.summary`` file writers.
    history : dict of str to list
        As :func:`fossilct.training.fit_model` returns it; the step of a row is its ``epoch``
        (global, 1-based).
    start : int, keyword-only
        First row to write.
    """
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    for run, series in tensorboard_series(history).items():
        with writers[run].as_default():
            for i in range(start, len(history["epoch"])):
                for tag, key in series:
                    tf.summary.write(tag, tf.constant(float(history[key][i])),
                                     step=int(history["epoch"][i]), metadata=metadata)
        writers[run].flush()


def open_tensorboard_writers(log_dir: str | os.PathLike) -> dict[str, Any]:
    """``tf.summary`` file writers of the ``train`` and ``validation`` runs under `log_dir`."""
    import tensorflow as tf

    return {run: tf.summary.create_file_writer(str(Path(log_dir) / run))
            for run in ("train", "validation")}


def write_tensorboard_logs(log_dir: str | os.PathLike, history: Mapping[str, Sequence]) -> Path:
    """Write the per-epoch history as TensorBoard scalars, replacing `log_dir` atomically.

    ``train/epoch_<name>`` for each training metric and the learning rate,
    ``validation/epoch_<name>`` for each ``val_`` metric (Keras' TensorBoard layout); the step is
    the global epoch. Works without the tensorboard package (core ``tf.summary.write`` with the
    scalars plugin's metadata).

    Raises
    ------
    ValueError
        If `history` is not a mapping of equally long lists with an ``epoch`` entry.
    """
    _check_history(history)
    with atomic.atomic_dir(log_dir) as tmp:
        writers = open_tensorboard_writers(tmp)
        write_tensorboard_rows(writers, history)
        for writer in writers.values():
            writer.close()
    return Path(log_dir)


def save_training_outputs(out_dir: str | os.PathLike, model, history: Mapping[str, Sequence],
                          class_names: Sequence[str], params: Mapping[str, Any], *,
                          timing: Mapping[str, Any] | None = None,
                          figures: Mapping[str, object] | None = None) -> dict[str, Path]:
    """Write a trained model's folder; every file atomically (temp name, then rename).

    Parameters
    ----------
    out_dir : path-like
        Created if missing; files of the same names are replaced.
    model : keras.Model
    history : dict of str to list
        As returned by :func:`fossilct.training.fit_model`.
    class_names : sequence of str
        Output order of `model`.
    params : mapping
        The parameters that ran (notebook parameters plus resolved values such as the input
        size and the device settings).
    timing : mapping, keyword-only, optional
        :meth:`fossilct.training.EpochTimer.summary`, saved as ``timing.json``.
    figures : mapping of str to matplotlib Figure, keyword-only, optional
        Saved as ``<name>.png``.

    Returns
    -------
    dict of str to Path
        ``OUTPUT_FILES`` name (and ``<name>.png``) -> path.

    Raises
    ------
    ValueError
        If `class_names` does not match the model's output width, or `history` is malformed.
    """
    n_out = int(model.output_shape[-1])
    if len(class_names) != n_out:
        raise ValueError(f"{len(class_names)} `class_names` for a model with {n_out} outputs; "
                         "pass the class names the model was trained with.")
    _check_history(history)
    out_dir = Path(out_dir)
    paths = {name: out_dir / name for name in OUTPUT_FILES}
    with atomic.atomic_path(paths["model.keras"]) as tmp:
        model.save(tmp)
    atomic.write_json(paths["class_names.json"], list(class_names))
    atomic.write_csv(paths["history.csv"], pd.DataFrame(dict(history)))
    atomic.write_yaml(paths["params.yaml"], _plain(dict(params)))
    write_tensorboard_logs(paths["logs"], history)
    if timing is not None:
        paths["timing.json"] = atomic.write_json(out_dir / "timing.json", _plain(dict(timing)))
    paths.update(atomic.save_figures(figures, out_dir))
    _check_written(paths, history, class_names)
    return paths


def _check_written(paths: dict[str, Path], history: Mapping[str, Sequence],
                   class_names: Sequence[str]) -> None:
    """Read back what :func:`save_training_outputs` wrote: a complete model archive, the class
    names, one history row per epoch."""
    import zipfile

    try:
        with zipfile.ZipFile(paths["model.keras"]) as archive:
            damaged = archive.testzip()
    except zipfile.BadZipFile:
        damaged = "the archive"
    if damaged is not None:
        raise OSError(f"{paths['model.keras']} is damaged ({damaged}); the disk may be full. "
                      "Re-run the training.")
    if json.loads(paths["class_names.json"].read_text()) != list(class_names) or \
            len(pd.read_csv(paths["history.csv"])) != len(history["epoch"]):
        raise OSError(f"{paths['class_names.json'].parent}: class_names.json or history.csv "
                      "does not read back as written; re-run the training.")


def load_training_outputs(model_dir: str | os.PathLike):
    """Load ``model.keras`` and ``class_names.json`` of a trained model's folder.

    Returns
    -------
    model : keras.Model
    class_names : list of str

    Raises
    ------
    FileNotFoundError
        If either file is missing (the message names it).
    ValueError
        If the class names do not match the model's outputs.
    """
    import keras

    model_dir = Path(model_dir)
    for name in ("model.keras", "class_names.json"):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{str(model_dir / name)!r} does not exist; run the training "
                                    "notebook (04) for this architecture first, or fix "
                                    "`model_dir`.")
    model = keras.models.load_model(model_dir / "model.keras")
    class_names = json.loads((model_dir / "class_names.json").read_text())
    if len(class_names) != int(model.output_shape[-1]):
        raise ValueError(f"{model_dir}: class_names.json lists {len(class_names)} classes, the "
                         f"model has {model.output_shape[-1]} outputs; re-run the training.")
    return model, class_names


def read_training_params(model_dir: str | os.PathLike) -> dict:
    """The parameters a model was trained with (``params.yaml`` of its folder).

    Raises
    ------
    FileNotFoundError
        If the folder has no ``params.yaml``.
    """
    import yaml

    path = Path(model_dir) / "params.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run the training notebook (04) "
                                "for this architecture first, or fix `model_dir`.")
    return yaml.safe_load(path.read_text())


def check_trained_on(model_dir: str | os.PathLike, split_fingerprint: str) -> None:
    """Refuse to evaluate a model on a slice table or split it was not trained with.

    Parameters
    ----------
    model_dir : path-like
        The model's folder; its ``params.yaml`` records ``split_fingerprint``.
    split_fingerprint : str
        :func:`fossilct.split.fingerprint` of the table about to be evaluated.

    Raises
    ------
    ValueError
        If the fingerprints differ (specimens of the test split may have been trained on):
        the message says to re-train.
    """
    trained = read_training_params(model_dir).get("split_fingerprint")
    if trained != split_fingerprint:
        raise ValueError(
            f"the model in {model_dir} was trained on another slice table or split (fingerprint "
            f"{trained} vs {split_fingerprint} now): its test metrics would be stale or leaked. "
            "Re-train it first (`python run_all.py --only 04,05`), or run the whole pipeline.")
