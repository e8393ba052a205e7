"""Synthetic predictions tables (the evaluation step's layout) for the ensemble and comparison
tests.

Not a test module. Every table built with the same `classes`, `n_specimens` and
`slices_per_specimen` lists the same slices in the same order; `seed`, `skill` and `weak` only
change the probabilities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASSES = ("a", "b", "c", "d")


def predictions_table(*, seed: int, skill: float = 1.5, weak: str | None = None,
                      sharpness: float = 1.0, classes=CLASSES, n_specimens: int = 6,
                      slices_per_specimen: int = 5, splits=("val", "test")) -> pd.DataFrame:
    """A predictions table with a ``split`` column.

    Logits are standard normal plus `skill` on the true class (0.2 for the `weak` species),
    multiplied by `sharpness` (> 1: over-confident).
    """
    rows = [(f"{split}-{name}-{s}-{i}", f"{split}-{name}-{s}", name, c, split)
            for split in splits for c, name in enumerate(classes)
            for s in range(n_specimens) for i in range(slices_per_specimen)]
    frame = pd.DataFrame(rows, columns=["slice_id", "specimen_id", "species", "y", "split"])
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(frame), len(classes)))
    boost = np.where(frame["species"] == weak, 0.2, skill)
    logits[np.arange(len(frame)), frame["y"]] += boost
    logits *= sharpness
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    table = frame[["slice_id", "specimen_id", "species"]].copy()
    table["predicted"] = np.asarray(classes)[probs.argmax(axis=1)]
    for c, name in enumerate(classes):
        table[f"prob_{name}"] = probs[:, c]
    table["split"] = frame["split"]
    return table


def write_tables(folder, specs: dict) -> dict:
    """Write ``<name>/predictions.csv`` per table of `specs` (name -> predictions_table kwargs),
    as the evaluation step does; returns name -> folder."""
    folders = {}
    for name, kwargs in specs.items():
        folders[name] = folder / name
        folders[name].mkdir(parents=True, exist_ok=True)
        predictions_table(**kwargs).to_csv(folders[name] / "predictions.csv", index=False)
    return folders
