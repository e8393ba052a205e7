"""The notebook pipeline: which notebooks run, with which parameters, and which are up to date.

``parameters/pipeline.yaml`` declares the run layout once: the steps in run order and, for each
step, the folders it writes (relative to the run folder) and the products of earlier steps it
reads. A profile (``parameters/<profile>.yaml``) holds only numbers and choices; every path
parameter of a notebook is derived here from the declaration. Step entries:

``notebook``
    the notebook that runs the step.
``writes``
    notebook parameter -> folder relative to the run folder; ``{model}`` is the model name of a
    per-architecture step (the architecture, or ``<arch>__slice_level`` for the leakage twin).
``reads``
    notebook parameter -> ``data`` (the folder of volumes: ``--data``, or the dataset that 01
    generates) or ``<step>.<parameter>``, a product that an earlier step writes. A non-per-
    architecture step reading a per-architecture product receives a mapping architecture ->
    folder; ``<step>.<parameter>[slice_level]`` gives the leakage twins' folders.
``scratch``
    notebook parameter -> folder for caches (neither hashed nor read by other steps).
``context``
    run-level values the notebook also takes (``use_synthetic``); every step gets ``seed``.
``per_architecture``
    the step runs once per architecture of the profile (``arch`` parameter), with
    ``parameters/architectures/<arch>.yaml`` merged in.
``leakage_twin``
    it also runs for the profile's ``leakage_architecture`` trained on a slice-level split
    (``split_mode`` parameter ``slice_level``; every such step gets ``split_mode``).

A step is up to date when its notebook, its parameters, the fossilct package's source and the
content of what it reads and writes hash to what its stamp recorded after its last successful
run (a changed package re-runs every step: its results may differ). The notebook, parameters
and package are hashed when the step starts, so an edit saved while it runs makes it stale
rather than being recorded as what ran. Stamps record paths
relative to the run folder, so a moved run folder stays up to date. This module plans;
:mod:`fossilct.runner` executes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from fossilct import atomic

__all__ = [
    "PipelineError",
    "SLICE_LEVEL",
    "StepSpec",
    "Task",
    "load_yaml",
    "load_pipeline",
    "load_profile",
    "resolve_tasks",
    "check_notebook_parameters",
    "select_tasks",
    "hash_path",
    "package_hash",
    "code_fingerprint",
    "task_fingerprint",
    "decide",
    "plan",
    "write_stamp",
    "layout_record",
]

SLICE_LEVEL = "slice_level"
"""Split mode and model-name suffix of the leakage twin (trained on a slice-level split)."""
DATA = "data"
"""Reference to the folder of volumes in a step's ``reads``."""
PROFILE_KEYS = ("run_name", "seed", "architectures", "leakage_architecture")
_STEP_KEYS = {"notebook", "reads", "writes", "scratch", "context", "per_architecture",
              "leakage_twin"}
_CONTEXT = ("use_synthetic",)
_REFERENCE = re.compile(r"(?P<step>[\w-]+)\.(?P<param>\w+)(?:\[(?P<variant>\w+)\])?")


class PipelineError(ValueError):
    """A pipeline or profile definition that cannot run; raised before any notebook executes."""


@dataclass(frozen=True)
class StepSpec:
    """One notebook of the pipeline, as declared in ``parameters/pipeline.yaml``."""

    name: str
    notebook: Path
    reads: Mapping[str, str] = field(default_factory=dict)
    writes: Mapping[str, str] = field(default_factory=dict)
    scratch: Mapping[str, str] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    per_architecture: bool = False
    leakage_twin: bool = False

    @property
    def path_parameters(self) -> set[str]:
        """Notebook parameters that the layout fills (never given by a profile)."""
        return {*self.reads, *self.writes, *self.scratch}


