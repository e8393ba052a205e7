"""Benchmark: scans the project has never seen, beside the data its settings were chosen on.

Builds two datasets of the same shape (species, specimens per species, re-scans, voxels per
side): the second test source (:mod:`fossilct.testscans`, built independently of the embedded
generator) and the embedded generator's (:mod:`fossilct.synthetic`). Slices both with the quick
profile's settings (``parameters/quick.yaml``, blocks ``02_slices`` and ``03_split``: image
size, plane set, jitter, quota per species, split targets) under both acceptance rules, the
study's frame fraction at the profile's ``min_foreground`` and the relative area at the
profile's ``min_relative_area`` (the package default when the profile has none), splits every
build by specimen, and prints side by side:

- slice yield per species: requested, written, % and, when short, why (from the counts table,
  :func:`fossilct.slicing.summarise_yield`);
- the foreground fraction of the accepted slices (5th percentile, quartiles, share under 5 %):
  whether a rule fills the dataset with tiny sections;
- split sizes per species: specimens and slices in train / val / test, and the split's notes.

Matching results (pose success on axis, oblique and partial slices; identification; precision
of the reliability flag) are not run here: :func:`matching_results` is where they join the
per-species table.

Usage::

    python benchmarks/bench_unseen_scans.py [--size 80] [--specimens 4 5] [--workers 2]
    python benchmarks/bench_unseen_scans.py --quick-embedded     # the quick profile's own data

``--quick-embedded`` builds the embedded dataset exactly as the quick profile's ``01_dataset``
block does (12 species, 20 specimens, 96 voxels; a few minutes on 2 cores) instead of the
small comparable one, and skips the second source.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fossilct import planes, slice_dataset, slicing, specimens, split, synthetic, testscans

QUICK_YAML = Path(__file__).resolve().parents[1] / "parameters" / "quick.yaml"
N_RESCANS = 2


@dataclass(frozen=True)
class BenchDataset:
    """A data folder and its inventory (only species with enough specimens)."""

    name: str
    folder: Path
    inventory: pd.DataFrame


def quick_settings(path: Path = QUICK_YAML) -> dict:
    """The quick profile's ``01_dataset``, ``02_slices`` and ``03_split`` blocks and run seed."""
    profile = yaml.safe_load(path.read_text())
    return {"seed": int(profile["seed"]), "dataset": profile["01_dataset"],
            "slices": profile["02_slices"], "split": profile["03_split"]}


def rules(settings: dict) -> dict:
    """Acceptance rules compared: the study's frame fraction and the relative area."""
    slices = settings["slices"]
    return {
        "frame_fraction": {"acceptance": "frame_fraction",
                           "min_foreground": float(slices["min_foreground"])},
        "relative_area": {"acceptance": "relative_area",
                          "min_relative_area": float(slices.get(
                              "min_relative_area", slicing.DEFAULT_MIN_RELATIVE_AREA))},
    }


def _inventory(name: str, folder: Path, min_specimens: int) -> BenchDataset:
    inventory = specimens.build_inventory(specimens.read_specimen_table(folder), folder)
    inventory, _ = specimens.select_species(inventory, min_specimens=min_specimens)
    return BenchDataset(name, folder, inventory)


def make_datasets(root: Path, *, n_specimens: int, size: int, seed: int,
                  min_specimens: int) -> list[BenchDataset]:
    """The second source and an embedded dataset of the same shape (6 species each)."""
    n_species = len(testscans.SPECIES)
    testscans.write_dataset(root / "second_source", n_species=n_species, n_specimens=n_specimens,
                            size=size, seed=seed, n_rescans=N_RESCANS)
    synthetic.write_dataset(root / "embedded", n_species=n_species, n_specimens=n_specimens,
                            size=size, seed=seed,
                            rescan_fraction=N_RESCANS / (n_species * n_specimens))
    return [_inventory("second_source", root / "second_source", min_specimens),
            _inventory("embedded", root / "embedded", min_specimens)]


def make_quick_embedded(root: Path, settings: dict) -> list[BenchDataset]:
    """The embedded dataset exactly as the quick profile's notebook 01 writes it."""
    block = settings["dataset"]
    synthetic.write_dataset(root / "embedded_quick", n_species=int(block["n_species"]),
                            n_specimens=int(block["n_specimens"]),
                            size=int(block["volume_size"]), seed=settings["seed"],
                            rescan_fraction=float(block["rescan_fraction"]))
    return [_inventory("embedded_quick", root / "embedded_quick", int(block["min_specimens"]))]


def build(dataset: BenchDataset, out: Path, rule: dict, settings: dict,
          workers: int) -> slice_dataset.BuildResult:
    """Slice a dataset with the quick profile's settings and the given acceptance rule."""
    slices = settings["slices"]
    plane_set = planes.standard_planes(axes=bool(slices["include_axes"]),
                                       oblique_angles_deg=slices["oblique_angles_deg"],
                                       n_fibonacci=int(slices["n_fibonacci"]))
    return slice_dataset.build_slice_dataset(
        dataset.inventory, dataset.folder, out, quota_per_species=int(slices["quota_per_species"]),
        image_size=int(slices["image_size"]), plane_set=plane_set,
        jitter_deg=float(slices["jitter_deg"]), seed=settings["seed"], n_workers=workers,
        progress=False, **rule)


