"""The fitted ensemble as one Keras model that takes a raw slice, like its members.

Structure (every member as built by :func:`fossilct.models.build_model`, so each one resizes and
preprocesses the raw slice itself)::

    slice (H, W, 1), 0..255
      -> member m up to its classifier's input (a nested model sharing the member's layers)
      -> Dense(kernel / T_m, bias / T_m, softmax)          = softmax(z_m / T_m)
      -> combination: Concatenate + a fixed Dense (weights) for voting; for switching the
         rule written with keras.ops (argmax, one_hot, max, less, where)
      -> softmax(log p / T_ensemble) with keras.ops         (when T_ensemble != 1)

A softmax classifier's temperature scaling is exactly a Dense with its kernel and bias divided
by T on the same features, and a weighted average of K-class outputs is a Dense with kernel
``[w_1 I; w_2 I; ...]`` on their concatenation, so both are built-in layers. Switching needs a
comparison and a selection, which no built-in layer does exactly (a steep sigmoid would only
approximate the step); Keras 3 serialises ``keras.ops`` calls made on symbolic tensors of a
functional model as operation nodes of its config (constants included), and
``keras.models.load_model`` rebuilds them in safe mode without custom objects. That was checked
with Keras 3.15.1 and is tested on every run, in a process that does not import fossilct.

Members given weight 0 are left out. Differences from the table-level combination
(:func:`~fossilct.ensemble.spec.apply_ensemble`) are float32 rounding, plus slices whose general
model's top probability lies within rounding of the switching threshold.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

import keras
import numpy as np
from keras import ops

from fossilct.ensemble.spec import EnsembleSpec
from fossilct.metrics import LOG_LOSS_EPS

__all__ = ["CLASSIFIER_LAYER", "load_member_models", "build_ensemble_model",
           "save_ensemble_model"]

CLASSIFIER_LAYER = "classifier"
"""Name of the members' final softmax Dense layer (:func:`fossilct.models.build_model`)."""