@dataclass(frozen=True)
class Task:
    """One notebook execution: a step, for one model when the step is per-architecture."""

    step: str
    notebook: Path
    parameters: dict = field(hash=False)
    inputs: tuple[Path, ...] = ()
    outputs: tuple[Path, ...] = ()
    arch: str | None = None
    variant: str | None = None

    @property
    def model(self) -> str | None:
        """``small_cnn``, ``small_cnn__slice_level`` (leakage twin) or None."""
        if self.arch is None:
            return None
        return self.arch if self.variant is None else f"{self.arch}__{self.variant}"

    @property
    def key(self) -> str:
        """``01_dataset`` or ``04_train__small_cnn``: names the executed notebook and stamp."""
        return self.step if self.model is None else f"{self.step}__{self.model}"


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
        raise PipelineError(f"{path} must hold a mapping of keys to values, got "
                            f"{type(data).__name__}.")
    return data


def _listing(folder: Path) -> str:
    names = sorted(p.name for p in folder.glob("*.yaml")) if folder.is_dir() else []
    return ", ".join(names) or "none"


def _check_reference(path, name: str, param: str, ref: str, earlier: dict[str, StepSpec]) -> None:
    if ref == DATA:
        return
    match = _REFERENCE.fullmatch(str(ref))
    where = f"{path}: step {name!r} reads {param}: {ref!r}"
    if match is None:
        raise PipelineError(f"{where} is not `data` or `<step>.<parameter>`.")
    source = earlier.get(match["step"])
    if source is None:
        raise PipelineError(f"{where}: {match['step']!r} is not an earlier step; a step reads "
                            "only what the steps before it write.")
    if match["param"] not in source.writes:
        raise PipelineError(f"{where}: step {match['step']!r} writes only "
                            f"{sorted(source.writes)}.")
    if match["variant"] not in (None, SLICE_LEVEL) or (
            match["variant"] and not source.leakage_twin):
        raise PipelineError(f"{where}: only [{SLICE_LEVEL}] of a step with leakage_twin "
                            "may be read.")


def load_pipeline(path: str | os.PathLike, *, root: str | os.PathLike = ".") -> list[StepSpec]:
    """Read and check the step list; notebook paths are resolved against `root`."""
    steps: dict[str, StepSpec] = {}
    for name, spec in load_yaml(path).items():
        unknown = set(spec) - _STEP_KEYS
        if unknown:
            raise PipelineError(f"{path}: step {name!r} has unknown keys {sorted(unknown)}; "
                                f"allowed: {', '.join(sorted(_STEP_KEYS))}.")
        reads = dict(spec.get("reads") or {})
        for param, ref in reads.items():
            _check_reference(path, name, param, ref, steps)
        context = tuple(spec.get("context") or ())
        if set(context) - set(_CONTEXT):
            raise PipelineError(f"{path}: step {name!r} asks for context {list(context)}; "
                                f"known: {list(_CONTEXT)}.")
        steps[name] = StepSpec(
            name=name, notebook=Path(root) / spec["notebook"], reads=reads,
            writes=dict(spec.get("writes") or {}), scratch=dict(spec.get("scratch") or {}),
            context=context, per_architecture=bool(spec.get("per_architecture", False)),
            leakage_twin=bool(spec.get("leakage_twin", False)))
    return list(steps.values())


def load_profile(parameters_dir: str | os.PathLike, profile: str) -> dict:
    """Read ``<parameters_dir>/<profile>.yaml`` (or `profile` itself when it names a YAML file:
    your own variant of a profile) and check its top-level keys."""
    path = Path(parameters_dir) / f"{profile}.yaml"
    if str(profile).endswith((".yaml", ".yml")):
        path = Path(profile)
    if not path.is_file():
        raise FileNotFoundError(f"profile {profile!r} not found: {path} does not exist. "
                                f"Available profiles: {_listing(path.parent)}.")
    data = load_yaml(path)
    for key in ("run_name", "seed"):
        if key not in data:
            raise PipelineError(f"{path} lacks the top-level key {key!r}; every profile sets "
                                "run_name and seed.")
    twin = data.get("leakage_architecture")
    if twin is not None and twin not in (data.get("architectures") or {}):
        known = ", ".join(data.get("architectures") or {})
        raise PipelineError(f"{path}: leakage_architecture {twin!r} is not one of the "
                            f"profile's architectures ({known}); name one of them, or null to "
                            "skip the leakage experiment.")
    return data


