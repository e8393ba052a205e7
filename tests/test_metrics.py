"""fossilct.metrics: agreement with scikit-learn, ECE by hand, bootstrap grouped by specimen,
absent classes, bad input."""

import numpy as np
import pytest
from sklearn import metrics as skm

from fossilct import metrics

NAMES = list("abcde")


def _predictions(n=400, k=5, seed=0, skill=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += skill
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    specimens = np.array([f"{label}-{i % 6}" for i, label in enumerate(y)])
    return y, probs, specimens


def test_point_estimates_equal_scikit_learn():
    y, probs, specimens = _predictions()
    result = metrics.evaluate_predictions(y, probs, specimen_ids=specimens, class_names=NAMES,
                                          n_bootstrap=0)
    pred = probs.argmax(axis=1)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "macro_f1": skm.f1_score(y, pred, average="macro"),
        "weighted_f1": skm.f1_score(y, pred, average="weighted"),
        "macro_precision": skm.precision_score(y, pred, average="macro"),
        "weighted_precision": skm.precision_score(y, pred, average="weighted"),
        "macro_recall": skm.recall_score(y, pred, average="macro"),
        "weighted_recall": skm.recall_score(y, pred, average="weighted"),
        "top3_accuracy": skm.top_k_accuracy_score(y, probs, k=3),
        "auc_ovr_macro": skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"),
        "log_loss": skm.log_loss(y, probs),
    }
    for key, value in expected.items():
        assert result[key]["value"] == pytest.approx(value, rel=1e-9), key
        assert result[key]["ci95"] is None
    assert set(metrics.METRIC_KEYS) <= set(result)
    assert (result["n_slices"], result["n_specimens"]) == (400, 30)


def test_auc_counts_ties_as_half_like_scikit_learn():
    y = np.array([0, 0, 1, 1, 1, 0])
    probs = np.array([[0.5, 0.5], [0.7, 0.3], [0.5, 0.5], [0.2, 0.8], [0.5, 0.5], [0.6, 0.4]])
    result = metrics.evaluate_predictions(y, probs, specimen_ids=np.arange(6),
                                          class_names=["x", "y"], n_bootstrap=0)
    assert result["auc_ovr_macro"]["value"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))


def test_ece_on_a_hand_computed_example():
    # confidences 0.9, 0.9 (one right), 0.6 (right), 0.7 (wrong); 2 bins: [0, .5), [.5, 1]
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.3, 0.7]])
    y = np.array([0, 1, 1, 0])
    result = metrics.evaluate_predictions(y, probs, specimen_ids=["s0", "s1", "s2", "s3"],
                                          class_names=["x", "y"], n_bootstrap=0, n_bins=2)
    # one bin holds all: mean confidence (0.9+0.9+0.6+0.7)/4 = 0.775, accuracy 2/4
    assert result["ece"]["value"] == pytest.approx(abs(0.775 - 0.5))
    result = metrics.evaluate_predictions(y, probs, specimen_ids=["s0", "s1", "s2", "s3"],
                                          class_names=["x", "y"], n_bootstrap=0, n_bins=10)
    # bins 0.6 (acc 1), 0.7 (acc 0), 0.9 (2 slices, acc 0.5)
    expected = (abs(1 - 0.6) + abs(0 - 0.7) + 2 * abs(0.5 - 0.9)) / 4
    assert result["ece"]["value"] == pytest.approx(expected)
    table = metrics.reliability_table(y, probs, n_bins=10)
    assert table["count"].sum() == 4 and table.loc[9, "count"] == 2
    assert table.loc[9, "accuracy"] == 0.5 and np.isnan(table.loc[0, "accuracy"])


def test_specimen_accuracy_averages_the_probabilities_of_its_slices():
    # specimen a: two slices wrong-ish and one confidently right -> mean is right
    probs = np.array([[0.45, 0.55], [0.45, 0.55], [0.99, 0.01], [0.2, 0.8]])
    y = np.array([0, 0, 0, 1])
    result = metrics.evaluate_predictions(y, probs, specimen_ids=["a", "a", "a", "b"],
                                          class_names=["x", "y"], n_bootstrap=0)
    assert result["accuracy"]["value"] == 0.5
    assert result["specimen_accuracy"]["value"] == 1.0


