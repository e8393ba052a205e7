"""Training state across both phases: history, best weights, early stopping, EMA, backup/resume.

One :class:`TrainingState` lives for a whole two-phase fit. The Keras callbacks here update it
after every epoch and, when a backup folder is given, commit it to disk so that a killed training
resumes where it stopped:

``state.json``
    phase, epochs done in it, history (columns in their order), best validation loss and epoch,
    early-stopping counter, and the fingerprint of the training that wrote it; written last
    (atomically), it names the other files, so a kill in between leaves the previous consistent
    state.
``latest-p<phase>e<epoch>.weights.h5``
    model and optimizer variables after that epoch (resumes the phase).
``rng-p<phase>e<epoch>.npz``
    the model's random-generator states (the dropout masks' seeds), which are not weights.
``ema-p<phase>e<epoch>.npz``
    the weight averages, when EMA is on.
``best-e<epoch>.npz``
    the selected weights of the best epoch so far (all of ``model.get_weights()``).

A backup is resumed only by the same training: :class:`BackupStore` compares the stored
fingerprint (``fossilct.training.fingerprint``) with the new run's and discards a backup that
differs, or that cannot be read, with a warning saying why.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fossilct import atomic
from fossilct.training.fingerprint import fingerprint_changes

__all__ = ["TrainingState", "WeightAverage", "EpochTracker", "BackupStore", "random_states"]


@dataclass
class TrainingState:
    """Everything a resumed fit needs besides the weights (JSON-serialisable).

    Attributes
    ----------
    phase : int
        Phase in progress (1 or 2).
    epochs_done : int
        Epochs completed in that phase.
    phase_complete : bool
        The phase finished (all epochs, or stopped early).
    wait : int
        Epochs since the last improvement of the validation loss (early stopping).
    best_val_loss : float
        Best validation loss so far, over both phases (``inf`` before the first epoch).
    best_epoch : int
        1-based global epoch of `best_val_loss` (0 = none yet).
    history : dict of str to list
        One entry per completed epoch: ``epoch`` (global, 1-based), ``phase``, the Keras logs
        (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``) and ``learning_rate``.
    """

    phase: int = 1
    epochs_done: int = 0
    phase_complete: bool = False
    wait: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = 0
    history: dict = field(default_factory=dict)

    @property
    def n_epochs(self) -> int:
        """Epochs completed over both phases."""
        return len(self.history.get("epoch", []))


class WeightAverage(keras.callbacks.Callback):
    """Exponential moving average of the trainable weights, used for validation and selection.

    After each training batch ``avg = d * avg + (1 - d) * w`` with the warm-up decay
    ``d = min(momentum, (1 + t) / (10 + t))`` (t = updates so far; TensorFlow's
    ``ExponentialMovingAverage(num_updates=t)``), so that short runs are not dominated by the
    initial weights. The averages are swapped into the model for every validation pass and back
    out afterwards, so the validation loss is the averaged model's, and :meth:`selected_weights`
    hands the averaged weights to the best-epoch tracker: the weights selected are the weights
    restored and saved.

    Parameters
    ----------
    momentum : float
        In (0, 1), e.g. 0.999.
    """

    def __init__(self, momentum: float):
        super().__init__()
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"`ema_momentum`={momentum} must lie in (0, 1), e.g. 0.999, or be "
                             "None to switch EMA off.")
        self.momentum = float(momentum)
        self._variables: list = []
        self._averages: list[tf.Variable] = []
        self._updates = tf.Variable(0.0, trainable=False, dtype=tf.float32)
        self._swapped = False

    def start(self, model: keras.Model, state: dict | None = None) -> None:
        """Track `model`'s current trainable variables; averages from `state` or the values."""
        self._variables = list(model.trainable_variables)
        values = (state["averages"] if state is not None
                  else [np.asarray(v.numpy()) for v in self._variables])
        if len(values) != len(self._variables):
            raise ValueError(f"EMA backup holds {len(values)} arrays for "
                             f"{len(self._variables)} trainable variables; delete the backup "
                             "folder to restart this training.")
        self._averages = [tf.Variable(v, trainable=False, dtype=v.dtype) for v in values]
        self._updates.assign(0.0 if state is None else float(state["updates"]))
        self._update_fn = tf.function(self._update)
        self._swap_fn = tf.function(self._swap)

    def get_state(self) -> dict:
        """The averages (list of arrays) and the update count, for a backup."""
        return {"averages": [a.numpy() for a in self._averages],
                "updates": float(self._updates.numpy())}

    def _update(self):
        self._updates.assign_add(1.0)
        decay = tf.minimum(self.momentum, (1.0 + self._updates) / (10.0 + self._updates))
        for average, variable in zip(self._averages, self._variables):
            average.assign(decay * average + (1.0 - decay) * tf.cast(variable, average.dtype))

    def _swap(self):
        for average, variable in zip(self._averages, self._variables):
            value = tf.identity(tf.cast(variable, average.dtype))
            variable.assign(tf.cast(average, variable.dtype))
            average.assign(value)

    def swap(self) -> None:
        """Exchange the model's weights and the averages (call twice to undo)."""
        self._swap_fn()
        self._swapped = not self._swapped

    def selected_weights(self) -> list[np.ndarray]:
        """``model.get_weights()`` with the averages in place of the trainable weights."""
        self.swap()
        weights = self.model.get_weights()
        self.swap()
        return weights

    def on_train_batch_end(self, batch, logs=None):
        self._update_fn()

    def on_test_begin(self, logs=None):
        if not self._swapped:
            self.swap()

    def on_test_end(self, logs=None):
        if self._swapped:
            self.swap()


