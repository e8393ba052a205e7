"""fossilct.comparison.inputs: the run products a comparison reads."""

import json

import pytest

from fossilct import comparison
from prediction_fixtures import write_tables


def test_prediction_folders_list_architectures_then_ensembles(tmp_path):
    (tmp_path / "ensemble" / "candidates" / "soft_voting").mkdir(parents=True)
    (tmp_path / "ensemble" / "candidates" / "switching").mkdir()
    folders = comparison.prediction_folders({"b": tmp_path / "b", "a": tmp_path / "a"},
                                            tmp_path / "ensemble")
    assert list(folders) == ["b", "a", "ensemble:soft_voting", "ensemble:switching"]
    assert folders["ensemble:switching"] == tmp_path / "ensemble" / "candidates" / "switching"
    assert list(comparison.prediction_folders({"a": tmp_path})) == ["a"]
    with pytest.raises(FileNotFoundError, match=r"candidates' does not exist; run the ensemble"):
        comparison.prediction_folders({}, tmp_path / "nothing")


def test_resources_read_training_time_and_throughput(tmp_path):
    (tmp_path / "m" / "a").mkdir(parents=True)
    (tmp_path / "e" / "a").mkdir(parents=True)
    (tmp_path / "e" / "b").mkdir(parents=True)
    (tmp_path / "m" / "a" / "timing.json").write_text(json.dumps({"epochs": 2,
                                                                  "seconds": 120.0}))
    (tmp_path / "e" / "b" / "throughput.json").write_text(json.dumps({"slices_per_second": 50}))
    resources = comparison.read_resources({"a": tmp_path / "m" / "a"},
                                          {"a": tmp_path / "e" / "a", "b": tmp_path / "e" / "b"})
    assert resources == {"a": {"training_minutes": 2.0}, "b": {"slices_per_second": 50.0}}


def test_leakage_from_folders(tmp_path):
    folders = write_tables(tmp_path, {"spec": dict(seed=1, skill=1.0), "twin": dict(seed=2,
                                                                                   skill=3.0)})
    assert comparison.leakage_from_folders({"a": folders["spec"]}, {}, n_bootstrap=5) is None
    table = comparison.leakage_from_folders({"a": folders["spec"]}, {"a": folders["twin"]},
                                            n_bootstrap=20, rng=0)
    assert list(table.index) == ["specimen-level", "slice-level", "inflation"]
    assert table.loc["inflation", "accuracy"] == pytest.approx(
        table.loc["slice-level", "accuracy"] - table.loc["specimen-level", "accuracy"])
    with pytest.raises(ValueError, match=r"needs one architecture evaluated on both splits"):
        comparison.leakage_from_folders({"a": folders["spec"]}, {"b": folders["twin"]},
                                        n_bootstrap=5)
