"""Benchmark of the synthetic generator: volumes per second at 128^3 and 256^3.

The baseline is the floor of any generator: filling an array of the same shape with Gaussian
noise plus one ``scipy.ndimage.gaussian_filter``. It is measured again right before each
species (the machine's load may drift during a run), and the ratio says how many times slower
than that floor a full specimen (shell, nuisances, masks) is. Each time is the median of a few
repeats (``time.perf_counter``).

    python benchmarks/bench_synthetic.py [--sizes 128 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage

from fossilct.synthetic import SPECIES, make_specimen

#: Blur sigma (voxels) of the baseline, the middle of the generator's blur range.
BASELINE_SIGMA = 0.7


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _baseline(size: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal((size, size, size), dtype=np.float32)
    return ndimage.gaussian_filter(noise, BASELINE_SIGMA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for size in args.sizes:
        seconds, floors = {}, {}
        for index, species in enumerate(SPECIES):
            floors[species] = _median_seconds(lambda: _baseline(size, rng), args.repeats)
            seeds = iter(range(index * 1000, index * 1000 + args.repeats))
            seconds[species] = _median_seconds(
                lambda: make_specimen(species, size=size, rng=next(seeds)), args.repeats)
            print(f"  {size}^3 {species:20s} {1 / seconds[species]:6.2f} volumes/s "
                  f"({seconds[species]:.3f} s, ratio {seconds[species] / floors[species]:.1f}x)")
        mean, floor = statistics.mean(seconds.values()), statistics.mean(floors.values())
        slowest = max(seconds, key=seconds.get)
        print(f"{size}^3: {1 / mean:.2f} volumes/s, floor {1 / floor:.2f} volumes/s, "
              f"ratio {mean / floor:.1f}x (slowest {slowest}: {seconds[slowest]:.3f} s)")

if __name__ == "__main__":
    main()
