"""fossilct.ensemble.keras_model: the ensemble as one Keras model equals the table-level
combination of its members' own predictions, and loads without fossilct."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fossilct import models
from fossilct.ensemble import (EnsembleSpec, apply_ensemble, apply_temperature,
                               build_ensemble_model, load_member_models, save_ensemble_model)

CLASSES = ("a", "b", "c")
NAMES = ("cnn_a", "cnn_b", "cnn_c")


@pytest.fixture(scope="module")
def slices():
    """Raw 8-bit slices of a size the members do not use, brightness rising along the batch."""
    rng = np.random.default_rng(0)
    levels = np.linspace(0, 255, 16)[:, None, None, None]
    noisy = levels * rng.uniform(0.2, 1.0, (16, 40, 36, 1)) + rng.normal(0, 20, (16, 40, 36, 1))
    return np.clip(noisy, 0, 255).astype("float32")


@pytest.fixture(scope="module")
def members(slices):
    """Untrained small CNNs whose classifier is rescaled so that predictions spread over the
    batch (an untrained head gives nearly the same answer for every slice)."""
    built = {}
    for seed, name in enumerate(NAMES):
        keras.utils.set_random_seed(seed)
        model = models.build_model("small_cnn", n_classes=3, input_size=32)
        head = model.get_layer("classifier")
        features = keras.Model(model.inputs, head.input).predict(slices, verbose=0)
        kernel = np.random.default_rng(seed).normal(size=head.get_weights()[0].shape)
        logits = (features - features.mean(axis=0)) @ kernel
        scale = 1.5 / logits.std()
        head.set_weights([(kernel * scale).astype("float32"),
                          (-(features.mean(axis=0) @ kernel) * scale).astype("float32")])
        built[name] = model
    return built


@pytest.fixture(scope="module")
def member_probs(members, slices):
    return {name: m.predict(slices, verbose=0).astype(np.float64) for name, m in members.items()}


def _switching_spec(member_probs):
    general = apply_temperature(member_probs["cnn_a"], 1.3)
    predicted = general.argmax(axis=1)
    species = (CLASSES[int(np.bincount(predicted, minlength=3).argmax())],)
    unsure = np.sort(general.max(axis=1)[predicted == CLASSES.index(species[0])])
    threshold = float(np.round((unsure[len(unsure) // 2 - 1] + unsure[len(unsure) // 2]) / 2, 4))
    return EnsembleSpec(name="sw", kind="switching", class_names=CLASSES,
                        members=("cnn_a", "cnn_b"), temperatures=(1.3, 0.8),
                        switch_species=species, switch_threshold=threshold,
                        ensemble_temperature=0.8)


def _specs(member_probs):
    return {
        "sv": EnsembleSpec(name="sv", kind="soft_voting", class_names=CLASSES, members=NAMES,
                           temperatures=(1.7, 0.6, 1.0), weights=(0.3, 0.7, 0.0),
                           ensemble_temperature=1.4),
        "top": EnsembleSpec(name="top", kind="top_k", class_names=CLASSES, members=NAMES,
                            temperatures=(1.2, 1.0, 0.7), weights=(1 / 3,) * 3, k=3),
        "sw": _switching_spec(member_probs),
        "one": EnsembleSpec(name="one", kind="member", class_names=CLASSES, members=("cnn_c",),
                            temperatures=(2.0,), weights=(1.0,)),
    }


def test_predictions_spread(member_probs):
    for probs in member_probs.values():
        assert len(set(probs.argmax(axis=1))) >= 2
        assert probs.max(axis=1).std() > 0.05


@pytest.mark.parametrize("name", ["sv", "top", "sw", "one"])
def test_model_equals_the_table_combination(members, member_probs, slices, name):
    spec = _specs(member_probs)[name]
    needed = {m: members[m] for m in spec.used_members}  # a weight-0 member is not needed
    ensemble = build_ensemble_model(needed, spec)
    out = ensemble.predict(slices, verbose=0)
    assert ensemble.output_shape == (None, 3) and ensemble.input_shape == (None, None, None, 1)
    np.testing.assert_allclose(out, apply_ensemble(spec, member_probs), atol=1e-5)
    if name == "sw":  # the rule really acts on this batch, in both directions
        general = apply_temperature(member_probs["cnn_a"], 1.3)
        switched = (np.isin(np.asarray(CLASSES)[general.argmax(axis=1)], spec.switch_species)
                    & (general.max(axis=1) < spec.switch_threshold))
        assert 0 < switched.sum() < len(switched)
        assert not np.allclose(out, apply_temperature(general, 0.8), atol=1e-3)


def test_saved_model_loads_without_fossilct(members, member_probs, slices, tmp_path):
    specs = _specs(member_probs)
    expected = {}
    for name in ("sv", "sw"):
        model = build_ensemble_model(members, specs[name])
        model.save(tmp_path / f"{name}.keras")
        expected[name] = apply_ensemble(specs[name], member_probs)
    np.save(tmp_path / "slices.npy", slices)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import keras
        slices = np.load({str(tmp_path / 'slices.npy')!r})
        for name in ("sv", "sw"):
            model = keras.models.load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            np.save({str(tmp_path)!r} + f"/{{name}}_loaded.npy", model.predict(slices, verbose=0))
        assert not any(m.startswith("fossilct") for m in sys.modules), "fossilct was imported"
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    for name in ("sv", "sw"):
        np.testing.assert_allclose(np.load(tmp_path / f"{name}_loaded.npy"), expected[name],
                                   atol=1e-5)


def test_errors(members, member_probs):
    spec = _specs(member_probs)["sv"]
    with pytest.raises(ValueError, match=r"ensemble 'sv' needs the models of \['cnn_b'\]"):
        build_ensemble_model({"cnn_a": members["cnn_a"]}, spec)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"member 'cnn_a' .* has no 'classifier' layer"):
        build_ensemble_model({"cnn_a": plain, "cnn_b": members["cnn_b"]}, spec)
    four = models.build_model("small_cnn", n_classes=4, input_size=32)
    with pytest.raises(ValueError, match=r"member 'cnn_b': layer 'classifier' must be a softmax "
                                         r"Dense with 3 units .* got Dense with 4 units"):
        build_ensemble_model({"cnn_a": members["cnn_a"], "cnn_b": four}, spec)


def test_fitted_ensemble_model_reproduces_its_predictions_table(members, member_probs, slices,
                                                                tmp_path):
    """The notebook's path: fit on a validation table, evaluate the test table, build the
    chosen ensemble as a Keras model from the members, save it as a model folder that the
    training step's reader loads like any other."""
    from fossilct import atomic
    from fossilct.ensemble import evaluate_ensembles, fit_ensembles
    from fossilct.training import load_training_outputs
    from fossilct.predictions import AlignedPredictions

    labels = np.stack(list(member_probs.values())).sum(axis=0).argmax(axis=1)
    labels[::3] = (labels[::3] + 1) % 3   # some errors, so that nothing is trivial
    halves = {"val": slice(0, 8), "test": slice(8, 16)}
    splits = {split: AlignedPredictions(
        split=split, models=NAMES, class_names=CLASSES,
        slice_ids=np.array([f"{split}{i}" for i in range(8)]),
        specimen_ids=np.array([f"{split}{i // 2}" for i in range(8)]),
        y_true=np.array([labels[r.start + 2 * (i // 2)] for i in range(8)]),
        probs=np.stack([member_probs[m][r] for m in NAMES]), sources=NAMES)
        for split, r in halves.items()}
    selection = fit_ensembles(splits["val"], target_accuracy=0.5)
    results = evaluate_ensembles(selection, splits, n_bootstrap=5)
    spec = selection.chosen_spec
    model = build_ensemble_model(members, spec)
    table = results[selection.chosen].predictions
    expected = table[table["split"] == "test"][[f"prob_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(model.predict(slices[8:], verbose=0), expected, atol=1e-5)
    dirs = {}
    for name in spec.used_members:
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        members[name].save(dirs[name] / "model.keras")
        atomic.write_json(dirs[name] / "class_names.json", list(CLASSES))
        atomic.write_yaml(dirs[name] / "params.yaml", {"slice_size": 48})
    paths = save_ensemble_model(tmp_path / "ensemble", dirs, spec)
    assert sorted(paths) == ["class_names.json", "model.keras", "params.yaml"]
    assert "slice_size: 48" in paths["params.yaml"].read_text()
    loaded, class_names = load_training_outputs(tmp_path / "ensemble")
    assert class_names == list(CLASSES)
    np.testing.assert_allclose(loaded.predict(slices[8:], verbose=0), expected, atol=1e-5)



def test_member_models_load_from_their_training_folders(members, member_probs, slices,
                                                        tmp_path):
    from fossilct import atomic

    spec = _specs(member_probs)["sv"]  # uses cnn_a and cnn_b; cnn_c has weight 0
    dirs = {}
    for name in ("cnn_a", "cnn_b"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        members[name].save(dirs[name] / "model.keras")
        atomic.write_json(dirs[name] / "class_names.json", list(CLASSES))
    atomic.write_yaml(dirs["cnn_a"] / "params.yaml", {"slice_size": 48})
    atomic.write_yaml(dirs["cnn_b"] / "params.yaml", {"slice_size": 64})
    with pytest.raises(ValueError, match=r"trained on slices of different sizes \[48, 64\]"):
        save_ensemble_model(tmp_path / "ensemble", dirs, spec)
    loaded = load_member_models({**dirs, "cnn_c": tmp_path / "absent"}, spec)
    assert set(loaded) == {"cnn_a", "cnn_b"}
    np.testing.assert_allclose(build_ensemble_model(loaded, spec).predict(slices, verbose=0),
                               apply_ensemble(spec, member_probs), atol=1e-5)
    with pytest.raises(ValueError, match=r"needs the models of \['cnn_b'\]; add their folders"):
        load_member_models({"cnn_a": dirs["cnn_a"]}, spec)
    atomic.write_json(dirs["cnn_b"] / "class_names.json", ["x", "y", "z"])
    with pytest.raises(ValueError, match=r"cnn_b'.*has classes \['x', 'y', 'z'\], the ensemble "
                                         r"was fitted for \['a', 'b', 'c'\]"):
        load_member_models(dirs, spec)
