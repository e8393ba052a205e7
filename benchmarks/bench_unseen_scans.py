"""Benchmark: scans the project has never seen, beside the data its settings were chosen on.

Builds two datasets of the same shape (species, specimens per species, re-scans, voxels per
side): the second test source (:mod:`fossilct.testscans`, built independently of the embedded
generator) and the embedded generator's (:mod:`fossilct.synthetic`). Slices both with the quick
profile's settings (``parameters/quick.yaml``, blocks ``02_slices`` and ``03_split``: image
size, plane set, jitter, quota per species, split targets) under both acceptance rules, the
study's frame fraction at the profile's ``min_foreground`` and the relative area at the
profile's ``min_relative_area`` (the package default when the profile has none), splits every
build by specimen, matches sections of known pose against each dataset's volumes, and prints:

- slice yield per species: requested, written, % and, when short, why (from the counts table,
  :func:`fossilct.slicing.summarise_yield`), joined to the matching results of that species:
  pose success on axis-aligned, oblique and partial queries and specimen top-1, as
  successes / queries;
- the foreground fraction of the accepted slices (5th percentile, quartiles, share under 5 %):
  whether a rule fills the dataset with tiny sections;
- split sizes per species: specimens and slices in train / val / test, and the split's notes;
- matching, side by side for the datasets (rows: metrics, columns: datasets): the library
  (every volume of the selected species, re-scans included, loaded and indexed by
  :func:`fossilct.matching.load_library`; volumes it skips are listed with the reason), pose
  success of ``--n-queries`` queries (:func:`fossilct.matching.benchmark.make_queries`: half
  axis-aligned, half oblique tilted 2 to 25 degrees, with scale, blur, noise, crop and polarity
  nuisances), each matched to the volume it was cut from; ``--n-partial`` partial views
  (60 to 90 % of the section visible); median pose errors; the reliability flag's precision
  (share of matches flagged ``reliable`` and the success among them) on both; identification
  of the first ``--n-identify`` pose queries over the whole library (specimen top-1 and top-3,
  species top-1); seconds per query on its own volume and per query per library volume.

Queries cycle through the library's volumes (query ``k`` is cut from volume ``k`` modulo the
library's size), so every volume, and every species in proportion to its files, gets its
share. Everything is seeded by the quick profile's ``seed`` (datasets and pose queries; partial
views by ``seed + 1``): a rerun prints the same numbers, times aside.

Usage::

    python benchmarks/bench_unseen_scans.py [--size 80] [--specimens 4 5] [--workers 2]
                                            [--n-queries 192] [--n-partial 96]
                                            [--n-identify 76] [--no-matching]
    python benchmarks/bench_unseen_scans.py --quick-embedded     # the quick profile's own data

With the default query counts, ``--specimens 6`` took 10 minutes on 2 shared cores: writing and
slicing under a minute; per dataset, loading and indexing the 38 volumes about a minute, the
288 pose and partial queries about 0.2 s each, the 76 identification queries about 2 s each
(0.05 s per library volume).
``--quick-embedded`` builds the embedded dataset exactly as the quick profile's ``01_dataset``
block does (12 species, 20 specimens, 96 voxels; a few minutes on 2 cores) instead of the
small comparable one, and skips the second source; its library has some 250 volumes, so
matching it takes far longer (``--no-matching`` skips it).
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
from fossilct.matching import load_library
from fossilct.matching.benchmark import (MethodEvaluation, count_successes, evaluate_method,
                                         make_queries)

QUICK_YAML = Path(__file__).resolve().parents[1] / "parameters" / "quick.yaml"
N_RESCANS = 2
VISIBLE_RANGE = (0.6, 0.9)
"""Share of the section's area a partial view shows."""


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


@dataclass(frozen=True)
class MatchingRun:
    """Matching on one dataset: its library, the pose queries (with identification), partials.

    Attributes
    ----------
    n_volumes, n_specimens : int
        Volumes in the library and the specimens they belong to.
    skipped : pandas.DataFrame
        ``file, reason`` of each volume the library left out.
    load_seconds_per_volume : float
        Reading, preparing and indexing, per volume of the library.
    evaluation : MethodEvaluation
        The pose queries, each against its own volume, and the first of them over the library.
    partial : MethodEvaluation or None
        The partial views against their own volumes (None: none asked for).
    """

    n_volumes: int
    n_specimens: int
    skipped: pd.DataFrame
    load_seconds_per_volume: float
    evaluation: MethodEvaluation
    partial: MethodEvaluation | None


