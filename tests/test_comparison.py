"""fossilct.comparison: leaderboard, paired tests (McNemar, paired specimen bootstrap, Holm),
per-species extremes, shared confusions, leakage table, report and folder."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from fossilct import comparison, metrics, predictions
from fossilct.comparison import paired
from prediction_fixtures import predictions_table, write_tables


def _aligned(y, probs_by_model, specimens=None, classes=("a", "b", "c")):
    y = np.asarray(y)
    specimens = np.asarray(specimens if specimens is not None
                           else [f"s{i}" for i in range(len(y))])
    return predictions.AlignedPredictions(
        split="test", models=tuple(probs_by_model), class_names=tuple(classes),
        slice_ids=np.array([f"x{i}" for i in range(len(y))]), specimen_ids=specimens,
        y_true=y, probs=np.stack([np.asarray(p, float) for p in probs_by_model.values()]),
        sources=tuple(probs_by_model))


@pytest.fixture(scope="module")
def test_split(tmp_path_factory):
    paths = write_tables(tmp_path_factory.mktemp("cmp"), {
        "m1": dict(seed=1, skill=2.0, weak="a"), "m2": dict(seed=2, skill=1.5),
        "m3": dict(seed=3, skill=0.8), "ens": dict(seed=4, skill=2.5)})
    return predictions.read_aligned(paths, splits=("test",))["test"]


# --- McNemar and Holm ---------------------------------------------------------------------

@pytest.mark.parametrize("only_a, only_b, expected", [
    (10, 2, 158 / 4096),          # 2 (C(12,0) + C(12,1) + C(12,2)) / 2^12
    (1, 5, 14 / 64),              # 2 (1 + 6) / 2^6
    (3, 3, 1.0),                  # balanced: capped at 1
    (0, 0, 1.0),                  # no discordant slice
])
def test_mcnemar_exact_on_known_tables(only_a, only_b, expected):
    both, neither = 7, 4          # concordant cells do not enter the test
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    result = paired.mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (only_a, only_b)
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)
    n = only_a + only_b
    if n:
        assert result["p_value"] == pytest.approx(min(1, 2 * binom.cdf(min(only_a, only_b), n,
                                                                       0.5)))
    assert paired.mcnemar_exact(b, a)["p_value"] == result["p_value"]


def test_holm_by_hand():
    np.testing.assert_allclose(paired.holm_adjust([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(paired.holm_adjust([0.5, 0.01]), [0.5, 0.02])
    np.testing.assert_allclose(paired.holm_adjust([0.4, 0.6]), [0.8, 0.8])  # monotone, capped
    assert paired.holm_adjust([]).shape == (0,)


def test_bootstrap_p_value():
    assert paired.bootstrap_p_value(np.full(99, 0.2)) == pytest.approx(0.02)
    assert paired.bootstrap_p_value([-0.1, 0.1, 0.2, 0.3]) == pytest.approx(0.8)
    assert paired.bootstrap_p_value(np.zeros(10)) == 1.0


def test_paired_bootstrap_draws_the_same_specimens_for_both_models():
    """B equals A except on one specimen, where only A is right: with the same resample, A's
    accuracy is never below B's; independent resamples would often say otherwise."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(12) % 3, 4)
    specimens = np.repeat([f"s{i}" for i in range(12)], 4)
    a = rng.dirichlet(np.ones(3), size=48)
    b = a.copy()
    b[:4] = np.roll(np.eye(3)[y[:4]] * 0.85 + 0.05, 1, axis=1)
    a[:4] = np.eye(3)[y[:4]] * 0.85 + 0.05
    test = _aligned(y, {"A": a, "B": b}, specimens)
    reps = paired.accuracy_replicates(test, n_bootstrap=300, rng=3)
    diff = reps["A"] - reps["B"]
    assert (diff >= 0).all() and (diff > 0).any()
    table = paired.paired_tests(test, reference="A", replicates=reps)
    row = table.iloc[0]
    assert row["model_b"] == "B" and row["difference_ci_low"] >= 0
    assert row["accuracy_difference"] == pytest.approx(4 / 48)
    assert row["only_a_right"] == 4 and row["only_b_right"] == 0
    assert row["mcnemar_p"] == pytest.approx(2 / 16)
    same = paired.paired_tests(_aligned(y, {"A": a, "A2": a}, specimens), reference="A",
                               n_bootstrap=50, rng=0).iloc[0]
    assert same["accuracy_difference"] == 0 and same["difference_ci_low"] == 0
    assert same["bootstrap_p"] == 1.0 and same["mcnemar_p"] == 1.0


