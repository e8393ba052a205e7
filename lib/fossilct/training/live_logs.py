"""TensorBoard logs written while a model trains, not only after.

``tensorboard --logdir outputs/quick/models`` then shows every model's loss, accuracy and
learning rate per epoch as training goes. The logs have the layout and the steps (global epochs
over both phases) of the final ones that :func:`~fossilct.training.save_training_outputs`
writes, which replace them when training ends.

Keras' own ``TensorBoard`` callback cannot be used here: each phase of
:func:`~fossilct.training.fit_model` is a separate ``fit`` whose epochs restart at 0, and a
resumed training would not know the epochs of the killed one. :class:`LiveTensorBoard` instead
reads the history that the resumable training commits after every epoch (its backup folder), so
the steps are right across phases and resumes, and a killed run's partial files are replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from fossilct.training.outputs import (open_tensorboard_writers, write_tensorboard_logs,
                                       write_tensorboard_rows)
from fossilct.training.state import BackupStore

__all__ = ["LiveTensorBoard"]


class LiveTensorBoard(keras.callbacks.Callback):
    """Append each finished epoch to TensorBoard logs, from the training's backup.

    Pass it to :func:`fossilct.training.fit_model` together with the same backup folder::

        fit_model(model, train, val, backup_dir=f"{model_dir}/backup",
                  callbacks=[LiveTensorBoard(f"{model_dir}/logs",
                                             backup_dir=f"{model_dir}/backup")])

    At its first epoch in a process it rewrites `log_dir` from the whole committed history
    (dropping what a killed run may have left), then appends one row per epoch.

    Parameters
    ----------
    log_dir : path-like
        TensorBoard folder (runs ``train`` and ``validation``); the model folder's ``logs``.
    backup_dir : path-like, keyword-only
        The `backup_dir` given to ``fit_model``.
    """

    def __init__(self, log_dir: str | os.PathLike, *, backup_dir: str | os.PathLike):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._store = BackupStore(backup_dir)
        self._writers: dict | None = None
        self._written: int | None = None  # history rows in the logs (None: not yet rewritten)

    def on_epoch_end(self, epoch, logs=None):
        restored = self._store.load_state()
        if restored is None:
            raise ValueError(f"LiveTensorBoard: no training state in {self._store.folder}; give "
                             "it the same `backup_dir` as fit_model (fit_model commits the "
                             "history there after every epoch, before this callback runs).")
        history = restored[0].history
        if self._written is None:
            write_tensorboard_logs(self.log_dir, history)
        else:
            if self._writers is None:
                self._writers = open_tensorboard_writers(self.log_dir)
            write_tensorboard_rows(self._writers, history, start=self._written)
        self._written = len(history["epoch"])

    def on_train_end(self, logs=None):
        """Close the files at the end of each phase (the next phase opens new ones)."""
        for writer in (self._writers or {}).values():
            writer.close()
        self._writers = None