def _architecture_parameters(parameters_dir: Path, arch: str, step: str) -> dict:
    path = parameters_dir / "architectures" / f"{arch}.yaml"
    if not path.is_file():
        raise PipelineError(f"unknown architecture {arch!r}: {path} does not exist. "
                            f"Known: {_listing(path.parent)}.")
    return dict(load_yaml(path).get(step) or {})


def _instances(step: StepSpec, architectures: list[str], twin: str | None):
    if not step.per_architecture:
        return [(None, None)]
    variants = [(arch, None) for arch in architectures]
    if step.leakage_twin and twin is not None:
        variants.append((twin, SLICE_LEVEL))
    return variants


def _model_name(arch: str | None, variant: str | None) -> str | None:
    if arch is None:
        return None
    return arch if variant is None else f"{arch}__{variant}"


def resolve_tasks(steps: Iterable[StepSpec], profile: Mapping[str, Any], *, parameters_dir,
                  run_dir, data_dir=None) -> list[Task]:
    """Expand the steps into tasks with fully resolved parameters.

    Parameters
    ----------
    steps : list of StepSpec
    profile : mapping
        The profile YAML: ``run_name``, ``seed``, ``architectures`` (name -> per-step overrides),
        optional ``leakage_architecture``, and one block per step (numbers and choices only).
    parameters_dir : path-like
        Folder holding ``architectures/<arch>.yaml``.
    run_dir : path-like
        This run's output folder.
    data_dir : path-like, optional
        The user's scans; when None the synthetic dataset is generated into ``run_dir/synthetic``.

    Returns
    -------
    list of Task, in run order. A per-architecture step's parameters merge the architecture's YAML
    block, then the profile's block, then the profile's override for that architecture; its
    leakage twin follows the profile's architectures.

    Raises
    ------
    PipelineError
        A step without a block in the profile, or a profile block that gives a path parameter.
    """
    parameters_dir = Path(parameters_dir)
    run_dir = Path(run_dir).resolve()
    profile_archs = dict(profile.get("architectures") or {})
    architectures = list(profile_archs)
    twin = profile.get("leakage_architecture")
    data = Path(data_dir).resolve() if data_dir else run_dir / "synthetic"
    context = {"use_synthetic": data_dir is None}
    products: dict[tuple[str, str, str | None], Path] = {}
    tasks = []
    for step in steps:
        if step.name not in profile:
            raise PipelineError(f"the profile {profile['run_name']!r} has no block for step "
                                f"{step.name!r}; add `{step.name}:` with its parameters.")
        block = dict(profile[step.name] or {})
        paths_given = sorted(step.path_parameters & set(block))
        if paths_given:
            raise PipelineError(f"the profile {profile['run_name']!r} gives {paths_given} in its "
                                f"{step.name} block; paths are declared once, in pipeline.yaml. "
                                "Remove them from the profile.")
        for arch, variant in _instances(step, architectures, twin):
            model = _model_name(arch, variant)
            params = {"seed": profile["seed"], **{k: context[k] for k in step.context}}
            if arch is not None:
                params.update(_architecture_parameters(parameters_dir, arch, step.name))
            params.update(block)
            if arch is not None:
                params.update((profile_archs[arch] or {}).get(step.name) or {})
                params["arch"] = arch
                if step.leakage_twin:
                    params["split_mode"] = variant or "specimen"
            inputs, outputs = [], []
            for param, template in step.writes.items():
                products[(step.name, param, model)] = run_dir / template.format(model=model)
                params[param] = str(products[(step.name, param, model)])
                outputs.append(products[(step.name, param, model)])
            for param, template in step.scratch.items():
                params[param] = str(run_dir / template.format(model=model))
            for param, ref in step.reads.items():
                value = _read(ref, products, data, model, architectures, twin)
                params[param] = (str(value) if isinstance(value, Path)
                                 else {k: str(v) for k, v in value.items()})
                inputs += [value] if isinstance(value, Path) else list(value.values())
            tasks.append(Task(step=step.name, notebook=step.notebook, parameters=params,
                              inputs=tuple(inputs), outputs=tuple(outputs), arch=arch,
                              variant=variant))
    return tasks


