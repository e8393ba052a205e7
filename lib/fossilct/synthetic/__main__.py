"""Command line: ``python -m fossilct.synthetic --out DIR [--species 12] [--specimens 6] ...``."""

from __future__ import annotations

import argparse
import sys
import time

from fossilct.synthetic.dataset import write_dataset
from fossilct.synthetic.morphotypes import SPECIES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fossilct.synthetic",
        description="Generate the synthetic micro-CT dataset of foraminifera-like fossils: "
                    "volumes in a mix of formats plus specimens.csv.")
    parser.add_argument("--out", required=True, help="output folder (created or replaced)")
    parser.add_argument("--species", type=int, default=12,
                        help=f"number of species, the first N of {len(SPECIES)} (default 12)")
    parser.add_argument("--specimens", type=int, default=6,
                        help="specimens per species (default 6)")
    parser.add_argument("--size", type=int, default=128, help="voxels along rows and columns "
                        "(default 128)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--rescan-fraction", type=float, default=0.2,
                        help="share of specimens scanned twice (default 0.2)")
    parser.add_argument("--formats", default=None,
                        help="comma-separated volume formats to cycle through (default: all)")
    parser.add_argument("--write-masks", action="store_true",
                        help="also write ground-truth masks (masks/<scan>.npz)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        table = write_dataset(
            args.out, n_species=args.species, n_specimens=args.specimens, size=args.size,
            seed=args.seed, rescan_fraction=args.rescan_fraction,
            formats=None if args.formats is None else args.formats.split(","),
            write_masks=args.write_masks)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    n_rescans = len(table) - table["specimen_id"].nunique()
    print(f"wrote {len(table)} volumes ({table['specimen_id'].nunique()} specimens of "
          f"{table['species'].nunique()} species, {n_rescans} re-scans) to {args.out} "
          f"in {seconds:.1f} s")
    print("formats: " + ", ".join(f"{name} {count}" for name, count
                                  in table["format"].value_counts().sort_index().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
