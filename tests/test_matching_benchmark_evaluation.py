"""Tests of fossilct.matching.benchmark.evaluation: pose and identification experiments."""

import json

import numpy as np
import pandas as pd
import pytest
from matching_fixtures import QUICK_EFFORT as EFFORT
from matching_fixtures import library_volume

from fossilct.matching.benchmark import (BENCHMARK_KEYS, IDENTIFICATION_COLUMNS, POSE_COLUMNS,
                                         combine_evaluations, count_successes,
                                         evaluate_identification,
                                         evaluate_method, evaluate_poses, make_queries,
                                         summarise)


@pytest.fixture(scope="module")
def library():
    return [library_volume("elphidiella_like", 7, 40), library_volume("lockhartia_like", 3, 40)]


@pytest.fixture(scope="module")
def queries(library):
    return make_queries([(v.volume, v.mask, v.voxel_size_um) for v in library], 4, rng=1,
                        noise_range=(0.0, 0.02), crop_probability=0.0)


@pytest.fixture(scope="module")
def poses(queries, library):
    fossilct = evaluate_poses(queries, library, effort=EFFORT)
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
    table = evaluate_identification(queries, library, library, effort=EFFORT)
    assert list(table.columns) == list(IDENTIFICATION_COLUMNS)
    assert (table["specimen_rank"] == 1).mean() >= 0.75
    assert (table["n_volumes"] == 2).all()
    assert np.allclose(table["seconds_per_volume"], table["seconds"] / 2)


def test_failed_queries_are_recorded_not_raised(queries, library):
    blank = type(queries[0])(**{**queries[0].__dict__, "image": np.zeros((32, 32), np.float32)})
    table = evaluate_poses([blank], library)
    assert not table["success"].iloc[0] and "blank" in table["error"].iloc[0]


def test_summary_has_exactly_the_benchmark_keys(poses, queries, library):
    ident = evaluate_identification(queries[:2], library, library, effort=EFFORT)
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


def test_evaluate_method_runs_both_experiments_on_the_first_queries(queries, library):
    result = evaluate_method(queries, library, n_pose=3, n_identify=2, effort=EFFORT,
                             index_seconds_per_volume=0.25)
    assert list(result.poses["query_id"]) == [q.query_id for q in queries[:3]]
    assert list(result.identification["query_id"]) == [q.query_id for q in queries[:2]]
    entry = result.summary["fossilct"]
    assert entry["n_pose_queries"] == 3 and entry["n_identification_queries"] == 2
    assert entry["index_seconds_per_volume"] == 0.25
    no_identification = evaluate_method(queries[:1], library, method="reference")
    assert no_identification.identification.empty
    assert no_identification.summary["reference"]["specimen_top1"] is None
    with pytest.raises(ValueError, match="`n_pose` must be at least 1"):
        evaluate_method(queries, library, n_pose=0)


def test_combine_evaluations_stacks_tables_and_merges_summaries(queries, library):
    fossilct = evaluate_method(queries[:2], library, n_identify=1, effort=EFFORT)
    reference = evaluate_method(queries[:1], library, method="reference")
    both = combine_evaluations([fossilct, reference])
    assert list(both.poses["method"]) == ["fossilct", "fossilct", "reference"]
    assert list(both.identification["method"]) == ["fossilct"]
    assert set(both.summary) == {"fossilct", "reference"}
    assert both.summary["fossilct"] == fossilct.summary["fossilct"]
    with pytest.raises(ValueError, match="evaluated once"):
        combine_evaluations([fossilct, fossilct])
    with pytest.raises(ValueError, match="`evaluations` is empty"):
        combine_evaluations([])


def test_count_successes_counts_per_group_in_order_of_appearance():
    poses = pd.DataFrame({"species": ["b", "a", "b", "b", "a"],
                          "kind": ["axis", "axis", "oblique", "axis", "oblique"],
                          "success": [True, False, True, False, True],
                          "reliable": [True, True, False, False, True]})
    counts = count_successes(poses)
    assert list(counts.index) == ["b", "a"]
    assert counts.loc["b"].to_dict() == {"n_queries": 3, "n_success": 2, "n_reliable": 1,
                                         "n_reliable_success": 1}
    assert counts.loc["a"].to_dict() == {"n_queries": 2, "n_success": 1, "n_reliable": 2,
                                         "n_reliable_success": 1}
    assert (counts.dtypes == np.int64).all()
    by_kind = count_successes(poses, by=["species", "kind"])
    assert by_kind.loc[("b", "axis"), "n_queries"] == 2
    assert by_kind.loc[("a", "oblique"), "n_reliable_success"] == 1
    assert by_kind["n_queries"].sum() == len(poses)


def test_count_successes_agrees_with_summarise(poses):
    fossilct = poses[poses["method"] == "fossilct"]
    counts = count_successes(fossilct, by="method").loc["fossilct"]
    entry = summarise(fossilct)["fossilct"]
    assert counts["n_success"] / counts["n_queries"] == pytest.approx(
        fossilct["success"].mean())
    assert counts["n_reliable"] / counts["n_queries"] == pytest.approx(entry["reliable_share"])
    if counts["n_reliable"]:
        assert counts["n_reliable_success"] / counts["n_reliable"] == pytest.approx(
            entry["reliable_precision"])


def test_count_successes_of_an_empty_table_is_empty():
    empty = pd.DataFrame(columns=list(POSE_COLUMNS))
    counts = count_successes(empty, by=["species", "kind"])
    assert counts.empty
    assert list(counts.columns) == ["n_queries", "n_success", "n_reliable",
                                    "n_reliable_success"]


def test_count_successes_refuses_a_foreign_table_or_no_key():
    with pytest.raises(ValueError, match=r"lacks columns \['reliable', 'genus'\]"):
        count_successes(pd.DataFrame({"success": [True]}), by="genus")
    with pytest.raises(ValueError, match="`by` names no column"):
        count_successes(pd.DataFrame({"success": [True], "reliable": [True]}), by=[])