def test_paired_tests_correct_over_the_comparisons(test_split):
    table = paired.paired_tests(test_split, reference="ens", n_bootstrap=60, rng=0)
    assert table["model_b"].tolist() == ["m1", "m2", "m3"]
    np.testing.assert_allclose(table["mcnemar_p_holm"], paired.holm_adjust(table["mcnemar_p"]))
    np.testing.assert_allclose(table["bootstrap_p_holm"],
                               paired.holm_adjust(table["bootstrap_p"]))
    assert (table["mcnemar_p_holm"] >= table["mcnemar_p"]).all()
    pairs = paired.pairwise_tests(test_split, n_bootstrap=60, rng=0)
    assert len(pairs) == 6 and pairs.iloc[0][["model_a", "model_b"]].tolist() == ["m1", "m2"]


def test_paired_errors(test_split):
    with pytest.raises(ValueError, match=r"`reference`='best' is not among the models"):
        paired.paired_tests(test_split, reference="best", n_bootstrap=10)
    with pytest.raises(TypeError, match=r"`rng` must be an int seed here .* got Generator"):
        paired.accuracy_replicates(test_split, n_bootstrap=10, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"must be 1-D and of one length; got shapes \(2,\) "
                                         r"and \(3,\)"):
        paired.mcnemar_exact([True, False], [True, True, False])
    with pytest.raises(ValueError, match=r"`p_values` must be a 1-D array of numbers in \[0, 1\]"):
        paired.holm_adjust([0.2, 1.5])
    with pytest.raises(ValueError, match=r"`differences` holds no finite replicate"):
        paired.bootstrap_p_value([np.nan])


# --- leaderboard ---------------------------------------------------------------------------

def test_leaderboard_uses_the_evaluation_metrics(test_split):
    evaluated = comparison.evaluate_models(test_split, n_bootstrap=50, rng=7)
    for name, p in test_split.by_model().items():
        assert evaluated[name] == metrics.evaluate_predictions(
            test_split.y_true, p, specimen_ids=test_split.specimen_ids,
            class_names=list(test_split.class_names), n_bootstrap=50, rng=7)
    board = comparison.leaderboard_table(evaluated, resources={"m1": {"train_seconds": 12.5}})
    assert board["model"].tolist()[0] == "ens" and board["rank"].tolist() == [1, 2, 3, 4]
    assert (np.diff(board["macro_f1"]) <= 0).all()
    row = board.set_index("model").loc["m2"]
    assert row["accuracy"] == evaluated["m2"]["accuracy"]["value"]
    assert [row["ece_ci_low"], row["ece_ci_high"]] == evaluated["m2"]["ece"]["ci95"]
    assert board.set_index("model").loc["m1", "train_seconds"] == 12.5
    assert board.set_index("model")["train_seconds"].drop("m1").isna().all()
    by_loss = comparison.leaderboard_table(evaluated, rank_by="log_loss")
    assert (np.diff(by_loss["log_loss"]) >= 0).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(rank_by="speed"), r"`rank_by`='speed'; choose one of"),
    (dict(resources={"m9": {"train_seconds": 1.0}}), r"`resources` names models \['m9'\]"),
    (dict(resources={"m1": {"accuracy": 1.0}}), r"column 'accuracy' collides"),
    (dict(resources={"m1": {"train_seconds": -1.0}}), r"`resources\['m1'\]\['train_seconds'\]`"
                                                      r"=-1\.0 must be a finite number >= 0"),
])
def test_leaderboard_errors(kwargs, message):
    entry = {k: {"value": 0.5, "ci95": [0.4, 0.6]} for k in comparison.LEADERBOARD_METRICS}
    with pytest.raises(ValueError, match=message):
        comparison.leaderboard_table({"m1": entry}, **kwargs)
    with pytest.raises(ValueError, match=r"`model_metrics` is empty"):
        comparison.leaderboard_table({})


