"""Run every notebook of the pipeline headlessly with papermill, skipping what is up to date.

``python run_all.py`` (and ``fossilct run``) call :func:`main`. Executed notebooks go to
``<out>/<run_name>/notebooks/<key>.ipynb``, each beside the parameters it ran with (``.yaml``);
``<out>/<run_name>/run.yaml`` describes the run folder for :func:`fossilct.results.load_run`. A
failing notebook stops the run (exit status 1) and is kept for inspection; only a step that
finished gets a stamp, so a re-run resumes where it stopped. Whether a step runs is decided just
before it would run, from what is on disk then, so a step whose inputs an earlier step of the
same invocation changed always runs.
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

__all__ = ["parse_args", "main"]

log = logging.getLogger("fossilct.runner")


def parse_args(argv: list[str] | None, *, root: Path,
               prog: str = "run_all.py") -> argparse.Namespace:
    """The command line of ``run_all.py`` / ``fossilct run`` (`prog` names it in messages)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run every fossilct notebook headlessly, skipping steps that are up to date.",
        epilog="Steps are named by number (02), name (02_slices) or suffix (slices).")
    parser.add_argument("--profile", default="quick",
                        help="parameters/<profile>.yaml: smoke, quick (default) or paper; or the "
                             "path of your own profile file (name.yaml)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder with your volumes and specimens.csv (default: generate the "
                             "synthetic dataset)")
    parser.add_argument("--out", type=Path, default=root / "outputs",
                        help="outputs root; this run writes to OUT/<run_name> (default: outputs/)")
    parser.add_argument("--only", type=lambda s: [t for t in s.split(",") if t], default=None,
                        metavar="STEPS", help="comma-separated steps to run, e.g. 01,02")
    parser.add_argument("--from", dest="from_step", default=None, metavar="STEP",
                        help="run this step and every later one")
    parser.add_argument("--arch", type=lambda s: [t for t in s.split(",") if t], default=None,
                        metavar="NAMES", help="per-architecture steps: only these architectures")
    parser.add_argument("--force", action="store_true", help="re-run steps even if up to date")
    parser.add_argument("--strict", action="store_true",
                        help="any unreadable volume stops the run (the paper profile always is)")
    parser.add_argument("--list", action="store_true",
                        help="print the plan and the parameters, run nothing")
    return parser.parse_args(argv)


class _Plan:
    """The resolved run: every task, the selected ones, the run folder and the hash cache."""

    def __init__(self, args: argparse.Namespace, root: Path):
        import papermill

        if args.data is not None and not (args.data / "specimens.csv").is_file():
            raise FileNotFoundError(
                f"--data {args.data}: no specimens.csv there. The folder must hold your volumes "
                "and a specimens.csv with columns file, species, specimen_id (see the README, "
                "'Your own scans').")
        parameters = root / "parameters"
        self.profile_name = args.profile
        self.profile = pipeline.load_profile(parameters, args.profile)
        self.run_dir = (args.out / self.profile["run_name"]).resolve()
        self.data_dir = (args.data.resolve() if args.data is not None
                         else self.run_dir / "synthetic")
        steps = pipeline.load_pipeline(parameters / "pipeline.yaml", root=root)
        self.tasks = pipeline.resolve_tasks(steps, self.profile, parameters_dir=parameters,
                                            run_dir=self.run_dir, data_dir=args.data)
        if args.strict:
            for task in self.tasks:
                if "strict" in task.parameters:
                    task.parameters["strict"] = True
        for task in self.tasks:
            if not task.notebook.is_file():
                raise FileNotFoundError(f"notebook {task.notebook} of step {task.step} does not "
                                        "exist.")
            pipeline.check_notebook_parameters(task,
                                               papermill.inspect_notebook(str(task.notebook)))
        self.selected = pipeline.select_tasks(self.tasks, only=args.only,
                                              from_step=args.from_step, architectures=args.arch)
        cache_path = self.run_dir / ".stamps" / "hash-cache.json"
        self.cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}

    def save_cache(self) -> None:
        atomic.write_json(self.run_dir / ".stamps" / "hash-cache.json", self.cache)


def _print_plan(plan: _Plan, decisions, root: Path) -> None:
    print(f"run folder: {plan.run_dir}")
    for task, decision in decisions:
        print(f"\n[{decision:>12}] {task.key}  ({task.notebook.relative_to(root)})")
        text = yaml.safe_dump(task.parameters, sort_keys=False).strip()
        print("    " + text.replace("\n", "\n    "))


