"""Benchmark of the synthetic generator: volumes per second at 128^3 and 256^3.

The baseline, measured in the same run, is the floor of any generator: filling an array of the
same shape with Gaussian noise plus one ``scipy.ndimage.gaussian_filter``. The ratio says how many
times slower than that floor a full specimen (shell, nuisances, masks) is.

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
        floor = _median_seconds(lambda: _baseline(size, rng), args.repeats)
        per_species = {}
        for index, species in enumerate(SPECIES):
            seeds = iter(range(index * 1000, index * 1000 + args.repeats))
            per_species[species] = _median_seconds(
                lambda: make_specimen(species, size=size, rng=next(seeds)), args.repeats)
        for species, seconds in per_species.items():
            print(f"  {size}^3 {species:20s} {1 / seconds:6.2f} volumes/s "
                  f"({seconds:.3f} s, ratio {seconds / floor:.1f}x)")
        mean = statistics.mean(per_species.values())
        slowest = max(per_species, key=per_species.get)
        print(f"{size}^3: {1 / mean:.2f} volumes/s, floor {1 / floor:.2f} volumes/s, "
              f"ratio {mean / floor:.1f}x (slowest {slowest}: {per_species[slowest]:.3f} s)")


if __name__ == "__main__":
    main()
