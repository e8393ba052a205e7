"""The ``fossilct`` command (also ``python -m fossilct``).

::

    fossilct run [--project DIR] [run_all.py options]   the pipeline, exactly as run_all.py
    fossilct report [RUN_DIR]                           (re)build RUN_DIR/report/index.html
    fossilct synthetic --out DIR [...]                  the synthetic dataset generator
    fossilct classify IMAGE... --model DIR [--top-k 3] [--csv FILE]
    fossilct match IMAGE --run RUN_DIR [--top-k 5] [--pixel-size-um UM]

``classify`` is :func:`fossilct.inference.classify`: each image is segmented as the slice step
segments its slices and the species are ranked with a trained model folder
(``outputs/<run>/models/<arch>``, the ensemble's ``models/ensemble`` included). ``match``
searches the run's matching library (the specimens notebook 07 benchmarked, with its score
weights and search effort) and prints the ranked specimens and the pose of the best match, in the
prepared volume and in the original file. Images are read by :func:`fossilct.images.read_image`
(PNG, JPEG, BMP, TIFF, 2-D DICOM); a pixel size the file states is used for matching unless
``--pixel-size-um`` is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PROJECT_MARKER", "find_project_root", "match_image", "main"]

PROJECT_MARKER = Path("parameters") / "pipeline.yaml"
"""A folder holding this file is a fossilct project (repository) root."""
MATCH_CACHE = Path("cache") / "match-index"
"""Index cache of ``fossilct match`` inside the run folder, seeded from the matching step's own
cache: the command never writes into a step's folder (that would make the step out of date)."""


class CommandError(Exception):
    """A command cannot run as asked; the message says why and what to do (exit status 2)."""


def find_project_root(start: str | os.PathLike) -> Path:
    """The nearest folder at or above `start` that holds ``parameters/pipeline.yaml``.

    Raises
    ------
    FileNotFoundError
        If no folder up to the file system root holds it.
    """
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    raise FileNotFoundError(f"no fossilct project at or above {start} (no {PROJECT_MARKER}); "
                            "run the command inside the repository or pass --project DIR.")


def _match_library(run):
    """The run's matching library, its indexes read from a cache seeded by the step's own."""
    from fossilct import matching
    from fossilct.matching.benchmark import library_table

    parameters = run.parameters("07_matching")
    cache = run.run_dir / MATCH_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    for index_file in (run.matching_dir / "index").glob("*.npz"):
        if not (cache / index_file.name).exists():
            shutil.copy2(index_file, cache / index_file.name)
    table = library_table(run.inventory, parameters["library_per_species"])
    return matching.load_library(table, run.data_dir, cache_dir=cache), parameters


def match_image(image: np.ndarray, run, *, pixel_size_um: float | None = None):
    """Search an image in a run's matching library, as notebook 07 searched its queries.

    Parameters
    ----------
    image : ndarray
        A section: gray or colour, any size, black or white background.
    run : fossilct.results.Run
        A run whose matching step finished.
    pixel_size_um : float, optional, keyword-only
        The image's pixel size; None lets the matcher estimate the scale.

    Returns
    -------
    fossilct.matching.LibraryResult

    Raises
    ------
    fossilct.results.RunError
        If the run's matching step has not finished.
    fossilct.matching.MatchingError
        If the image holds no fossil.
    """
    from fossilct import matching

    library, parameters = _match_library(run)
    return matching.match_slice_to_library(
        image, library, pixel_size_um=pixel_size_um, weights=parameters["weights"],
        effort=matching.SearchEffort.from_mapping(parameters["search_effort"]))


def _run(argv: list[str]) -> int:
    from fossilct import runner

    parser = argparse.ArgumentParser(prog="fossilct run", add_help=False)
    parser.add_argument("--project", type=Path, default=None)
    known, rest = parser.parse_known_args(argv)
    root = known.project if known.project is not None else find_project_root(Path.cwd())
    if not (Path(root) / PROJECT_MARKER).is_file():
        raise CommandError(f"--project {root}: no {PROJECT_MARKER} there; give the repository's "
                           "root folder.")
    return runner.main(rest, root=root, prog="fossilct run")


def _report(args: argparse.Namespace) -> int:
    from fossilct.report import write_report

    print(f"report: {write_report(args.run_dir)}")
    return 0


_CLASSIFY_SHOWN = ["rank", "species", "probability"]


def _classify(args: argparse.Namespace) -> int:
    from fossilct.inference import classify

    table = classify([Path(p) for p in args.images], args.model)
    table = table[table["rank"] <= args.top_k].reset_index(drop=True)  # rank 0: refused
    for file, rows in table.groupby("file", sort=False):
        if (rows["rank"] == 0).any():
            print(f"{file}\n  not classified: {rows['message'].iloc[0]}\n")
            continue
        top = rows.iloc[0]
        uncertain = pd.notna(top["uncertain"]) and bool(top["uncertain"])
        print(f"{file}\n" + rows[_CLASSIFY_SHOWN].to_string(
            index=False, formatters={"probability": "{:.3f}".format})
            + f"\n  margin {top['margin']:.3f}, entropy {top['entropy']:.3f}"
            + (", uncertain" if uncertain else "") + "\n")
    if args.csv is not None:
        from fossilct import atomic

        print(f"written: {atomic.write_csv(args.csv, table)}")
    refused = int((table["rank"] == 0).sum())
    if refused:
        raise CommandError(f"{refused} of {len(args.images)} images could not be classified "
                           "(see above).")
    return 0


