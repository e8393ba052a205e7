"""fossilct.training.live_logs: TensorBoard scalars appear after every epoch, with global epochs
as steps over both phases, and a resumed training leaves each epoch in the logs exactly once."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fossilct import models, training

def _events(log_dir):
    """(run, tag) -> sorted steps written, over every event file of the folder."""
    found = {}
    for path in sorted(log_dir.rglob("events.out.tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found.setdefault((path.parent.name, value.tag), []).append(event.step)
    return {key: sorted(steps) for key, steps in found.items()}


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 32, 32, 1)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.repeat([0, 1], 8)]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    return ds, ds


class _Probe(keras.callbacks.Callback):
    """After each epoch (and after the live logs were written), record the steps on disk."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir, self.seen = log_dir, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(_events(self.log_dir).get(("train", "epoch_loss"), []))


class _Kill(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.count, self.after = 0, after

    def on_epoch_end(self, epoch, logs=None):
        self.count += 1
        if self.count == self.after:
            raise KeyboardInterrupt("simulated kill")


def _model():
    keras.utils.set_random_seed(0)
    return models.build_model("small_cnn", n_classes=2, input_size=32)


def test_logs_grow_during_training_with_global_epochs(tiny, tmp_path):
    logs, backup = tmp_path / "logs", tmp_path / "backup"
    probe = _Probe(logs)
    history = training.fit_model(
        _model(), *tiny, phase1_epochs=2, phase2_epochs=2, phase1_lr=1e-3, phase2_lr=1e-3,
        backup_dir=backup, verbose=0,
        callbacks=[training.LiveTensorBoard(logs, backup_dir=backup), probe])
    assert probe.seen == [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]  # live, phase 2 continues at 3
    written = _events(logs)
    assert written[("train", "epoch_loss")] == history["epoch"]
    assert written[("train", "epoch_learning_rate")] == history["epoch"]
    assert written[("validation", "epoch_accuracy")] == history["epoch"]


@pytest.mark.slow
def test_resumed_training_writes_each_epoch_once(tiny, tmp_path):
    logs, backup = tmp_path / "logs", tmp_path / "backup"
    kwargs = dict(phase1_epochs=1, phase2_epochs=3, phase1_lr=1e-3, phase2_lr=1e-3,
                  backup_dir=backup, verbose=0)
    with pytest.raises(KeyboardInterrupt):  # killed after global epoch 3
        training.fit_model(_model(), *tiny, callbacks=[
            training.LiveTensorBoard(logs, backup_dir=backup), _Kill(3)], **kwargs)
    assert _events(logs)[("train", "epoch_loss")] == [1, 2, 3]
    history = training.fit_model(_model(), *tiny, callbacks=[
        training.LiveTensorBoard(logs, backup_dir=backup)], **kwargs)
    assert history["epoch"] == [1, 2, 3, 4]
    assert _events(logs)[("train", "epoch_loss")] == [1, 2, 3, 4]
    # the final folder written with the model has the same steps
    training.write_tensorboard_logs(logs, history)
    assert _events(logs)[("validation", "epoch_loss")] == [1, 2, 3, 4]


def test_without_the_fits_backup_folder_it_says_what_to_pass(tiny, tmp_path):
    with pytest.raises(ValueError, match="same `backup_dir` as fit_model"):
        training.fit_model(_model(), *tiny, phase1_epochs=0, phase2_epochs=1, verbose=0,
                           backup_dir=tmp_path / "backup", callbacks=[
                               training.LiveTensorBoard(tmp_path / "logs",
                                                        backup_dir=tmp_path / "elsewhere")])
