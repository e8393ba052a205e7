"""fossilct.report: the numbers shown are the run folder's, pages are self-contained, a model card
per model; on the session's smoke run, the report the runner built is complete and offline."""

import base64
import dataclasses
import json
import re
from urllib.parse import unquote

import nbformat
import pandas as pd
import pytest

from fossilct import report
from fossilct.report.index_page import markdown_html, metrics_table
from fossilct.report.model_card import initialisation_text, selected_epoch
from fossilct.report.summary import split_table
from fossilct.results import RunError, load_run

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082"
)).decode()


def _links(text):
    return re.findall(r'(?:src|href)="([^"]*)"', text)


def _offline(text):
    """Every address a page loads or links is inside the report, an anchor or embedded data."""
    assert "<script src" not in text and "<link" not in text
    return [a for a in _links(text) if re.match(r"[a-z]+://|//", a)]


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    code = nbformat.v4.new_code_cell("fig = plot()", outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Fig>"}),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2,
                                                        "version_minor": 0},
            "text/plain": "slicing volumes:   0%|          | 0/20"}),
    ])
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Dataset\n\nProse."), code]
    return nb


def test_a_notebook_page_folds_code_embeds_figures_and_loads_nothing():
    text = report.notebook_html(_notebook(), title="01_dataset")
    assert f"data:image/png;base64,{PNG}" in text
    assert text.count("<details") == 1 and "plot" in text
    assert 'alt="&lt;Fig&gt;"' in text
    assert "0/20" not in text  # the progress bar widget is dropped, not shown at 0%
    assert not _offline(text)
    assert '<a href="../index.html">' in text


def test_a_notebook_page_refuses_something_else():
    with pytest.raises(TypeError, match="nbformat notebook"):
        report.notebook_html({"cells": []}, title="x")


def test_split_table_counts_slices_and_specimens():
    slices = pd.DataFrame({"species": list("aaabbb"), "specimen_id": ["a1", "a1", "a2", "b1",
                                                                     "b2", "b3"],
                           "split": ["train", "train", "test", "val", "train", "test"]})
    table = split_table(slices)
    assert list(table.columns) == ["train", "val", "test"]
    assert table.loc["a"].tolist() == [2, 0, 1]
    assert table.loc["all slices"].tolist() == [3, 1, 2]
    assert table.loc["specimens"].tolist() == [2, 1, 2]
    with pytest.raises(ValueError, match=r"lacks columns \['split'\]"):
        split_table(slices.drop(columns="split"))


def test_estimates_and_metric_tables():
    assert report.format_estimate(None) == "n/a"
    assert report.format_estimate({"value": None, "ci95": None}) == "n/a"
    table = metrics_table({"accuracy": {"value": 0.5, "ci95": [0.25, 0.75]}, "n_slices": 4,
                           "new_score": {"value": 1.0, "ci95": None}})
    assert table.values.tolist() == [["Accuracy (slice)", "0.500 (0.250–0.750)"],
                                     ["new_score", "1.000"]]


def test_model_card_helpers():
    assert "weights file" not in initialisation_text(None)
    assert "`w.h5`" in initialisation_text("w.h5")
    with pytest.raises(ValueError, match="history.csv is incomplete"):
        selected_epoch(pd.DataFrame({"epoch": [1], "loss": [0.1]}))


def test_markdown_is_rendered_with_tables_and_raw_html_escaped():
    text = markdown_html("| a |\n|---|\n| <script>x</script> |")
    assert "<table>" in text and "<script>" not in text


def _summary(tmp_path, *, metrics, split_mode="specimen", synthetic=True):
    history = pd.DataFrame({"epoch": [1, 2, 3], "phase": [1, 2, 2], "loss": [1.0, 0.8, 0.7],
                            "val_loss": [0.9, 0.6, 0.7], "val_accuracy": [0.5, 0.75, 0.7]})
    split = pd.DataFrame({"train": [4, 4, 8, 2], "val": [2, 2, 4, 2], "test": [2, 2, 4, 2]},
                         index=["a", "b", "all slices", "specimens"])
    model = report.ModelSummary(
        name="cnn" if split_mode == "specimen" else "cnn__slice_level", arch="cnn",
        split_mode=split_mode, path=tmp_path / "models" / "cnn", class_names=["a", "b"],
        params={"weights": "imagenet", "image_size": 64, "phase1_epochs": 1,
                "phase2_epochs": 5, "augmentation": {"rotation_deg": 45.0, "seed": 0}},
        history=history, metrics=metrics, split_table=split)
    steps = (report.StepStatus("01_dataset", "01_dataset", True, "", True),
             report.StepStatus("05_evaluate__cnn", "05_evaluate", False,
                               "step 05_evaluate__cnn has not finished. Make it with `x`.", False))
    return report.RunSummary(
        run_name="r", profile="quick", seed=0, run_dir=tmp_path, data_dir=tmp_path / "scans",
        synthetic=synthetic, steps=steps, species=None, slices_per_species=None, split=split,
        models={model.name: model}, matching=None,
        leaderboard="| Rank | Model |\n|---:|---|\n| 1 | cnn <b> |", leakage=None,
        other_metrics={"09_new_step": {"accuracy": {"value": 0.9, "ci95": [0.8, 0.95]}}})