# --- per species ---------------------------------------------------------------------------

def test_species_extremes_and_shared_confusions_by_hand():
    y = [0, 0, 1, 1, 2, 2]
    m1 = np.eye(3)[[0, 1, 1, 1, 2, 0]]   # a->b once, c->a once
    m2 = np.eye(3)[[0, 1, 1, 2, 2, 2]]   # a->b once, b->c once
    test = _aligned(y, {"m1": m1, "m2": m2})
    f1 = comparison.per_species_f1_table(test)
    assert f1.index.tolist() == ["m1", "m2"] and f1.columns.tolist() == ["a", "b", "c"]
    # m1: a 2/(2+2), b 4/(2+3), c 2/(2+1); m2: a 2/(2+1), b 2/(2+2), c 4/(2+3)
    np.testing.assert_allclose(f1.loc["m1"], [0.5, 0.8, 2 / 3])
    np.testing.assert_allclose(f1.loc["m2"], [2 / 3, 0.5, 0.8])
    extremes = comparison.species_extremes(f1)
    assert extremes.loc["a", ["best_model", "worst_model"]].tolist() == ["m2", "m1"]
    assert extremes.loc["b", ["best_model", "worst_model"]].tolist() == ["m1", "m2"]
    assert extremes.loc["c", "spread"] == pytest.approx(0.8 - 2 / 3)
    tie = comparison.species_extremes(pd.DataFrame({"x": [0.5, 0.5]}, index=["m1", "m2"]))
    assert tie.loc["x", ["best_model", "worst_model"]].tolist() == ["m1", "m1"]
    shared = comparison.common_confusions(test)
    assert shared[["true", "predicted", "m1", "m2", "min_count"]].values.tolist() == [
        ["a", "b", 1, 1, 1]]
    assert comparison.common_confusions(_aligned(y, {"m1": m1, "ok": np.eye(3)[y]})).empty
    with pytest.raises(ValueError, match=r"`f1_table` is empty"):
        comparison.species_extremes(pd.DataFrame())


# --- leakage -------------------------------------------------------------------------------

def test_leakage_table_resamples_each_split_by_its_own_specimens():
    spec = predictions.align_predictions(
        {"cnn": predictions_table(seed=5, skill=1.0, n_specimens=4, splits=("test",))},
        split="test")
    leaky = predictions.align_predictions(
        {"cnn": predictions_table(seed=6, skill=2.5, n_specimens=7, splits=("test",))},
        split="test")
    table = comparison.leakage_table(spec, leaky, n_bootstrap=200, rng=0)
    assert table.index.tolist() == ["specimen-level", "slice-level", "inflation"]
    for key, aligned in (("specimen-level", spec), ("slice-level", leaky)):
        direct = metrics.evaluate_predictions(aligned.y_true, aligned.probs[0],
                                              specimen_ids=aligned.specimen_ids,
                                              class_names=list(aligned.class_names),
                                              n_bootstrap=0)
        assert table.loc[key, "accuracy"] == direct["accuracy"]["value"]
        assert table.loc[key, "n_specimens"] == direct["n_specimens"]
        assert table.loc[key, "accuracy_ci_low"] <= direct["accuracy"]["value"]
    inflation = table.loc["inflation"]
    assert inflation["accuracy"] == pytest.approx(table.loc["slice-level", "accuracy"]
                                                  - table.loc["specimen-level", "accuracy"])
    assert inflation["accuracy_ci_low"] > 0 and inflation["macro_f1"] > 0
    again = comparison.leakage_table(spec, leaky, n_bootstrap=200, rng=0)
    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(ValueError, match=r"`specimen_split` must hold the test predictions of one "
                                         r"model; got models \['a', 'b'\]"):
        two = predictions.align_predictions({"a": predictions_table(seed=1),
                                             "b": predictions_table(seed=2)}, split="test")
        comparison.leakage_table(two, leaky)
    other = predictions.align_predictions(
        {"cnn": predictions_table(seed=6, classes=("a", "b"), splits=("test",))}, split="test")
    with pytest.raises(ValueError, match=r"different classes: \['a', 'b', 'c', 'd'\] against "
                                         r"\['a', 'b'\]"):
        comparison.leakage_table(spec, other)


