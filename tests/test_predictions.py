"""fossilct.predictions: reading, splitting and aligning several models' predictions tables."""

import numpy as np
import pandas as pd
import pytest

from fossilct import predictions
from prediction_fixtures import predictions_table, write_tables


def test_align_reorders_rows_like_the_first_table():
    a = predictions_table(seed=1)
    b = predictions_table(seed=2).sample(frac=1.0, random_state=0)
    aligned = predictions.align_predictions({"m1": a, "m2": b}, split="test")
    test_a = a[a["split"] == "test"]
    assert aligned.models == ("m1", "m2") and aligned.class_names == ("a", "b", "c", "d")
    assert aligned.slice_ids.tolist() == test_a["slice_id"].tolist()
    expected_b = b.set_index("slice_id").loc[test_a["slice_id"], ["prob_a", "prob_b", "prob_c",
                                                                    "prob_d"]].to_numpy()
    np.testing.assert_array_equal(aligned.member("m2"), expected_b)
    assert aligned.y_true.tolist() == test_a["species"].map("abcd".index).tolist()
    assert set(aligned.by_model()) == {"m1", "m2"}


def test_read_aligned_gives_both_splits_from_files(tmp_path):
    paths = write_tables(tmp_path, {"m1": dict(seed=1), "m2": dict(seed=2)})
    splits = predictions.read_aligned(paths)
    assert splits["val"].split == "val" and splits["test"].split == "test"
    assert splits["val"].probs.shape == (2, 4 * 6 * 5, 4)
    assert splits["test"].sources == (str(paths["m1"] / "predictions.csv"),
                                      str(paths["m2"] / "predictions.csv"))
    assert not set(splits["val"].slice_ids) & set(splits["test"].slice_ids)


def test_missing_file_says_which_step_writes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.*predictions.csv.*notebook 05"):
        predictions.read_aligned({"cnn": tmp_path / "nope"})


def test_table_without_validation_rows_names_the_file_and_the_step(tmp_path):
    old = predictions_table(seed=1, splits=("test",)).drop(columns="split")
    (tmp_path / "old").mkdir()
    old.to_csv(tmp_path / "old" / "predictions.csv", index=False)
    with pytest.raises(ValueError, match=r"old/predictions.csv holds no validation predictions "
                                         r".*re-run the evaluation step"):
        predictions.read_aligned({"cnn": tmp_path / "old"}, splits=("test",))


def test_table_without_validation_rows_names_the_file():
    table = predictions_table(seed=1, splits=("test",))
    with pytest.raises(ValueError, match=r"the table of model 'cnn' has no rows with split == "
                                         r"'val' \(found \['test'\]\)\. Re-run"):
        predictions.align_predictions({"cnn": table}, split="val")


def test_different_class_columns_name_both_files():
    a = predictions_table(seed=1)
    b = a.rename(columns={"prob_a": "prob_z"})
    b["species"] = b["species"].replace("a", "z")
    with pytest.raises(ValueError, match=r"table 'a.csv' \(model 'm1'\) and table 'b.csv' "
                                         r"\(model 'm2'\) have different class columns"):
        predictions.align_predictions({"m1": a, "m2": b}, split="val",
                                      sources={"m1": "a.csv", "m2": "b.csv"})
    reordered = a[["slice_id", "specimen_id", "species", "predicted", "prob_b", "prob_a",
                   "prob_c", "prob_d", "split"]]
    with pytest.raises(ValueError, match=r"\['a', 'b', 'c', 'd'\] against \['b', 'a', 'c', 'd'\]"):
        predictions.align_predictions({"m1": a, "m2": reordered}, split="val")


def test_different_slices_name_both_tables_and_count_them():
    a = predictions_table(seed=1)
    b = a.iloc[2:].copy()
    with pytest.raises(ValueError, match=r"the table of model 'm1' and the table of model 'm2' "
                                         r"predict different val slices: 2 only in the first "
                                         r"\(e\.g\. \['val-a-0-0', 'val-a-0-1'\]\), 0 only in "
                                         r"the second"):
        predictions.align_predictions({"m1": a, "m2": b}, split="val")


def test_disagreeing_species_or_duplicates_are_errors():
    a = predictions_table(seed=1)
    b = a.copy()
    b.loc[0, "specimen_id"] = "elsewhere"
    with pytest.raises(ValueError, match=r"disagree on the specimen_id of 1 val slice\(s\), e\.g\. "
                                         r"slice 'val-a-0-0': 'val-a-0' against 'elsewhere'"):
        predictions.align_predictions({"m1": a, "m2": b}, split="val")
    doubled = pd.concat([a, a.iloc[:1]])
    with pytest.raises(ValueError, match=r"lists slice\(s\) \['val-a-0-0'\] more than once"):
        predictions.align_predictions({"m1": a, "m2": doubled}, split="val")


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"`tables` is empty"):
        predictions.align_predictions({}, split="val")
    with pytest.raises(ValueError, match=r"`split`='train'; choose 'val' or 'test'"):
        predictions.split_rows(predictions_table(seed=1), "train")
    with pytest.raises(ValueError, match=r"has no prob_<class> columns"):
        predictions.probability_classes(pd.DataFrame({"slice_id": ["s"]}))
    aligned = predictions.align_predictions({"m": predictions_table(seed=1)}, split="val")
    with pytest.raises(KeyError, match=r"no model 'x' among \['m'\]"):
        aligned.member("x")


def test_table_from_probabilities_has_the_evaluation_layout():
    source = predictions_table(seed=1)
    aligned = predictions.align_predictions({"m": source}, split="test")
    probs = np.tile([0.1, 0.2, 0.3, 0.4], (len(aligned.y_true), 1))
    table = predictions.table_from_probabilities(aligned, probs)
    assert list(table.columns) == list(source.columns)
    assert (table["predicted"] == "d").all() and (table["split"] == "test").all()
    pd.testing.assert_frame_equal(
        table[["slice_id", "specimen_id", "species"]],
        source[source["split"] == "test"][["slice_id", "specimen_id", "species"]]
        .reset_index(drop=True))
    with pytest.raises(ValueError, match=r"`probs` must have shape \(120, 4\)"):
        predictions.table_from_probabilities(aligned, probs[:, :3])