def _read(ref: str, products: dict, data: Path, model: str | None, architectures: list[str],
          twin: str | None) -> Path | dict[str, Path]:
    """The path (or architecture -> path mapping) a ``reads`` reference stands for."""
    if ref == DATA:
        return data
    match = _REFERENCE.fullmatch(ref)
    step, param, variant = match["step"], match["param"], match["variant"]
    if (step, param, None) in products:
        return products[(step, param, None)]
    if variant == SLICE_LEVEL:
        return ({} if twin is None
                else {twin: products[(step, param, _model_name(twin, SLICE_LEVEL))]})
    if model is not None:
        return products[(step, param, model)]
    return {arch: products[(step, param, arch)] for arch in architectures}


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
                        "not given by the profile or pipeline.yaml)")
    if given - wanted:
        problems.append(f"unknown {sorted(given - wanted)} (given by the profile or "
                        "pipeline.yaml, not declared in the notebook's parameters cell)")
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
                 from_step: str | None = None,
                 architectures: Iterable[str] | None = None) -> list[Task]:
    """Keep the tasks named by ``--only`` (step names, numbers or suffixes), from ``--from``,
    and of per-architecture steps only those of ``--arch``.

    Raises
    ------
    PipelineError
        A step token that matches no step or several, or an architecture no task has.
    """
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
    chosen = None if architectures is None else list(architectures)
    if chosen is not None:
        known = {t.arch for t in tasks if t.arch is not None}
        unknown = [a for a in chosen if a not in known]
        if unknown:
            raise PipelineError(f"--arch {','.join(unknown)}: not in this profile's "
                                f"architectures ({', '.join(sorted(known)) or 'none'}).")
    return [t for t in tasks if t.step in keep
            and (chosen is None or t.arch is None or t.arch in chosen)]


def _cache_key(path: Path, stat: os.stat_result) -> str:
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def hash_path(path: str | os.PathLike, *, cache: dict | None = None, pattern: str = "*") -> str:
    """SHA-256 of a file's bytes, or of a folder's relative names and file hashes; ``missing``.

    `cache` maps ``"path|size|mtime_ns"`` to a file hash so unchanged large files are not re-read
    (a changed file changes its size or modification time). In a folder, only the files whose
    names match the glob `pattern` count (default all).
    """
    path = Path(path)
    if path.is_file():
        stat = path.stat()
        key = _cache_key(path, stat)
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
        for child in sorted(p for p in path.rglob(pattern) if p.is_file()):
            digest.update(f"{child.relative_to(path).as_posix()}\0{hash_path(child, cache=cache)}\n"
                          .encode())
        return digest.hexdigest()
    return "missing"


def package_hash(root: str | os.PathLike = Path(__file__).parent, *,
                 cache: dict | None = None) -> str:
    """:func:`hash_path` of the ``.py`` files under a package folder (default fossilct's own).

    Only sources count: compiled caches appear and change without any change of behaviour.
    """
    return hash_path(root, cache=cache, pattern="*.py")


def _relative(value: Any, run_dir: Path) -> Any:
    """Parameters with paths inside the run folder written relative to it (moves keep stamps)."""
    if isinstance(value, dict):
        return {k: _relative(v, run_dir) for k, v in value.items()}
    if isinstance(value, str) and os.path.isabs(value):
        path = Path(value)
        if path == run_dir or run_dir in path.parents:
            return "{run_dir}/" + path.relative_to(run_dir).as_posix()
    return value


def _label(path: Path, run_dir: Path) -> str:
    return _relative(str(path), run_dir) if path.is_absolute() else str(path)


def code_fingerprint(task: Task, run_dir: str | os.PathLike, *,
                     cache: dict | None = None) -> dict:
    """Hashes of what a task computes with: its notebook, its parameters (paths inside the run
    folder relative to it) and the fossilct package's source. Taken before the task runs, so
    that an edit saved while it runs is not recorded as what ran."""
    params = json.dumps(_relative(task.parameters, Path(run_dir).resolve()), sort_keys=True,
                        default=str)
    return {
        "notebook": hash_path(task.notebook, cache=cache),
        "parameters": hashlib.sha256(params.encode()).hexdigest(),
        "package": package_hash(cache=cache),
    }