def test_bootstrap_resamples_whole_specimens():
    """All slices of a specimen identical: the specimen bootstrap of the slices gives the very
    same intervals as the bootstrap of the specimen-level data (one row per specimen), and a
    slice bootstrap that ignores the grouping is narrower."""
    y, probs, _ = _predictions(n=40, seed=3, skill=1.0)
    specimens = np.array([f"s{i}" for i in range(40)])
    repeat = 8
    slices = dict(y_true=np.repeat(y, repeat), probs=np.repeat(probs, repeat, axis=0),
                  specimen_ids=np.repeat(specimens, repeat))
    kwargs = dict(class_names=NAMES, n_bootstrap=300, rng=7)
    grouped = metrics.evaluate_predictions(**slices, **kwargs)
    per_specimen = metrics.evaluate_predictions(y, probs, specimen_ids=specimens, **kwargs)
    naive = metrics.evaluate_predictions(**slices, resample="slice", **kwargs)
    for key in metrics.METRIC_KEYS:
        assert grouped[key]["value"] == pytest.approx(per_specimen[key]["value"]), key
        np.testing.assert_allclose(grouped[key]["ci95"], per_specimen[key]["ci95"], err_msg=key)
    for key in ("accuracy", "macro_f1", "log_loss", "auc_ovr_macro"):
        width = np.diff(grouped[key]["ci95"])[0]
        assert np.diff(naive[key]["ci95"])[0] < 0.6 * width, key
    assert grouped["bootstrap"] == {"n": 300, "unit": "specimen"}


def test_interval_contains_the_estimate_and_same_seed_repeats():
    y, probs, specimens = _predictions(seed=1)
    a = metrics.evaluate_predictions(y, probs, specimen_ids=specimens, class_names=NAMES,
                                     n_bootstrap=200, rng=3)
    b = metrics.evaluate_predictions(y, probs, specimen_ids=specimens, class_names=NAMES,
                                     n_bootstrap=200, rng=np.random.default_rng(3))
    for key in metrics.METRIC_KEYS:
        low, high = a[key]["ci95"]
        assert low <= a[key]["value"] + 1e-12 and a[key]["value"] - 1e-12 <= high, key
        assert a[key]["ci95"] == b[key]["ci95"]


def test_replicates_are_the_intervals_and_pair_models_by_seed():
    y, probs, specimens = _predictions(seed=4)
    kwargs = dict(specimen_ids=specimens, class_names=NAMES, n_bootstrap=120, rng=11)
    result = metrics.evaluate_predictions(y, probs, **kwargs)
    reps = metrics.bootstrap_replicates(y, probs, **kwargs)
    for key in metrics.METRIC_KEYS:
        assert reps[key].shape == (120,)
        np.testing.assert_allclose(np.nanpercentile(reps[key], [2.5, 97.5]),
                                   result[key]["ci95"], err_msg=key)
    # another model on the same slices, same seed: the same specimens are drawn, so the
    # replicates of a model that is right exactly where this one is are identical
    other = np.roll(probs, 1, axis=1)
    other[np.arange(len(y)), probs.argmax(axis=1)] += 10.0
    other /= other.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(
        metrics.bootstrap_replicates(y, other, **kwargs)["accuracy"], reps["accuracy"])


def test_replicates_need_one_draw():
    with pytest.raises(ValueError, match=r"`n_bootstrap` must be an int >= 1; got 0"):
        metrics.bootstrap_replicates([0, 1], np.eye(2), specimen_ids=["a", "b"],
                                     class_names=["x", "y"], n_bootstrap=0)


def test_class_absent_from_the_test_set_is_skipped_by_the_auc():
    y, probs, specimens = _predictions(seed=2)
    keep = y != 4
    result = metrics.evaluate_predictions(y[keep], probs[keep], specimen_ids=specimens[keep],
                                          class_names=NAMES, n_bootstrap=50)
    present = [skm.roc_auc_score(y[keep] == c, probs[keep, c]) for c in range(4)]
    assert result["auc_ovr_macro"]["value"] == pytest.approx(np.mean(present))
    assert result["per_class_auc"]["e"] is None
    assert "AUC skips class(es) ['e']" in result["notes"][0]
    pred = probs[keep].argmax(axis=1)
    assert result["macro_f1"]["value"] == pytest.approx(
        skm.f1_score(y[keep], pred, labels=[0, 1, 2, 3], average="macro"))


