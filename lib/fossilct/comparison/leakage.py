"""How much a slice-level split inflates test scores.

The same architecture trained twice: on the specimen-level split (every specimen in one split)
and on a slice-level split (slices of one specimen in training and test). Each is scored on
its own test split, with intervals that resample that split's specimens; the two test sets are
independent, so the inflation's interval comes from independent resamples of each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fossilct import metrics
from fossilct.predictions import AlignedPredictions

__all__ = ["LEAKAGE_METRICS", "leakage_table"]

LEAKAGE_METRICS = ("accuracy", "macro_f1")


def _single(aligned: AlignedPredictions, name: str) -> np.ndarray:
    if len(aligned.models) != 1 or aligned.split != "test":
        raise ValueError(f"`{name}` must hold the test predictions of one model; got models "
                         f"{list(aligned.models)} of the {aligned.split!r} split.")
    return aligned.probs[0]


def leakage_table(specimen_split: AlignedPredictions, slice_split: AlignedPredictions, *,
                  n_bootstrap: int = metrics.DEFAULT_N_BOOTSTRAP,
                  rng: int | np.random.Generator = 0) -> pd.DataFrame:
    """Scores under both splits and the inflation, each with a 95% bootstrap interval.

    Parameters
    ----------
    specimen_split, slice_split : AlignedPredictions
        Test predictions of one model each (``read_aligned({arch: path}, splits=("test",))``).
    n_bootstrap : int
        Replicates (>= 1).
    rng : int or numpy.random.Generator
        Seed; the two splits get independent streams spawned from it.

    Returns
    -------
    DataFrame
        Index ``split``: ``specimen-level``, ``slice-level`` and ``inflation`` (slice-level
        minus specimen-level); columns ``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high``
        for accuracy and macro-F1, ``n_slices``, ``n_specimens``.

    Raises
    ------
    ValueError
        Inputs that are not one model's test predictions, or the two splits' classes differ.
    """
    probs = {"specimen-level": _single(specimen_split, "specimen_split"),
             "slice-level": _single(slice_split, "slice_split")}
    if specimen_split.class_names != slice_split.class_names:
        raise ValueError(f"the two splits' tables have different classes: "
                         f"{list(specimen_split.class_names)} against "
                         f"{list(slice_split.class_names)}; train both with the same classes.")
    splits = {"specimen-level": specimen_split, "slice-level": slice_split}
    streams = dict(zip(splits, np.random.default_rng(rng).spawn(2)))
    rows, replicates = {}, {}
    for key, aligned in splits.items():
        args = dict(specimen_ids=aligned.specimen_ids, class_names=list(aligned.class_names))
        point = metrics.evaluate_predictions(aligned.y_true, probs[key], n_bootstrap=0, **args)
        replicates[key] = metrics.bootstrap_replicates(aligned.y_true, probs[key],
                                                       n_bootstrap=n_bootstrap,
                                                       rng=streams[key], **args)
        row = {"n_slices": point["n_slices"], "n_specimens": point["n_specimens"]}
        for metric in LEAKAGE_METRICS:
            low, high = np.nanpercentile(replicates[key][metric], [2.5, 97.5])
            row.update({metric: point[metric]["value"], f"{metric}_ci_low": low,
                        f"{metric}_ci_high": high})
        rows[key] = row
    inflation = {"n_slices": np.nan, "n_specimens": np.nan}
    for metric in LEAKAGE_METRICS:
        diff = replicates["slice-level"][metric] - replicates["specimen-level"][metric]
        low, high = np.nanpercentile(diff, [2.5, 97.5])
        inflation.update({metric: rows["slice-level"][metric] - rows["specimen-level"][metric],
                          f"{metric}_ci_low": low, f"{metric}_ci_high": high})
    rows["inflation"] = inflation
    columns = [c for m in LEAKAGE_METRICS for c in (m, f"{m}_ci_low", f"{m}_ci_high")]
    table = pd.DataFrame.from_dict(rows, orient="index")[columns + ["n_slices", "n_specimens"]]
    table.index.name = "split"
    return table
