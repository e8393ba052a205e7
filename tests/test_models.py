"""fossilct.models: the registry builds every architecture, models take raw 8-bit slices, saved
models reload without fossilct, weights are never silently random."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fossilct import models

# building dominates (random init of 20M-200M weights): the large ones take 5-25 s each here
SMALL = ["small_cnn", "mobilenet_v3_small", "mobilenet", "mobilenet_v3_large", "effv2b0",
         "convnext_tiny"]
BIG = ["effv2s", "convnext_base", "resnet101v2", "nasnet_large", "effv2l", "convnext_large"]


def _build_and_check(arch):
    model = models.build_model(arch, n_classes=3, input_size=32)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 1)).astype(np.float32)
    out = keras.ops.convert_to_numpy(model(x, training=False))
    assert out.shape == (2, 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert models.model_input_size(model) == 32
    assert models.get_backbone(model).trainable_weights


def test_registry_holds_the_studys_seven_and_the_quick_ones():
    study = {"convnext_base", "convnext_large", "effv2s", "effv2l", "nasnet_large", "mobilenet",
             "resnet101v2"}
    assert study | {"mobilenet_v3_large", "mobilenet_v3_small", "effv2b0", "convnext_tiny",
                    "small_cnn"} == set(models.ARCHITECTURES)
    assert set(SMALL + BIG) == set(models.ARCHITECTURES)
    sizes = {a: models.resolve_input_size(a) for a in study}
    assert sizes["convnext_large"] == sizes["effv2l"] == 384
    assert sizes["nasnet_large"] == 331
    assert sizes["convnext_base"] == sizes["effv2s"] == sizes["resnet101v2"] == 224
    assert models.ARCHITECTURES["mobilenet"].constructor == "MobileNetV3Large"


@pytest.mark.parametrize("arch", SMALL)
def test_every_small_architecture_builds_at_32_px(arch):
    _build_and_check(arch)


@pytest.mark.slow
@pytest.mark.parametrize("arch", BIG)
def test_every_big_architecture_builds_at_32_px(arch):
    _build_and_check(arch)


def test_model_takes_raw_uint8_slices_of_any_size():
    model = models.build_model("small_cnn", n_classes=2, input_size=32)
    rng = np.random.default_rng(1)
    wide = rng.integers(0, 256, (1, 40, 64, 1), dtype=np.uint8)
    assert model.predict(wide, verbose=0).shape == (1, 2)
    assert model.input_shape == (None, None, None, 1)
    assert model.output.dtype == "float32"


def test_raw_slice_is_resized_like_the_training_pipeline():
    import tensorflow as tf

    model = models.build_model("small_cnn", n_classes=2, input_size=32)
    resize = keras.Model(model.input, model.get_layer("resize_to_input").output)
    image = np.random.default_rng(2).integers(0, 256, (1, 96, 96, 1), dtype=np.uint8)
    ours = keras.ops.convert_to_numpy(resize(image.astype(np.float32)))
    pipeline = tf.image.resize_with_pad(image[0], 32, 32, antialias=True).numpy()
    np.testing.assert_allclose(ours[0], pipeline, atol=1e-3)


def test_head_is_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = models.build_model("small_cnn", n_classes=2, input_size=32)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("classifier").dtype_policy.compute_dtype == "float32"
    assert models.get_backbone(model).layers[1].dtype_policy.compute_dtype == "float16"
    assert model.predict(np.zeros((1, 32, 32, 1)), verbose=0).dtype == np.float32


def test_batchnorm_frozen_for_pretrained_and_trainable_from_scratch(tmp_path):
    scratch = models.build_model("small_cnn", n_classes=2, input_size=32)
    bns = [l for l in models.get_backbone(scratch).layers
           if isinstance(l, keras.layers.BatchNormalization)]
    assert all(l.trainable for l in bns)
    assert all(l.momentum == models.SCRATCH_BN_MOMENTUM for l in bns)
    path = tmp_path / "backbone.weights.h5"
    models.get_backbone(scratch).save_weights(path)
    pretrained = models.build_model("small_cnn", n_classes=2, input_size=32, weights=path)
    bns = [l for l in models.get_backbone(pretrained).layers
           if isinstance(l, keras.layers.BatchNormalization)]
    assert not any(l.trainable for l in bns)
    for a, b in zip(models.get_backbone(scratch).get_weights(),
                    models.get_backbone(pretrained).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saved_model_reloads_in_a_fresh_process_without_fossilct(tmp_path):
    model = models.build_model("small_cnn", n_classes=3, input_size=32)
    image = np.random.default_rng(3).integers(0, 256, (2, 48, 48, 1), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    model.save(tmp_path / "model.keras")
    expected = model.predict(image, verbose=0)
    script = textwrap.dedent(f"""
        import sys, numpy as np, keras
        model = keras.models.load_model({str(tmp_path / 'model.keras')!r})
        out = model.predict(np.load({str(tmp_path / 'image.npy')!r}), verbose=0)
        np.save({str(tmp_path / 'out.npy')!r}, out)
        assert not any(name.startswith("fossilct") for name in sys.modules), "fossilct imported"
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)


