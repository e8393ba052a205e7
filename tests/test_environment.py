"""The environment files agree: requirements.txt, requirements.lock, environment.yml, pyproject,
Dockerfile (checked statically: no Docker engine runs here)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(path):
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_canonical(name)] = version
    return pins


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_direct_pins_match_the_lock():
    direct, lock = _pins("requirements.txt"), _pins("requirements.lock")
    assert direct, "requirements.txt lists no packages"
    mismatched = {n: (v, lock.get(n)) for n, v in direct.items() if lock.get(n) != v}
    assert not mismatched, f"requirements.txt and requirements.lock disagree: {mismatched}"


def test_environment_yml_lists_the_same_packages_as_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = dict(line.split("==") for line in pip_section)
    listed = {_canonical(n): v for n, v in listed.items()}
    assert listed == _pins("requirements.txt")
    assert "python=3.11" in env["dependencies"]


def test_every_pyproject_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [d for group in project["optional-dependencies"].values()
                                        for d in group]
    names = {_canonical(re.split(r"[<>=!;\[ ]", d, maxsplit=1)[0]) for d in wanted}
    missing = names - set(_pins("requirements.txt"))
    assert not missing, f"declared in pyproject.toml but not pinned: {sorted(missing)}"


def test_dockerfile_pins_base_installs_lock_and_exposes_ports():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert re.fullmatch(r"tensorflow/tensorflow:\d+\.\d+\.\d+-gpu", base), base
    tf_version = _pins("requirements.lock")["tensorflow-cpu"]
    assert base.endswith(f":{tf_version}-gpu"), "GPU base image and locked TensorFlow differ"
    assert "requirements.lock" in text and "pip install" in text
    assert re.search(r"^EXPOSE\s+8888\s+8866", text, re.M)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme and "make run" in readme
