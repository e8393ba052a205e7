"""Wall time of a training, kept out of its history (which must be the same for a resumed and an
uninterrupted run) and written beside it as ``timing.json``."""

from __future__ import annotations

import time

import keras

__all__ = ["EpochTimer"]


class EpochTimer(keras.callbacks.Callback):
    """Seconds taken by every epoch this process trained (a resumed training counts only the
    epochs it ran itself).

    Examples
    --------
    >>> timer = EpochTimer()
    >>> timer.on_epoch_begin(0); timer.on_epoch_end(0)
    >>> len(timer.seconds), timer.summary()["epochs"]
    (1, 1)
    """

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    def summary(self) -> dict:
        """``epochs``, ``seconds`` (total) and ``seconds_per_epoch`` (None before any epoch)."""
        total = float(sum(self.seconds))
        return {"epochs": len(self.seconds), "seconds": total,
                "seconds_per_epoch": total / len(self.seconds) if self.seconds else None}
