"""fossilct.augment: black fill, label mixing, determinism for a seed, parameter checks."""

import numpy as np
import pytest

from fossilct.augment import Augmentation, seed_from_rng

GEOMETRY_ONLY = dict(brightness=0.0, contrast=0.0, mixup_prob=0.0, cutmix_prob=0.0)


def _batch(n=8, size=32):
    images = np.zeros((n, size, size, 1), np.float32)
    images[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255.0  # fossil in the middle
    labels = np.eye(4, dtype=np.float32)[np.arange(n) % 4]
    return images, labels


def test_rotation_and_zoom_fill_corners_with_black():
    images = np.full((16, 32, 32, 1), 200.0, np.float32)  # bright everywhere: reflect would show
    aug = Augmentation(rotation_deg=45, scale_range=(0.8, 0.8), flip="none", rng=0,
                       **GEOMETRY_ONLY)
    out = np.asarray(aug(images, np.eye(16, dtype=np.float32))[0])
    corners = out[:, [0, 0, -1, -1], [0, -1, 0, -1], 0]
    np.testing.assert_array_equal(corners, 0.0)
    assert out[:, 16, 16, 0].min() == pytest.approx(200.0)


def test_output_shape_dtype_and_range_are_kept():
    images, labels = _batch()
    out, mixed = Augmentation(rng=1, mixup_prob=0.5, cutmix_prob=0.5)(images, labels)
    assert out.shape == images.shape and out.dtype == "float32"
    assert mixed.shape == labels.shape and mixed.dtype == "float32"
    out = np.asarray(out)
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_mixing_changes_labels_and_keeps_them_distributions():
    images, labels = _batch(32)
    _, mixed = Augmentation(rng=2, mixup_prob=0.5, cutmix_prob=0.5, **{
        k: v for k, v in GEOMETRY_ONLY.items() if "prob" not in k})(images, labels)
    mixed = np.asarray(mixed)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    assert (mixed.max(axis=1) < 1.0).any()  # some samples really mixed


def test_without_mixing_labels_are_untouched():
    images, labels = _batch()
    _, out = Augmentation(rng=3, mixup_prob=0.0, cutmix_prob=0.0)(images, labels)
    np.testing.assert_array_equal(np.asarray(out), labels)


def test_same_seed_same_batches_new_draws_per_call():
    images, labels = _batch()
    a, b = Augmentation(rng=5), Augmentation(rng=5)
    first_a, first_b = a(images, labels), b(images, labels)
    np.testing.assert_array_equal(np.asarray(first_a[0]), np.asarray(first_b[0]))
    np.testing.assert_array_equal(np.asarray(first_a[1]), np.asarray(first_b[1]))
    assert not np.array_equal(np.asarray(a(images, labels)[0]), np.asarray(first_a[0]))
    assert not np.array_equal(np.asarray(Augmentation(rng=6)(images, labels)[0]),
                              np.asarray(first_a[0]))


def test_zoom_scales_the_fossil_as_documented():
    image = np.zeros((1, 40, 40, 1), np.float32)
    image[0, 15:25, 15:25] = 255.0  # 10 px square
    widths = {}
    for scale in (0.8, 1.2):
        aug = Augmentation(rotation_deg=0, scale_range=(scale, scale), flip="none", rng=0,
                           **GEOMETRY_ONLY)
        out = np.asarray(aug(image, np.ones((1, 2), np.float32) / 2)[0])[0, :, :, 0]
        widths[scale] = (out > 127).sum(axis=1).max()
    assert widths[0.8] == 8 and widths[1.2] == 12


def test_config_records_the_parameters():
    aug = Augmentation(rotation_deg=30, rng=np.random.default_rng(0))
    assert aug.config["rotation_deg"] == 30.0 and aug.config["scale_range"] == [0.8, 1.2]
    assert isinstance(aug.config["seed"], int) and "rotation_deg=30.0" in repr(aug)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rotation_deg=-1), r"`rotation_deg`=-1 must lie in \[0, 180\]"),
    (dict(scale_range=(1.2, 0.8)), r"`scale_range`=\(1.2, 0.8\) must be \(low, high\)"),
    (dict(flip="diagonal"), r"`flip`='diagonal'; choose one of"),
    (dict(brightness=1.5), r"`brightness`=1.5 must lie in \[0, 1\)"),
    (dict(contrast=-0.1), r"`contrast`=-0.1 must lie in \[0, 1\)"),
    (dict(mixup_prob=1.2), r"`mixup_prob`=1.2 must be a probability"),
    (dict(mixup_prob=0.6, cutmix_prob=0.6), r"`mixup_prob` \+ `cutmix_prob` = 1.2 > 1"),
    (dict(mixup_alpha=0.0), r"`mixup_alpha`=0.0 and `cutmix_alpha`=1.0 must be > 0"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Augmentation(**kwargs)


def test_seed_from_rng():
    assert seed_from_rng(11) == 11
    with pytest.raises(ValueError, match=r"`rng`=-1: a seed must be >= 0"):
        seed_from_rng(-1)
    with pytest.raises(TypeError, match=r"`rng` must be an int seed or a numpy.random.Generator"):
        seed_from_rng("0")
