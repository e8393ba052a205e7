"""Tiny slice manifests for the training / evaluation tests: PNGs of simple shapes per class.

Not a test module; imported by test_data, test_training, test_evaluation and the benchmark.
The manifest is written with ``fossilct.manifest.write_manifest``, so it meets the real contract.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fossilct import manifest

SHAPES = ("disk", "square", "cross")


def draw_shape(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One (size, size) uint8 silhouette on black: a filled disk, square or cross, jittered."""
    image = np.zeros((size, size), np.uint8)
    centre = size / 2 + rng.uniform(-size / 10, size / 10, 2)
    radius = size * rng.uniform(0.22, 0.32)
    value = int(rng.integers(150, 256))
    rows, cols = np.mgrid[0:size, 0:size]
    dr, dc = rows - centre[0], cols - centre[1]
    if shape == "disk":
        mask = dr**2 + dc**2 <= radius**2
    elif shape == "square":
        mask = (np.abs(dr) <= radius * 0.85) & (np.abs(dc) <= radius * 0.85)
    else:
        arm = radius * 0.3
        mask = ((np.abs(dr) <= radius) & (np.abs(dc) <= arm)) | (
            (np.abs(dc) <= radius) & (np.abs(dr) <= arm))
    image[mask] = value
    return image


def write_manifest(folder: Path, *, classes=SHAPES[:2], size: int = 32,
                   specimens: dict | None = None, slices_per_specimen: int = 6,
                   seed: int = 0) -> Path:
    """Write PNGs and ``manifest.csv`` into `folder`; returns the manifest path.

    `specimens` maps split -> specimens per class (default train 4, val 2, test 2).
    """
    specimens = specimens or {"train": 4, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    (folder / "png").mkdir(parents=True, exist_ok=True)
    rows = []
    for species in classes:
        n = 0
        for split, count in specimens.items():
            for _ in range(count):
                specimen = f"{species}-{n:02d}"
                n += 1
                for k in range(slices_per_specimen):
                    name = f"png/{specimen}_{k:02d}.png"
                    image = draw_shape(species, size, rng)
                    cv2.imwrite(str(folder / name), image)
                    rows.append(dict(
                        path=name, slice_id=f"{specimen}__axis_p__{k}", file=f"{specimen}.npy",
                        specimen_id=specimen, species=species, split=split, plane="axis_p",
                        normal_zyx="1 0 0", angle_deg=0.0, index=k, offset_um=float(k),
                        foreground_fraction=float((image > 0).mean()), bbox=f"0 0 {size} {size}",
                        source_shape=f"{size}x{size}x{size}", seed=seed))
    return manifest.write_manifest(pd.DataFrame(rows), folder / "manifest.csv")
