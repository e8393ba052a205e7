"""The notebook pipeline: which notebooks run, with which parameters, and which are up to date.

``parameters/pipeline.yaml`` lists the steps in run order; for each step, the parameters that name
files it reads (``inputs``) and writes (``outputs``), and whether it runs once per architecture.
A profile (``parameters/<profile>.yaml``) gives every step's parameter values, with templates
``{run_dir}``, ``{data_dir}``, ``{arch}``, ``{seed}`` and ``{use_synthetic}`` filled in here. A value
that is exactly one template (``"{use_synthetic}"``) keeps the context value's type.

A step is up to date when its notebook, its resolved parameters and the content of its inputs hash
to what its stamp recorded after its last successful run, and its outputs still exist. (Outputs
are not hashed: a later step may legitimately update an earlier one's file in place, as 03 writes
the ``split`` column of 02's manifest.) Running a step invalidates every later step that reads
what it writes. This module plans; ``run_all.py`` executes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from fossilct import atomic

__all__ = [
    "PipelineError",
    "StepSpec",
    "Task",
    "load_yaml",
    "load_pipeline",
    "load_profile",
    "resolve_tasks",
    "check_notebook_parameters",
    "select_tasks",
    "hash_path",
    "task_fingerprint",
    "plan",
    "write_stamp",
]

CONTEXT_KEYS = ("run_dir", "seed", "data_dir", "use_synthetic", "arch")


class PipelineError(ValueError):
    """A pipeline or profile definition that cannot run; raised before any notebook executes."""


@dataclass(frozen=True)
class StepSpec:
    """One notebook of the pipeline, as declared in ``parameters/pipeline.yaml``."""

    name: str
    notebook: Path
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    per_architecture: bool = False


@dataclass(frozen=True)
class Task:
    """One notebook execution: a step, for one architecture when the step is per-architecture."""

    step: str
    notebook: Path
    parameters: dict = field(hash=False)
    inputs: tuple[Path, ...] = ()
    outputs: tuple[Path, ...] = ()
    arch: str | None = None

    @property
    def key(self) -> str:
        """``01_dataset`` or ``04_train__mobilenet_v3_small``: names the executed notebook and stamp."""
        return self.step if self.arch is None else f"{self.step}__{self.arch}"


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML mapping; errors name the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {str(path)!r} does not exist; "
                                f"the files in its folder are {_listing(path.parent)}.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PipelineError(f"{path} must hold a mapping of keys to values, got {type(data).__name__}.")
    return data


def _listing(folder: Path) -> str:
    names = sorted(p.name for p in folder.glob("*.yaml")) if folder.is_dir() else []
    return ", ".join(names) or "none"


def load_pipeline(path: str | os.PathLike, *, root: str | os.PathLike = ".") -> list[StepSpec]:
    """Read the step list; notebook paths are resolved against `root` (the repository)."""
    steps = []
    for name, spec in load_yaml(path).items():
        unknown = set(spec) - {"notebook", "inputs", "outputs", "per_architecture"}
        if unknown:
            raise PipelineError(f"{path}: step {name!r} has unknown keys {sorted(unknown)}; "
                                "allowed: notebook, inputs, outputs, per_architecture.")
        steps.append(StepSpec(
            name=name,
            notebook=Path(root) / spec["notebook"],
            inputs=tuple(spec.get("inputs", ())),
            outputs=tuple(spec.get("outputs", ())),
            per_architecture=bool(spec.get("per_architecture", False)),
        ))
    return steps


def load_profile(parameters_dir: str | os.PathLike, profile: str) -> dict:
    """Read ``<parameters_dir>/<profile>.yaml`` and check its top-level keys."""
    path = Path(parameters_dir) / f"{profile}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"profile {profile!r} not found: {path} does not exist. "
                                f"Available profiles: {_listing(path.parent)}.")
    data = load_yaml(path)
    for key in ("run_name", "seed"):
        if key not in data:
            raise PipelineError(f"{path} lacks the top-level key {key!r}; every profile sets "
                                "run_name and seed.")
    return data


def _fill(value: Any, context: Mapping[str, Any], where: str) -> Any:
    """Fill ``{name}`` templates in a parameter value (recursively in lists and dicts)."""
    if isinstance(value, list):
        return [_fill(v, context, where) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, context, where) for k, v in value.items()}
    if not isinstance(value, str) or "{" not in value:
        return value
    if value.startswith("{") and value.endswith("}") and value[1:-1] in context:
        return context[value[1:-1]]
    try:
        return value.format_map(context)
    except KeyError as exc:
        raise PipelineError(f"{where}: unknown template {{{exc.args[0]}}} in {value!r}; "
                            f"available: {', '.join('{' + k + '}' for k in context)}.") from None


def _architecture_parameters(parameters_dir: Path, arch: str, step: str) -> dict:
    path = parameters_dir / "architectures" / f"{arch}.yaml"
    if not path.is_file():
        raise PipelineError(f"unknown architecture {arch!r}: {path} does not exist. "
                            f"Known: {_listing(path.parent)}.")
    return dict(load_yaml(path).get(step) or {})


def resolve_tasks(steps: Iterable[StepSpec], profile: Mapping[str, Any], *, parameters_dir,
                  run_dir, data_dir=None, architectures: Iterable[str] | None = None) -> list[Task]:
    """Expand the steps into tasks with fully resolved parameters.

    Parameters
    ----------
    steps : list of StepSpec
    profile : mapping
        The profile YAML: ``run_name``, ``seed``, ``architectures`` (name -> per-step overrides)
        and one block per step.
    parameters_dir : path-like
        Folder holding ``architectures/<arch>.yaml``.
    run_dir : path-like
        This run's output folder.
    data_dir : path-like, optional
        The user's scans; when None the synthetic dataset is generated into ``run_dir/synthetic``.
    architectures : iterable of str, optional
        Subset of the profile's architectures (``--arch``).

    Returns
    -------
    list of Task, in run order. A per-architecture step's parameters merge the architecture's YAML
    block, then the profile's block, then the profile's override for that architecture.
    """
    parameters_dir = Path(parameters_dir)
    run_dir = Path(run_dir).resolve()
    profile_archs = dict(profile.get("architectures") or {})
    chosen = list(profile_archs) if architectures is None else list(architectures)
    unknown = [a for a in chosen if a not in profile_archs]
    if unknown:
        raise PipelineError(f"--arch {','.join(unknown)}: not in this profile's architectures "
                            f"({', '.join(profile_archs) or 'none'}).")
    context = {
        "run_dir": str(run_dir),
        "seed": profile["seed"],
        "data_dir": str(Path(data_dir).resolve()) if data_dir else str(run_dir / "synthetic"),
        "use_synthetic": data_dir is None,
    }
    tasks = []
    for step in steps:
        if step.name not in profile:
            raise PipelineError(f"the profile {profile['run_name']!r} has no block for step "
                                f"{step.name!r}; add `{step.name}:` with its parameters.")
        for arch in chosen if step.per_architecture else [None]:
            params = {}
            if arch is not None:
                params.update(_architecture_parameters(parameters_dir, arch, step.name))
            params.update(profile[step.name] or {})
            if arch is not None:
                params.update((profile_archs[arch] or {}).get(step.name) or {})
            local = dict(context, arch=arch) if arch else context
            where = f"profile {profile['run_name']!r}, step {step.name}"
            params = {k: _fill(v, local, where) for k, v in params.items()}
            params = {**{k: local[k] for k in ("run_dir", "seed")}, **params}
            if arch is not None:
                params["arch"] = arch
            tasks.append(Task(
                step=step.name, notebook=step.notebook, parameters=params, arch=arch,
                inputs=tuple(Path(params[k]) for k in step.inputs if _declared(params, k, step)),
                outputs=tuple(Path(params[k]) for k in step.outputs if _declared(params, k, step)),
            ))
    return tasks


def _declared(params: dict, key: str, step: StepSpec) -> bool:
    if key not in params:
        raise PipelineError(f"pipeline.yaml declares {key!r} as an input/output of {step.name}, "
                            "but the profile gives it no value; add it to the step's block.")
    return True


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
          "list": (list,), "dict": (dict,)}


def _matches(value: Any, type_name: str) -> bool:
    """Whether a YAML value fits a parameter annotation: ``int``, ``Optional[str]``,
    ``Union[str, int]``, ``list[int]`` (item types unchecked); unknown annotations accept all.

    >>> _matches(3, "float"), _matches(True, "int"), _matches(None, "Optional[str]")
    (True, False, True)
    >>> _matches("all", "Union[str, int]"), _matches(2.5, "Union[str, int]")
    (True, False)
    """
    name = type_name.replace(" ", "")
    wrapper, _, inner = name.partition("[")
    if wrapper in ("Optional", "Union"):
        options = inner.rstrip("]").split(",")
        return (wrapper == "Optional" and value is None) or any(
            _matches(value, option) for option in options)
    accepted = _TYPES.get(wrapper.lower())
    if accepted is None:
        return True
    if isinstance(value, bool) and wrapper.lower() != "bool":
        return False
    return isinstance(value, accepted)


def check_notebook_parameters(task: Task, declared: Mapping[str, Mapping[str, Any]]) -> None:
    """Check that a task's parameters match the notebook's ``parameters`` cell exactly.

    Parameters
    ----------
    task : Task
    declared : mapping
        ``papermill.inspect_notebook(notebook)``: name -> {"inferred_type_name", ...}.

    Raises
    ------
    PipelineError
        Naming the notebook and every missing or unknown key, or a value whose type contradicts
        the annotation in the notebook.
    """
    given, wanted = set(task.parameters), set(declared)
    problems = []
    if wanted - given:
        problems.append(f"missing {sorted(wanted - given)} (declared in the notebook, "
                        "not given by the profile)")
    if given - wanted:
        problems.append(f"unknown {sorted(given - wanted)} (given by the profile, not declared "
                        "in the notebook's parameters cell)")
    for name in sorted(given & wanted):
        type_name = str(declared[name].get("inferred_type_name", "None"))
        value = task.parameters[name]
        if not _matches(value, type_name):
            problems.append(f"{name}={value!r} is {type(value).__name__}, the notebook expects "
                            f"{type_name}")
    if problems:
        raise PipelineError(f"{task.notebook.name} ({task.key}): parameter mismatch: "
                            + "; ".join(problems) + ". Fix the profile YAML or the notebook.")


def select_tasks(tasks: list[Task], *, only: Iterable[str] | None = None,
                 from_step: str | None = None) -> list[Task]:
    """Keep the tasks named by ``--only`` (step names, numbers or suffixes) or from ``--from``."""
    steps = list(dict.fromkeys(t.step for t in tasks))

    def match(token: str) -> str:
        hits = [s for s in steps if token in (s, s.split("_", 1)[0], s.split("_", 1)[-1])]
        if len(hits) != 1:
            raise PipelineError(f"step {token!r} matches {hits or 'no step'}; steps are "
                                f"{', '.join(steps)} (give a name, its number or its suffix).")
        return hits[0]

    keep = set(steps)
    if only:
        keep = {match(t) for t in only}
    if from_step:
        start = steps.index(match(from_step))
        keep &= set(steps[start:])
    return [t for t in tasks if t.step in keep]


def hash_path(path: str | os.PathLike, *, cache: dict | None = None) -> str:
    """SHA-256 of a file's bytes, or of a folder's relative names and file hashes; ``missing``.

    `cache` maps ``"path|size|mtime_ns"`` to a file hash so unchanged large files are not re-read.
    """
    path = Path(path)
    if path.is_file():
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if cache is not None and key in cache:
            return cache[key]
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        if cache is not None:
            cache[key] = value
        return value
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{child.relative_to(path).as_posix()}\0{hash_path(child, cache=cache)}\n"
                          .encode())
        return digest.hexdigest()
    return "missing"


def task_fingerprint(task: Task, *, cache: dict | None = None) -> dict:
    """What a stamp records: hashes of notebook, parameters and inputs; which outputs exist."""
    params = json.dumps(task.parameters, sort_keys=True, default=str)
    return {
        "notebook": hash_path(task.notebook, cache=cache),
        "parameters": hashlib.sha256(params.encode()).hexdigest(),
        "inputs": {str(p): hash_path(p, cache=cache) for p in task.inputs},
        "outputs": {str(p): p.exists() for p in task.outputs},
    }


def _stamp_path(stamp_dir: Path, task: Task) -> Path:
    return Path(stamp_dir) / f"{task.key}.json"


def write_stamp(stamp_dir: str | os.PathLike, task: Task, *, cache: dict | None = None) -> Path:
    """Record a successful run of `task` (call only after the notebook finished without error)."""
    return atomic.write_json(_stamp_path(Path(stamp_dir), task), task_fingerprint(task, cache=cache))


def _reads_from(task: Task, upstream: Task) -> bool:
    """True when one of `task`'s inputs is, contains, or lies inside an output of `upstream`."""
    for read in map(Path.resolve, task.inputs):
        for written in map(Path.resolve, upstream.outputs):
            if read == written or written in read.parents or read in written.parents:
                return True
    return False


def plan(tasks: list[Task], selected: list[Task], *, stamp_dir, force: bool = False,
         cache: dict | None = None) -> list[tuple[Task, str]]:
    """Decide, in run order, what each task does: ``run``, ``up to date`` or ``not selected``.

    A selected task runs when forced, never stamped, or when any recorded hash changed; it also
    runs when it reads what an earlier task that runs now writes.
    """
    chosen = {t.key for t in selected}
    decisions: list[tuple[Task, str]] = []
    running: list[Task] = []
    for task in tasks:
        if task.key not in chosen:
            decisions.append((task, "not selected"))
            continue
        stamp = _stamp_path(Path(stamp_dir), task)
        stale = (force or not stamp.is_file()
                 or json.loads(stamp.read_text()) != task_fingerprint(task, cache=cache)
                 or any(_reads_from(task, upstream) for upstream in running))
        decisions.append((task, "run" if stale else "up to date"))
        if stale:
            running.append(task)
    return decisions
