#!/usr/bin/env python
"""Run every fossilct notebook headlessly with papermill, skipping steps that are up to date.

    python run_all.py                       # quick profile on the embedded synthetic dataset
    python run_all.py --profile smoke       # seconds per notebook (what the tests run)
    python run_all.py --data my_scans/      # your own volumes + specimens.csv
    python run_all.py --list                # the plan: notebooks, parameters, what is up to date

Executed notebooks go to ``<out>/<run_name>/notebooks/NN_name[__arch].ipynb``, each beside the
parameters it ran with (``.yaml``). A failing notebook stops the run (exit status 1) and is kept
for inspection; only a step that finished gets a stamp, so a re-run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import yaml

from fossilct import atomic, pipeline

ROOT = Path(__file__).resolve().parent
PARAMETERS = ROOT / "parameters"
log = logging.getLogger("fossilct.run_all")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Steps are named by number (02), name (02_slices) or suffix (slices).",
    )
    parser.add_argument("--profile", default="quick",
                        help="parameters/<profile>.yaml: smoke, quick (default) or paper")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder with your volumes and specimens.csv (default: generate the "
                             "synthetic dataset)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs",
                        help="outputs root; this run writes to OUT/<run_name> (default: outputs/)")
    parser.add_argument("--only", type=lambda s: [t for t in s.split(",") if t], default=None,
                        metavar="STEPS", help="comma-separated steps to run, e.g. 01,02")
    parser.add_argument("--from", dest="from_step", default=None, metavar="STEP",
                        help="run this step and every later one")
    parser.add_argument("--arch", type=lambda s: [t for t in s.split(",") if t], default=None,
                        metavar="NAMES", help="subset of the profile's architectures")
    parser.add_argument("--force", action="store_true", help="re-run steps even if up to date")
    parser.add_argument("--list", action="store_true",
                        help="print the plan and the parameters, run nothing")
    return parser.parse_args(argv)


def build_plan(args: argparse.Namespace):
    """Resolve the profile into tasks, check them against the notebooks, and decide what runs."""
    import papermill

    if args.data is not None and not (args.data / "specimens.csv").is_file():
        raise FileNotFoundError(f"--data {args.data}: no specimens.csv there. The folder must hold "
                                "your volumes and a specimens.csv with columns file, species, "
                                "specimen_id (see README, 'Your own scans').")
    profile = pipeline.load_profile(PARAMETERS, args.profile)
    run_dir = (args.out / profile["run_name"]).resolve()
    steps = pipeline.load_pipeline(PARAMETERS / "pipeline.yaml", root=ROOT)
    tasks = pipeline.resolve_tasks(steps, profile, parameters_dir=PARAMETERS, run_dir=run_dir,
                                   data_dir=args.data, architectures=args.arch)
    for task in tasks:
        if not task.notebook.is_file():
            raise FileNotFoundError(f"notebook {task.notebook} of step {task.step} does not exist.")
        pipeline.check_notebook_parameters(task, papermill.inspect_notebook(str(task.notebook)))
    selected = pipeline.select_tasks(tasks, only=args.only, from_step=args.from_step)
    cache_path = run_dir / ".stamps" / "hash-cache.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    decisions = pipeline.plan(tasks, selected, stamp_dir=run_dir / ".stamps", force=args.force,
                              cache=cache)
    return run_dir, decisions, cache


def print_plan(run_dir: Path, decisions) -> None:
    print(f"run folder: {run_dir}")
    for task, decision in decisions:
        print(f"\n[{decision:>12}] {task.key}  ({task.notebook.relative_to(ROOT)})")
        print("    " + yaml.safe_dump(task.parameters, sort_keys=False).strip().replace("\n", "\n    "))


def execute(task: pipeline.Task, run_dir: Path) -> Path:
    """Run one notebook with papermill; its executed copy and parameters go to run_dir/notebooks."""
    import papermill

    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_yaml(out_dir / f"{task.key}.yaml", task.parameters)
    executed = out_dir / f"{task.key}.ipynb"
    papermill.execute_notebook(
        str(task.notebook), str(executed), parameters=task.parameters, cwd=str(ROOT),
        kernel_name="python3", log_output=True,
        progress_bar={"desc": f"  {task.key}", "position": 1, "leave": False},
    )
    return executed


def watch_interrupts() -> threading.Event:
    """Ctrl-C raises KeyboardInterrupt as usual and also sets the returned event, so that an
    interrupt caught inside papermill or the kernel client still leaves the step unstamped."""
    interrupted = threading.Event()

    def on_sigint(signum, frame):
        interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    return interrupted


def setup_logging(run_dir: Path) -> Path:
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"run_{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("fossilct", "papermill"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        logger.propagate = False
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        run_dir, decisions, cache = build_plan(args)
    except (pipeline.PipelineError, FileNotFoundError) as exc:
        print(f"run_all.py: {exc}", file=sys.stderr)
        return 2
    if args.list:
        print_plan(run_dir, decisions)
        return 0

    from papermill.exceptions import PapermillExecutionError
    from tqdm import tqdm

    log_path = setup_logging(run_dir)
    log.info("profile %s, run folder %s, argv %s", args.profile, run_dir, argv or sys.argv[1:])
    to_run = [task for task, decision in decisions if decision == "run"]
    for task, decision in decisions:
        if decision != "run":
            log.info("%s: %s", task.key, decision)
    print(f"fossilct: {len(to_run)} of {len(decisions)} notebooks to run into {run_dir} "
          f"(log: {log_path})")
    interrupted = watch_interrupts()
    bar = tqdm(to_run, desc="pipeline", unit="notebook", position=0)
    for task in bar:
        bar.set_postfix_str(task.key)
        log.info("%s: running %s", task.key, task.notebook)
        started = dt.datetime.now()
        try:
            executed = execute(task, run_dir)
        except PapermillExecutionError as exc:
            bar.close()
            executed = run_dir / "notebooks" / f"{task.key}.ipynb"
            message = (f"step {task.key} failed in cell {exc.cell_index} (In [{exc.exec_count}]): "
                       f"{exc.ename}: {exc.evalue}\nThe partially executed notebook is kept at "
                       f"{executed}; no stamp was written. Fix the cause and run the same command "
                       "again: finished steps are skipped.")
            log.error(message)
            print(f"\nrun_all.py: {message}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            interrupted.set()
        if interrupted.is_set():  # also when a library swallowed the KeyboardInterrupt
            bar.close()
            log.error("%s interrupted; no stamp written", task.key)
            print(f"\nrun_all.py: interrupted during {task.key}; no stamp written for it. "
                  "Run the same command again to resume.", file=sys.stderr)
            return 130
        pipeline.write_stamp(run_dir / ".stamps", task, cache=cache)
        atomic.write_json(run_dir / ".stamps" / "hash-cache.json", cache)
        log.info("%s: done in %s -> %s", task.key, dt.datetime.now() - started, executed)
    bar.close()
    print(f"fossilct: done. Executed notebooks are in {run_dir / 'notebooks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
