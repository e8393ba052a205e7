"""Tests of fossilct.matching.benchmark.outputs: library choice, index timing, gallery, folder."""

import dataclasses
import json

import pandas as pd
import pytest
from matching_fixtures import QUICK_EFFORT as EFFORT
from matching_fixtures import library_volume

from fossilct.matching.benchmark import (MATCHING_OUTPUTS, check_matching_outputs,
                                         combine_evaluations, evaluate_method, gallery_entries,
                                         index_build_seconds, library_table, make_queries,
                                         save_matching_outputs)
from fossilct.plots import matching as plots


@pytest.fixture(scope="module")
def library():
    return [library_volume("elphidiella_like", 7, 40), library_volume("lockhartia_like", 3, 40)]


@pytest.fixture(scope="module")
def queries(library):
    return make_queries([(v.volume, v.mask, v.voxel_size_um) for v in library], 3, rng=1,
                        noise_range=(0.0, 0.02), crop_probability=0.0)


@pytest.fixture(scope="module")
def results(queries, library):
    return combine_evaluations([evaluate_method(queries, library, n_identify=1, effort=EFFORT),
                                evaluate_method(queries[:1], library, method="reference")])


def test_gallery_rematches_successes_then_failures(results, queries, library):
    entries = gallery_entries(queries, library, results.poses, n_success=2, n_failure=1,
                              effort=EFFORT)
    table = results.poses[results.poses["method"] == "fossilct"]
    n_ok = int(table["success"].sum())
    assert [e.success for e in entries] == ([True] * min(2, n_ok)
                                            + [False] * min(1, len(table) - n_ok))
    assert entries[0].query_image.shape == entries[0].match_image.shape
    assert entries[0].title.startswith(f"#{queries[0].query_id} ")


def test_library_table_takes_first_scans_of_selected_specimens():
    inventory = pd.DataFrame({
        "file": ["a0.nii", "a0_rescan.nii", "a1.nii", "a2.nii", "b0.tif", "c0.npy"],
        "species": ["a", "a", "a", "a", "b", "c"],
        "specimen_id": ["a0", "a0", "a1", "a2", "b0", "c0"],
        "selected": [True, True, True, True, True, False]})
    table = library_table(inventory, 2)
    assert list(table["file"]) == ["a0.nii", "a1.nii", "b0.tif"]
    with pytest.raises(ValueError, match="at least 1"):
        library_table(inventory, 0)
    with pytest.raises(ValueError, match="notebook 01"):
        library_table(inventory.assign(selected=False), 1)


def test_index_build_seconds_rebuilds_without_touching_the_index(library):
    before = library[0].index.key
    seconds = index_build_seconds(library, 1)
    assert seconds > 0 and library[0].index.key == before
    with pytest.raises(ValueError, match="at least 1"):
        index_build_seconds(library, 0)
    with pytest.raises(ValueError, match="indexed"):
        index_build_seconds([dataclasses.replace(library[0], index=None)], 1)


def test_save_matching_outputs_writes_and_checks_every_file(tmp_path, results):
    out = tmp_path / "matching"
    names = save_matching_outputs(out, results,
                                  figures={"tilt": plots.plot_success_vs_tilt(results.poses)})
    assert sorted(names) == sorted([*MATCHING_OUTPUTS, "tilt.png"])
    assert json.loads(names["benchmark.json"].read_text()) == json.loads(
        json.dumps(results.summary))
    assert len(pd.read_csv(names["poses.csv"])) == len(results.poses)
    assert not list(out.glob("*.tmp*"))
    check_matching_outputs(out, results, figure_names=["tilt"])


def test_check_matching_outputs_finds_broken_folders(tmp_path, results):
    out = tmp_path / "matching"
    save_matching_outputs(out, results)
    with pytest.raises(FileNotFoundError, match="gallery.png"):
        check_matching_outputs(out, figure_names=["gallery"])
    summary = json.loads((out / "benchmark.json").read_text())
    del summary["fossilct"]["success_axis"]
    (out / "benchmark.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"lacks \['success_axis'\]"):
        check_matching_outputs(out)
    save_matching_outputs(out, results)
    poses = pd.read_csv(out / "poses.csv")
    poses.iloc[1:].to_csv(out / "poses.csv", index=False)
    with pytest.raises(ValueError, match="pose and"):
        check_matching_outputs(out, results)
    pd.concat([poses, poses.iloc[:1]]).to_csv(out / "poses.csv", index=False)
    with pytest.raises(ValueError, match="two rows for one query"):
        check_matching_outputs(out)
    with pytest.raises(TypeError, match="must be a MethodEvaluation"):
        save_matching_outputs(out, results.summary)