def test_training_view_refuses_a_foreign_model():
    inputs = keras.Input((8, 8, 1))
    foreign = keras.Model(inputs, keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match="resize_to_input"):
        models.training_view(foreign)


def test_unknown_architecture_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown architecture 'resnet50'.*valid names: "
                                         r"convnext_base, convnext_large"):
        models.build_model("resnet50", n_classes=2)


def test_input_size_the_backbone_refuses():
    with pytest.raises(ValueError, match=r"`input_size`=16 is refused by 'effv2s'.*at least 32"):
        models.build_model("effv2s", n_classes=2, input_size=16)
    with pytest.raises(TypeError, match=r"`input_size` must be an int"):
        models.resolve_input_size("effv2s", 96.0)


def test_bad_head_arguments():
    with pytest.raises(ValueError, match=r"`n_classes`=1: a classifier needs at least 2"):
        models.build_model("small_cnn", n_classes=1, input_size=32)
    with pytest.raises(TypeError, match=r"`n_classes` must be an int"):
        models.build_model("small_cnn", n_classes=2.0, input_size=32)
    with pytest.raises(ValueError, match=r"`dropout`=1.0 must lie in \[0, 1\)"):
        models.build_model("small_cnn", n_classes=2, input_size=32, dropout=1.0)


def test_weights_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`weights` file .*nope.h5' does not exist"):
        models.build_model("small_cnn", n_classes=2, input_size=32, weights=tmp_path / "nope.h5")
    with pytest.raises(TypeError, match=r"`weights` must be 'imagenet', None or a path"):
        models.build_model("small_cnn", n_classes=2, input_size=32, weights=3)


def test_small_cnn_has_no_imagenet_weights():
    with pytest.raises(ValueError, match=r"'small_cnn' has no ImageNet weights"):
        models.build_model("small_cnn", n_classes=2, weights="imagenet")


def test_missing_imagenet_weights_fail_fast_and_say_how_to_fix(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    def offline(fname, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service "
                        "not known")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(file_utils, "get_file", offline)
    expected = tmp_path / "models" / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    assert models.imagenet_weights_path("mobilenet_v3_small") == expected
    with pytest.raises(models.WeightsUnavailableError) as info:
        models.build_model("mobilenet_v3_small", n_classes=2, input_size=32, weights="imagenet")
    message = str(info.value)
    assert "'weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5' is not in the Keras cache" \
        in message
    assert str(expected) in message and "weights=<path" in message
    assert isinstance(info.value, FileNotFoundError)


def test_architecture_yaml_files_match_the_registry():
    import yaml
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "parameters" / "architectures"
    files = {path.stem: yaml.safe_load(path.read_text()) for path in folder.glob("*.yaml")}
    assert set(files) == set(models.ARCHITECTURES)
    for arch, content in files.items():
        assert list(content) == ["04_train"], arch
        block = content["04_train"]
        assert set(block) == {"image_size", "batch_size", "unfreeze"}, arch
        assert models.resolve_input_size(arch, block["image_size"]) == block["image_size"]
        assert block["unfreeze"] == "all" and block["batch_size"] in (16, 32)
    study = ("convnext_base", "convnext_large", "effv2s", "effv2l", "nasnet_large", "mobilenet",
             "resnet101v2")
    for arch in study:  # the study's sizes are the registry's native ones
        assert files[arch]["04_train"]["image_size"] == models.resolve_input_size(arch)
