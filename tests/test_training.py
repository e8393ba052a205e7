"""fossilct.training: two-phase fit learns, best weights across phases (EMA included) are the ones
kept and saved, interrupted training resumes, device/seed helpers, the model folder."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fossilct import augment, models, training
from slice_fixtures import draw_shape


def _arrays(n_per_class, seed, size=32):
    rng = np.random.default_rng(seed)
    images = np.stack([draw_shape(shape, size, rng) for shape in ("disk", "cross")
                       for _ in range(n_per_class)])[..., None].astype(np.float32)
    labels = np.eye(2, dtype=np.float32)[np.repeat([0, 1], n_per_class)]
    return images, labels


@pytest.fixture(scope="module")
def datasets():
    """Disk vs cross at 32 px: 64 training images (seen twice per epoch, batches of 8, so the
    BatchNorm statistics keep up) and 24 validation images."""
    x, y = _arrays(32, 0)
    xv, yv = _arrays(12, 1)
    train = tf.data.Dataset.from_tensor_slices((x, y)).repeat(2).shuffle(128, seed=0).batch(8)
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(24)
    return train, val


@pytest.fixture(scope="module")
def tiny():
    """16 training and 8 validation images: for mechanics, not learning."""
    x, y = _arrays(8, 2)
    xv, yv = _arrays(4, 3)
    return (tf.data.Dataset.from_tensor_slices((x, y)).batch(8),
            tf.data.Dataset.from_tensor_slices((xv, yv)).batch(8))


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return models.build_model("small_cnn", n_classes=2, input_size=32)


@pytest.fixture(scope="module")
def trained(datasets):
    model = _model()
    history = training.fit_model(model, *datasets, phase1_epochs=1, phase2_epochs=4,
                                 phase1_lr=1e-3, phase2_lr=1e-3, verbose=0)
    return model, history


class _Interrupt(keras.callbacks.Callback):
    """Raise after the given number of epochs (the run is killed there)."""

    def __init__(self, after):
        super().__init__()
        self.seen, self.after = 0, after

    def on_epoch_end(self, epoch, logs=None):
        self.seen += 1
        if self.seen == self.after:
            raise KeyboardInterrupt("simulated kill")


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_two_phase_fit_learns_two_easy_classes(datasets, trained):
    model, history = trained
    assert history["phase"] == [1, 2, 2, 2, 2]
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert set(history) == {"epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy",
                            "learning_rate"}
    loss, accuracy = model.evaluate(datasets[1], verbose=0)
    assert accuracy >= 0.75  # chance is 0.5
    assert loss == pytest.approx(min(history["val_loss"]), rel=1e-4)  # best weights restored


def test_best_epoch_of_either_phase_is_kept_and_patience_spans_phases(datasets):
    train, val = datasets
    model = _model(1)
    # phase 2 with a destructive learning rate: the best epoch is in phase 1, and phase 2 stops
    # after `patience` epochs that do not beat it
    history = training.fit_model(model, train, val, phase1_epochs=2, phase2_epochs=10,
                                 phase1_lr=1e-3, phase2_lr=5.0, patience=2, verbose=0)
    assert history["phase"] == [1, 1, 2, 2]
    best = int(np.argmin(history["val_loss"]))
    assert history["phase"][best] == 1
    assert model.evaluate(val, verbose=0)[0] == pytest.approx(history["val_loss"][best], rel=1e-4)


def test_interrupted_training_resumes_at_its_last_epoch_with_ema(tiny, tmp_path):
    train, val = tiny
    kwargs = dict(phase1_epochs=1, phase2_epochs=3, phase1_lr=1e-3, phase2_lr=1e-3,
                  backup_dir=tmp_path / "backup", ema_momentum=0.9, patience=5, verbose=0)
    with pytest.raises(KeyboardInterrupt):  # killed after global epoch 3 (phase 2, epoch 2)
        training.fit_model(_model(), train, val, callbacks=[_Interrupt(3)], **kwargs)
    state = json.loads((tmp_path / "backup" / "state.json").read_text())
    state["history"] = dict(state["history"])
    assert (state["phase"], state["epochs_done"], len(state["history"]["epoch"])) == (2, 2, 3)
    recorder = _Recorder()
    model = _model(9)  # a fresh process rebuilds the model; its initial weights do not matter
    history = training.fit_model(model, train, val, callbacks=[recorder], **kwargs)
    assert recorder.epochs == [2]  # continues with phase 2's third epoch, and finishes
    assert history["epoch"] == [1, 2, 3, 4] and history["phase"] == [1, 2, 2, 2]
    assert history["val_loss"][:3] == state["history"]["val_loss"]
    # the EMA weights were validated, so they are the ones kept: evaluation reproduces the best
    assert model.evaluate(val, verbose=0)[0] == pytest.approx(min(history["val_loss"]), rel=1e-4)
    assert not (tmp_path / "backup").exists()  # removed once complete


def _augmented(seed):
    """What the training notebook builds, in small: a reshuffled, augmented training set (both
    random streams advance with every pass) and a model with dropout. Built anew for each run,
    after seeding as the notebook does (the shuffle's seed combines the global and its own)."""
    keras.utils.set_random_seed(seed)
    x, y = _arrays(8, 4)
    xv, yv = _arrays(4, 5)
    train = (tf.data.Dataset.from_tensor_slices((x, y))
             .shuffle(16, seed=seed, reshuffle_each_iteration=True).batch(4)
             .map(augment.Augmentation(rng=seed)))
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(8)
    return train, val


_EXACT_RESUME = dict(phase1_epochs=2, phase2_epochs=2, phase1_lr=1e-3, phase2_lr=1e-3,
                     restart_epochs=1, ema_momentum=0.9, verbose=0)


@pytest.fixture(scope="module")
def uninterrupted():
    model = _model()
    return training.fit_model(model, *_augmented(0), **_EXACT_RESUME), model.get_weights()


@pytest.mark.slow
@pytest.mark.parametrize("killed_after", [1, 2, 3])  # mid phase 1, phase boundary, mid phase 2
def test_resumed_training_equals_an_uninterrupted_one(uninterrupted, tmp_path, killed_after):
    expected, expected_weights = uninterrupted
    backup = dict(backup_dir=tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(_model(), *_augmented(0), callbacks=[_Interrupt(killed_after)],
                           **backup, **_EXACT_RESUME)
    model = _model(9)  # a fresh process: other initial weights and dropout seeds
    resumed = training.fit_model(model, *_augmented(0), **backup, **_EXACT_RESUME)
    assert list(resumed) == list(expected)  # same columns, same order
    assert resumed["epoch"] == expected["epoch"] == [1, 2, 3, 4]
    for key in expected:  # bitwise equal in practice; 1e-6 spares the CPU kernels' round-off
        np.testing.assert_allclose(resumed[key], expected[key], rtol=1e-6, err_msg=key)
    for a, b in zip(model.get_weights(), expected_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_backup_of_other_settings_is_discarded_with_the_changes_named(tiny, tmp_path):
    train, val = tiny
    kwargs = dict(phase1_epochs=2, phase2_epochs=1, backup_dir=tmp_path / "backup", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(_model(), train, val, phase1_lr=1e-3, callbacks=[_Interrupt(1)],
                           **kwargs)
    recorder = _Recorder()
    with pytest.warns(UserWarning, match=r"discarded, the training starts from epoch 1: .*"
                                         r"changed: fit_model\.phase1_lr: 0\.001 -> 0\.0005"):
        history = training.fit_model(_model(), train, val, phase1_lr=5e-4,
                                     callbacks=[recorder], **kwargs)
    assert recorder.epochs == [0, 1, 0] and history["epoch"] == [1, 2, 3]  # retrained


def _fingerprint(table, class_names=("cross", "disk"), **params):
    return training.backup_fingerprint({"image_size": 32, **params}, slices=table,
                                       class_names=list(class_names))


@pytest.mark.parametrize("change, message", [
    (dict(image_size=48), r"caller\.parameters\.image_size: 32 -> 48"),
    (dict(table_row=("b.png", "val")), r"caller\.slices\.rows: 1 -> 2; "
                                        r"caller\.slices\.sha256: \"[0-9a-f]+\.\.\. -> "),
    (dict(class_names=("disk", "cross")),
     r"caller\.class_names: \[\"cross\", \"disk\"\] -> \[\"disk\", \"cross\"\]"),
])
def test_backup_of_other_data_or_parameters_is_discarded(tiny, tmp_path, change, message):
    train, val = tiny
    table = pd.DataFrame({"path": ["a.png", "c.png"], "split": ["train", "test"]})
    kwargs = dict(phase1_epochs=2, phase2_epochs=1, backup_dir=tmp_path / "backup", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(_model(), train, val, backup_fingerprint=_fingerprint(table),
                           callbacks=[_Interrupt(1)], **kwargs)
    if "table_row" in change:
        table = pd.concat([table, pd.DataFrame([dict(zip(("path", "split"),
                                                         change.pop("table_row")))])])
    with pytest.warns(UserWarning, match=message):
        training.fit_model(_model(), train, val, backup_fingerprint=_fingerprint(table, **change),
                           **kwargs)


def test_unchanged_fingerprint_resumes_and_test_rows_do_not_count(tiny, tmp_path):
    train, val = tiny
    table = pd.DataFrame({"path": ["a.png", "c.png"], "split": ["train", "test"]})
    kwargs = dict(phase1_epochs=2, phase2_epochs=1, backup_dir=tmp_path / "backup", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(_model(), train, val, backup_fingerprint=_fingerprint(table),
                           callbacks=[_Interrupt(1)], **kwargs)
    table.loc[1, "path"] = "other.png"  # a test row: the training does not read it
    recorder = _Recorder()
    training.fit_model(_model(), train, val, backup_fingerprint=_fingerprint(table),
                       callbacks=[recorder], **kwargs)
    assert recorder.epochs == [1, 0]


def test_unreadable_or_old_backup_is_discarded_and_foreign_files_are_kept(tiny, tmp_path):
    train, val = tiny
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "state.json").write_text(json.dumps({"phase": 2, "epochs_done": 1, "files": {}}))
    kwargs = dict(phase1_epochs=1, phase2_epochs=1, backup_dir=folder, verbose=0)
    with pytest.warns(UserWarning, match=r"holds no fingerprint \(an older fossilct wrote it\)"):
        history = training.fit_model(_model(), train, val, **kwargs)
    assert history["epoch"] == [1, 2]
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (folder / "state.json").write_text('{"fingerprint": "x", "files"')
    with pytest.warns(UserWarning, match=r"state\.json cannot be read \(JSONDecodeError"):
        training.fit_model(_model(), train, val, **kwargs)


def test_backup_with_a_missing_file_is_discarded(tiny, tmp_path):
    train, val = tiny
    kwargs = dict(phase1_epochs=2, phase2_epochs=1, backup_dir=tmp_path / "backup", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(_model(), train, val, callbacks=[_Interrupt(1)], **kwargs)
    next((tmp_path / "backup").glob("latest-*")).unlink()
    with pytest.warns(UserWarning,
                      match=r"its file\(s\) \['latest-p1e1\.weights\.h5'\] are missing"):
        training.fit_model(_model(), train, val, **kwargs)


def test_backup_fingerprint_arguments(tiny, tmp_path):
    train, val = tiny
    with pytest.raises(ValueError, match=r"`backup_fingerprint` is given without `backup_dir`"):
        training.fit_model(_model(), train, val, backup_fingerprint="abc", verbose=0)
    with pytest.raises(TypeError, match=r"`backup_fingerprint\.augmentation` is a object"):
        training.fit_model(_model(), train, val, backup_dir=tmp_path / "b",
                           backup_fingerprint={"augmentation": object()}, verbose=0)
    with pytest.raises(TypeError, match=r"`backup_fingerprint` must be a str or a mapping; got "
                                        r"int"):
        training.fit_model(_model(), train, val, backup_dir=tmp_path / "b",
                           backup_fingerprint=3, verbose=0)
    with pytest.raises(ValueError, match=r"`slices` has no 'split' column"):
        training.backup_fingerprint({}, slices=pd.DataFrame({"path": []}), class_names=[])


def test_interrupt_after_phase_one_resumes_with_phase_two(tiny, tmp_path):
    train, val = tiny
    kwargs = dict(phase1_epochs=1, phase2_epochs=1, backup_dir=tmp_path / "backup", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(_model(), train, val, callbacks=[_Interrupt(1)], **kwargs)
    recorder = _Recorder()
    history = training.fit_model(_model(), train, val, callbacks=[recorder], **kwargs)
    assert recorder.epochs == [0] and history["phase"] == [1, 2]


def test_pretrained_partial_unfreeze_focal_loss_and_class_weights(tiny, tmp_path):
    train, val = tiny
    path = tmp_path / "backbone.weights.h5"
    models.get_backbone(_model()).save_weights(path)
    model = models.build_model("small_cnn", n_classes=2, input_size=32, weights=path)
    training.fit_model(model, train, val, phase1_epochs=1, phase2_epochs=1, unfreeze=3,
                       focal_gamma=2.0, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    # phase 2 tuned the last three backbone layers (conv6, bn6, relu6) but not pretrained BN
    assert {v.path for v in model.trainable_weights} == {
        "conv6/kernel", "classifier/kernel", "classifier/bias"}
    assert isinstance(model.loss, keras.losses.CategoricalFocalCrossentropy)


@pytest.mark.parametrize("kwargs, message", [
    (dict(phase1_epochs=0, phase2_epochs=0), r"both 0: nothing to train"),
    (dict(phase1_epochs=-1), r"`phase1_epochs` must be an int >= 0; got -1"),
    (dict(phase2_lr=0.0), r"`phase2_lr`=0.0 must be > 0"),
    (dict(label_smoothing=1.0), r"`label_smoothing`=1.0 must lie in \[0, 1\)"),
    (dict(patience=0), r"`patience`=0 and `restart_epochs`=5 must be >= 1"),
    (dict(unfreeze=100), r"`unfreeze`=100: use 'all' or the number of last backbone layers"),
    (dict(unfreeze="half"), r"`unfreeze`='half'"),
    (dict(ema_momentum=1.5), r"`ema_momentum`=1.5 must lie in \(0, 1\)"),
    (dict(weight_decay=-1e-4), r"`weight_decay`=-0.0001 must be a finite number >= 0"),
    (dict(focal_gamma=-2.0), r"`focal_gamma`=-2.0 must be >= 0, or None"),
])
def test_bad_fit_arguments(tiny, kwargs, message):
    train, val = tiny
    with pytest.raises(ValueError, match=message):
        training.fit_model(_model(), train, val, verbose=0, **kwargs)


def test_fit_needs_validation_and_a_finite_training_set(tiny):
    train, val = tiny
    with pytest.raises(ValueError, match=r"`val_ds` is None"):
        training.fit_model(_model(), train, None)
    with pytest.raises(ValueError, match=r"`train_ds` has cardinality -1"):
        training.fit_model(_model(), train.repeat(), val)


def test_xla_training_compiles_without_the_resize_layer(tiny):
    # the antialiased resize (ScaleAndTranslate) has no XLA kernel: training must not include it
    train, val = tiny
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    training.fit_model(model, train, val, phase1_epochs=0, phase2_epochs=1, jit_compile=True,
                       verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.predict(np.zeros((1, 40, 50, 1), np.uint8), verbose=0).shape == (1, 2)


def test_configure_device_on_cpu():
    config = training.configure_device()
    assert (config.n_gpus, config.mixed_precision, config.xla, config.strategy_name) == (
        0, False, False, "default")
    assert keras.config.dtype_policy().name == "float32"
    try:
        forced = training.configure_device(mixed_precision=True, xla=True)
        assert forced.mixed_precision and forced.xla
        assert keras.config.dtype_policy().name == "mixed_float16"
    finally:
        training.configure_device(mixed_precision=False)
    assert config.describe() == {"n_gpus": 0, "mixed_precision": False, "xla": False,
                                 "strategy": "default"}
    with pytest.raises(ValueError, match=r"`xla`='yes'; choose 'auto', True or False"):
        training.configure_device(xla="yes")


def test_set_global_seed_repeats_random_draws():
    training.set_global_seed(5, deterministic_ops=False)
    first = (np.random.rand(), float(keras.random.uniform(())))
    training.set_global_seed(5, deterministic_ops=False)
    assert first == (np.random.rand(), float(keras.random.uniform(())))
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative int; got -2"):
        training.set_global_seed(-2)


def test_save_and_load_training_outputs(trained, tmp_path):
    model, history = trained
    params = {"arch": "small_cnn", "image_size": np.int64(32), "scale": (0.8, 1.2),
              "out": tmp_path}
    paths = training.save_training_outputs(tmp_path / "run", model, history, ["disk", "cross"],
                                           params)
    assert sorted(paths) == sorted(training.OUTPUT_FILES)
    assert all(p.exists() for p in paths.values())
    assert pd.read_csv(paths["history.csv"])["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert "image_size: 32" in paths["params.yaml"].read_text()
    assert {p.name for p in paths["logs"].iterdir()} == {"train", "validation"}
    assert any(f.name.startswith("events.out.tfevents") for f in (paths["logs"] /
                                                                  "train").iterdir())
    loaded, names = training.load_training_outputs(tmp_path / "run")
    assert names == ["disk", "cross"]
    x = np.zeros((1, 32, 32, 1), np.uint8)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    assert not list((tmp_path / "run").glob(".*tmp*"))  # no leftovers of the atomic writes
    timer = training.EpochTimer()
    timer.on_epoch_begin(0)
    timer.on_epoch_end(0)
    again = training.save_training_outputs(tmp_path / "timed", model, history, ["disk", "cross"],
                                           params, timing=timer.summary())
    timing = json.loads(again["timing.json"].read_text())
    assert timing["epochs"] == 1 and timing["seconds"] >= 0
    assert "seconds" not in pd.read_csv(again["history.csv"]).columns  # history stays timeless


def test_training_output_errors(tmp_path):
    model = _model()
    history = {"epoch": [1], "phase": [1], "loss": [1.0], "val_loss": [1.0]}
    with pytest.raises(ValueError, match=r"3 `class_names` for a model with 2 outputs"):
        training.save_training_outputs(tmp_path, model, history, ["a", "b", "c"], {})
    with pytest.raises(ValueError, match=r"`history` must map names to equally long"):
        training.save_training_outputs(tmp_path, model, {"epoch": [1], "loss": []}, ["a", "b"],
                                       {})
    with pytest.raises(FileNotFoundError, match=r"model.keras' does not exist; run the "
                                                r"training notebook"):
        training.load_training_outputs(tmp_path / "nothing")
    model.save(tmp_path / "model.keras")
    (tmp_path / "class_names.json").write_text('["a", "b", "c"]')
    with pytest.raises(ValueError, match=r"class_names.json lists 3 classes, the model has 2"):
        training.load_training_outputs(tmp_path)
