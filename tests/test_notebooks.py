"""Notebooks are thin, clean narratives whose parameters every profile fills exactly."""

import ast
import os
from pathlib import Path

import nbformat
import papermill
import pytest

from fossilct import pipeline

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STEPS = pipeline.load_pipeline(ROOT / "parameters" / "pipeline.yaml", root=ROOT)
PROFILES = ("smoke", "quick", "paper")
FORBIDDEN = {ast.FunctionDef: "def", ast.AsyncFunctionDef: "def", ast.ClassDef: "class",
             ast.Try: "try", ast.For: "for loop", ast.While: "while loop", ast.Lambda: "lambda",
             ast.If: "if statement", ast.IfExp: "conditional expression",
             ast.ListComp: "comprehension", ast.SetComp: "comprehension",
             ast.DictComp: "comprehension", ast.GeneratorExp: "comprehension"}


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _is_parameters(cell):
    return "parameters" in cell.metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_has_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    assert not [c for c in cells if c.outputs or c.execution_count], "commit without outputs"
    assert sum(map(_is_parameters, cells)) == 1
    declared = papermill.inspect_notebook(str(path))
    paths = {p for step in STEPS if step.notebook.resolve() == path.resolve()
             for p in step.path_parameters} | {"run_dir"}
    undocumented = [name for name, p in declared.items() if not p["help"] and name not in paths]
    assert not undocumented, f"parameters without a comment: {undocumented}"
    assert all(p["inferred_type_name"] != "None" for p in declared.values()), "annotate types"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_as_a_narrative(path):
    nb = nbformat.read(path, as_version=4)
    title = nb.cells[0].source.splitlines()[0]
    assert nb.cells[0].cell_type == "markdown" and title.startswith(f"# {path.stem[:2]} · ")
    headings = [line for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    if path.stem != "09_dashboard":
        assert headings == ["## Load", "## Compute", "## Inspect", "## Save", "## Conclusion"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_has_no_logic_or_magic_numbers(path):
    nb = nbformat.read(path, as_version=4)
    for cell in _code_cells(nb):
        if _is_parameters(cell):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            kind = FORBIDDEN.get(type(node))
            assert kind is None, f"{kind} in a notebook cell: move it into lib/fossilct"
            if isinstance(node, ast.Constant) and type(node.value) in (int, float):
                raise AssertionError(f"numeric literal {node.value!r} in {path.name}: "
                                     f"put it in parameters/ ({cell.source[:60]!r})")
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                raise AssertionError("import * in a notebook")


def test_every_notebook_is_a_pipeline_step():
    assert {s.notebook.resolve() for s in STEPS} == {p.resolve() for p in NOTEBOOKS
                                                      if p.stem != "09_dashboard"}


def _as_default(value, name, step):
    """A resolved smoke parameter as the notebook's default spells it: paths relative to the
    notebooks folder (where JupyterLab runs a notebook opened by hand)."""
    if name in step.path_parameters:
        if isinstance(value, dict):
            return {k: os.path.relpath(v, ROOT / "notebooks") for k, v in value.items()}
        return os.path.relpath(value, ROOT / "notebooks")
    return value


def test_notebook_defaults_are_the_smoke_profile():
    """Opened by hand, a notebook runs the smoke profile's first architecture in outputs/smoke."""
    profile = pipeline.load_profile(ROOT / "parameters", "smoke")
    tasks = pipeline.resolve_tasks(STEPS, profile, parameters_dir=ROOT / "parameters",
                                   run_dir=ROOT / "outputs" / "smoke")
    first = {}
    for task in tasks:
        first.setdefault(task.step, task)
    steps = {s.name: s for s in STEPS}
    drifted = {}
    for name, task in first.items():
        declared = papermill.inspect_notebook(str(task.notebook))
        for key, value in task.parameters.items():
            default = ast.literal_eval(declared[key]["default"])
            if default != _as_default(value, key, steps[name]):
                drifted[f"{name}.{key}"] = (default, value)
    assert not drifted, f"notebook defaults differ from smoke.yaml: {drifted}"


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_fills_every_notebook_parameter_exactly(profile, tmp_path):
    data = pipeline.load_profile(ROOT / "parameters", profile)
    tasks = pipeline.resolve_tasks(STEPS, data, parameters_dir=ROOT / "parameters",
                                   run_dir=tmp_path)
    for task in tasks:
        pipeline.check_notebook_parameters(task, papermill.inspect_notebook(str(task.notebook)))


def test_profiles_share_the_same_keys():
    blocks = {p: pipeline.load_profile(ROOT / "parameters", p) for p in PROFILES}
    reference = blocks["quick"]
    for name, data in blocks.items():
        assert set(data) == set(reference), name
        for step in (s.name for s in STEPS):
            assert set(data[step] or {}) == set(reference[step] or {}), (name, step)
