"""Benchmark of the slice dataset builder.

On synthetic 256^3 volumes at image_size 224, in one run, prints:

- end to end: volume read -> prepare -> slice -> segment -> crop/resize -> PNG written, with
  ``fossilct.slice_dataset.build_slice_dataset`` (process pool), in slices/s;
- the floor: only encoding and writing the same PNGs (the same number of worker processes);
- their ratio (from wall time, and from CPU time, which a busy shared machine distorts less),
  and the peak memory (resident set of the main process plus its workers,
  sampled every 20 ms) for two dataset sizes, to show it does not grow with the volume count;
- a single-process breakdown per stage on one volume (where the time goes).

Targets on a 2-core machine: >= 1000 slices/s end to end, within 3x of the floor, peak memory
< 2 GB whatever the number of volumes.

Usage: ``python benchmarks/bench_slices.py [--volumes 6] [--quota 1000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import psutil

from fossilct import planes, segmentation, slice_dataset, slicing, synthetic


def make_volumes(folder: Path, n_volumes: int, size: int) -> pd.DataFrame:
    """Write `n_volumes` synthetic scans (one per species) as .npy; return the inventory."""
    rows = []
    for k in range(n_volumes):
        species = synthetic.SPECIES[k % len(synthetic.SPECIES)]
        specimen = synthetic.make_specimen(species, size=size, rng=k)
        file = f"{species}_{k:02d}.npy"
        np.save(folder / file, specimen.volume)
        rows.append({"file": file, "species": f"{species}_{k:02d}", "specimen_id": f"s{k:02d}",
                     "spacing_zyx_um": "x".join(f"{s:g}" for s in specimen.spacing_um)})
    return pd.DataFrame(rows)


class ProcessTreeMonitor:
    """Peak summed resident memory and total CPU time of this process and its descendants.

    Sampled every `period_s` with psutil (pool workers are grandchildren under the forkserver
    start method, so ``resource.RUSAGE_CHILDREN`` would miss them).
    """

    def __init__(self, period_s: float = 0.02):
        self.period_s, self.peak, self._stop = period_s, 0, threading.Event()
        self._cpu: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def _sample(self):
        me = psutil.Process()
        total = 0
        for process in [me] + me.children(recursive=True):
            try:
                with process.oneshot():
                    total += process.memory_info().rss
                    times = process.cpu_times()
                    self._cpu[process.pid] = times.user + times.system
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.period_s)

    def __enter__(self):
        me = psutil.Process().cpu_times()
        self._start_cpu = me.user + me.system
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self._cpu[psutil.Process().pid] -= self._start_cpu


def _write_pngs(job):
    images, folder = job
    folder = Path(folder)
    for k, image in enumerate(images):
        ok, encoded = cv2.imencode(".png", image)
        (folder / f"{k:06d}.png").write_bytes(encoded.tobytes())
    return len(images)


def png_floor(images: list[np.ndarray], folder: Path, workers: int) -> float:
    """Seconds to encode and write `images` as PNGs with `workers` processes."""
    chunks = [(images[k::workers], str(folder / f"w{k}")) for k in range(workers)]
    for _, sub in chunks:
        Path(sub).mkdir(parents=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_write_pngs, [([], c[1]) for c in chunks]))  # start the workers first
        start = time.perf_counter()
        list(pool.map(_write_pngs, chunks))
        return time.perf_counter() - start


def png_floor_cpu(images: list[np.ndarray], folder: Path, workers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all processes) of :func:`png_floor`."""
    with ProcessTreeMonitor() as monitor:
        wall = png_floor(images, folder, workers)
    return wall, monitor.cpu_seconds