def test_auc_undefined_for_a_single_class_test_set():
    probs = np.array([[0.8, 0.2], [0.6, 0.4]])
    result = metrics.evaluate_predictions([0, 0], probs, specimen_ids=["a", "b"],
                                          class_names=["x", "y"], n_bootstrap=20)
    assert result["auc_ovr_macro"] == {"value": None, "ci95": None}
    assert result["accuracy"]["value"] == 1.0


def test_top3_with_fewer_than_three_classes_is_one():
    probs = np.array([[0.8, 0.2], [0.6, 0.4]])
    result = metrics.evaluate_predictions([1, 1], probs, specimen_ids=["a", "b"],
                                          class_names=["x", "y"], n_bootstrap=0)
    assert result["top3_accuracy"]["value"] == 1.0 and result["accuracy"]["value"] == 0.0


def test_tables_equal_scikit_learn():
    y, probs, _ = _predictions(seed=4)
    pred = probs.argmax(axis=1)
    report = metrics.per_species_report(y, probs, class_names=NAMES)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred)
    np.testing.assert_allclose(report["precision"], precision)
    np.testing.assert_allclose(report["recall"], recall)
    np.testing.assert_allclose(report["f1"], f1)
    np.testing.assert_array_equal(report["support"], support)
    assert list(report.index) == NAMES and report.index.name == "species"
    counts, normalised = metrics.confusion_matrices(y, probs, class_names=NAMES)
    np.testing.assert_array_equal(counts.to_numpy(), skm.confusion_matrix(y, pred))
    np.testing.assert_allclose(normalised.to_numpy(),
                               skm.confusion_matrix(y, pred, normalize="true"))
    curves = metrics.roc_curves(y, probs, class_names=NAMES)
    fpr, tpr, _ = skm.roc_curve(y == 2, probs[:, 2])
    np.testing.assert_allclose(curves["c"]["fpr"], fpr)
    np.testing.assert_allclose(curves["c"]["tpr"], tpr)


def test_roc_leaves_out_classes_without_positives():
    curves = metrics.roc_curves([0, 0, 1], np.eye(3)[[0, 1, 1]], class_names=["a", "b", "c"])
    assert sorted(curves) == ["a", "b"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(probs=np.full((3, 2), 0.5)), r"`probs` must be \(n_slices, n_classes=3\)"),
    (dict(y_true=np.array([0, 1])), r"`y_true` must be 1-D with one label per row of `probs` "
                                    r"\(3\)"),
    (dict(y_true=np.array([0, 1, 3])), r"`y_true` must hold class indices in \[0, 3\)"),
    (dict(probs=np.full((3, 3), 0.5)), r"`probs` rows must be finite, non-negative and sum "
                                       r"to 1"),
    (dict(specimen_ids=["a", "a"]), r"`specimen_ids` must have one entry per slice \(3\)"),
    (dict(specimen_ids=["a", "a", "b"]), r"specimen\(s\) \['a'\] have slices of different "
                                         r"species"),
    (dict(n_bootstrap=-1), r"`n_bootstrap` must be an int >= 0; got -1"),
    (dict(resample="file"), r"`resample`='file'; choose 'specimen' or 'slice'"),
    (dict(n_bins=0), r"`n_bins`=0 must be >= 1"),
    (dict(probs=np.zeros((0, 3)), y_true=np.zeros(0, int), specimen_ids=[]),
     r"no predictions: `probs` has 0 rows"),
])
def test_bad_input(kwargs, message):
    args = dict(y_true=np.array([0, 1, 2]), probs=np.eye(3), specimen_ids=["a", "b", "c"],
                class_names=["x", "y", "z"])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        metrics.evaluate_predictions(args.pop("y_true"), args.pop("probs"), **args)