def split_sizes(result: slice_dataset.BuildResult, settings: dict) -> tuple[pd.DataFrame, tuple]:
    """Specimens and slices per split and species, and the split's notes."""
    block = settings["split"]
    outcome = split.split_by_specimen(result.manifest, test_fraction=float(block["test_fraction"]),
                                      val_target=int(block["val_target"]),
                                      val_cap=int(block["val_cap"]), rng=settings["seed"])
    summary = outcome.summary[~outcome.summary["species"].isin(["ALL", "CV_%"])]
    table = pd.DataFrame({"species": summary["species"]})
    for kind in ("specimens", "slices"):
        table[kind] = [" / ".join(str(int(row[f"n_{kind}_{s}"])) for s in ("train", "val", "test"))
                       for _, row in summary.iterrows()]
    return table.set_index("species"), outcome.notes


def matching_results(dataset: BenchDataset) -> pd.DataFrame:
    """Per-species matching results on `dataset`, joined to the yield table when printed.

    Where pose success (axis, oblique and partial slices), identification accuracy and the
    precision of the reliability flag will be added; this benchmark runs no matching, so the
    table has the species index and no column.
    """
    return pd.DataFrame(index=pd.Index(sorted(dataset.inventory["species"].unique()),
                                       name="species"))


def foreground_quantiles(result: slice_dataset.BuildResult) -> dict:
    """Foreground fraction of the accepted slices: 5th, 25th, 50th percentile, share < 5 %."""
    fraction = result.manifest["foreground_fraction"]
    if fraction.empty:
        return {"n": 0}
    q05, q25, q50 = (round(float(q), 3) for q in np.quantile(fraction, [0.05, 0.25, 0.5]))
    return {"n": int(fraction.size), "q05": q05, "q25": q25, "median": q50,
            "share<0.05": round(float((fraction < 0.05).mean()), 3)}


def yield_table(results: dict) -> pd.DataFrame:
    """Side by side per species: requested, written and % under each rule; why, when short."""
    columns = []
    for rule, result in results.items():
        summary = slicing.summarise_yield(result.counts).set_index("species")
        part = summary[["requested", "written", "yield_pct"]].rename(
            columns={"written": f"written[{rule}]", "yield_pct": f"%[{rule}]"})
        part[f"why_not[{rule}]"] = summary["why_not"]
        columns.append(part if not columns else part.drop(columns="requested"))
    return pd.concat(columns, axis=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=80, help="voxels per side (default 80)")
    parser.add_argument("--specimens", type=int, nargs="+", default=[5],
                        help="specimens per species; several values run in turn (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="slicing processes (default 2)")
    parser.add_argument("--quick-embedded", action="store_true",
                        help="slice the quick profile's own embedded dataset instead")
    args = parser.parse_args(argv)
    settings = quick_settings()
    compared = rules(settings)
    split_block = {k: settings["split"][k] for k in ("test_fraction", "val_target", "val_cap")}
    print(f"quick settings ({QUICK_YAML.name}): quota_per_species="
          f"{settings['slices']['quota_per_species']}, image_size="
          f"{settings['slices']['image_size']}, rules {compared}, split {split_block}")
    pd.set_option("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 90)
    runs = [None] if args.quick_embedded else args.specimens
    for n_specimens in runs:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            start = time.perf_counter()
            if args.quick_embedded:
                datasets = make_quick_embedded(root, settings)
            else:
                datasets = make_datasets(root, n_specimens=n_specimens, size=args.size,
                                         seed=settings["seed"],
                                         min_specimens=min(n_specimens, int(
                                             settings["dataset"]["min_specimens"])))
            print(f"\n=== {n_specimens or settings['dataset']['n_specimens']} specimens per "
                  f"species: datasets written in {time.perf_counter() - start:.1f} s")
            for dataset in datasets:
                results = {}
                for name, rule in compared.items():
                    start = time.perf_counter()
                    results[name] = build(dataset, root / "slices" / dataset.name / name, rule,
                                          settings, args.workers)
                    print(f"{dataset.name}, {name}: {len(results[name].manifest)} slices in "
                          f"{time.perf_counter() - start:.1f} s; foreground fraction "
                          f"{foreground_quantiles(results[name])}")
                table = yield_table(results).join(matching_results(dataset))
                print(f"\n--- {dataset.name}: slice yield per species\n{table.to_string()}")
                for name, result in results.items():
                    sizes, notes = split_sizes(result, settings)
                    print(f"\n--- {dataset.name}, {name}: split (train / val / test)\n"
                          f"{sizes.to_string()}")
                    for note in notes:
                        print(f"  note: {note}")


if __name__ == "__main__":
    main()
