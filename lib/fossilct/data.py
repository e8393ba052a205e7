"""tf.data input pipeline from the slice table.

The slice table (:func:`fossilct.split.read_split_slices`: the manifest of the slice step with the
split step's assignments) has one row per slice; this module needs its columns ``path`` (absolute
PNG path), ``slice_id``, ``specimen_id``, ``species`` and ``split``. A dataset for one split
streams::

    file list (seeded permutation) -> read + decode PNG (1 channel, uint8) -> resize with black
    padding to the model's input size -> cache (memory or disk) -> bounded shuffle -> batch ->
    float32 -> augmentation (training only) -> prefetch

Images stay gray with one channel: the model converts to three (see ``fossilct.models``). Labels
are one-hot float32 over a fixed ``class_names`` list (sorted species). Memory is bounded: images
are decoded on the fly, the shuffle buffer holds at most ``shuffle_buffer`` images, and the memory
cache is used only when its estimated size fits ``memory_cache_bytes``; above that, the cache is a
file under ``cache_dir`` (or there is none).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from fossilct.augment import seed_from_rng
from fossilct.manifest import SPLITS

__all__ = [
    "SLICE_COLUMNS",
    "select_split",
    "class_weights",
    "choose_cache",
    "make_dataset",
    "load_split_arrays",
]

SLICE_COLUMNS = ("path", "slice_id", "specimen_id", "species", "split")
"""Columns of the slice table (``fossilct.manifest.MANIFEST_COLUMNS``) this module reads."""

DEFAULT_BATCH_SIZE = 32
"""Report: 32."""
DEFAULT_SHUFFLE_BUFFER = 2048
"""Images held by the shuffle buffer (on top of a full permutation of the file list)."""
DEFAULT_MEMORY_CACHE_BYTES = 1 << 30
"""Largest estimated cache (n_images x image_size**2 bytes) kept in memory: 1 GiB."""


def _check_columns(manifest: pd.DataFrame, where: str) -> None:
    missing = [c for c in SLICE_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"slice table {where} lacks the column(s) {missing}; it needs "
                         f"{list(SLICE_COLUMNS)} (read it with fossilct.split.read_split_slices).")


def select_split(manifest: pd.DataFrame, split: str, *, class_names: Sequence[str],
                 require_all_classes: bool | None = None) -> pd.DataFrame:
    """The rows of one split, checked for emptiness, unknown and missing classes, missing files.

    Parameters
    ----------
    manifest : DataFrame
        With the columns ``SLICE_COLUMNS``; ``path`` absolute.
    split : {"train", "val", "test"}
    class_names : sequence of str
        The label order.
    require_all_classes : bool, optional
        Every class must have a slice in this split; None = True for train and val (a species
        absent from validation cannot be early-stopped on), False for test.

    Returns
    -------
    DataFrame
        The split's rows in manifest order.

    Raises
    ------
    ValueError
        Unknown split, empty split, species outside `class_names`, a required class missing.
    FileNotFoundError
        If PNG files of the split are missing.
    """
    _check_columns(manifest, "(DataFrame)")
    if split not in SPLITS:
        raise ValueError(f"`split`={split!r}; choose one of {', '.join(SPLITS)}.")
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        present = sorted(pd.unique(manifest["split"]).astype(str))
        raise ValueError(f"split {split!r} is empty: the manifest has no slices with "
                         f"split == {split!r} (splits present: {present}). Re-run the split "
                         "notebook (03) so that every split gets specimens.")
    species = set(rows["species"].astype(str))
    unknown = sorted(species - set(class_names))
    if unknown:
        raise ValueError(f"split {split!r} holds species {unknown} that are not in "
                         f"`class_names` ({list(class_names)}); derive class_names from the "
                         "whole manifest with fossilct.manifest.class_names_of().")
    if require_all_classes is None:
        require_all_classes = split != "test"
    absent = [c for c in class_names if c not in species]
    if require_all_classes and absent:
        raise ValueError(f"class(es) {absent} missing from split {split!r}: every species needs "
                         f"{split} specimens (training and early stopping see all classes). "
                         "Re-run the split with more specimens per species, or drop those "
                         "species with min_specimens.")
    exists = np.array([os.path.isfile(p) for p in rows["path"]])
    if not exists.all():
        missing = rows["path"][~exists].tolist()
        raise FileNotFoundError(f"{len(missing)} of {len(rows)} PNG files of split {split!r} are "
                                f"missing, e.g. {missing[:3]}; re-run the slice notebook (02) or "
                                "point `manifest_csv` at the manifest beside the slices.")
    return rows


def class_weights(manifest: pd.DataFrame, *, class_names: Sequence[str],
                  mode: str | None = "balanced", split: str = "train") -> dict[int, float] | None:
    """Per-class loss weights from a split's class counts.

    Parameters
    ----------
    manifest : DataFrame
    class_names : sequence of str
    mode : {"balanced", None}
        ``"balanced"``: n / (K * n_k), so every class weighs the same in total (scikit-learn's
        definition); None: no weighting (returns None).
    split : str
        Split counted (train).

    Returns
    -------
    dict of int to float, or None

    Raises
    ------
    ValueError
        Unknown `mode`, or a class without slices in the split.

    Examples
    --------
    >>> frame = pd.DataFrame({"species": ["a", "a", "a", "b"], "split": ["train"] * 4})
    >>> class_weights(frame, class_names=["a", "b"])
    {0: 0.6666666666666666, 1: 2.0}
    """
    if mode is None:
        return None
    if mode != "balanced":
        raise ValueError(f"`mode`={mode!r}; choose 'balanced' or None.")
    species = manifest.loc[manifest["split"] == split, "species"].astype(str)
    counts = species.value_counts()
    absent = [c for c in class_names if counts.get(c, 0) == 0]
    if absent:
        raise ValueError(f"class(es) {absent} have no {split!r} slices: no class weight can be "
                         "computed. Fix the split first.")
    n, k = len(species), len(class_names)
    return {i: n / (k * int(counts[c])) for i, c in enumerate(class_names)}


def choose_cache(n_images: int, image_size: int, *, cache: str | None = "auto",
                 cache_dir: str | os.PathLike | None = None,
                 memory_cache_bytes: int = DEFAULT_MEMORY_CACHE_BYTES) -> str | None:
    """Decide where decoded images are cached.

    Parameters
    ----------
    n_images, image_size : int
        The estimate is ``n_images * image_size**2`` bytes (uint8, one channel).
    cache : {"auto", "memory", "disk", None}
        ``"auto"``: memory when the estimate fits `memory_cache_bytes`, else disk when
        `cache_dir` is given, else none.
    cache_dir : path-like, optional
        Folder of disk caches; required for ``"disk"``.
    memory_cache_bytes : int
        Default ``DEFAULT_MEMORY_CACHE_BYTES`` (1 GiB).

    Returns
    -------
    {"memory", "disk", None}

    Raises
    ------
    ValueError
        Unknown `cache`, or ``"disk"`` without `cache_dir`.

    Examples
    --------
    >>> choose_cache(1000, 96), choose_cache(10**6, 224, cache_dir="/tmp"), choose_cache(10**6, 224)
    ('memory', 'disk', None)
    """
    if cache not in ("auto", "memory", "disk", None):
        raise ValueError(f"`cache`={cache!r}; choose 'auto', 'memory', 'disk' or None.")
    if cache == "disk" and cache_dir is None:
        raise ValueError("`cache`='disk' needs a `cache_dir` folder for the cache files.")
    if cache != "auto":
        return cache
    if n_images * image_size**2 <= memory_cache_bytes:
        return "memory"
    return "disk" if cache_dir is not None else None


def _decoder(image_size: int) -> Callable:
    def load(path, label):
        image = tf.io.decode_png(tf.io.read_file(path), channels=1)
        image = tf.image.resize_with_pad(image, image_size, image_size, antialias=True)
        return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8), label
    return load


def _disk_cache_prefix(cache_dir: Path, split: str, image_size: int, paths: np.ndarray) -> str:
    digest = hashlib.sha1("\n".join(paths).encode()).hexdigest()[:16]
    prefix = cache_dir / f"{split}_{image_size}px_{digest}"
    # a killed run leaves a lockfile behind that makes TensorFlow refuse the cache
    for lock in cache_dir.glob(f"{prefix.name}*.lockfile"):
        lock.unlink()
    return str(prefix)


def make_dataset(manifest: pd.DataFrame, *, split: str, class_names: Sequence[str],
                 image_size: int, batch_size: int = DEFAULT_BATCH_SIZE,
                 training: bool | None = None, augmentation: Callable | None = None,
                 rng: int | np.random.Generator = 0, cache: str | None = "auto",
                 cache_dir: str | os.PathLike | None = None,
                 memory_cache_bytes: int = DEFAULT_MEMORY_CACHE_BYTES,
                 shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
                 require_all_classes: bool | None = None) -> tf.data.Dataset:
    """Batches of (images, one-hot labels) of one split.

    Parameters
    ----------
    manifest : DataFrame
        Slice table with absolute paths and splits (:func:`fossilct.split.read_split_slices`).
    split : {"train", "val", "test"}
    class_names : sequence of str
        Label order (:func:`fossilct.manifest.class_names_of`).
    image_size : int
        Edge (px) the slices are resized to, aspect kept, padded with black.
    batch_size : int
        Default 32 (report).
    training : bool, optional
        Shuffle, drop the last incomplete batch (when the split holds more than one batch) and
        apply `augmentation`. None = ``split == "train"``.
    augmentation : callable, optional
        ``(images, labels) -> (images, labels)`` on float32 batches, e.g.
        :class:`fossilct.augment.Augmentation`; used only when training.
    rng : int or numpy.random.Generator
        Seed of the file permutation and the shuffle buffer.
    cache, cache_dir, memory_cache_bytes
        See :func:`choose_cache`. A disk cache is named after the split, size and file list.
    shuffle_buffer : int
        Images held by the shuffle buffer (bounds memory). Default 2048.
    require_all_classes : bool, optional
        See :func:`select_split`.

    Returns
    -------
    tf.data.Dataset
        Elements ``(images, labels)``: (B, image_size, image_size, 1) float32 in 0..255 and
        (B, K) float32. Same arguments and seed -> same batches.

    Raises
    ------
    ValueError, FileNotFoundError
        As :func:`select_split`, :func:`choose_cache`; `batch_size` / `shuffle_buffer` < 1.
    """
    for name, value in (("batch_size", batch_size), ("shuffle_buffer", shuffle_buffer),
                        ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
    rows = select_split(manifest, split, class_names=class_names,
                        require_all_classes=require_all_classes)
    training = split == "train" if training is None else training
    paths = rows["path"].to_numpy(dtype=str)
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.eye(len(class_names), dtype=np.float32)[[index[s] for s in rows["species"]]]
    seed = seed_from_rng(rng)
    if training:
        order = np.random.default_rng(seed).permutation(len(paths))
        paths, labels = paths[order], labels[order]

    where = choose_cache(len(paths), image_size, cache=cache, cache_dir=cache_dir,
                         memory_cache_bytes=memory_cache_bytes)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    ds = ds.map(_decoder(image_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if where == "memory":
        ds = ds.cache()
    elif where == "disk":
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        ds = ds.cache(_disk_cache_prefix(folder, split, image_size, paths))
    if training:
        ds = ds.shuffle(min(shuffle_buffer, len(paths)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training and len(paths) > batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    if training and augmentation is not None:
        # sequential on purpose: the random layers then draw in batch order (reproducible); each
        # call is a vectorised batch op that already uses every core
        ds = ds.map(augmentation)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_split_arrays(manifest: pd.DataFrame, *, split: str, class_names: Sequence[str],
                      image_size: int,
                      require_all_classes: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All slices of one split as in-memory arrays (for small splits, figures and benchmarks).

    Returns
    -------
    images : (n, image_size, image_size, 1) ndarray of uint8
    labels : (n, K) ndarray of float32, one-hot, in manifest order

    Raises
    ------
    As :func:`select_split`.
    """
    ds = make_dataset(manifest, split=split, class_names=class_names, image_size=image_size,
                      training=False, cache=None, require_all_classes=require_all_classes)
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels)