def breakdown(path: Path, spacing, n_slices: int) -> dict:
    """Single-process seconds per stage on one volume."""
    cv2.setNumThreads(1)
    out = {}
    start = time.perf_counter()
    volume = np.load(path)
    out["read (s/volume)"] = time.perf_counter() - start
    start = time.perf_counter()
    prepared = slicing.prepare_volume(volume, spacing)
    out["prepare (s/volume)"] = time.perf_counter() - start
    start = time.perf_counter()
    plan = slicing.plan_slices(prepared, planes.standard_planes(), n_slices=n_slices, rng=0)
    out["plan (s/volume)"] = time.perf_counter() - start
    normals = plan[["normal_p", "normal_r", "normal_c"]].to_numpy()[:n_slices]
    start = time.perf_counter()
    frames = planes.sample_planes(prepared.views, normals, np.zeros(len(normals)),
                                  size=prepared.frame_size, centre=prepared.centre,
                                  dtype=np.uint8, fill_value=prepared.background)
    out["sample (ms/slice)"] = (time.perf_counter() - start) / len(normals) * 1e3
    start = time.perf_counter()
    results = [segmentation.segment_slice(frame) for frame in frames]
    out["segment+crop+resize (ms/slice)"] = (time.perf_counter() - start) / len(frames) * 1e3
    start = time.perf_counter()
    for result in results:
        cv2.imencode(".png", result.image)
    out["PNG encode (ms/slice)"] = (time.perf_counter() - start) / len(results) * 1e3
    out["frame side (px)"] = prepared.frame_size
    return out


def run(volumes: int, quota: int, workers: int, size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        start = time.perf_counter()
        inventory = make_volumes(data, volumes, size)
        print(f"generated {volumes} synthetic {size}^3 volumes in {time.perf_counter() - start:.0f} s "
              f"(not timed below)")
        peaks = {}
        for n in sorted({max(1, min(2, volumes)), volumes}):
            subset = inventory.head(n)
            with ProcessTreeMonitor() as monitor:
                result = slice_dataset.build_slice_dataset(
                    subset, data, tmp / f"out{n}", quota_per_species=quota, image_size=224,
                    seed=0, n_workers=workers, progress=False)
            build_cpu = monitor.cpu_seconds
            peaks[n] = monitor.peak
        n_slices = len(result.manifest)
        rate = n_slices / result.seconds
        images = [cv2.imread(str(tmp / f"out{volumes}" / p), cv2.IMREAD_UNCHANGED)
                  for p in result.manifest["path"]]
        floor_s, floor_cpu = png_floor_cpu(images, tmp / "floor", workers)
        floor_rate = n_slices / floor_s
        print(f"machine: {psutil.cpu_count()} logical CPUs, workers={workers}")
        print(f"end to end (read -> prepare -> slice -> segment -> crop/resize -> PNG): "
              f"{n_slices} slices from {volumes} volumes in {result.seconds:.2f} s = "
              f"{rate:.0f} slices/s")
        print(f"floor (encode + write the same {n_slices} PNGs, {workers} workers): "
              f"{floor_s:.2f} s = {floor_rate:.0f} slices/s")
        print(f"ratio floor / end to end: {floor_rate / rate:.2f}x")
        # on a shared machine wall time counts other people's work; CPU time does not
        cpu_rate, cpu_floor_rate = n_slices * workers / build_cpu, n_slices * workers / floor_cpu
        print(f"by CPU time (slices per {workers} CPU-seconds, what {workers} idle cores would do): "
              f"end to end {cpu_rate:.0f} slices/s, floor {cpu_floor_rate:.0f} slices/s, "
              f"ratio {cpu_floor_rate / cpu_rate:.2f}x; load average during the run "
              f"{psutil.getloadavg()[0]:.1f}")
        for n, peak in peaks.items():
            print(f"peak memory (main + workers, RSS sum) with {n} volume(s): {peak / 2 ** 20:.0f} MiB")
        skipped = result.counts[["no_fossil", "below_min_foreground", "shortfall"]].sum().to_dict()
        print(f"skipped slices: {skipped}")
        stages = breakdown(data / inventory["file"].iloc[0],
                           tuple(float(s) for s in inventory["spacing_zyx_um"].iloc[0].split("x")),
                           min(quota, 300))
        print("single-process breakdown on one volume: "
              + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in stages.items()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=6)
    parser.add_argument("--quota", type=int, default=1000, help="slices per volume")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    run(args.volumes, args.quota, args.workers, args.size)


if __name__ == "__main__":
    main()
