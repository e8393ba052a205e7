"""The environment files agree: requirements.txt, requirements.lock, environment.yml, pyproject,
Makefile, Dockerfile (checked statically against the repository: no Docker engine runs here)."""

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path):
    """name -> Requirement of a pinned requirements file (comments skipped)."""
    found = {}
    for line in (ROOT / path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            found[_canonical(requirement.name)] = requirement
    return found


def _pins(path):
    pins = {}
    for name, requirement in _requirements(path).items():
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path}: {requirement} is not an exact pin"
        pins[name] = specifier.version
    return pins


def _supported_pythons():
    """The Makefile's SUPPORTED versions (the interpreters `make` accepts)."""
    return re.search(r"^SUPPORTED\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(),
                     re.M).group(1).split()


def test_direct_pins_match_the_lock():
    direct, lock = _pins("requirements.txt"), _pins("requirements.lock")
    assert direct, "requirements.txt lists no packages"
    mismatched = {n: (v, lock.get(n)) for n, v in direct.items() if lock.get(n) != v}
    assert not mismatched, f"requirements.txt and requirements.lock disagree: {mismatched}"


def test_lock_markers_select_python_versions_the_project_supports():
    supported = _supported_pythons()
    marked = {n: r for n, r in _requirements("requirements.lock").items() if r.marker}
    for name, requirement in marked.items():
        chosen = [v for v in supported if requirement.marker.evaluate({"python_version": v})]
        assert chosen and chosen != supported, f"{requirement}: marker selects {chosen}"


def test_requires_python_is_exactly_the_supported_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specifier = SpecifierSet(project["requires-python"])
    supported = _supported_pythons()
    assert [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if f"{v}.0" in specifier] == \
        supported
    classifiers = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                   if c.startswith("Programming Language :: Python :: 3.")}
    assert sorted(classifiers) == supported


def test_environment_yml_installs_the_lock_and_the_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == ["-r requirements.lock", "-e ."]
    (python,) = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python.split("=")[1] in _supported_pythons()


def test_every_pyproject_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins("requirements.txt")
    wanted = [Requirement(d) for d in project["dependencies"]] + [
        Requirement(d) for group in project["optional-dependencies"].values() for d in group]
    tensorflow = {r for r in wanted if _canonical(r.name) in ("tensorflow", "tensorflow-cpu")}
    missing = {_canonical(r.name) for r in set(wanted) - tensorflow} - set(pins)
    assert not missing, f"declared in pyproject.toml but not pinned: {sorted(missing)}"
    # every TensorFlow build a host can get (cpu, gpu, macOS) is the locked version
    assert {str(r.specifier) for r in tensorflow} == {f"=={pins['tensorflow-cpu']}"}
    assert "and-cuda" in {e for r in tensorflow for e in r.extras}


def test_the_makefile_gpu_build_installs_the_locked_tensorflow_version():
    makefile = (ROOT / "Makefile").read_text()
    assert "TF_VERSION := $(shell sed -nE 's/^tensorflow[-_]cpu==//p' requirements.lock)" in \
        makefile
    assert '"tensorflow[and-cuda]==$(TF_VERSION)"' in makefile


def _instructions():
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def test_dockerfile_base_matches_the_lock_and_it_exposes_both_servers():
    base = dict(_instructions())["FROM"]
    assert re.fullmatch(r"tensorflow/tensorflow:\d+\.\d+\.\d+-gpu(@sha256:[0-9a-f]{64})?", base)
    assert base.split(":")[1].split("-")[0] == _pins("requirements.lock")["tensorflow-cpu"]
    assert "requirements.lock" in DOCKERFILE and "pip install" in DOCKERFILE
    assert re.search(r"^EXPOSE\s+8888\s+8866", DOCKERFILE, re.M)


def test_dockerfile_copies_only_what_exists_and_names_real_files():
    for instruction, arguments in _instructions():
        if instruction == "COPY":
            sources = [a for a in shlex.split(arguments) if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    home = re.search(r"^WORKDIR\s+(\S+)", DOCKERFILE, re.M).group(1)
    startup = re.search(r"PYTHONSTARTUP=(\S+)", DOCKERFILE).group(1)
    assert (ROOT / Path(startup).relative_to(home)).is_file()


def test_dockerfile_runs_unprivileged_with_a_healthcheck_volumes_and_inline_figures():
    instructions = _instructions()
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1].strip() not in ("root", "0", "0:0")
    assert [name for name, _ in instructions].index("USER") > max(
        i for i, (name, _) in enumerate(instructions) if name == "RUN")
    assert any(name == "HEALTHCHECK" and "CMD" in args for name, args in instructions)
    volumes = " ".join(args for name, args in instructions if name == "VOLUME")
    home = re.search(r"^WORKDIR\s+(\S+)", DOCKERFILE, re.M).group(1)
    assert f"{home}/outputs" in volumes and "/.keras" in volumes
    assert not [args for _, args in instructions if "MPLBACKEND" in args]  # figures inline
    assert not [args for _, args in instructions if "--allow-root" in args]


def test_dockerfile_serves_the_dashboard_notebook_that_exists():
    served = re.findall(r"voila\b.*?(notebooks/\S+\.ipynb)", DOCKERFILE)
    assert served and all((ROOT / path).is_file() for path in served)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme and "make run" in readme
