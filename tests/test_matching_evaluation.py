"""Tests of fossilct.matching.evaluation and of the matching figures."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fossilct import synthetic, slicing
from fossilct.matching import library_volume_from_prepared
from fossilct.matching.evaluation import (BENCHMARK_KEYS, IDENTIFICATION_COLUMNS, POSE_COLUMNS,
                                          evaluate_identification, evaluate_poses,
                                          gallery_entries, index_build_seconds, library_table,
                                          save_matching_outputs, summarise)
from fossilct.matching.queries import make_queries
from fossilct.plots import matching as plots


@pytest.fixture(scope="module")
def library():
    out = []
    for species, seed in (("elphidiella_like", 7), ("lockhartia_like", 3)):
        specimen = synthetic.make_specimen(species, size=40, rng=seed)
        prepared = slicing.prepare_volume(specimen.volume, specimen.spacing_um)
        out.append(library_volume_from_prepared(prepared, file=f"{species}.npz",
                                                specimen=f"{species}-{seed}", species=species,
                                                n_normals=40, working_radius=14.0))
    return out


@pytest.fixture(scope="module")
def queries(library):
    return make_queries([(v.volume, v.mask, v.voxel_size_um) for v in library], 4, rng=1,
                        noise_range=(0.0, 0.02), crop_probability=0.0)


@pytest.fixture(scope="module")
def poses(queries, library):
    options = dict(n_screen=8)
    fossilct = evaluate_poses(queries, library, options=options)
    reference = evaluate_poses(queries[:2], library, method="reference")
    return pd.concat([fossilct, reference], ignore_index=True)


def test_pose_table_has_errors_and_success_flags(poses, queries):
    assert list(poses.columns) == list(POSE_COLUMNS)
    fossilct = poses[poses["method"] == "fossilct"]
    assert len(fossilct) == len(queries)
    assert fossilct["success"].mean() >= 0.75
    assert (fossilct["error"] == "").all()
    expected = (fossilct["offset_err_vox"] <= 3) & (fossilct["normal_err_deg"] <= 5) & \
        (fossilct["angle_err_deg"] <= 10) & fossilct["mirror_ok"]
    assert (expected == fossilct["success"]).all()
    assert (fossilct["seconds"] > 0).all()


def test_identification_ranks_the_true_specimen(queries, library):
    table = evaluate_identification(queries, library, library, options=dict(n_screen=8))
    assert list(table.columns) == list(IDENTIFICATION_COLUMNS)
    assert (table["specimen_rank"] == 1).mean() >= 0.75
    assert (table["n_volumes"] == 2).all()
    assert np.allclose(table["seconds_per_volume"], table["seconds"] / 2)


def test_failed_queries_are_recorded_not_raised(queries, library):
    blank = type(queries[0])(**{**queries[0].__dict__, "image": np.zeros((32, 32), np.float32)})
    table = evaluate_poses([blank], library)
    assert not table["success"].iloc[0] and "blank" in table["error"].iloc[0]


def test_summary_has_exactly_the_benchmark_keys(poses, queries, library):
    ident = evaluate_identification(queries[:2], library, library, options=dict(n_screen=8))
    summary = summarise(poses, ident, index_seconds_per_volume=0.5)
    assert set(summary) == {"fossilct", "reference"}
    for method, entry in summary.items():
        assert set(BENCHMARK_KEYS) <= set(entry)
        assert entry["n_queries"] == (4 if method == "fossilct" else 2)
    fossilct = summary["fossilct"]
    assert fossilct["specimen_top1"] is not None and fossilct["index_seconds_per_volume"] == 0.5
    assert summary["reference"]["specimen_top1"] is None
    json.dumps(summary, allow_nan=False)  # the notebook writes it as strict JSON


def test_summarise_refuses_a_foreign_table():
    with pytest.raises(ValueError, match=r"lacks columns \['kind'"):
        summarise(pd.DataFrame({"method": ["x"], "success": [True], "seconds": [1.0]}))


def test_evaluation_refuses_bad_inputs(queries, library):
    with pytest.raises(ValueError, match="`method` must be one of"):
        evaluate_poses(queries, library, method="magic")
    with pytest.raises(ValueError, match="`queries` is empty"):
        evaluate_poses([], library)
    with pytest.raises(ValueError, match="only 1 volumes were given"):
        evaluate_poses(queries, library[:1])


def test_figures(poses, queries, library):
    assert isinstance(plots.plot_error_histograms(poses), Figure)
    assert isinstance(plots.plot_success_vs_tilt(poses), Figure)
    entries = gallery_entries(queries, library, poses, n_success=2, n_failure=1,
                              options=dict(n_screen=8))
    assert 2 <= len(entries) <= 3 and entries[0].success
    assert entries[0].query_image.shape == entries[0].match_image.shape
    fig = plots.plot_match_gallery(entries)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * len(entries)


def test_figures_refuse_bad_inputs():
    with pytest.raises(ValueError, match="non-empty DataFrame"):
        plots.plot_error_histograms(pd.DataFrame())
    with pytest.raises(ValueError, match=r"lacks columns \['tilt_deg'\]"):
        plots.plot_success_vs_tilt(pd.DataFrame({"method": ["a"], "success": [True]}))
    with pytest.raises(ValueError, match="`bin_deg` must be positive"):
        plots.plot_success_vs_tilt(pd.DataFrame({"method": ["a"], "success": [True],
                                                 "tilt_deg": [0.0]}), bin_deg=0)
    with pytest.raises(ValueError, match="`entries` is empty"):
        plots.plot_match_gallery([])


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


def test_save_matching_outputs_writes_every_file(tmp_path, poses, queries, library):
    ident = evaluate_identification(queries[:1], library, library, options=dict(n_screen=8))
    summary = summarise(poses, ident)
    names = save_matching_outputs(tmp_path / "matching", summary, poses=poses,
                                  identification=ident,
                                  figures={"tilt": plots.plot_success_vs_tilt(poses)})
    assert sorted(names) == ["benchmark.json", "identification.csv", "poses.csv", "tilt.png"]
    assert json.loads(names["benchmark.json"].read_text()) == json.loads(json.dumps(summary))
    assert len(pd.read_csv(names["poses.csv"])) == len(poses)
    assert not list((tmp_path / "matching").glob("*.tmp*"))
