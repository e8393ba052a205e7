"""fossilct.data: split checks, pipeline shapes/labels/determinism, caching."""

import numpy as np
import pandas as pd
import pytest

from fossilct import data
from fossilct.manifest import class_names_of, read_manifest
from fossilct.augment import Augmentation
from slice_fixtures import write_manifest


@pytest.fixture(scope="module")
def manifest_csv(tmp_path_factory):
    return write_manifest(tmp_path_factory.mktemp("slices"), classes=("disk", "square", "cross"))


@pytest.fixture
def manifest(manifest_csv):
    return read_manifest(manifest_csv, absolute_paths=True)


def test_dataset_shapes_dtypes_and_label_order(manifest):
    names = ["cross", "disk", "square"]
    ds = data.make_dataset(manifest, split="val", class_names=names, image_size=24, batch_size=5)
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    assert images[0].shape == (5, 24, 24, 1) and images[0].dtype == np.float32
    assert labels[0].shape == (5, 3) and labels[0].dtype == np.float32
    labels = np.concatenate(labels)
    val = manifest[manifest["split"] == "val"]
    np.testing.assert_array_equal(labels.argmax(axis=1),
                                  [names.index(s) for s in val["species"]])
    assert np.concatenate(images).max() > 100  # silhouettes survived decode and resize


def test_images_are_resized_with_black_padding(tmp_path):
    import cv2

    csv = write_manifest(tmp_path, size=32)
    manifest = read_manifest(csv, absolute_paths=True)
    first = manifest.index[manifest["split"] == "test"][0]
    cv2.imwrite(manifest.loc[first, "path"], np.full((20, 40), 255, np.uint8))  # wide slice
    images, _ = data.load_split_arrays(manifest, split="test", class_names=["disk", "square"],
                                       image_size=32)
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 1)
    column = images[0, :, 16, 0]
    assert column[0] == 0 and column[-1] == 0 and column[16] == 255  # padded top and bottom


def test_training_dataset_is_deterministic_for_a_seed(manifest):
    names = class_names_of(manifest)

    def first_epoch(seed):
        ds = data.make_dataset(manifest, split="train", class_names=names, image_size=24,
                               batch_size=8, rng=seed, augmentation=Augmentation(rng=seed))
        return [(x.numpy(), y.numpy()) for x, y in ds]

    a, b, c = first_epoch(0), first_epoch(0), first_epoch(1)
    assert len(a) == 9  # 72 training slices, drop_remainder
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))


def test_training_reshuffles_every_epoch_evaluation_keeps_order(manifest):
    names = class_names_of(manifest)
    train = data.make_dataset(manifest, split="train", class_names=names, image_size=24,
                              batch_size=72)
    first, second = (next(iter(train))[1].numpy() for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first.sum(axis=0), second.sum(axis=0))  # same slices
    test = data.make_dataset(manifest, split="test", class_names=names, image_size=24)
    assert [len(y) for _, y in test] == [32, 4]  # no drop_remainder outside training


def test_disk_cache_is_written_under_cache_dir(manifest, tmp_path):
    names = class_names_of(manifest)
    ds = data.make_dataset(manifest, split="val", class_names=names, image_size=24,
                           cache="disk", cache_dir=tmp_path / "cache")
    first = [x.numpy() for x, _ in ds]
    assert any(p.name.startswith("val_24px_") for p in (tmp_path / "cache").iterdir())
    (tmp_path / "cache" / "stale.lockfile").touch()  # untouched: not this cache's lock
    again = data.make_dataset(manifest, split="val", class_names=names, image_size=24,
                              cache="disk", cache_dir=tmp_path / "cache")
    for a, b in zip(first, (x.numpy() for x, _ in again)):
        np.testing.assert_array_equal(a, b)


def test_choose_cache():
    assert data.choose_cache(1000, 96) == "memory"
    assert data.choose_cache(10**6, 224, cache_dir="/tmp") == "disk"
    assert data.choose_cache(10**6, 224) is None
    assert data.choose_cache(10, 8, cache=None) is None
    assert data.choose_cache(10, 8, memory_cache_bytes=100, cache_dir="/c") == "disk"
    with pytest.raises(ValueError, match=r"`cache`='ram'; choose 'auto', 'memory', 'disk'"):
        data.choose_cache(10, 8, cache="ram")
    with pytest.raises(ValueError, match=r"`cache`='disk' needs a `cache_dir`"):
        data.choose_cache(10, 8, cache="disk")


def test_class_weights_balance_the_classes():
    frame = pd.DataFrame({"species": ["a"] * 6 + ["b"] * 2 + ["c"] * 2,
                          "split": ["train"] * 8 + ["val"] * 2})
    weights = data.class_weights(frame, class_names=["a", "b", "c"], mode=None)
    assert weights is None
    with pytest.raises(ValueError, match=r"class\(es\) \['c'\] have no 'train' slices"):
        data.class_weights(frame, class_names=["a", "b", "c"])
    weights = data.class_weights(frame, class_names=["a", "b"])
    assert weights == {0: 8 / 12, 1: 8 / 4}
    with pytest.raises(ValueError, match=r"`mode`='inverse'; choose 'balanced' or None"):
        data.class_weights(frame, class_names=["a", "b"], mode="inverse")


def test_empty_split(manifest):
    frame = manifest[manifest["split"] != "val"]
    with pytest.raises(ValueError, match=r"split 'val' is empty.*splits present: "
                                         r"\['test', 'train'\]"):
        data.make_dataset(frame, split="val", class_names=["cross", "disk", "square"],
                          image_size=24)


def test_unknown_split_name(manifest):
    with pytest.raises(ValueError, match=r"`split`='validation'; choose one of train, val, test"):
        data.select_split(manifest, "validation", class_names=["cross", "disk", "square"])


def test_class_missing_from_validation(manifest):
    frame = manifest[~((manifest["split"] == "val") & (manifest["species"] == "disk"))]
    with pytest.raises(ValueError, match=r"class\(es\) \['disk'\] missing from split 'val'"):
        data.make_dataset(frame, split="val", class_names=["cross", "disk", "square"],
                          image_size=24)
    test = frame[frame["split"] != "val"]  # absent from test is allowed
    kept = test[~((test["split"] == "test") & (test["species"] == "disk"))]
    assert len(data.select_split(kept, "test", class_names=["cross", "disk", "square"])) == 24


def test_species_outside_class_names(manifest):
    with pytest.raises(ValueError, match=r"holds species \['square'\] that are not in "
                                         r"`class_names`"):
        data.select_split(manifest, "test", class_names=["cross", "disk"])


def test_missing_png_files(manifest):
    frame = manifest.copy()
    frame.loc[frame.index[:2], "path"] = "/nonexistent/a.png"
    with pytest.raises(FileNotFoundError, match=r"2 of 72 PNG files of split 'train' are "
                                                r"missing, e.g. \['/nonexistent/a.png'"):
        data.make_dataset(frame, split="train", class_names=["cross", "disk", "square"],
                          image_size=24)


def test_missing_manifest_columns(manifest):
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['specimen_id'\]"):
        data.select_split(manifest.drop(columns="specimen_id"), "train",
                          class_names=["cross", "disk", "square"])


def test_bad_sizes(manifest):
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive int; got 0"):
        data.make_dataset(manifest, split="val", class_names=["cross", "disk", "square"],
                          image_size=24, batch_size=0)


def test_too_few_species():
    with pytest.raises(ValueError, match=r"holds 1 species \(\['a'\]\); classification needs"):
        class_names_of(pd.DataFrame({"species": ["a", "a"]}))