_BACKUP_NAMES = (r"state\.json|latest-p\de\d+\.weights\.h5|(?:rng|ema)-p\de\d+\.npz"
                 r"|best-e\d+\.npz")
_BACKUP_FILE = re.compile(rf"(?:{_BACKUP_NAMES})|\.(?:{_BACKUP_NAMES})\.\w+\.tmp.*")
"""Names of the files a backup writes (temporary ones included): the only ones it deletes."""


def random_states(model: keras.Model) -> list:
    """The model's variables that are not weights: the states of its random generators.

    Keras keeps the seed state of dropout (and of every other random layer) in a variable that
    ``get_weights``/``save_weights`` leave out; a resumed training needs it to draw the same
    dropout masks as an uninterrupted one.
    """
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class BackupStore:
    """Files of a resumable training in one folder (see the module docstring).

    Parameters
    ----------
    folder : path-like
        Created on the first save.
    fingerprint : str or dict
        The training's stored fingerprint (``fossilct.training.fingerprint.plain_fingerprint``),
        written with every state and compared by :meth:`load_state`.
    """

    def __init__(self, folder: str | os.PathLike, *, fingerprint: str | dict):
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self._files: dict = {"best": None}

    def clear(self) -> None:
        """Delete the backup's files (only those; other files stay) and the folder if empty."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.is_file() and _BACKUP_FILE.fullmatch(path.name):
                path.unlink()
        if not any(self.folder.iterdir()):
            self.folder.rmdir()

    def _discard(self, reason: str) -> None:
        warnings.warn(f"training backup {str(self.folder)!r} discarded, the training starts from "
                      f"epoch 1: {reason}", UserWarning, stacklevel=4)
        self.clear()

    def load_state(self) -> tuple[TrainingState, dict] | None:
        """The committed state and its file names, or None when there is none to resume.

        A backup of another training (different fingerprint), or one that cannot be read, is
        deleted with a ``UserWarning`` naming the changes or the problem, and None is returned.
        """
        path = self.folder / "state.json"
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
            if "fingerprint" not in record:
                self._discard("it holds no fingerprint (an older fossilct wrote it), so it "
                              "cannot be checked against this training.")
                return None
            stored = record.pop("fingerprint")
            files = record.pop("files")
            record["history"] = dict(record.pop("history"))
            record["best_val_loss"] = (math.inf if record["best_val_loss"] is None
                                       else record["best_val_loss"])
            state = TrainingState(**record)
        except (ValueError, KeyError, TypeError) as error:
            self._discard(f"its state.json cannot be read ({type(error).__name__}: {error}); "
                          "it was written by another fossilct version or damaged.")
            return None
        changes = fingerprint_changes(stored, self.fingerprint)
        if changes:
            self._discard("it belongs to a training with other settings or data; changed: "
                          + "; ".join(changes[:8])
                          + (f"; and {len(changes) - 8} more" if len(changes) > 8 else ""))
            return None
        absent = [name for name in files.values() if name and not (self.folder / name).is_file()]
        if absent:
            self._discard(f"its file(s) {absent} are missing.")
            return None
        self._files = dict(files)
        return state, files

    def load_best(self, files: dict) -> list[np.ndarray] | None:
        if files.get("best") is None:
            return None
        with np.load(self.folder / files["best"]) as archive:
            return [archive[f"w{i}"] for i in range(len(archive.files))]

    def load_ema(self, files: dict) -> dict | None:
        if files.get("ema") is None:
            return None
        with np.load(self.folder / files["ema"]) as archive:
            n = len(archive.files) - 1
            return {"averages": [archive[f"a{i}"] for i in range(n)],
                    "updates": float(archive["updates"])}

    def restore_random_states(self, files: dict, model: keras.Model) -> None:
        """Put the saved random-generator states back into `model` (see :func:`random_states`);
        the fingerprint guarantees that the model has as many as were saved."""
        with np.load(self.folder / files["rng"]) as archive:
            values = [archive[f"s{i}"] for i in range(len(archive.files))]
        for variable, value in zip(random_states(model), values, strict=True):
            variable.assign(value)

    def _write_npz(self, name: str, arrays: dict) -> None:
        with atomic.atomic_path(self.folder / name) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)

    def save(self, state: TrainingState, model: keras.Model, *, best: list | None,
             best_changed: bool, ema: WeightAverage | None) -> None:
        """Commit one epoch: weights first, then ``state.json``, then drop superseded files."""
        self.folder.mkdir(parents=True, exist_ok=True)
        files = self._files
        tag = f"p{state.phase}e{state.epochs_done}"
        files["latest"] = f"latest-{tag}.weights.h5"
        with atomic.atomic_path(self.folder / files["latest"]) as tmp:
            model.save_weights(tmp)
        files["rng"] = f"rng-{tag}.npz"
        self._write_npz(files["rng"], {f"s{i}": np.asarray(v.numpy())
                                       for i, v in enumerate(random_states(model))})
        files["ema"] = None
        if ema is not None:
            ema_state = ema.get_state()
            files["ema"] = f"ema-{tag}.npz"
            self._write_npz(files["ema"], {
                **{f"a{i}": a for i, a in enumerate(ema_state["averages"])},
                "updates": np.asarray(ema_state["updates"])})
        if best_changed and best is not None:
            files["best"] = f"best-e{state.best_epoch}.npz"
            self._write_npz(files["best"], {f"w{i}": w for i, w in enumerate(best)})
        record = asdict(state)
        record["best_val_loss"] = (None if math.isinf(state.best_val_loss)
                                   else state.best_val_loss)
        # name-value pairs: the JSON is written with sorted keys, the column order must survive
        record["history"] = [[name, values] for name, values in state.history.items()]
        atomic.write_json(self.folder / "state.json",
                          {**record, "files": files, "fingerprint": self.fingerprint})
        keep = {"state.json", *(name for name in files.values() if name)}
        for path in self.folder.iterdir():
            if (path.is_file() and path.name not in keep and not path.name.startswith(".")
                    and _BACKUP_FILE.fullmatch(path.name)):
                path.unlink()


class EpochTracker(keras.callbacks.Callback):
    """Per-epoch bookkeeping of one phase: history, best weights, early stopping, backup.

    Parameters
    ----------
    state : TrainingState
        Updated in place.
    epochs : int
        Epochs of this phase.
    patience : int
        Stop the phase after this many epochs without a lower validation loss than the best of
        both phases so far.
    best : list
        One-element list holding the best selected weights (shared with the caller).
    ema : WeightAverage, optional
        When given, the averaged weights are the ones selected.
    store : BackupStore, optional
        Commit the state after every epoch.
    """

    def __init__(self, state: TrainingState, *, epochs: int, patience: int, best: list,
                 ema: WeightAverage | None = None, store: BackupStore | None = None):
        super().__init__()
        self.state, self.epochs, self.patience = state, epochs, patience
        self.best, self.ema, self.store = best, ema, store

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        state = self.state
        row = {"epoch": state.n_epochs + 1, "phase": state.phase,
               **{k: float(v) for k, v in logs.items()},
               "learning_rate": float(keras.ops.convert_to_numpy(
                   self.model.optimizer.learning_rate))}
        for key, value in row.items():
            state.history.setdefault(key, []).append(value)
        improved = logs["val_loss"] < state.best_val_loss
        if improved:
            state.best_val_loss = float(logs["val_loss"])
            state.best_epoch = row["epoch"]
            state.wait = 0
            self.best[0] = (self.ema.selected_weights() if self.ema is not None
                            else self.model.get_weights())
        else:
            state.wait += 1
        state.epochs_done = epoch + 1
        if state.wait >= self.patience:
            self.model.stop_training = True
        state.phase_complete = state.epochs_done >= self.epochs or state.wait >= self.patience
        if self.store is not None:
            self.store.save(state, self.model, best=self.best[0], best_changed=improved,
                            ema=self.ema)