# --- whole comparison ----------------------------------------------------------------------

def test_compare_report_and_folder(test_split, tmp_path):
    result = comparison.compare_models(test_split, n_bootstrap=60, rng=0,
                                       resources={"ens": {"slices_per_second": 250.0}})
    assert result.reference == "ens" and result.paired["model_b"].tolist() == ["m1", "m2", "m3"]
    report = comparison.comparison_report_markdown(result)
    top = result.leaderboard.iloc[0]
    assert f"best ens ({top['macro_f1']:.4f} ({top['macro_f1_ci_low']:.4f}–" in report
    assert "## ens against each other model" in report and "## Leakage" not in report
    for species, row in result.species_extremes.iterrows():
        assert f"| {species} | {row['best_model']} | {row['best_f1']:.4f} |" in report
    paths = comparison.save_comparison_outputs(tmp_path, result, report=report)
    board = pd.read_csv(paths["leaderboard.csv"])
    assert board["model"].tolist() == result.leaderboard["model"].tolist()
    record = json.loads(paths["leaderboard.json"].read_text())
    assert record["models"][0]["metrics"]["accuracy"] == result.metrics["ens"]["accuracy"]
    assert record["models"][0]["resources"] == {"slices_per_second": 250.0}
    assert record["models"][1]["resources"] == {"slices_per_second": None}
    assert paths["leaderboard.md"].read_text().startswith("| Rank | Model | Accuracy |")
    assert "leakage.csv" not in paths


def test_the_leaderboard_check_catches_a_bad_file(test_split, tmp_path):
    result = comparison.compare_models(test_split, n_bootstrap=20, rng=0)
    paths = comparison.save_comparison_outputs(tmp_path, result, report="r")
    result.leaderboard.iloc[:2].to_csv(paths["leaderboard.csv"], index=False)
    with pytest.raises(ValueError, match=r"leaderboard\.csv was not written as intended: shape "
                                         r"\(2, 26\) instead of \(4, 26\)"):
        comparison.report._check_leaderboard(paths, result)


def test_one_model_has_nothing_to_test(test_split):
    single = predictions.AlignedPredictions(
        split="test", models=("m1",), class_names=test_split.class_names,
        slice_ids=test_split.slice_ids, specimen_ids=test_split.specimen_ids,
        y_true=test_split.y_true, probs=test_split.probs[:1], sources=("m1",))
    result = comparison.compare_models(single, n_bootstrap=20, rng=0)
    assert result.paired.empty and result.pairwise.empty
    assert "Only one model: nothing to compare." in comparison.comparison_report_markdown(result)
    with pytest.raises(ValueError, match=r"`n_bootstrap`=0 must be an int >= 1"):
        comparison.compare_models(single, n_bootstrap=0)


def test_tables_that_disagree_are_named(tmp_path):
    paths = write_tables(tmp_path, {"m1": dict(seed=1), "m2": dict(seed=2, n_specimens=5)})
    with pytest.raises(ValueError, match=r"table '.*m1/predictions\.csv' \(model 'm1'\) and table "
                                         r"'.*m2/predictions\.csv' \(model 'm2'\) predict different test "
                                         r"slices: 20 only in the first"):
        predictions.read_aligned(paths, splits=("test",))
