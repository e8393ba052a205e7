"""Save, header and load times of every volume format, as ratios to plain ``.npy`` in the same run.

Usage: ``python benchmarks/bench_volumes.py [--size 128] [--repeat 3]``. Prints one line per
format: the best of `repeat` timings for save_volume, read_header and load_volume on a seeded
uint16 cube, and each as a multiple of the same operation on ``.npy`` (np.save / np.load through
the same functions), so numbers from different machines can be compared.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from fossilct import volumes

TARGETS = [("scan.npy", None), ("scan.npz", None), ("scan.nii", None), ("scan.nii.gz", None),
           ("scan.tif", None), ("scan.nrrd", None), ("tiff", "tiff_folder"),
           ("png", "png_folder"), ("dicom", "dicom")]


def _best(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="edge of the test cube (voxels)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per operation (best kept)")
    args = parser.parse_args()
    volume = np.random.default_rng(0).integers(0, 4096, (args.size,) * 3, dtype=np.uint16)
    spacing = (5.0, 2.5, 2.5)
    warnings.simplefilter("ignore", volumes.MissingSpacingWarning)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt in TARGETS:
            path = Path(tmp) / name
            save = _best(lambda: volumes.save_volume(path, volume, spacing, format=fmt),
                         args.repeat)
            header = _best(lambda: volumes.read_header(path), args.repeat)
            load = _best(lambda: volumes.load_volume(path), args.repeat)
            rows.append((fmt or volumes.detect_format(path), name, save, header, load))
    base = rows[0][2:]
    print(f"volume {args.size}^3 uint16 ({volume.nbytes / 2**20:.1f} MiB); best of {args.repeat}; "
          "ratios to npy")
    print(f"{'format':12s} {'file':12s} {'save s':>8s} {'x npy':>7s} {'header ms':>10s} "
          f"{'x npy':>7s} {'load s':>8s} {'x npy':>7s}")
    for fmt, name, save, header, load in rows:
        print(f"{fmt:12s} {name:12s} {save:8.3f} {save / base[0]:7.1f} {header * 1e3:10.2f} "
              f"{header / base[1]:7.1f} {load:8.3f} {load / base[2]:7.1f}")


if __name__ == "__main__":
    main()