def task_fingerprint(task: Task, run_dir: str | os.PathLike, *, cache: dict | None = None,
                     code: dict | None = None) -> dict:
    """What a stamp records: the task's :func:`code_fingerprint` (`code`, default taken now)
    and the content of what it reads and writes, paths inside the run folder relative to it."""
    run_dir = Path(run_dir).resolve()
    return {
        **(code if code is not None else code_fingerprint(task, run_dir, cache=cache)),
        "inputs": {_label(p, run_dir): hash_path(p, cache=cache) for p in task.inputs},
        "outputs": {_label(p, run_dir): hash_path(p, cache=cache) for p in task.outputs},
    }


def _stamp_path(run_dir: Path, task: Task) -> Path:
    return Path(run_dir) / ".stamps" / f"{task.key}.json"


def write_stamp(run_dir: str | os.PathLike, task: Task, *, cache: dict | None = None,
                code: dict | None = None) -> Path:
    """Record a successful run of `task` (call only after the notebook finished without error).

    `code` is the task's :func:`code_fingerprint` taken when it started (default: now); with it,
    a notebook, parameter or package source edited while the task ran leaves the task stale.
    """
    return atomic.write_json(_stamp_path(Path(run_dir), task),
                             task_fingerprint(task, run_dir, cache=cache, code=code))


def _reads_from(task: Task, upstream: Task) -> bool:
    """True when one of `task`'s inputs is, contains, or lies inside an output of `upstream`."""
    for read in map(Path.resolve, task.inputs):
        for written in map(Path.resolve, upstream.outputs):
            if read == written or written in read.parents or read in written.parents:
                return True
    return False


def decide(task: Task, run_dir: str | os.PathLike, *, ran: Iterable[Task] = (),
           force: bool = False, cache: dict | None = None) -> str:
    """``run`` or ``up to date`` for one task, judged now (call it again after each step runs).

    A task runs when forced, never stamped, when any recorded hash differs from what is on disk
    now (notebook, parameters, package source, what it reads, what it wrote), or when it reads
    what a task in `ran` (run earlier in this invocation, or about to) writes.
    """
    stamp = _stamp_path(Path(run_dir), task)
    stale = (force or not stamp.is_file()
             or any(_reads_from(task, upstream) for upstream in ran)
             or json.loads(stamp.read_text()) != task_fingerprint(task, run_dir, cache=cache))
    return "run" if stale else "up to date"


def plan(tasks: list[Task], selected: list[Task], *, run_dir, force: bool = False,
         cache: dict | None = None) -> list[tuple[Task, str]]:
    """Decide, in run order, what each task would do now: ``run``, ``up to date`` or
    ``not selected``; a task that reads what an earlier running task writes runs too."""
    chosen = {t.key for t in selected}
    decisions: list[tuple[Task, str]] = []
    running: list[Task] = []
    for task in tasks:
        if task.key not in chosen:
            decisions.append((task, "not selected"))
            continue
        decision = decide(task, run_dir, ran=running, force=force, cache=cache)
        decisions.append((task, decision))
        if decision == "run":
            running.append(task)
    return decisions


def layout_record(tasks: Iterable[Task], *, run_dir, profile: Mapping[str, Any],
                  profile_name: str, data_dir) -> dict:
    """The run folder's own description (``run.yaml``): what ran where, paths relative to it.

    It is what :func:`fossilct.results.load_run` reads, so a run folder stays readable when the
    repository's ``pipeline.yaml`` changes later.
    """
    run_dir = Path(run_dir).resolve()
    return {
        "profile": profile_name,
        "run_name": profile["run_name"],
        "seed": profile["seed"],
        "data_dir": _relative(str(Path(data_dir).resolve()), run_dir),
        "architectures": list(profile.get("architectures") or {}),
        "leakage_architecture": profile.get("leakage_architecture"),
        "tasks": {t.key: {"step": t.step, "arch": t.arch, "variant": t.variant,
                          "outputs": [_label(p, run_dir) for p in t.outputs]} for t in tasks},
    }
