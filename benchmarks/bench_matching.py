"""Benchmark of slice-to-volume matching: fossilct against the study's reference algorithm.

Both methods answer the same queries, cut from the library's volumes at known poses with the
evaluation nuisances (:func:`fossilct.matching.benchmark.make_queries`). The baseline is the
reference method, measured in the same run; the ratios say how many times faster fossilct is.

1. Library: either ``species x specimens`` synthetic scans of the embedded generator
   (quick-profile size), or the files of a dataset folder (``--data DIR --table CSV``, e.g. the
   second test source written by ``python -m fossilct.testscans --out DIR``, whose table is
   ``DIR/specimens.csv``), prepared with :func:`fossilct.slicing.prepare_volume` and indexed
   (index build time per volume).
2. Pose: every query against its own volume (fossilct), the first ``--n-reference`` of them with
   the reference too; success rates (axis, oblique), the share of matches flagged reliable and
   the success among them, time per query.
3. Partial views: ``--n-partial`` more queries that show only 60 to 90 % of their section (the
   image border cuts the rest away); fossilct's success on them.
4. Identification: the first ``--n-identify`` queries against the whole library (fossilct), the
   first ``--n-identify-reference`` of them with the reference too; specimen top-1/top-3, time
   per query per volume, and the speed ratio on the queries both methods answered.
5. Large volumes: index build and time per query for one ``--large``-cubed scan (fossilct; the
   reference on one query).

    python benchmarks/bench_matching.py [--species 12] [--specimens 2] [--size 96]
                                        [--data DIR --table CSV [--per-species 10]]
                                        [--n-queries 96] [--n-partial 48] [--n-reference 16]
                                        [--n-identify 48] [--n-identify-reference 3]
                                        [--large 256] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from fossilct import slicing, synthetic
from fossilct.matching import library_volume_from_prepared, load_library
from fossilct.matching.benchmark import (combine_evaluations, evaluate_method, library_table,
                                         make_queries, summarise)


def _synthetic_library(n_species: int, n_specimens: int, size: int, seed: int):
    volumes, seconds = [], []
    for k in range(n_species * n_specimens):
        species = synthetic.SPECIES[k % n_species]
        specimen = synthetic.make_specimen(species, size=size, rng=seed * 10_000 + k)
        prepared = slicing.prepare_volume(specimen.volume, specimen.spacing_um)
        start = time.perf_counter()
        volumes.append(library_volume_from_prepared(prepared, file=f"{species}_{k:03d}",
                                                    specimen=f"{species}_{k:03d}",
                                                    species=species))
        seconds.append(time.perf_counter() - start)
    return volumes, float(np.mean(seconds))


def _folder_library(data: str, table: str, per_species: int):
    chosen = library_table(pd.read_csv(table), per_species)
    with tempfile.TemporaryDirectory() as cache:  # time the indexes, do not reuse them
        start = time.perf_counter()
        library = load_library(chosen, data, cache_dir=cache)
        seconds = (time.perf_counter() - start) / max(1, len(library))
    if len(library.skipped):
        print(f"left out: {library.skipped.to_dict('records')}")
    return list(library.volumes), seconds


def _rate(value) -> str:
    return "   n/a" if value is None else f"{100 * value:5.1f}%"


def _row(name: str, fossilct: str, reference: str, ratio: str = "") -> None:
    print(f"  {name:42s} {fossilct:>12s} {reference:>12s} {ratio:>10s}")


def _large(size: int, seed: int) -> None:
    specimen = synthetic.make_specimen("chrysalidina_like", size=size, rng=seed)
    prepared = slicing.prepare_volume(specimen.volume, specimen.spacing_um)
    start = time.perf_counter()
    target = library_volume_from_prepared(prepared, file="large")
    index_seconds = time.perf_counter() - start
    queries = make_queries([(target.volume, target.mask, target.voxel_size_um)], 4, rng=seed)
    fossilct = evaluate_method(queries, [target]).poses
    reference = evaluate_method(queries[:1], [target], method="reference").poses
    print(f"\n{size}^3 scan ({specimen.volume.shape}, prepared {target.volume.shape}):")
    _row("", "fossilct", "reference", "ratio")
    _row("index build (s)", f"{index_seconds:.2f}", "-")
    _row("seconds per query (1 volume)", f"{fossilct['seconds'].mean():.3f}",
         f"{reference['seconds'].mean():.3f}",
         f"{reference['seconds'].mean() / fossilct['seconds'].mean():.1f}x")
    _row("pose success", _rate(fossilct["success"].mean()), _rate(reference["success"].mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", type=int, default=12)
    parser.add_argument("--specimens", type=int, default=2)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--data", help="dataset folder (instead of generated scans)")
    parser.add_argument("--table", help="its table (inventory.csv or specimens.csv)")
    parser.add_argument("--per-species", type=int, default=10,
                        help="specimens of each species taken from --table")
    parser.add_argument("--n-queries", type=int, default=96)
    parser.add_argument("--n-partial", type=int, default=48)
    parser.add_argument("--n-reference", type=int, default=16)
    parser.add_argument("--n-identify", type=int, default=48)
    parser.add_argument("--n-identify-reference", type=int, default=3)
    parser.add_argument("--large", type=int, default=256, help="0 skips the large volume")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.data:
        library, index_seconds = _folder_library(args.data, args.table, args.per_species)
        name = f"{len(library)} volumes of {args.data}"
    else:
        library, index_seconds = _synthetic_library(args.species, args.specimens, args.size,
                                                    args.seed)
        name = (f"{len(library)} synthetic volumes ({args.species} species x "
                f"{args.specimens}, size {args.size})")
    sources = [(v.volume, v.mask, v.voxel_size_um) for v in library]
    queries = make_queries(sources, args.n_queries, rng=args.seed)
    both = combine_evaluations([
        evaluate_method(queries, library, n_identify=args.n_identify,
                        index_seconds_per_volume=index_seconds),
        evaluate_method(queries, library, method="reference", n_pose=args.n_reference,
                        n_identify=args.n_identify_reference)])
    f, r = both.summary["fossilct"], both.summary["reference"]
    pose_f = both.poses[both.poses["method"] == "fossilct"]
    pose_r = both.poses[both.poses["method"] == "reference"]
    ident = both.identification
    ident_f, ident_r = ident[ident["method"] == "fossilct"], ident[ident["method"] == "reference"]
    same = pose_f.iloc[:args.n_reference]
    same_ident = ident_f.iloc[:args.n_identify_reference]
    print(f"{name}, {args.n_queries} queries (reference: {args.n_reference} for poses, "
          f"{args.n_identify_reference} for identification)")
    _row("", "fossilct", "reference", "ratio")
    _row("index build (s per volume)", f"{index_seconds:.2f}", "-")
    _row("pose success, axis-aligned", _rate(f["success_axis"]), _rate(r["success_axis"]))
    _row("pose success, oblique <= 25 deg", _rate(f["success_oblique"]),
         _rate(r["success_oblique"]))
    _row("pose success on the reference's queries", _rate(same["success"].mean()),
         _rate(pose_r["success"].mean()))
    _row("matches flagged reliable", _rate(f["reliable_share"]), "-")
    _row("  success among them", _rate(f["reliable_precision"]), "-")
    _row("median normal error (deg)", f"{f['median_normal_err_deg']:.2f}",
         f"{r['median_normal_err_deg']:.2f}")
    _row("median offset error (voxels)", f"{f['median_offset_err_vox']:.2f}",
         f"{r['median_offset_err_vox']:.2f}")
    _row("median in-plane angle error (deg)", f"{f['median_angle_err_deg']:.2f}",
         f"{r['median_angle_err_deg']:.2f}")
    pose_ratio = pose_r["seconds"].mean() / same["seconds"].mean()
    _row("seconds per query, own volume", f"{same['seconds'].mean():.3f}",
         f"{pose_r['seconds'].mean():.3f}", f"{pose_ratio:.1f}x")
    if args.n_partial:
        partial = make_queries(sources, args.n_partial, rng=args.seed + 1, partial_fraction=1.0,
                               visible_range=(0.6, 0.9))
        shown = summarise(evaluate_method(partial, library).poses)["fossilct"]
        _row(f"partial views, 60-90 % visible ({args.n_partial})",
             _rate(shown["success_partial"]), "-")
        _row("  flagged reliable / success among them",
             f"{_rate(shown['reliable_share'])} / {_rate(shown['reliable_precision'])}", "-")
    _row(f"specimen top-1 ({args.n_identify} queries)", _rate(f["specimen_top1"]),
         _rate(r["specimen_top1"]))
    _row("specimen top-3", _rate(f["specimen_top3"]), _rate(r["specimen_top3"]))
    _row("species top-1", _rate(f["species_top1"]), _rate(r["species_top1"]))
    _row("seconds per query per volume (library)", f"{f['seconds_per_query_volume']:.4f}",
         f"{r['seconds_per_query_volume']:.4f}")
    if len(ident_r):
        ratio = ident_r["seconds_per_volume"].mean() / same_ident["seconds_per_volume"].mean()
        _row("  the same, on the queries both answered",
             f"{same_ident['seconds_per_volume'].mean():.4f}",
             f"{ident_r['seconds_per_volume'].mean():.4f}", f"{ratio:.1f}x")
    if args.large:
        _large(args.large, args.seed)


if __name__ == "__main__":
    main()
