"""Several models' predictions tables of the same slices, read and aligned row by row.

A predictions table is what the evaluation step writes (:func:`fossilct.evaluation.predict_splits`,
read back with :func:`fossilct.evaluation.read_predictions`): one row per slice of the validation
and test splits with ``split``, ``slice_id``, ``specimen_id``, ``species``, ``predicted`` and one
``prob_<class>`` column per class in the model's output order. The ensemble step writes the
same table for its ensembles. Ensembles and comparisons combine such tables
without re-running any model, which is only sound when every table lists the same classes in
the same order and the same slices with the same specimen and species; :func:`align_predictions`
checks exactly that and names both tables on any disagreement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fossilct.evaluation import PREDICTIONS_FILE, PROB_PREFIX, arrays_from_predictions
from fossilct.evaluation import read_predictions

__all__ = [
    "SPLIT_COLUMN",
    "AlignedPredictions",
    "probability_classes",
    "split_rows",
    "align_predictions",
    "read_aligned",
    "table_from_probabilities",
]

SPLIT_COLUMN = "split"
"""Column naming the split of each row (``val`` or ``test``)."""
_TEXT_COLUMNS = ("slice_id", "specimen_id", "species", "predicted", SPLIT_COLUMN)


def probability_classes(table: pd.DataFrame, *, source: str = "predictions") -> tuple[str, ...]:
    """Class names of a predictions table: its ``prob_<class>`` columns, in column order.

    Raises
    ------
    ValueError
        If the table has no probability column.

    Examples
    --------
    >>> probability_classes(pd.DataFrame(columns=["slice_id", "prob_b", "prob_a"]))
    ('b', 'a')
    """
    names = tuple(c[len(PROB_PREFIX):] for c in table.columns if c.startswith(PROB_PREFIX))
    if not names:
        raise ValueError(f"{source} has no {PROB_PREFIX}<class> columns; pass a predictions "
                         "table written by the evaluation step.")
    return names


def split_rows(table: pd.DataFrame, split: str, *, source: str = "predictions") -> pd.DataFrame:
    """The rows of one split.

    Parameters
    ----------
    table : DataFrame
        A predictions table.
    split : {"val", "test"}
    source : str
        Where the table came from (file path or model name), for messages.

    Returns
    -------
    DataFrame
        The rows of `split`, index reset.

    Raises
    ------
    ValueError
        If the rows of `split` are missing; the message says to re-run the evaluation step.

    Examples
    --------
    >>> table = pd.DataFrame({"slice_id": ["a", "b"], "split": ["val", "test"]})
    >>> split_rows(table, "test")["slice_id"].tolist()
    ['b']
    """
    if split not in ("val", "test"):
        raise ValueError(f"`split`={split!r}; choose 'val' or 'test'.")
    rerun = ("Re-run the evaluation step (notebook 05) for this architecture: it writes the "
             "validation and test rows with a `split` column.")
    if SPLIT_COLUMN not in table.columns:
        raise ValueError(f"{source} has no `{SPLIT_COLUMN}` column, so it holds no {split} rows "
                         f"(a table from before validation rows were written). {rerun}")
    rows = table[table[SPLIT_COLUMN].astype(str) == split]
    if rows.empty:
        found = sorted(set(table[SPLIT_COLUMN].astype(str)))
        raise ValueError(f"{source} has no rows with {SPLIT_COLUMN} == {split!r} (found "
                         f"{found}). {rerun}")
    return rows.reset_index(drop=True)


@dataclass(frozen=True)
class AlignedPredictions:
    """Several models' predictions of the same slices, rows in one order.

    Attributes
    ----------
    split : str
    models : tuple of str
        Model names, in input order.
    class_names : tuple of str, length K
    slice_ids, specimen_ids : (N,) ndarray of str
    y_true : (N,) ndarray of int64
    probs : (M, N, K) ndarray of float64
        ``probs[m]`` are the probabilities of ``models[m]``.
    sources : tuple of str
        Where each model's table came from.
    """

    split: str
    models: tuple[str, ...]
    class_names: tuple[str, ...]
    slice_ids: np.ndarray
    specimen_ids: np.ndarray
    y_true: np.ndarray
    probs: np.ndarray
    sources: tuple[str, ...]

    def member(self, name: str) -> np.ndarray:
        """(N, K) probabilities of model `name`.

        Raises
        ------
        KeyError
            If `name` is not one of ``models``.
        """
        if name not in self.models:
            raise KeyError(f"no model {name!r} among {list(self.models)}.")
        return self.probs[self.models.index(name)]

    def by_model(self) -> dict[str, np.ndarray]:
        """Model name -> (N, K) probabilities."""
        return {name: self.probs[m] for m, name in enumerate(self.models)}


def _check_same_slices(first: pd.DataFrame, other: pd.DataFrame, a: str, b: str,
                       split: str) -> pd.DataFrame:
    """`other` reordered like `first`; an error naming both when the slices differ."""
    for frame, source in ((first, a), (other, b)):
        duplicated = frame["slice_id"][frame["slice_id"].duplicated()]
        if len(duplicated):
            raise ValueError(f"{source} lists slice(s) {duplicated.head(3).tolist()} more than "
                             f"once among its {split} rows; rewrite it with the evaluation step.")
    only_a = sorted(set(first["slice_id"]) - set(other["slice_id"]))
    only_b = sorted(set(other["slice_id"]) - set(first["slice_id"]))
    if only_a or only_b:
        raise ValueError(
            f"{a} and {b} predict different {split} slices: {len(only_a)} only in the first "
            f"(e.g. {only_a[:3]}), {len(only_b)} only in the second (e.g. {only_b[:3]}). Both "
            "must be evaluated on the same manifest and split; re-run the evaluation step for "
            "the stale one.")
    other = other.set_index("slice_id").loc[first["slice_id"]].reset_index()
    for column in ("specimen_id", "species"):
        differ = first[column].to_numpy() != other[column].to_numpy()
        if differ.any():
            i = int(np.flatnonzero(differ)[0])
            raise ValueError(
                f"{a} and {b} disagree on the {column} of {int(differ.sum())} {split} slice(s), "
                f"e.g. slice {first['slice_id'].iloc[i]!r}: {first[column].iloc[i]!r} against "
                f"{other[column].iloc[i]!r}. They come from different manifests; re-evaluate "
                "both on the same one.")
    return other


def align_predictions(tables: Mapping[str, pd.DataFrame], *, split: str,
                      sources: Mapping[str, str] | None = None) -> AlignedPredictions:
    """Align several models' predictions of one split, row by row.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Model name -> predictions table (both splits or one).
    split : {"val", "test"}
    sources : mapping of str to str, optional
        Model name -> file the table was read from, for messages (default: the model name).

    Returns
    -------
    AlignedPredictions
        Rows in the order of the first table.

    Raises
    ------
    ValueError
        No tables; a table without rows of `split`; tables whose class columns differ (names
        or order), whose slices differ, or that disagree on a slice's specimen or species (the
        message names both tables); species outside the class names.

    Examples
    --------
    >>> a = pd.DataFrame({"split": "test", "slice_id": ["s1", "s2"], "specimen_id": ["x", "y"],
    ...                   "species": ["p", "q"], "prob_p": [0.9, 0.2], "prob_q": [0.1, 0.8]})
    >>> aligned = align_predictions({"m1": a, "m2": a[::-1]}, split="test")
    >>> aligned.probs.shape, aligned.y_true.tolist()
    ((2, 2, 2), [0, 1])
    """
    if not tables:
        raise ValueError("`tables` is empty: pass at least one model's predictions table.")
    given = {name: str((sources or {}).get(name, name)) for name in tables}
    labels = {name: (f"table {given[name]!r} (model {name!r})" if given[name] != name
                     else f"the table of model {name!r}") for name in tables}
    names = list(tables)
    rows = {name: split_rows(tables[name], split, source=labels[name]) for name in names}
    first = names[0]
    class_names = probability_classes(rows[first], source=labels[first])
    for name in names[1:]:
        other = probability_classes(rows[name], source=labels[name])
        if other != class_names:
            raise ValueError(
                f"{labels[first]} and {labels[name]} have different class columns: "
                f"{list(class_names)} against {list(other)}. Every model must be trained and "
                "evaluated with the same class_names.json (same names, same order).")
        rows[name] = _check_same_slices(rows[first], rows[name], labels[first],
                                        labels[name], split)
    probs = []
    for name in names:
        y_true, p, specimens = arrays_from_predictions(rows[name], class_names=class_names)
        probs.append(p)
    return AlignedPredictions(
        split=split, models=tuple(names), class_names=class_names,
        slice_ids=rows[first]["slice_id"].astype(str).to_numpy(),
        specimen_ids=specimens, y_true=y_true, probs=np.stack(probs),
        sources=tuple(given[name] for name in names),
    )


def read_aligned(folders: Mapping[str, str | os.PathLike], *,
                 splits: tuple[str, ...] = ("val", "test")) -> dict[str, AlignedPredictions]:
    """Read several models' predictions and align each split.

    Parameters
    ----------
    folders : mapping of str to path-like
        Model name -> the folder holding its ``predictions.csv`` (an evaluation folder
        ``eval/<arch>/``, or the ensemble folder).
    splits : tuple of {"val", "test"}
        Splits to align.

    Returns
    -------
    dict of str to AlignedPredictions
        Split -> aligned predictions; the splits share models and class order.

    Raises
    ------
    FileNotFoundError
        A folder without predictions (the message names the step that writes them).
    ValueError
        A table without validation rows (made before evaluations predicted them: the message
        says to re-run the evaluation step), or as :func:`align_predictions`, naming the files.
    """
    tables = {name: read_predictions(folder) for name, folder in folders.items()}
    sources = {name: str(Path(folder) / PREDICTIONS_FILE) for name, folder in folders.items()}
    return {split: align_predictions(tables, split=split, sources=sources) for split in splits}


def table_from_probabilities(aligned: AlignedPredictions, probs: np.ndarray) -> pd.DataFrame:
    """A predictions table (with ``split`` column) of new probabilities for aligned slices.

    Parameters
    ----------
    aligned : AlignedPredictions
        Gives the slices, specimens, species, split and class order.
    probs : (N, K) ndarray of float

    Returns
    -------
    DataFrame
        ``slice_id``, ``specimen_id``, ``species``, ``predicted``, ``prob_<class>``...,
        ``split``: the evaluation step's layout.

    Raises
    ------
    ValueError
        If `probs` is not (N, K).
    """
    probs = np.asarray(probs, dtype=np.float64)
    expected = (len(aligned.y_true), len(aligned.class_names))
    if probs.shape != expected:
        raise ValueError(f"`probs` must have shape {expected} (slices, classes of the "
                         f"{aligned.split} split); got {probs.shape}.")
    names = np.asarray(aligned.class_names)
    table = pd.DataFrame({"slice_id": aligned.slice_ids, "specimen_id": aligned.specimen_ids,
                          "species": names[aligned.y_true], "predicted": names[probs.argmax(1)]})
    for c, name in enumerate(aligned.class_names):
        table[PROB_PREFIX + name] = probs[:, c]
    table[SPLIT_COLUMN] = aligned.split
    return table