def _match(args: argparse.Namespace) -> int:
    from fossilct.images import read_image
    from fossilct.matching import reliability_note
    from fossilct.results import load_run

    image = read_image(args.image)
    stated = image.pixel_size_um
    pixel_size = args.pixel_size_um if args.pixel_size_um is not None else (
        None if stated is None else float(np.mean(stated)))
    result = match_image(image.pixels, load_run(args.run), pixel_size_um=pixel_size)
    print("specimens, best first:\n" + result.specimens.head(args.top_k).to_string(
        index=False, formatters={"score": "{:.3f}".format}))
    best = result.best
    if best is None:
        raise CommandError(f"no volume of the library could be searched: "
                           f"{result.skipped.to_dict('records')}")
    print(f"\nbest match: {best.file} (specimen {best.specimen}, species {best.species}), "
          f"score {best.score:.3f}\n{reliability_note(best)}\n"
          "pose in the prepared volume (isotropic "
          "voxels, (plane, row, col) axes):\n"
          f"  normal          {np.round(best.normal, 4).tolist()}\n"
          f"  offset          {best.offset_vox:.2f} voxels from the centre ({best.offset_um:.1f} "
          "µm)\n"
          f"  in-plane angle  {best.angle_deg:.1f}°, mirrored: {'yes' if best.mirror else 'no'}\n"
          f"  scale           {best.scale:.3f} voxels per image pixel\n"
          f"  fossil centre   {np.round(best.centre_vox, 2).tolist()} (voxels)")
    plane = best.plane_in_file
    if plane is not None:
        print(f"the plane in {best.file} ((plane, row, col) indices of the array "
              "fossilct.volumes.load_volume returns):\n"
              f"  centre          {np.round(plane.centre_vox, 2).tolist()} voxels = "
              f"{np.round(plane.centre_um, 1).tolist()} µm\n"
              f"  normal          {np.round(plane.normal_um, 4).tolist()} (physical, µm axes)\n"
              f"  image rows run  {np.round(plane.row_vox, 4).tolist()}, columns "
              f"{np.round(plane.col_vox, 4).tolist()} (voxel axes)\n"
              f"  pixel           {plane.pixel_um:.3g} µm; file voxels "
              f"{tuple(round(s, 4) for s in plane.spacing_um)} µm")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fossilct", description="Fossil species identification and slice-to-volume "
        "matching from micro-CT scans.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", add_help=False,
                        help="run the notebook pipeline (run_all.py; `fossilct run --help`)")
    commands.add_parser("synthetic", add_help=False, help="generate the synthetic dataset "
                        "(`fossilct synthetic --help`)")
    report = commands.add_parser("report", help="build RUN_DIR/report/index.html from a run")
    report.add_argument("run_dir", nargs="?", default=".", type=Path,
                        help="run folder (default: the current folder)")
    report.set_defaults(handler=_report)
    classify = commands.add_parser("classify", help="rank the species of slice images")
    classify.add_argument("images", nargs="+", metavar="IMAGE",
                          help="PNG, JPEG, BMP, TIFF or 2-D DICOM")
    classify.add_argument("--model", required=True, type=Path,
                          help="trained model folder, e.g. outputs/quick/models/small_cnn")
    classify.add_argument("--top-k", type=int, default=3, help="species listed per image")
    classify.add_argument("--csv", type=Path, default=None, help="also write the table here")
    classify.set_defaults(handler=_classify)
    match = commands.add_parser("match", help="find a section's specimen and pose")
    match.add_argument("image", metavar="IMAGE")
    match.add_argument("--run", required=True, type=Path,
                       help="run folder whose matching step finished, e.g. outputs/quick")
    match.add_argument("--top-k", type=int, default=5, help="specimens listed")
    match.add_argument("--pixel-size-um", type=float, default=None,
                       help="the image's pixel size in µm (default: the one the file states, "
                            "else estimated)")
    match.set_defaults(handler=_match)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default ``sys.argv[1:]``); return the exit status.

    0: done; 2: bad input (the message says what to change); other statuses as the pipeline's
    (``fossilct run``: 1 a notebook failed, 130 interrupted). Called without `argv`, as the
    installed command is, it also drops TensorFlow's C++ start-up lines from standard error
    (:mod:`fossilct.tflog`).
    """
    from fossilct.matching import MatchingError
    from fossilct.results import RunError

    if argv is None:  # the installed command: keep TensorFlow's C++ start-up lines off stderr
        from fossilct import tflog

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        tflog.install_from_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["run"]:  # run_all.py's own options follow: its parser reads them
            return _run(argv[1:])
        if argv[:1] == ["synthetic"]:
            from fossilct.synthetic.__main__ import main as synthetic_main

            return synthetic_main(argv[1:])
        args = _parser().parse_args(argv)
        if getattr(args, "top_k", 1) < 1:
            raise CommandError(f"--top-k must be at least 1; got {args.top_k}.")
        return args.handler(args)
    except (CommandError, RunError, FileNotFoundError, MatchingError, ValueError) as error:
        print(f"fossilct: {error}", file=sys.stderr)
        return 2
