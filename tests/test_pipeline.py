"""Planning of the notebook pipeline: parameter resolution, checks, staleness and selection."""

import json

import nbformat
import pytest
import yaml

from fossilct import pipeline


def _notebook(path, parameters_source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    cell = nbformat.v4.new_code_cell(parameters_source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(run_dir)")]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path):
    """A two-step pipeline (one step per architecture) with a profile and one architecture."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "parameters" / "architectures").mkdir(parents=True)
    _notebook(tmp_path / "notebooks" / "01_make.ipynb",
              'run_dir: str = "x"\nseed: int = 0\nsize: int = 3\nout_csv: str = "a.csv"\n'
              'use_synthetic: bool = True')
    _notebook(tmp_path / "notebooks" / "02_train.ipynb",
              'run_dir: str = "x"\nseed: int = 0\narch: str = "a"\nin_csv: str = "a.csv"\n'
              'model_dir: str = "m"\nimage_size: int = 8\nepochs: int = 1')
    (tmp_path / "parameters" / "pipeline.yaml").write_text(yaml.safe_dump({
        "01_make": {"notebook": "notebooks/01_make.ipynb", "outputs": ["out_csv"]},
        "02_train": {"notebook": "notebooks/02_train.ipynb", "inputs": ["in_csv"],
                     "outputs": ["model_dir"], "per_architecture": True},
    }))
    (tmp_path / "parameters" / "architectures" / "tiny.yaml").write_text(
        yaml.safe_dump({"02_train": {"image_size": 32, "epochs": 5}}))
    (tmp_path / "parameters" / "architectures" / "small.yaml").write_text(
        yaml.safe_dump({"02_train": {"image_size": 64, "epochs": 5}}))
    profile = {
        "run_name": "t", "seed": 7,
        "architectures": {"tiny": {}, "small": {"02_train": {"epochs": 2}}},
        "01_make": {"size": 3, "out_csv": "{run_dir}/a.csv", "use_synthetic": "{use_synthetic}"},
        "02_train": {"in_csv": "{run_dir}/a.csv", "model_dir": "{run_dir}/models/{arch}",
                     "image_size": 16},
    }
    (tmp_path / "parameters" / "t.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return tmp_path


def _tasks(project, **kwargs):
    steps = pipeline.load_pipeline(project / "parameters" / "pipeline.yaml", root=project)
    profile = pipeline.load_profile(project / "parameters", "t")
    return pipeline.resolve_tasks(steps, profile, parameters_dir=project / "parameters",
                                  run_dir=project / "out", **kwargs)


def test_resolve_fills_templates_and_merges_architecture_layers(project):
    tasks = _tasks(project)
    assert [t.key for t in tasks] == ["01_make", "02_train__tiny", "02_train__small"]
    make, tiny, small = tasks
    run_dir = str((project / "out").resolve())
    assert make.parameters == {"run_dir": run_dir, "seed": 7, "size": 3,
                               "out_csv": f"{run_dir}/a.csv", "use_synthetic": True}
    # architecture YAML < profile block < profile's per-architecture override
    assert tiny.parameters["image_size"] == 16 and tiny.parameters["epochs"] == 5
    assert small.parameters["epochs"] == 2
    assert small.parameters["model_dir"] == f"{run_dir}/models/small"
    assert small.parameters["arch"] == "small"
    assert tiny.inputs == ((project / "out").resolve() / "a.csv",)


def test_data_dir_switches_off_synthetic(project, tmp_path):
    tasks = _tasks(project, data_dir=tmp_path)
    assert tasks[0].parameters["use_synthetic"] is False


def test_unknown_architecture_and_template_are_named(project):
    with pytest.raises(pipeline.PipelineError, match=r"--arch huge: not in this profile"):
        _tasks(project, architectures=["huge"])
    profile = pipeline.load_profile(project / "parameters", "t")
    profile["01_make"]["out_csv"] = "{rundir}/a.csv"
    steps = pipeline.load_pipeline(project / "parameters" / "pipeline.yaml", root=project)
    with pytest.raises(pipeline.PipelineError, match=r"unknown template \{rundir\}"):
        pipeline.resolve_tasks(steps, profile, parameters_dir=project / "parameters",
                               run_dir=project / "out")


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
    del broken.parameters["out_csv"]
    with pytest.raises(pipeline.PipelineError) as info:
        pipeline.check_notebook_parameters(broken, declared)
    message = str(info.value)
    assert "01_make.ipynb" in message
    assert "missing ['out_csv']" in message
    assert "unknown ['colour']" in message
    assert "size='3' is str, the notebook expects int" in message


def test_select_by_number_name_suffix_and_from(project):
    tasks = _tasks(project)
    assert [t.key for t in pipeline.select_tasks(tasks, only=["01"])] == ["01_make"]
    assert [t.key for t in pipeline.select_tasks(tasks, only=["train"])] == [
        "02_train__tiny", "02_train__small"]
    assert [t.step for t in pipeline.select_tasks(tasks, from_step="02_train")] == [
        "02_train", "02_train"]
    with pytest.raises(pipeline.PipelineError, match=r"step '9' matches no step"):
        pipeline.select_tasks(tasks, only=["9"])


def test_plan_skips_stamped_tasks_until_something_changes(project):
    tasks = _tasks(project)
    stamps = project / "out" / ".stamps"
    decisions = pipeline.plan(tasks, tasks, stamp_dir=stamps)
    assert [d for _, d in decisions] == ["run", "run", "run"]

    out_csv = tasks[0].outputs[0]
    out_csv.parent.mkdir(parents=True)
    out_csv.write_text("a\n1\n")
    for task in tasks:
        pipeline.write_stamp(stamps, task)
    assert [d for _, d in pipeline.plan(tasks, tasks, stamp_dir=stamps)] == ["up to date"] * 3
    assert [d for _, d in pipeline.plan(tasks, tasks, stamp_dir=stamps, force=True)] == ["run"] * 3

    # a changed input re-runs its readers only; a deleted output re-runs its writer
    out_csv.write_text("a\n2\n")
    assert [d for _, d in pipeline.plan(tasks, tasks, stamp_dir=stamps)] == [
        "up to date", "run", "run"]
    out_csv.unlink()
    assert [d for _, d in pipeline.plan(tasks, tasks, stamp_dir=stamps)] == ["run"] * 3


def test_plan_reruns_downstream_of_a_running_step(project):
    tasks = _tasks(project)
    stamps = project / "out" / ".stamps"
    for task in tasks:
        pipeline.write_stamp(stamps, task)
    notebook = tasks[0].notebook
    notebook.write_text(notebook.read_text().replace("print(run_dir)", "print(seed)"))
    decisions = pipeline.plan(tasks, tasks, stamp_dir=stamps)
    assert [d for _, d in decisions] == ["run", "run", "run"]
    only_train = pipeline.select_tasks(tasks, only=["02"])
    decisions = pipeline.plan(tasks, only_train, stamp_dir=stamps)
    assert [d for _, d in decisions] == ["not selected", "up to date", "up to date"]


def test_parameter_change_makes_a_task_stale(project):
    tasks = _tasks(project)
    stamps = project / "out" / ".stamps"
    pipeline.write_stamp(stamps, tasks[0])
    changed = pipeline.Task(step=tasks[0].step, notebook=tasks[0].notebook,
                            parameters={**tasks[0].parameters, "size": 4},
                            outputs=tasks[0].outputs)
    assert pipeline.plan([changed], [changed], stamp_dir=stamps)[0][1] == "run"


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


def test_stamp_records_hashes(project):
    task = _tasks(project)[0]
    path = pipeline.write_stamp(project / "st", task)
    stamp = json.loads(path.read_text())
    assert set(stamp) == {"notebook", "parameters", "inputs", "outputs"}
    assert stamp["outputs"] == {str(task.outputs[0]): False}
