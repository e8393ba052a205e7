"""fossilct.evaluation: predictions table of a split (plain and TTA), summary, Markdown report,
evaluation folder."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from fossilct import data, evaluation, metrics, models
from fossilct.manifest import read_manifest
from fossilct.plots import evaluation as evaluation_plots
from slice_fixtures import write_manifest

NAMES = ["cross", "disk", "square"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return read_manifest(write_manifest(tmp_path_factory.mktemp("slices"), classes=NAMES),
                         absolute_paths=True)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return models.build_model("small_cnn", n_classes=3, input_size=32)


@pytest.fixture(scope="module")
def predictions(model, manifest):
    return evaluation.predict_splits(model, manifest, class_names=NAMES)


def test_predictions_table_holds_validation_then_test(model, manifest, predictions):
    assert list(predictions.columns) == ["split", "slice_id", "specimen_id", "species",
                                         "predicted", "prob_cross", "prob_disk", "prob_square"]
    for split in ("val", "test"):
        rows = manifest[manifest["split"] == split]
        assert predictions.loc[predictions["split"] == split, "slice_id"].tolist() == \
            rows["slice_id"].tolist()
    assert predictions["split"].tolist() == sorted(predictions["split"], key="val test".split().index)
    predictions = predictions[predictions["split"] == "test"]
    probs = predictions[["prob_cross", "prob_disk", "prob_square"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    images, _ = data.load_split_arrays(manifest, split="test", class_names=NAMES, image_size=32)
    np.testing.assert_allclose(probs, model.predict(images, verbose=0), rtol=1e-4, atol=1e-6)
    assert (predictions["predicted"] == np.asarray(NAMES)[probs.argmax(axis=1)]).all()


def test_tta_averages_the_eight_flips_and_rotations(model, manifest, predictions):
    tta = evaluation.predict_split(model, manifest, class_names=NAMES, tta=True)
    images, _ = data.load_split_arrays(manifest, split="test", class_names=NAMES, image_size=32)
    variants = [np.rot90(images, k, axes=(1, 2)) for k in range(4)]
    variants += [v[:, :, ::-1] for v in variants]
    expected = np.mean([model.predict(np.ascontiguousarray(v), verbose=0) for v in variants],
                       axis=0)
    np.testing.assert_allclose(tta[["prob_cross", "prob_disk", "prob_square"]].to_numpy(),
                               expected, rtol=1e-4, atol=1e-6)
    test = predictions[predictions["split"] == "test"]
    assert not np.allclose(tta["prob_disk"], test["prob_disk"])


def test_a_class_absent_from_the_test_split_is_allowed(model, manifest):
    frame = manifest[~((manifest["split"] == "test") & (manifest["species"] == "disk"))]
    table = evaluation.predict_split(model, frame, class_names=NAMES)
    assert set(table["species"]) == {"cross", "square"}
    summary = evaluation.summarise_predictions(table, class_names=NAMES, n_bootstrap=20)
    assert summary.metrics["per_class_auc"]["disk"] is None


def test_summary_of_the_test_rows_report_and_folder(predictions, tmp_path):
    summary = evaluation.summarise_predictions(predictions, class_names=NAMES, n_bootstrap=50)
    test = predictions[predictions["split"] == "test"]
    y, probs, specimens = evaluation.arrays_from_predictions(test, class_names=NAMES)
    direct = metrics.evaluate_predictions(y, probs, specimen_ids=specimens, class_names=NAMES,
                                          n_bootstrap=50)
    assert summary.metrics == direct
    assert summary.confusion_counts.to_numpy().sum() == len(test)
    on_val = evaluation.summarise_predictions(predictions, class_names=NAMES, split="val",
                                              n_bootstrap=10)
    assert on_val.confusion_counts.to_numpy().sum() == (predictions["split"] == "val").sum()
    report = evaluation.report_markdown(summary.metrics, summary.per_species, title="small_cnn")
    assert report.startswith("# small_cnn\n")
    assert "| Accuracy (specimen, mean of its slices) |" in report
    assert "50 bootstrap replicates resampling specimens" in report
    assert all(f"| {name} |" in report for name in NAMES)
    figures = evaluation_plots.evaluation_figures(summary)
    paths = evaluation.save_evaluation_outputs(tmp_path / "eval", summary,
                                               predictions=predictions, report=report,
                                               figures=figures, prefix="tta_")
    assert all(p.exists() and p.name.startswith("tta_") for p in paths.values())
    assert {"confusion_matrix.png", "per_species.png", "reliability.png",
            "roc_curves.png"} <= set(paths)
    saved = json.loads(paths["metrics.json"].read_text())
    assert saved["accuracy"] == summary.metrics["accuracy"]
    assert set(metrics.METRIC_KEYS) <= set(saved)
    reread = evaluation.read_predictions(tmp_path / "eval", prefix="tta_")
    np.testing.assert_allclose(reread["prob_disk"], predictions["prob_disk"])
    pd.testing.assert_frame_equal(reread, predictions, check_dtype=False)


def test_read_predictions_refuses_a_table_without_validation_rows(predictions, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run the evaluation step \(notebook 05\)"):
        evaluation.read_predictions(tmp_path)
    test_only = predictions[predictions["split"] == "test"].drop(columns="split")
    test_only.to_csv(tmp_path / "predictions.csv", index=False)
    with pytest.raises(ValueError, match=r"holds no validation predictions .* re-run the "
                                         r"evaluation step"):
        evaluation.read_predictions(tmp_path)


def test_tta_outputs_only_when_enabled(model, manifest, tmp_path):
    assert evaluation.save_tta_outputs(tmp_path, model, manifest, class_names=NAMES,
                                       enabled=False, title="t") == {}
    assert not any(tmp_path.iterdir())
    paths = evaluation.save_tta_outputs(tmp_path, model, manifest, class_names=NAMES,
                                        enabled=True, title="t", n_bootstrap=10)
    assert paths["predictions.csv"].name == "tta_predictions.csv"
    assert "t, TTA" in paths["report.md"].read_text()


def test_report_shows_missing_values_and_notes():
    entries = {k: {"value": 0.5, "ci95": None} for k in metrics.METRIC_KEYS}
    entries["auc_ovr_macro"] = {"value": None, "ci95": None}
    entries["notes"] = ["AUC skips class(es) ['x']"]
    table = pd.DataFrame({"precision": [1.0], "recall": [1.0], "f1": [1.0], "support": [3]},
                         index=pd.Index(["y"], name="species"))
    report = evaluation.report_markdown(entries, table)
    assert "| AUC (one-vs-rest, macro) | n/a | n/a |" in report
    assert "Note: AUC skips class(es) ['x']" in report


def test_errors(model, manifest, predictions):
    with pytest.raises(ValueError, match=r"2 `class_names` for a model with 3 outputs"):
        evaluation.predict_split(model, manifest, class_names=NAMES[:2])
    with pytest.raises(ValueError, match=r"split 'test' is empty"):
        evaluation.predict_split(model, manifest[manifest["split"] != "test"], class_names=NAMES)
    with pytest.raises(ValueError, match=r"lacks columns \['prob_square'\]"):
        evaluation.arrays_from_predictions(predictions.drop(columns="prob_square"),
                                           class_names=NAMES)
    with pytest.raises(ValueError, match=r"species \['cross'\] of the predictions are not in"):
        evaluation.arrays_from_predictions(predictions.assign(prob_x=0.0),
                                           class_names=["disk", "square", "x"])
    with pytest.raises(ValueError, match=r"`metrics_dict` lacks \['ece'\]"):
        evaluation.report_markdown({k: {"value": 1.0, "ci95": None}
                                    for k in metrics.METRIC_KEYS if k != "ece"},
                                   pd.DataFrame())


def test_throughput_is_measured_and_saved(model, predictions, tmp_path):
    speed = evaluation.measure_throughput(model, batch_size=4, n_batches=2)
    assert speed["slices_per_second"] > 0 and speed["input_size"] == 32
    with pytest.raises(ValueError, match=r"`batch_size` and `n_batches` must be >= 1"):
        evaluation.measure_throughput(model, n_batches=0)
    summary = evaluation.summarise_predictions(predictions, class_names=NAMES, n_bootstrap=5)
    paths = evaluation.save_evaluation_outputs(tmp_path, summary, predictions=predictions,
                                               report="r", throughput=speed)
    assert json.loads(paths["throughput.json"].read_text()) == speed