def test_index_shows_what_finished_what_did_not_the_leaderboard_and_new_steps(tmp_path):
    metrics = {"accuracy": {"value": 0.75, "ci95": [0.5, 1.0]}, "n_slices": 8,
               "n_specimens": 2}
    text = report.index_html(_summary(tmp_path, metrics=metrics))
    assert "not finished" in text and "Make it with `x`" in text
    assert "0.750<br><small>0.500–1.000</small>" in text
    assert "8 / 2" in text and 'href="model_cards/cnn.html"' in text
    assert "<h2>09_new_step</h2>" in text and "0.900 (0.800–0.950)" in text
    assert "<td>cnn &lt;b&gt;</td>" in text  # the comparison's leaderboard, escaped
    assert "This step has not finished." in text  # the matching section: no benchmark
    assert not _offline(text)


def test_model_card_of_an_unevaluated_leakage_twin(tmp_path):
    summary = _summary(tmp_path, metrics=None, split_mode="slice_level", synthetic=False)
    card = report.model_card_markdown(summary.models["cnn__slice_level"], run=summary)
    assert "Not evaluated yet" in card and "--only 05 --arch cnn" in card
    assert "leakage experiment" in card and "are not results" in card
    assert "ImageNet-pretrained" in card
    assert "Selected weights: epoch 2 (phase 2), validation loss 0.6000" in card
    assert "1 epochs run of at most 1" in card and "2 epochs run of at most 5" in card
    assert f"scans in `{tmp_path / 'scans'}`" in card and "synthetic" not in card


def test_model_card_of_the_ensemble_shows_its_spec_not_a_training(tmp_path):
    summary = _summary(tmp_path, metrics=None)
    ensemble = dataclasses.replace(
        summary.models["cnn"], name="ensemble", arch="ensemble", history=None,
        params={"arch": "ensemble", "ensemble": {"kind": "soft_voting", "members": ["a", "b"]}})
    card = report.model_card_markdown(ensemble, run=summary)
    assert "Not trained itself" in card and "members:\n- a\n- b" in card
    assert "Selected weights" not in card and "--only 06" in card
    assert "the trained weights of its members" in card


def test_a_folder_without_run_yaml_is_refused(tmp_path):
    with pytest.raises(RunError, match="not a fossilct run folder"):
        report.write_report(tmp_path)


# --- the report of the session's smoke run ------------------------------------------------

@pytest.mark.smoke
def test_the_runner_built_the_report_with_the_run_folders_numbers(smoke_run):
    folder = smoke_run / "report"
    index = (folder / "index.html").read_text()
    run = load_run(smoke_run)
    total = len(pd.read_csv(smoke_run / "slices" / "manifest.csv"))
    assert re.search(rf"<th>total</th>\s*<td>{total}</td>", index)
    test_size = (run.slices["split"] == "test").sum()
    assert re.search(rf"<th>all slices</th>(\s*<td>\d+</td>){{2}}\s*<td>{test_size}</td>", index)
    tested = {name: evaluation.metrics for name, evaluation in run.evaluations.items()}
    tested["ensemble"] = json.loads((run.ensemble_dir / "metrics.json").read_text())
    assert set(tested) == set(run.models)  # every model has a card with its test metrics
    for name, metrics in tested.items():
        accuracy = report.format_estimate(metrics["accuracy"])
        assert accuracy.split(" ")[0] in index
        card = (folder / "model_cards" / f"{name}.md").read_text()
        assert f"| Accuracy (slice) | {accuracy} |" in card
        assert run.class_names[0] in card
    top1 = run.matching_benchmark["fossilct"]["specimen_top1"]
    assert re.search(rf"specimen identified \(top 1\)</th>\s*<td>{top1:.3g}</td>", index)
    leaderboard = (run.comparison_dir / "leaderboard.md").read_text()
    assert markdown_html(leaderboard) in index


@pytest.mark.smoke
def test_every_page_is_offline_and_every_link_resolves(smoke_run):
    folder = smoke_run / "report"
    assert {p.name for p in (folder / "notebooks").iterdir()} == {
        f"{p.stem}.html" for p in (smoke_run / "notebooks").glob("*.ipynb")}
    for page in sorted(folder.rglob("*.html")):
        text = page.read_text()
        assert not _offline(text), page
        for address in _links(text):
            if not address.startswith(("#", "data:")):
                assert (page.parent / unquote(address)).is_file(), (page, address)
    for page in (folder / "notebooks").glob("*.html"):  # every figure is in its page
        notebook = nbformat.read(smoke_run / "notebooks" / f"{page.stem}.ipynb", as_version=4)
        figures = [o["data"]["image/png"].strip() for c in notebook.cells
                   for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        text = page.read_text()
        assert all(f"data:image/png;base64,{png}" in text for png in figures), page


@pytest.mark.smoke
def test_the_report_command_rebuilds_it_and_no_step_goes_out_of_date(smoke_run, tmp_path):
    from conftest import copy_run, run_pipeline
    from fossilct.cli import main

    run_dir = copy_run(smoke_run, tmp_path)
    (run_dir / "report" / "index.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report" / "index.html").is_file()
    listing = run_pipeline("--profile", "smoke", "--out", run_dir.parent, "--list")
    assert "[         run]" not in listing.stdout and "[  up to date] 07_matching" in \
        listing.stdout