def run_matching(dataset: BenchDataset, cache_dir: Path, *, n_queries: int, n_partial: int,
                 n_identify: int, seed: int) -> MatchingRun:
    """Load every selected volume of `dataset` as the library and run the matching queries."""
    table = dataset.inventory[dataset.inventory["selected"].astype(bool)]
    start = time.perf_counter()
    library = load_library(table, dataset.folder, cache_dir=cache_dir)
    load_seconds = (time.perf_counter() - start) / max(1, len(table))
    if len(library) == 0:
        raise RuntimeError(f"No volume of {dataset.folder} could be loaded for matching: "
                           f"{library.skipped.to_dict('records')}")
    queries = make_queries(library.volumes, n_queries, rng=seed)
    evaluation = evaluate_method(queries, library, n_identify=n_identify)
    partial = None
    if n_partial:
        views = make_queries(library.volumes, n_partial, rng=seed + 1, partial_fraction=1.0,
                             visible_range=VISIBLE_RANGE)
        partial = evaluate_method(views, library)
    return MatchingRun(len(library), len({v.specimen for v in library.volumes}),
                       library.skipped, load_seconds, evaluation, partial)


def _share(hits: int, total: int) -> str:
    """``"62 % (30/48)"``; ``"-"`` when there is nothing to count."""
    return f"{100 * hits / total:.0f} % ({hits}/{total})" if total else "-"


def _counted(counts: pd.DataFrame, key, numerator: str, denominator: str) -> str:
    if key not in counts.index:
        return "-"
    return _share(int(counts.loc[key, numerator]), int(counts.loc[key, denominator]))


def _ranked(identification: pd.DataFrame, column: str, top: int) -> str:
    return _share(int((identification[column] <= top).sum()), len(identification))


def matching_by_species(run: MatchingRun, species: list[str]) -> pd.DataFrame:
    """Per species: pose success (axis, oblique, partial) and specimen top-1, as hits/queries.

    One row per name of `species`, ``"-"`` where a species had no query of that kind.
    """
    poses = run.evaluation.poses
    by_kind = count_successes(poses, by=["species", "kind"])
    table = pd.DataFrame(index=pd.Index(species, name="species"))
    for kind in ("axis", "oblique"):
        table[f"pose_{kind}"] = [_counted(by_kind, (name, kind), "n_success", "n_queries")
                                 for name in species]
    if run.partial is not None:
        partial = count_successes(run.partial.poses)
        table["pose_partial"] = [_counted(partial, name, "n_success", "n_queries")
                                 for name in species]
    identification = run.evaluation.identification
    if len(identification):
        table["specimen_top1"] = [
            _ranked(identification[identification["species"] == name], "specimen_rank", 1)
            for name in species]
    return table


def _median_errors(poses: pd.DataFrame) -> str:
    if poses.empty:
        return "-"
    return (f"{poses['normal_err_deg'].median():.1f} deg / "
            f"{poses['offset_err_vox'].median():.1f} vox / "
            f"{poses['angle_err_deg'].median():.1f} deg")


def _pose_rows(poses: pd.DataFrame, prefix: str) -> dict:
    """Median errors, share flagged reliable and the success among them, over all `poses`."""
    total = count_successes(poses, by="method").sum()
    return {f"{prefix}: median error normal / offset / angle": _median_errors(poses),
            f"{prefix}: flagged reliable": _share(int(total["n_reliable"]),
                                                  int(total["n_queries"])),
            f"{prefix}: success among reliable": _share(int(total["n_reliable_success"]),
                                                        int(total["n_reliable"]))}


def matching_column(run: MatchingRun) -> dict:
    """The matching metrics of one dataset, as printed (label: value)."""
    poses, identification = run.evaluation.poses, run.evaluation.identification
    partial = (run.partial.poses if run.partial is not None
               else pd.DataFrame(columns=poses.columns))
    by_kind = count_successes(poses, by="kind")
    partial_label = f"partial ({VISIBLE_RANGE[0]:.0%}-{VISIBLE_RANGE[1]:.0%} visible)"
    failed = " / ".join(str(int((table["error"] != "").sum()))
                        for table in (poses, partial, identification))
    return {
        "library: volumes (specimens)": f"{run.n_volumes} ({run.n_specimens})",
        "library: volumes skipped": str(len(run.skipped)),
        "library: load + index, s per volume": f"{run.load_seconds_per_volume:.2f}",
        "pose: axis-aligned, success": _counted(by_kind, "axis", "n_success", "n_queries"),
        "pose: oblique 2-25 deg, success": _counted(by_kind, "oblique", "n_success",
                                                    "n_queries"),
        **_pose_rows(poses, "pose"),
        f"{partial_label}: success": _share(int(partial["success"].sum()), len(partial)),
        **_pose_rows(partial, partial_label),
        "identification: specimen top-1": _ranked(identification, "specimen_rank", 1),
        "identification: specimen top-3": _ranked(identification, "specimen_rank", 3),
        "identification: species top-1": _ranked(identification, "species_rank", 1),
        "failed queries (pose / partial / identification)": failed,
        "seconds per query, own volume": f"{poses['seconds'].mean():.3f}",
        "seconds per query per volume, library": (
            f"{identification['seconds_per_volume'].mean():.4f}" if len(identification)
            else "-"),
    }


