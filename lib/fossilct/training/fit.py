"""Two-phase transfer learning (report section 3.1) with honest best-weight selection.

Phase 1 trains the head on a frozen backbone (lr 1e-4, cosine decay); phase 2 unfreezes the whole
backbone or its last N layers (lr 5e-5, cosine decay with warm restarts). BatchNorm layers that
``fossilct.models.build_model`` froze stay frozen in phase 2. Both phases use AdamW and
categorical cross-entropy with label smoothing 0.1 (or focal loss). Early stopping watches the
validation loss with one best value over BOTH phases, and the weights restored at the end are
those of the best epoch of either phase (the EMA weights when EMA is on, since those are the ones
validated).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import keras
import numpy as np

from fossilct.models import get_backbone, training_view
from fossilct.training.fingerprint import plain_fingerprint
from fossilct.training.state import (BackupStore, EpochTracker, TrainingState, WeightAverage,
                                     random_states)

__all__ = ["fit_model"]

DEFAULT_PHASE1_EPOCHS = 10
DEFAULT_PHASE2_EPOCHS = 20
DEFAULT_PHASE1_LR = 1e-4
DEFAULT_PHASE2_LR = 5e-5
DEFAULT_WEIGHT_DECAY = 1e-4
"""AdamW decoupled weight decay (the report gives none); biases and norm scales are exempt."""
DEFAULT_LABEL_SMOOTHING = 0.1
DEFAULT_PATIENCE = 5
DEFAULT_RESTART_EPOCHS = 5
"""Length of the first cosine cycle of phase 2, in epochs; each next cycle is twice as long."""
RESTART_PERIOD_GROWTH = 2.0
"""``t_mul`` of ``keras.optimizers.schedules.CosineDecayRestarts``."""
_NO_DECAY = ["bias", "gamma", "beta"]


def _check_unfreeze(unfreeze: str | int, n_layers: int) -> None:
    if unfreeze == "all":
        return
    if isinstance(unfreeze, bool) or not isinstance(unfreeze, (int, np.integer)) or not (
            1 <= unfreeze <= n_layers):
        raise ValueError(f"`unfreeze`={unfreeze!r}: use 'all' or the number of last backbone "
                         f"layers to fine-tune, between 1 and {n_layers}.")


def _set_phase(backbone: keras.Model, phase: int, unfreeze: str | int,
               bn_trainable: dict[str, bool]) -> None:
    if phase == 1:
        backbone.trainable = False
        return
    backbone.trainable = True
    layers = backbone.layers
    if unfreeze != "all":
        for layer in layers[: len(layers) - int(unfreeze)]:
            layer.trainable = False
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization) and not bn_trainable[layer.name]:
            layer.trainable = False


def _compile(model: keras.Model, *, phase: int, steps_per_epoch: int, epochs: int, lr: float,
             restart_epochs: int, weight_decay: float, label_smoothing: float,
             focal_gamma: float | None, jit_compile: bool) -> None:
    schedules = keras.optimizers.schedules
    if phase == 1:
        schedule = schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps_per_epoch))
    else:
        schedule = schedules.CosineDecayRestarts(
            lr, first_decay_steps=max(1, restart_epochs * steps_per_epoch),
            t_mul=RESTART_PERIOD_GROWTH)
    with model.distribute_strategy.scope():
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)
        optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
        if focal_gamma is None:
            loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        else:
            loss = keras.losses.CategoricalFocalCrossentropy(gamma=focal_gamma,
                                                             label_smoothing=label_smoothing)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                      jit_compile=jit_compile)


def _steps_per_epoch(train_ds) -> int:
    steps = int(train_ds.cardinality())
    if steps < 1:
        raise ValueError(f"`train_ds` has cardinality {steps} (unknown, infinite or empty); pass "
                         "a finite dataset such as fossilct.data.make_dataset(split='train').")
    return steps


def _fit_fingerprint(trainer: keras.Model, train_ds, val_ds, settings: dict[str, Any],
                     caller: str | dict | None) -> dict:
    """What a backup of this call must match: the settings, the model's weight shapes, the
    datasets' element specs and sizes, and the caller's own fingerprint."""
    return plain_fingerprint({
        "fit_model": {**settings,
                      "class_weight": (None if settings["class_weight"] is None else
                                       {str(k): float(v)
                                        for k, v in settings["class_weight"].items()})},
        "model": {"weight_shapes": [list(w.shape) for w in trainer.weights],
                  "random_states": len(random_states(trainer))},
        "data": {"train_spec": str(train_ds.element_spec),
                 "train_batches": int(train_ds.cardinality()),
                 "val_spec": str(val_ds.element_spec),
                 "val_batches": int(val_ds.cardinality())},
        "caller": caller,
    })


def _replay_epochs(train_ds, n_epochs: int) -> None:
    """Iterate `train_ds` as `n_epochs` training epochs did, without training on it.

    The shuffle order of a ``tf.data`` dataset changes with every iterator made from it, and an
    augmentation mapped over it keeps its random state in variables that advance with every
    batch; neither is in a backup. A fresh process that rebuilds the dataset starts both streams
    anew, so a resumed training replays the completed epochs to draw exactly the batches the
    killed run would have drawn next. Keras' ``fit`` (3.x, known cardinality, no
    ``steps_per_epoch``) makes a new iterator at the start of every epoch and one more at its end,
    which the next epoch replaces unused: both count.
    """
    for _ in range(n_epochs):
        for _ in train_ds:
            pass
        iter(train_ds)


def fit_model(model: keras.Model, train_ds, val_ds, *,
              phase1_epochs: int = DEFAULT_PHASE1_EPOCHS,
              phase2_epochs: int = DEFAULT_PHASE2_EPOCHS,
              phase1_lr: float = DEFAULT_PHASE1_LR, phase2_lr: float = DEFAULT_PHASE2_LR,
              unfreeze: str | int = "all", restart_epochs: int = DEFAULT_RESTART_EPOCHS,
              weight_decay: float = DEFAULT_WEIGHT_DECAY,
              label_smoothing: float = DEFAULT_LABEL_SMOOTHING,
              focal_gamma: float | None = None, class_weight: dict | None = None,
              patience: int = DEFAULT_PATIENCE, ema_momentum: float | None = None,
              backup_dir: str | os.PathLike | None = None,
              backup_fingerprint: str | Mapping[str, Any] | None = None,
              jit_compile: bool = False,
              callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 2) -> dict:
    """Train a ``fossilct.models.build_model`` model in the report's two phases.

    Parameters
    ----------
    model : keras.Model
        From :func:`fossilct.models.build_model` (its nested backbone is frozen / unfrozen).
    train_ds, val_ds : tf.data.Dataset
        Batches of (images, one-hot labels), e.g. from :func:`fossilct.data.make_dataset`;
        `train_ds` must have a known cardinality (the learning-rate schedules need it).
    phase1_epochs, phase2_epochs : int
        Maximum epochs of each phase (report: 10 and 20); 0 skips a phase.
    phase1_lr, phase2_lr : float
        Peak learning rates (report: 1e-4 with cosine decay; 5e-5 with warm restarts).
    unfreeze : "all" or int
        Phase 2 fine-tunes the whole backbone or only its last N layers.
    restart_epochs : int
        First cosine cycle of phase 2 in epochs; cycles then double. Default 5.
    weight_decay : float
        AdamW decoupled weight decay; biases, BatchNorm/LayerNorm scales and offsets exempt.
    label_smoothing : float
        In [0, 1); report 0.1.
    focal_gamma : float, optional
        Use categorical focal loss with this gamma (with the same label smoothing).
    class_weight : dict of int to float, optional
        Per-class loss weights, e.g. :func:`fossilct.data.class_weights`.
    patience : int
        Early stopping on the validation loss (report: 5); the best value and the restored
        weights span both phases, the counter restarts with each phase.
    ema_momentum : float, optional
        Keep an exponential moving average of the weights (e.g. 0.999), validate it and select
        it (see :class:`fossilct.training.state.WeightAverage`). None: off.
    backup_dir : path-like, optional
        Save the training state after every epoch; a call with the same folder after a crash or
        kill continues from the last completed epoch of the phase it was in, and produces the
        same history and weights as a run that was never interrupted (on one device; see
        below). Deleted once the training completes. A backup is resumed only when it was
        written by the same training: the arguments of this call (epochs, learning rates,
        patience, ...), the model's weight shapes, the datasets' element specs and sizes and
        `backup_fingerprint` must all be equal; otherwise it is deleted with a ``UserWarning``
        that names what changed, and training starts from epoch 1.
    backup_fingerprint : str or mapping, optional
        What else identifies this training and is invisible here: the data parameters, the
        slices, the class names, the augmentation (use
        :func:`fossilct.training.backup_fingerprint`). Without it, a backup is resumed after a
        change of those.
    jit_compile : bool
        XLA (``DeviceConfig.xla``).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks, run after the state is saved each epoch.
    verbose : int
        Keras verbosity (2 = one line per epoch).

    Returns
    -------
    dict of str to list
        Per epoch (both phases, in order): ``epoch`` (1-based), ``phase``, the Keras logs
        (``accuracy``, ``loss``, ``val_accuracy``, ``val_loss``) and ``learning_rate``, in this
        order. The model holds the weights of the epoch with the lowest ``val_loss`` when this
        returns.

    Notes
    -----
    To resume exactly, the backup holds the model and optimizer variables, the dropout
    generators' states and the weight averages, and the resumed call first iterates `train_ds`
    once per completed epoch without training (its shuffle order and a mapped augmentation
    advance with every pass, and a rebuilt dataset starts again from the first): a data-only
    pass, much cheaper than a training epoch. This holds for a `train_ds` whose passes depend
    only on its seed and on how often it was iterated, as
    :func:`fossilct.data.make_dataset`'s do. Under a multi-device strategy Keras itself draws a
    batch before each phase, so an uninterrupted run is then not exactly reproducible either.

    Raises
    ------
    ValueError
        No `val_ds`, negative epochs or both zero, a learning rate <= 0, label smoothing outside
        [0, 1), a negative `weight_decay` or `focal_gamma`, `patience` < 1, a bad `unfreeze`,
        unknown cardinality of `train_ds`, `backup_fingerprint` without `backup_dir`.
    TypeError
        If `backup_fingerprint` is neither a str nor a mapping of JSON-like values.

    Examples
    --------
    >>> import numpy as np, tensorflow as tf
    >>> from fossilct import models
    >>> model = models.build_model("small_cnn", n_classes=2, input_size=32)
    >>> images = np.zeros((8, 32, 32, 1), np.float32)
    >>> images[4:, 8:24, 8:24] = 255.0
    >>> labels = np.eye(2, dtype=np.float32)[[0] * 4 + [1] * 4]
    >>> ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    >>> history = fit_model(model, ds, ds, phase1_epochs=0, phase2_epochs=2, verbose=0)
    >>> history["epoch"], history["phase"]
    ([1, 2], [2, 2])
    """
    if val_ds is None:
        raise ValueError("`val_ds` is None: fit_model needs validation data for early stopping "
                         "and best-weight selection; pass make_dataset(split='val').")
    for name, value in (("phase1_epochs", phase1_epochs), ("phase2_epochs", phase2_epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"`{name}` must be an int >= 0; got {value!r}.")
    if phase1_epochs + phase2_epochs == 0:
        raise ValueError("`phase1_epochs` and `phase2_epochs` are both 0: nothing to train.")
    for name, value in (("phase1_lr", phase1_lr), ("phase2_lr", phase2_lr)):
        if not value > 0:
            raise ValueError(f"`{name}`={value} must be > 0.")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"`label_smoothing`={label_smoothing} must lie in [0, 1).")
    if not 0.0 <= weight_decay < float("inf"):
        raise ValueError(f"`weight_decay`={weight_decay} must be a finite number >= 0 (0 turns "
                         "the decay off).")
    if focal_gamma is not None and not 0.0 <= focal_gamma < float("inf"):
        raise ValueError(f"`focal_gamma`={focal_gamma} must be >= 0, or None for "
                         "cross-entropy.")
    if patience < 1 or restart_epochs < 1:
        raise ValueError(f"`patience`={patience} and `restart_epochs`={restart_epochs} must be "
                         ">= 1.")
    if backup_fingerprint is not None and backup_dir is None:
        raise ValueError("`backup_fingerprint` is given without `backup_dir`: it identifies a "
                         "backup, so pass the backup folder too (or drop the fingerprint).")
    caller = None if backup_fingerprint is None else plain_fingerprint(backup_fingerprint)
    backbone = get_backbone(model)
    trainer = training_view(model)  # shares the weights; no resize layer (XLA, speed)
    _check_unfreeze(unfreeze, len(backbone.layers))
    steps = _steps_per_epoch(train_ds)
    bn_trainable = {layer.name: layer.trainable for layer in backbone.layers
                    if isinstance(layer, keras.layers.BatchNormalization)}
    phases = {1: (phase1_epochs, phase1_lr), 2: (phase2_epochs, phase2_lr)}

    store = restored = None
    if backup_dir is not None:
        settings = dict(phase1_epochs=phase1_epochs, phase2_epochs=phase2_epochs,
                        phase1_lr=phase1_lr, phase2_lr=phase2_lr, unfreeze=unfreeze,
                        restart_epochs=restart_epochs, weight_decay=weight_decay,
                        label_smoothing=label_smoothing, focal_gamma=focal_gamma,
                        class_weight=class_weight, patience=patience,
                        ema_momentum=ema_momentum, jit_compile=jit_compile)
        store = BackupStore(backup_dir, fingerprint=_fit_fingerprint(
            trainer, train_ds, val_ds, settings, caller))
        restored = store.load_state()
    state, files = restored if restored is not None else (TrainingState(), {})
    best = [store.load_best(files) if restored is not None else None]
    if restored is not None:
        store.restore_random_states(files, trainer)
        _replay_epochs(train_ds, state.n_epochs)
    resume_mid_phase = restored is not None and not state.phase_complete and state.epochs_done
    if restored is not None and state.phase_complete:
        state.phase, state.epochs_done, state.phase_complete = state.phase + 1, 0, False
    state.phase = max(state.phase, 1 if phase1_epochs else 2)
    ema = WeightAverage(ema_momentum) if ema_momentum is not None else None

    while state.phase <= 2:
        epochs, lr = phases[state.phase]
        if epochs == 0 or state.epochs_done >= epochs:
            state.phase, state.epochs_done, state.wait = state.phase + 1, 0, 0
            continue
        if not resume_mid_phase and best[0] is not None:
            trainer.set_weights(best[0])  # a phase starts from the best weights so far
        _set_phase(backbone, state.phase, unfreeze, bn_trainable)
        _compile(trainer, phase=state.phase, steps_per_epoch=steps, epochs=epochs, lr=lr,
                 restart_epochs=restart_epochs, weight_decay=weight_decay,
                 label_smoothing=label_smoothing, focal_gamma=focal_gamma,
                 jit_compile=jit_compile)
        if resume_mid_phase:
            trainer.optimizer.build(trainer.trainable_variables)
            trainer.load_weights(store.folder / files["latest"])
        if ema is not None:
            with trainer.distribute_strategy.scope():
                ema.start(trainer, store.load_ema(files) if resume_mid_phase else None)
        tracker = EpochTracker(state, epochs=epochs, patience=patience, best=best, ema=ema,
                               store=store)
        trainer.fit(train_ds, validation_data=val_ds, epochs=epochs,
                  initial_epoch=state.epochs_done, class_weight=class_weight, verbose=verbose,
                  shuffle=False,  # the dataset shuffles itself
                  callbacks=[tracker, *([ema] if ema is not None else []), *callbacks])
        resume_mid_phase = False
        state.phase, state.epochs_done, state.wait = state.phase + 1, 0, 0

    if best[0] is not None:
        trainer.set_weights(best[0])
    with model.distribute_strategy.scope():  # the full model, compiled as it was trained
        model.compile(optimizer=trainer.optimizer, loss=trainer.loss, metrics=["accuracy"])
    if store is not None:
        store.clear()
    return {key: list(values) for key, values in state.history.items()}
