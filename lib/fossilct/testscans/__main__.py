"""Command line: ``python -m fossilct.testscans --out DIR [--species 6] [--specimens 5] ...``."""

from __future__ import annotations

import argparse
import sys
import time

from fossilct.testscans.dataset import DEFAULT_FORMATS, write_dataset
from fossilct.testscans.morphotypes import SPECIES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fossilct.testscans",
        description="Write the second test source (scans the quick profile was not tuned on): "
                    "volumes in several formats plus specimens.csv.")
    parser.add_argument("--out", required=True, help="output folder (created or replaced)")
    parser.add_argument("--species", type=int, default=len(SPECIES),
                        help=f"number of species, the first N of {len(SPECIES)} (default 6)")
    parser.add_argument("--specimens", type=int, default=5,
                        help="specimens per species (default 5)")
    parser.add_argument("--size", type=int, default=80,
                        help="voxels along rows and columns (default 80)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--rescans", type=int, default=2,
                        help="specimens scanned twice (default 2)")
    parser.add_argument("--formats", default=",".join(DEFAULT_FORMATS),
                        help="comma-separated volume formats to cycle through")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        table = write_dataset(args.out, n_species=args.species, n_specimens=args.specimens,
                              size=args.size, seed=args.seed, n_rescans=args.rescans,
                              formats=args.formats.split(","))
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(table)} volumes ({table['specimen_id'].nunique()} specimens of "
          f"{table['species'].nunique()} species) to {args.out} in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
