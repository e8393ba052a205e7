"""Planning of the notebook pipeline: the declared layout, parameter resolution, checks,
freshness (stamps of inputs and outputs) and selection."""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml

from fossilct import pipeline


def _notebook(path, parameters_source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    cell = nbformat.v4.new_code_cell(parameters_source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(seed)")]
    nbformat.write(nb, path)
    return path


LAYOUT = {
    "01_make": {"notebook": "notebooks/01_make.ipynb", "context": ["use_synthetic"],
                "reads": {"data_dir": "data"}, "writes": {"out_dir": "made"}},
    "02_train": {"notebook": "notebooks/02_train.ipynb", "per_architecture": True,
                 "leakage_twin": True, "reads": {"made_dir": "01_make.out_dir"},
                 "writes": {"model_dir": "models/{model}"}, "scratch": {"cache_dir": "cache/{model}"}},
    "03_gather": {"notebook": "notebooks/03_gather.ipynb",
                  "reads": {"model_dirs": "02_train.model_dir",
                            "twin_dirs": "02_train.model_dir[slice_level]"},
                  "writes": {"summary_dir": "summary"}},
}


@pytest.fixture
def project(tmp_path):
    """Three steps (one per architecture, with a leakage twin), a profile, two architectures."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "parameters" / "architectures").mkdir(parents=True)
    _notebook(tmp_path / "notebooks" / "01_make.ipynb",
              'seed: int = 0\nuse_synthetic: bool = True\ndata_dir: str = "d"\n'
              'out_dir: str = "o"\nsize: int = 3')
    _notebook(tmp_path / "notebooks" / "02_train.ipynb",
              'seed: int = 0\narch: str = "a"\nsplit_mode: str = "specimen"\nmade_dir: str = "m"\n'
              'model_dir: str = "m"\ncache_dir: str = "c"\nimage_size: int = 8\nepochs: int = 1')
    _notebook(tmp_path / "notebooks" / "03_gather.ipynb",
              'seed: int = 0\nmodel_dirs: dict = {}\ntwin_dirs: dict = {}\nsummary_dir: str = "s"')
    (tmp_path / "parameters" / "pipeline.yaml").write_text(yaml.safe_dump(LAYOUT))
    for name, size in (("tiny", 32), ("small", 64)):
        (tmp_path / "parameters" / "architectures" / f"{name}.yaml").write_text(
            yaml.safe_dump({"02_train": {"image_size": size, "epochs": 5}}))
    profile = {
        "run_name": "t", "seed": 7, "leakage_architecture": "tiny",
        "architectures": {"tiny": {}, "small": {"02_train": {"epochs": 2}}},
        "01_make": {"size": 3}, "02_train": {"image_size": 16}, "03_gather": {},
    }
    (tmp_path / "parameters" / "t.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return tmp_path


def _tasks(project, run_dir=None, **kwargs):
    steps = pipeline.load_pipeline(project / "parameters" / "pipeline.yaml", root=project)
    profile = pipeline.load_profile(project / "parameters", "t")
    return pipeline.resolve_tasks(steps, profile, parameters_dir=project / "parameters",
                                  run_dir=run_dir or project / "out", **kwargs)


def _write_products(tasks):
    for task in tasks:
        for folder in task.outputs:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.txt").write_text(task.key)


def test_paths_come_from_the_layout_and_architecture_layers_merge(project):
    tasks = _tasks(project)
    assert [t.key for t in tasks] == ["01_make", "02_train__tiny", "02_train__small",
                                      "02_train__tiny__slice_level", "03_gather"]
    make, tiny, small, twin, gather = tasks
    run = (project / "out").resolve()
    assert make.parameters == {"seed": 7, "use_synthetic": True, "size": 3,
                               "out_dir": f"{run}/made", "data_dir": f"{run}/synthetic"}
    # architecture YAML < profile block < profile's per-architecture override
    assert tiny.parameters["image_size"] == 16 and tiny.parameters["epochs"] == 5
    assert small.parameters["epochs"] == 2
    assert small.parameters["model_dir"] == f"{run}/models/small"
    assert small.parameters["cache_dir"] == f"{run}/cache/small"
    assert (tiny.parameters["split_mode"], twin.parameters["split_mode"]) == ("specimen",
                                                                            "slice_level")
    assert twin.parameters["arch"] == "tiny" and twin.model == "tiny__slice_level"
    assert twin.parameters["model_dir"] == f"{run}/models/tiny__slice_level"
    assert tiny.inputs == (run / "made",) and tiny.outputs == (run / "models/tiny",)
    assert gather.parameters["model_dirs"] == {"tiny": f"{run}/models/tiny",
                                               "small": f"{run}/models/small"}
    assert gather.parameters["twin_dirs"] == {"tiny": f"{run}/models/tiny__slice_level"}
    assert set(gather.inputs) == {run / "models/tiny", run / "models/small",
                                  run / "models/tiny__slice_level"}


def test_data_dir_switches_off_synthetic_and_no_twin_without_leakage(project, tmp_path):
    tasks = _tasks(project, data_dir=tmp_path)
    assert tasks[0].parameters["use_synthetic"] is False
    assert tasks[0].parameters["data_dir"] == str(tmp_path.resolve())
    profile = pipeline.load_profile(project / "parameters", "t")
    profile["leakage_architecture"] = None
    steps = pipeline.load_pipeline(project / "parameters" / "pipeline.yaml", root=project)
    tasks = pipeline.resolve_tasks(steps, profile, parameters_dir=project / "parameters",
                                   run_dir=project / "out")
    assert [t.key for t in tasks] == ["01_make", "02_train__tiny", "02_train__small", "03_gather"]
    assert tasks[-1].parameters["twin_dirs"] == {}


def test_a_profile_may_not_give_paths(project):
    profile = pipeline.load_profile(project / "parameters", "t")
    profile["02_train"]["model_dir"] = "/somewhere"
    steps = pipeline.load_pipeline(project / "parameters" / "pipeline.yaml", root=project)
    with pytest.raises(pipeline.PipelineError, match=r"gives \['model_dir'\] in its 02_train "
                                                     r"block; paths are declared once"):
        pipeline.resolve_tasks(steps, profile, parameters_dir=project / "parameters",
                               run_dir=project / "out")


@pytest.mark.parametrize("reads, match", [
    ({"x": "09_later.out"}, r"'09_later' is not an earlier step"),
    ({"x": "01_make.nothing"}, r"step '01_make' writes only \['out_dir'\]"),
    ({"x": "01_make/out_dir"}, r"is not `data` or `<step>.<parameter>`"),
    ({"x": "01_make.out_dir[slice_level]"}, r"only \[slice_level\] of a step with leakage_twin"),
])
def test_bad_references_are_named(project, reads, match):
    layout = {**LAYOUT, "04_bad": {"notebook": "notebooks/x.ipynb", "reads": reads}}
    path = project / "parameters" / "pipeline.yaml"
    path.write_text(yaml.safe_dump(layout, sort_keys=False))
    with pytest.raises(pipeline.PipelineError, match=match):
        pipeline.load_pipeline(path, root=project)


def test_unknown_step_keys_and_leakage_architecture(project):
    path = project / "parameters" / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"01_make": {**LAYOUT["01_make"], "output": ["x"]}}))
    with pytest.raises(pipeline.PipelineError, match=r"unknown keys \['output'\]"):
        pipeline.load_pipeline(path, root=project)
    profile_path = project / "parameters" / "t.yaml"
    profile = yaml.safe_load(profile_path.read_text())
    profile_path.write_text(yaml.safe_dump({**profile, "leakage_architecture": "huge"}))
    with pytest.raises(pipeline.PipelineError, match=r"leakage_architecture 'huge' is not one of"):
        pipeline.load_profile(project / "parameters", "t")


def test_missing_profile_and_step_block(project):
    with pytest.raises(FileNotFoundError, match=r"profile 'nope' not found.*Available profiles: "
                                                r"pipeline.yaml, t.yaml"):
        pipeline.load_profile(project / "parameters", "nope")
    profile = pipeline.load_profile(project / "parameters", "t")
    del profile["02_train"]
    steps = pipeline.load_pipeline(project / "parameters" / "pipeline.yaml", root=project)
    with pytest.raises(pipeline.PipelineError, match=r"no block for step '02_train'"):
        pipeline.resolve_tasks(steps, profile, parameters_dir=project / "parameters",
                               run_dir=project / "out")


def test_check_parameters_names_missing_unknown_and_mistyped(project):
    import papermill

    make = _tasks(project)[0]
    declared = papermill.inspect_notebook(str(make.notebook))
    pipeline.check_notebook_parameters(make, declared)
    broken = pipeline.Task(step=make.step, notebook=make.notebook,
                           parameters={**make.parameters, "colour": "red", "size": "3"})
    del broken.parameters["out_dir"]
    with pytest.raises(pipeline.PipelineError) as info:
        pipeline.check_notebook_parameters(broken, declared)
    message = str(info.value)
    assert "01_make.ipynb" in message
    assert "missing ['out_dir']" in message
    assert "unknown ['colour']" in message
    assert "size='3' is str, the notebook expects int" in message


def test_select_by_number_name_suffix_from_and_architecture(project):
    tasks = _tasks(project)
    assert [t.key for t in pipeline.select_tasks(tasks, only=["01"])] == ["01_make"]
    assert [t.key for t in pipeline.select_tasks(tasks, only=["train"])] == [
        "02_train__tiny", "02_train__small", "02_train__tiny__slice_level"]
    assert [t.key for t in pipeline.select_tasks(tasks, from_step="02_train",
                                                 architectures=["small"])] == [
        "02_train__small", "03_gather"]
    with pytest.raises(pipeline.PipelineError, match=r"step '9' matches no step"):
        pipeline.select_tasks(tasks, only=["9"])
    with pytest.raises(pipeline.PipelineError, match=r"--arch huge: not in this profile"):
        pipeline.select_tasks(tasks, architectures=["huge"])


def test_a_stamped_task_is_up_to_date_until_what_it_reads_or_wrote_changes(project):
    tasks = _tasks(project)
    run = project / "out"
    assert [d for _, d in pipeline.plan(tasks, tasks, run_dir=run)] == ["run"] * 5
    _write_products(tasks)
    for task in tasks:
        pipeline.write_stamp(run, task)
    assert [d for _, d in pipeline.plan(tasks, tasks, run_dir=run)] == ["up to date"] * 5
    assert [d for _, d in pipeline.plan(tasks, tasks, run_dir=run, force=True)] == ["run"] * 5

    # an output truncated by hand re-runs its writer (and, through the plan, its readers)
    (run / "models" / "small" / "result.txt").write_text("")
    assert [d for _, d in pipeline.plan(tasks, tasks, run_dir=run)] == [
        "up to date", "up to date", "run", "up to date", "run"]
    (run / "models" / "small" / "result.txt").write_text("02_train__small")
    # a deleted output too
    shutil.rmtree(run / "models" / "tiny__slice_level")
    assert [d for _, d in pipeline.plan(tasks, tasks, run_dir=run)][-2:] == ["run", "run"]


def test_a_task_whose_input_an_earlier_task_just_rewrote_runs(project):
    tasks = _tasks(project)
    run = project / "out"
    _write_products(tasks)
    for task in tasks:
        pipeline.write_stamp(run, task)
    make, tiny = tasks[0], tasks[1]
    # 01 re-ran in this invocation and wrote the same bytes: its readers still run
    assert pipeline.decide(tiny, run, ran=[make]) == "run"
    assert pipeline.decide(tasks[2], run, ran=[tiny]) == "up to date"
    # 01 re-ran and wrote something else: judged from disk, without being told
    (run / "made" / "result.txt").write_text("new")
    assert pipeline.decide(tiny, run) == "run"


def test_only_selected_tasks_run_and_a_parameter_change_makes_a_task_stale(project):
    tasks = _tasks(project)
    run = project / "out"
    _write_products(tasks)
    for task in tasks:
        pipeline.write_stamp(run, task)
    notebook = tasks[0].notebook
    notebook.write_text(notebook.read_text().replace("print(seed)", "print(size)"))
    decisions = pipeline.plan(tasks, pipeline.select_tasks(tasks, only=["02"]), run_dir=run)
    assert [d for _, d in decisions] == ["not selected", "up to date", "up to date",
                                         "up to date", "not selected"]
    changed = pipeline.Task(step=tasks[1].step, notebook=tasks[1].notebook,
                            parameters={**tasks[1].parameters, "epochs": 9},
                            inputs=tasks[1].inputs, outputs=tasks[1].outputs, arch="tiny")
    assert pipeline.decide(changed, run) == "run"


def test_a_changed_package_makes_every_stamped_task_stale(project, monkeypatch):
    tasks = _tasks(project)
    run = project / "out"
    _write_products(tasks)
    for task in tasks:
        pipeline.write_stamp(run, task)
    assert [pipeline.decide(t, run) for t in tasks] == ["up to date"] * 5
    monkeypatch.setattr(pipeline, "package_hash", lambda **_: "another version")
    assert [pipeline.decide(t, run) for t in tasks] == ["run"] * 5


def test_code_saved_while_a_task_runs_leaves_it_stale(project, monkeypatch):
    make = _tasks(project)[0]
    run = project / "out"
    code = pipeline.code_fingerprint(make, run)  # as the runner takes it, before the notebook runs
    make.notebook.write_text(make.notebook.read_text().replace("print(seed)", "print(size)"))
    _write_products([make])
    pipeline.write_stamp(run, make, code=code)
    assert pipeline.decide(make, run) == "run"
    pipeline.write_stamp(run, make)  # hashed after the run: the edit is taken for what ran
    assert pipeline.decide(make, run) == "up to date"
    code = pipeline.code_fingerprint(make, run)
    monkeypatch.setattr(pipeline, "package_hash", lambda **_: "edited during the run")
    pipeline.write_stamp(run, make, code=code)
    assert pipeline.decide(make, run) == "run"


def test_the_runner_hashes_the_code_before_running_the_notebook(project):
    """A notebook that edits itself as it runs (as a user saving it mid-run would) is not stamped
    as up to date."""
    notebook = project / "notebooks" / "01_make.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from pathlib import Path\n"
        "Path(out_dir).mkdir(parents=True, exist_ok=True)\n"
        "(Path(out_dir) / 'result.txt').write_text('made')\n"
        f"source = Path({str(notebook)!r})\n"
        "source.write_text(source.read_text().replace('print(seed)', 'print(seed + 1)'))"))
    nbformat.write(nb, notebook)
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from fossilct import runner; "
         "sys.exit(runner.main(sys.argv[2:], root=sys.argv[1]))", str(project), "--profile", "t",
         "--only", "01"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (project / "outputs" / "t" / ".stamps" / "01_make.json").is_file()
    assert "print(seed + 1)" in notebook.read_text()
    [make] = _tasks(project, run_dir=project / "outputs" / "t")[:1]
    assert pipeline.decide(make, project / "outputs" / "t") == "run"


def test_package_hash_follows_sources_only(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    before = pipeline.package_hash(package)
    (package / "sub" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"compiled")
    (package / "notes.txt").write_text("not code")
    assert pipeline.package_hash(package) == before
    (package / "sub" / "b.py").write_text("y = 3\n")
    edited = pipeline.package_hash(package)
    assert edited != before
    (package / "sub" / "b.py").rename(package / "b.py")
    assert pipeline.package_hash(package) != edited
    assert pipeline.package_hash() == pipeline.package_hash()


def test_a_moved_run_folder_stays_up_to_date(project, tmp_path):
    tasks = _tasks(project)
    _write_products(tasks)
    for task in tasks:
        pipeline.write_stamp(project / "out", task)
    moved = tmp_path / "elsewhere" / "out"
    moved.parent.mkdir()
    shutil.move(project / "out", moved)
    again = _tasks(project, run_dir=moved)
    assert [pipeline.decide(t, moved) for t in again] == ["up to date"] * 5


def test_hash_path_folder_and_cache(tmp_path):
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.bin").write_bytes(b"abc")
    cache = {}
    first = pipeline.hash_path(folder, cache=cache)
    assert len(cache) == 1
    assert pipeline.hash_path(folder, cache=cache) == first
    (folder / "sub" / "a.bin").write_bytes(b"abd")
    assert pipeline.hash_path(folder, cache=cache) != first
    assert pipeline.hash_path(tmp_path / "none") == "missing"


def test_stamp_records_relative_paths_and_output_hashes(project):
    task = _tasks(project)[1]
    _write_products([task])
    path = pipeline.write_stamp(project / "out", task)
    stamp = json.loads(path.read_text())
    assert set(stamp) == {"notebook", "parameters", "package", "inputs", "outputs"}
    assert stamp["package"] == pipeline.package_hash()
    assert list(stamp["inputs"]) == ["{run_dir}/made"]
    assert stamp["outputs"]["{run_dir}/models/tiny"] == pipeline.hash_path(task.outputs[0])


def test_layout_record_describes_the_run(project):
    tasks = _tasks(project)
    profile = pipeline.load_profile(project / "parameters", "t")
    record = pipeline.layout_record(tasks, run_dir=project / "out", profile=profile,
                                    profile_name="t", data_dir=project / "out" / "synthetic")
    assert record["data_dir"] == "{run_dir}/synthetic"
    assert record["tasks"]["02_train__tiny__slice_level"] == {
        "step": "02_train", "arch": "tiny", "variant": "slice_level",
        "outputs": ["{run_dir}/models/tiny__slice_level"]}