def _check_writable(run_dir: Path) -> None:
    """Fail early, with the folder named, when the run folder cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"cannot write the run folder {run_dir} ({exc.strerror}); choose a "
                              "writable folder with --out.") from None


def _kernel_environment() -> None:
    """Settings the notebook kernels inherit: inline figures, quiet TensorFlow C++ logging.

    ``TF_CPP_MIN_LOG_LEVEL`` silences TensorFlow only once its logging is initialised; the lines
    it writes before that are filtered in each kernel by the start-up file that
    ``PYTHONSTARTUP`` names (see :mod:`fossilct.tflog`).
    """
    from fossilct import tflog

    os.environ.pop("MPLBACKEND", None)  # a non-interactive backend would hide every figure
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["PYTHONSTARTUP"] = str(tflog.KERNEL_STARTUP)


def _execute(task: pipeline.Task, run_dir: Path, root: Path) -> Path:
    """Run one notebook with papermill; its executed copy and parameters go to run_dir/notebooks."""
    import papermill

    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_yaml(out_dir / f"{task.key}.yaml", task.parameters)
    executed = out_dir / f"{task.key}.ipynb"
    papermill.execute_notebook(
        str(task.notebook), str(executed), parameters=task.parameters, cwd=str(root),
        kernel_name="python3", log_output=True,
        progress_bar={"desc": f"  {task.key}", "position": 1, "leave": False},
    )
    return executed


def _watch_interrupts() -> threading.Event:
    """Ctrl-C raises KeyboardInterrupt as usual and also sets the returned event, so that an
    interrupt caught inside papermill or the kernel client still leaves the step unstamped."""
    interrupted = threading.Event()

    def on_sigint(signum, frame):
        interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    return interrupted


def _setup_logging(run_dir: Path) -> Path:
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


def _fail(message: str, code: int) -> int:
    log.error(message)
    print(f"\nrun_all.py: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None, *, root: str | os.PathLike,
         prog: str = "run_all.py") -> int:
    """Plan and run the pipeline of the project at `root`; returns the exit status.

    0: every selected step is done; 1: a notebook failed; 2: the plan is invalid (nothing ran);
    130: interrupted.
    """
    root = Path(root).resolve()
    args = parse_args(argv, root=root, prog=prog)
    _kernel_environment()
    try:
        plan = _Plan(args, root)
        if args.list:
            _print_plan(plan, pipeline.plan(plan.tasks, plan.selected, run_dir=plan.run_dir,
                                            force=args.force, cache=plan.cache), root)
            return 0
        _check_writable(plan.run_dir)
    except (pipeline.PipelineError, FileNotFoundError, PermissionError) as exc:
        print(f"run_all.py: {exc}", file=sys.stderr)
        return 2

    from papermill.exceptions import PapermillExecutionError
    from tqdm import tqdm

    log_path = _setup_logging(plan.run_dir)
    log.info("profile %s, run folder %s, argv %s", args.profile, plan.run_dir, argv)
    atomic.write_yaml(plan.run_dir / "run.yaml", pipeline.layout_record(
        plan.tasks, run_dir=plan.run_dir, profile=plan.profile, profile_name=args.profile,
        data_dir=plan.data_dir))
    chosen = {t.key for t in plan.selected}
    estimate = sum(decision == "run" for _, decision in pipeline.plan(
        plan.tasks, plan.selected, run_dir=plan.run_dir, force=args.force, cache=plan.cache))
    print(f"fossilct: {estimate} of {len(plan.tasks)} notebooks to run into {plan.run_dir} "
          f"(log: {log_path})")
    interrupted = _watch_interrupts()
    ran: list[pipeline.Task] = []
    bar = tqdm(total=estimate, desc="pipeline", unit="notebook", position=0)
    for task in plan.tasks:
        if task.key not in chosen:
            continue
        decision = pipeline.decide(task, plan.run_dir, ran=ran, force=args.force,
                                   cache=plan.cache)
        if decision != "run":
            log.info("%s: %s", task.key, decision)
            continue
        if bar.n >= bar.total:
            bar.total += 1  # an earlier step changed this one's inputs
        bar.set_postfix_str(task.key)
        log.info("%s: running %s", task.key, task.notebook)
        started = dt.datetime.now()
        code = pipeline.code_fingerprint(task, plan.run_dir, cache=plan.cache)
        try:
            executed = _execute(task, plan.run_dir, root)
        except PapermillExecutionError as exc:
            bar.close()
            executed = plan.run_dir / "notebooks" / f"{task.key}.ipynb"
            return _fail(f"step {task.key} failed in cell {exc.cell_index} (In "
                         f"[{exc.exec_count}]): {exc.ename}: {exc.evalue}\nThe partially executed "
                         f"notebook is kept at {executed}; no stamp was written. Fix the cause "
                         "and run the same command again: finished steps are skipped.", 1)
        except KeyboardInterrupt:
            interrupted.set()
        if interrupted.is_set():  # also when a library swallowed the KeyboardInterrupt
            bar.close()
            return _fail(f"interrupted during {task.key}; no stamp written for it. Run the same "
                         "command again to resume.", 130)
        pipeline.write_stamp(plan.run_dir, task, cache=plan.cache, code=code)
        plan.save_cache()
        ran.append(task)
        bar.update(1)
        log.info("%s: done in %s -> %s", task.key, dt.datetime.now() - started, executed)
    bar.close()
    _summarise(plan.run_dir)
    print(f"fossilct: done ({len(ran)} run). Executed notebooks are in "
          f"{plan.run_dir / 'notebooks'}")
    from fossilct.report import write_report

    print(f"fossilct: report {write_report(plan.run_dir)}")
    return 0


def _summarise(run_dir: Path) -> None:
    """Print and log what the steps reported that must not go unnoticed."""
    from fossilct.results import load_run

    problems = load_run(run_dir).problems()
    if problems:
        print("fossilct: the steps reported:\n" + "\n".join(f"  - {p}" for p in problems))
    for problem in problems:
        log.warning(problem)