def matching_table(runs: dict[str, MatchingRun]) -> pd.DataFrame:
    """Side by side: one row per matching metric, one column per dataset."""
    return pd.DataFrame({name: matching_column(run) for name, run in runs.items()})


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


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=80, help="voxels per side (default 80)")
    parser.add_argument("--specimens", type=int, nargs="+", default=[5],
                        help="specimens per species; several values run in turn (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="slicing processes (default 2)")
    parser.add_argument("--quick-embedded", action="store_true",
                        help="slice the quick profile's own embedded dataset instead")
    parser.add_argument("--n-queries", type=int, default=192,
                        help="pose queries per dataset, half of them oblique (default 192)")
    parser.add_argument("--n-partial", type=int, default=96,
                        help="partial views per dataset; 0: none (default 96)")
    parser.add_argument("--n-identify", type=int, default=76,
                        help="first pose queries also searched in the whole library; 0: none "
                             "(default 76)")
    parser.add_argument("--no-matching", action="store_true",
                        help="slice and split only, no matching")
    args = parser.parse_args(argv)
    if args.n_queries < 1 or args.n_partial < 0 or not 0 <= args.n_identify <= args.n_queries:
        parser.error(f"query counts must satisfy --n-queries >= 1, --n-partial >= 0 and "
                     f"0 <= --n-identify <= --n-queries; got {args.n_queries}, "
                     f"{args.n_partial} and {args.n_identify}.")
    return args


def _match(dataset: BenchDataset, root: Path, args: argparse.Namespace,
           seed: int) -> MatchingRun:
    start = time.perf_counter()
    run = run_matching(dataset, root / "index" / dataset.name, n_queries=args.n_queries,
                       n_partial=args.n_partial, n_identify=args.n_identify, seed=seed)
    print(f"{dataset.name}, matching: library of {run.n_volumes} volumes, {args.n_queries} pose "
          f"queries ({args.n_identify} also identified), {args.n_partial} partial views in "
          f"{time.perf_counter() - start:.1f} s")
    for skipped in run.skipped.to_dict("records"):
        print(f"  left out of the library: {skipped['file']}: {skipped['reason']}")
    tables = [run.evaluation.poses, run.evaluation.identification]
    tables += [run.partial.poses] if run.partial is not None else []
    errors = pd.concat([table["error"] for table in tables])
    for message, count in errors[errors != ""].value_counts().items():
        print(f"  {count} failed queries: {message}")
    return run


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
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
            matched = {}
            for dataset in datasets:
                results = {}
                for name, rule in compared.items():
                    start = time.perf_counter()
                    results[name] = build(dataset, root / "slices" / dataset.name / name, rule,
                                          settings, args.workers)
                    print(f"{dataset.name}, {name}: {len(results[name].manifest)} slices in "
                          f"{time.perf_counter() - start:.1f} s; foreground fraction "
                          f"{foreground_quantiles(results[name])}")
                table = yield_table(results)
                if not args.no_matching:
                    matched[dataset.name] = _match(dataset, root, args, settings["seed"])
                    table = table.join(matching_by_species(matched[dataset.name],
                                                           list(table.index)))
                heading = "slice yield" + ("" if args.no_matching else
                                           " and matching (successes/queries)")
                print(f"\n--- {dataset.name}: {heading} per species\n{table.to_string()}")
                for name, result in results.items():
                    sizes, notes = split_sizes(result, settings)
                    print(f"\n--- {dataset.name}, {name}: split (train / val / test)\n"
                          f"{sizes.to_string()}")
                    for note in notes:
                        print(f"  note: {note}")
            if matched:
                print(f"\n--- matching, side by side (successes/queries)\n"
                      f"{matching_table(matched).to_string()}")


if __name__ == "__main__":
    main()
