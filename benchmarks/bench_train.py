"""Training throughput of the real input pipeline against in-memory tensors, inference speed, and
peak training memory for two dataset sizes.

For each quick architecture at the quick image size:

* ``pipeline``: images/s of ``model.fit`` fed by ``fossilct.data.make_dataset`` (PNG decode,
  resize, cache, shuffle, flips/rotation/zoom/brightness/contrast, MixUp and CutMix);
* ``memory``: images/s of the same model fed ready-made float batches from in-memory tensors
  (nothing to decode or augment) -- the ceiling the pipeline is compared with; target ratio
  >= 0.9; the two feeds are timed alternately, so a change of machine load hits both;
* ``infer``: images/s of ``model.predict`` on in-memory images.

Then the peak resident memory (ru_maxrss) of a fresh process that trains one epoch through the
pipeline, for a small and a 4x larger dataset (target: independent of the size).

Run: ``python benchmarks/bench_train.py [--archs a,b] [--size 64] [--n-train 1024]``. The first
epoch of each feed (tracing, cache filling) is excluded from every rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from fossilct import data, manifest, models  # noqa: E402
from fossilct.augment import Augmentation  # noqa: E402

QUICK_ARCHS = "small_cnn,mobilenet_v3_small"
N_CLASSES = 12
PNG_SIZE = 224
"""Edge of the stored slices (the slice notebook's default), resized by the pipeline."""


def write_slices(folder: Path, n_train: int, *, seed: int = 0) -> Path:
    """`n_train` training and n_train // 4 validation PNGs of filled ellipses with holes."""
    rng = np.random.default_rng(seed)
    (folder / "png").mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in (("train", n_train), ("val", n_train // 4)):
        for i in range(n):
            label = i % N_CLASSES
            image = np.zeros((PNG_SIZE, PNG_SIZE), np.uint8)
            centre = tuple(int(v) for v in rng.integers(80, 144, 2))
            axes = (int(30 + 4 * label), int(rng.integers(30, 90)))
            cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, 200, -1)
            for _ in range(label % 5):
                cv2.circle(image, tuple(int(v) for v in rng.integers(90, 134, 2)), 8, 60, -1)
            name = f"png/{split}_{i:05d}.png"
            cv2.imwrite(str(folder / name), image)
            specimen = f"s{label:02d}-{i % 7}"
            rows.append(dict(path=name, slice_id=f"{split}__axis_p__{i}", file=f"{specimen}.npy",
                             specimen_id=specimen, species=f"sp{label:02d}", split=split,
                             plane="axis_p", normal_zyx="1 0 0", angle_deg=0.0, index=i,
                             offset_um=0.0, foreground_fraction=float((image > 0).mean()),
                             bbox="0 0 1 1", source_shape="96x96x96", seed=seed))
    return manifest.write_manifest(pd.DataFrame(rows), folder / "manifest.csv")


class EpochClock(keras.callbacks.Callback):
    """Records the wall time of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _compiled(arch: str, size: int):
    """The full model (inference) and its compiled training view (what fit_model trains)."""
    keras.utils.set_random_seed(0)
    model = models.build_model(arch, n_classes=N_CLASSES, input_size=size)
    view = models.training_view(model)
    view.compile(keras.optimizers.AdamW(1e-3),
                 keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    return model, view


def _epoch_seconds(model, ds) -> float:
    clock = EpochClock()
    model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    return clock.seconds[0]


def benchmark_architecture(arch: str, manifest_csv: Path, *, size: int, batch_size: int,
                           rounds: int) -> dict:
    """Median epoch rates of the pipeline and the in-memory feed, measured alternately (so a
    change of machine load hits both), after one warm-up epoch each."""
    slices = data.read_manifest(manifest_csv)
    names = data.class_names_from_manifest(slices)
    pipeline_ds = data.make_dataset(slices, split="train", class_names=names, image_size=size,
                                    batch_size=batch_size, augmentation=Augmentation(rng=0),
                                    rng=0)
    steps = int(pipeline_ds.cardinality())
    n_images = steps * batch_size
    images, labels = data.load_split_arrays(slices, split="train", class_names=names,
                                            image_size=size)
    images = images[:n_images].astype(np.float32)
    # the ceiling: ready-made float batches already in memory, nothing to decode or augment
    memory_ds = tf.data.Dataset.from_tensor_slices((
        tf.constant(images.reshape(steps, batch_size, size, size, 1)),
        tf.constant(labels[:n_images].reshape(steps, batch_size, -1)))).prefetch(2)
    models_ = {"pipeline": _compiled(arch, size), "memory": _compiled(arch, size)}
    feeds = {"pipeline": pipeline_ds, "memory": memory_ds}
    seconds = {name: [] for name in feeds}
    for round_ in range(rounds + 1):
        for name in feeds:
            elapsed = _epoch_seconds(models_[name][1], feeds[name])
            if round_:  # round 0 traces the functions and fills the cache
                seconds[name].append(elapsed)
    model = models_["memory"][0]  # raw slices in, resize included: the deployed model
    start = time.perf_counter()
    model.predict(images, batch_size=64, verbose=0)
    infer = len(images) / (time.perf_counter() - start)
    rates = {name: n_images / float(np.median(values)) for name, values in seconds.items()}
    return dict(arch=arch, size=size, infer=infer, **rates)


def _peak_rss() -> int:
    """Peak resident memory of this process in bytes: VmHWM, which (unlike ru_maxrss on Linux)
    does not inherit the parent's peak across fork and exec."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_probe(n_train: int, size: int, arch: str) -> int:
    """Peak RSS (bytes) of this process after one training epoch through the pipeline."""
    with tempfile.TemporaryDirectory() as tmp:
        slices = data.read_manifest(write_slices(Path(tmp), n_train, seed=1))
        names = data.class_names_from_manifest(slices)
        ds = data.make_dataset(slices, split="train", class_names=names, image_size=size,
                               augmentation=Augmentation(rng=0))
        _compiled(arch, size)[1].fit(ds, epochs=1, verbose=0, shuffle=False)
    return _peak_rss()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default=QUICK_ARCHS)
    parser.add_argument("--size", type=int, default=64, help="input size of the models (px)")
    parser.add_argument("--n-train", type=int, default=1024, help="training images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed epochs of each feed, alternating, after a warm-up epoch")
    parser.add_argument("--memory-sizes", default="600,2400",
                        help="dataset sizes of the peak-memory probe (empty: skip)")
    parser.add_argument("--probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--probe-arch", default="small_cnn", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe is not None:
        print(json.dumps({"peak_rss": memory_probe(args.probe, args.size, args.probe_arch)}))
        return 0

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(f"bench_train: {device}, {os.cpu_count()} cores, size {args.size} px, "
          f"{args.n_train} training images, batch {args.batch_size}, "
          f"median of {args.rounds} alternating timed epochs per feed")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_slices(Path(tmp), args.n_train)
        for arch in args.archs.split(","):
            row = benchmark_architecture(arch, csv, size=args.size, batch_size=args.batch_size,
                                         rounds=args.rounds)
            row["ratio"] = row["pipeline"] / row["memory"]
            rows.append(row)
            print(f"  {arch:<20} train pipeline {row['pipeline']:7.1f} img/s | in-memory "
                  f"{row['memory']:7.1f} img/s | ratio {row['ratio']:.2f} (target >= 0.90) | "
                  f"inference {row['infer']:7.1f} img/s", flush=True)
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    peaks = {}
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--probe", str(n), "--size",
                              str(args.size), "--probe-arch", args.archs.split(",")[0]],
                             check=True, capture_output=True, text=True)
        peaks[n] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss"]
        print(f"  peak memory, one training epoch of {n:5d} images "
              f"({args.archs.split(',')[0]}): {peaks[n] / 2**20:7.0f} MiB", flush=True)
    if len(peaks) == 2:
        small, large = sizes
        print(f"  peak memory ratio {large}/{small} images: {peaks[large] / peaks[small]:.2f} "
              f"(target ~1.0; the memory cache holds n x {args.size}^2 bytes = "
              f"{(large - small) * args.size**2 / 2**20:.1f} MiB more)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