def _layer_name(member: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", member)


def _classifier(model: keras.Model, member: str, n_classes: int) -> keras.layers.Dense:
    try:
        head = model.get_layer(CLASSIFIER_LAYER)
    except ValueError:
        raise ValueError(f"member {member!r} (model {model.name!r}) has no {CLASSIFIER_LAYER!r} "
                         "layer; pass models built by fossilct.models.build_model (or loaded "
                         "from their model.keras).") from None
    if not isinstance(head, keras.layers.Dense) or head.activation is not (
            keras.activations.softmax) or head.units != n_classes:
        raise ValueError(f"member {member!r}: layer {CLASSIFIER_LAYER!r} must be a softmax "
                         f"Dense with {n_classes} units (one per class of the ensemble); got "
                         f"{type(head).__name__} with {getattr(head, 'units', '?')} units.")
    return head


def _calibrated_member(inputs, model: keras.Model, member: str, temperature: float,
                       n_classes: int):
    """softmax(z / T) of one member, as its features followed by a rescaled copy of its head."""
    head = _classifier(model, member, n_classes)
    features = keras.Model(model.inputs, head.input, name=f"{_layer_name(member)}_features")
    kernel, bias = (np.asarray(w, dtype=np.float32) for w in head.get_weights())
    scaled = keras.layers.Dense(n_classes, activation="softmax", dtype="float32",
                                trainable=False, name=f"{_layer_name(member)}_calibrated")
    outputs = scaled(features(inputs))
    scaled.set_weights([kernel / temperature, bias / temperature])
    return outputs


def _average(probs: list, weights: list[float], n_classes: int):
    if len(probs) == 1:
        return probs[0]
    stacked = keras.layers.Concatenate(axis=-1, name="members")(probs)
    vote = keras.layers.Dense(n_classes, use_bias=False, dtype="float32", trainable=False,
                              name="weighted_average")
    outputs = vote(stacked)
    kernel = np.concatenate([w * np.eye(n_classes, dtype=np.float32) for w in weights])
    vote.set_weights([kernel])
    return outputs


def _switch(general, specialist, spec: EnsembleSpec, n_classes: int):
    mask = np.isin(spec.class_names, spec.switch_species).astype("float32")
    predicts_weak = ops.sum(ops.one_hot(ops.argmax(general, axis=-1), n_classes) * mask,
                            axis=-1, keepdims=True) > 0.5
    unsure = ops.max(general, axis=-1, keepdims=True) < float(spec.switch_threshold)
    return ops.where(ops.logical_and(predicts_weak, unsure), specialist, general)


def build_ensemble_model(member_models: Mapping[str, keras.Model], spec: EnsembleSpec, *,
                         name: str | None = None) -> keras.Model:
    """One Keras model computing the ensemble of `spec` from a raw 8-bit slice.

    Parameters
    ----------
    member_models : mapping of str to keras.Model
        Member name -> its trained model (``models/<arch>/model.keras``); members of `spec`
        with weight 0 are not needed.
    spec : EnsembleSpec
        The fitted ensemble.
    name : str, optional
        Model name (default ``"ensemble_<spec.name>"``).

    Returns
    -------
    keras.Model
        Input ``slice``: (batch, H, W, 1) values 0..255, any H and W. Output
        ``probabilities``: (batch, K) float32 in ``spec.class_names`` order. Saves with
        ``model.save("model.keras")`` and loads with plain ``keras.models.load_model``.

    Raises
    ------
    ValueError
        A used member is missing, or a model has no softmax ``classifier`` Dense with K units.
    """
    missing = [m for m in spec.used_members if m not in member_models]
    if missing:
        raise ValueError(f"ensemble {spec.name!r} needs the models of {missing}; got "
                         f"{list(member_models)}. Load them from models/<arch>/model.keras.")
    n_classes = len(spec.class_names)
    inputs = keras.Input((None, None, 1), name="slice")
    temperature = dict(zip(spec.members, spec.temperatures))
    probs = {m: _calibrated_member(inputs, member_models[m], m, temperature[m], n_classes)
             for m in spec.used_members}
    if spec.kind == "switching":
        general, specialist = spec.members
        combined = _switch(probs[general], probs[specialist], spec, n_classes)
    else:
        weight = dict(zip(spec.members, spec.weights))
        used = np.asarray([weight[m] for m in spec.used_members])
        combined = _average(list(probs.values()), list(used / used.sum()), n_classes)
    if spec.ensemble_temperature != 1.0:
        combined = ops.softmax(ops.log(ops.clip(combined, LOG_LOSS_EPS, 1.0))
                               / float(spec.ensemble_temperature), axis=-1)
    outputs = keras.layers.Identity(name="probabilities")(combined)
    return keras.Model(inputs, outputs, name=name or f"ensemble_{_layer_name(spec.name)}")


def load_member_models(model_dirs: Mapping[str, str | os.PathLike], spec: EnsembleSpec
                       ) -> dict[str, keras.Model]:
    """Load the trained models an ensemble needs from their training folders.

    Parameters
    ----------
    model_dirs : mapping of str to path-like
        Member name -> ``models/<arch>/`` (``model.keras`` and ``class_names.json``); members
        the spec does not use may be listed and are not loaded.
    spec : EnsembleSpec

    Returns
    -------
    dict of str to keras.Model
        For ``spec.used_members``.

    Raises
    ------
    ValueError
        A used member without a folder, or a model whose class names differ from the spec's.
    FileNotFoundError
        As :func:`fossilct.training.load_training_outputs`.
    """
    from fossilct.training import load_training_outputs

    missing = [m for m in spec.used_members if m not in model_dirs]
    if missing:
        raise ValueError(f"ensemble {spec.name!r} needs the models of {missing}; add their "
                         f"folders to `model_dirs` (got {list(model_dirs)}).")
    models = {}
    for member in spec.used_members:
        model, class_names = load_training_outputs(model_dirs[member])
        if tuple(class_names) != tuple(spec.class_names):
            raise ValueError(f"{str(model_dirs[member])!r}: the model of {member!r} has classes "
                             f"{list(class_names)}, the ensemble was fitted for "
                             f"{list(spec.class_names)}; its predictions table and model come "
                             "from different runs.")
        models[member] = model
    return models


def save_ensemble_model(model_dir: str | os.PathLike,
                        member_dirs: Mapping[str, str | os.PathLike], spec: EnsembleSpec) -> dict:
    """Build the ensemble of `spec` from its members' folders and write it as a model folder like
    a trained architecture's (``model.keras``, ``class_names.json``, ``params.yaml`` with the
    spec, its abstention threshold and the members' ``slice_size``), so that every reader of
    model folders (the dashboard, ``fossilct classify``) takes it as it is.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    ValueError
        As :func:`load_member_models` and :func:`build_ensemble_model`, or members trained on
        slices of different sizes.
    OSError
        If the archive does not read back complete.
    """
    import json
    import zipfile
    from pathlib import Path

    from fossilct import atomic
    from fossilct.training import read_training_params

    sizes = {read_training_params(member_dirs[m]).get("slice_size") for m in spec.used_members}
    if len(sizes) != 1:
        raise ValueError(f"the members of ensemble {spec.name!r} were trained on slices of "
                         f"different sizes {sorted(sizes, key=str)}; train them on one slice "
                         "folder.")
    model = build_ensemble_model(load_member_models(member_dirs, spec), spec)
    model_dir = Path(model_dir)
    paths = {name: model_dir / name for name in ("model.keras", "class_names.json",
                                                 "params.yaml")}
    with atomic.atomic_path(paths["model.keras"]) as tmp:
        model.save(tmp)
    atomic.write_json(paths["class_names.json"], list(spec.class_names))
    atomic.write_yaml(paths["params.yaml"], {"arch": "ensemble", "split_mode": "specimen",
                                             "slice_size": sizes.pop(),
                                             "ensemble": spec.to_dict()})
    with zipfile.ZipFile(paths["model.keras"]) as archive:
        if archive.testzip() is not None:
            raise OSError(f"{paths['model.keras']} is damaged; re-run the ensemble step.")
    if json.loads(paths["class_names.json"].read_text()) != list(spec.class_names):
        raise OSError(f"{paths['class_names.json']} does not read back as written.")
    return paths
