"""Fingerprints of a training: what a resumable backup must match before it is resumed.

A training killed mid-way resumes from its backup folder (:func:`fossilct.training.fit_model`).
That is only honest when the resumed run would have trained the same way: same parameters, same
training and validation slices, same class order. A fingerprint is a JSON-safe mapping that
captures those; the backup stores it, and a backup whose fingerprint differs from the new run's is
discarded (with a warning naming what changed) instead of being resumed.

Values are kept verbatim where they are small (parameters, class names), so that a change can be
named (``parameters.phase1_lr: 0.001 -> 0.0005``); the slice table is reduced to a SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["TRAINING_SPLITS", "backup_fingerprint", "plain_fingerprint", "fingerprint_changes"]

TRAINING_SPLITS = ("train", "val")
"""Splits a training reads: the rows of the slice table that enter the fingerprint."""
_MAX_SHOWN = 60  # characters of one value shown in a change description
_ABSENT = object()  # an entry one of two fingerprints lacks


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no inf/nan; the text compares the same way
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"fingerprint entry `{where}` is a {type(value).__name__} ({value!r}); use "
                    "numbers, strings, booleans, None, paths, lists or mappings of them (pass "
                    "e.g. an object's configuration dict instead of the object).")


def plain_fingerprint(fingerprint: str | Mapping[str, Any]) -> str | dict:
    """A fingerprint as it is stored: JSON-safe, tuples as lists, NumPy scalars as numbers.

    Parameters
    ----------
    fingerprint : str or mapping
        An opaque string, or a mapping of JSON-like values (e.g. :func:`backup_fingerprint`).

    Returns
    -------
    str or dict
        Equal for equal content, before and after a JSON round trip.

    Raises
    ------
    TypeError
        If a value is not JSON-like (the message names its key).

    Examples
    --------
    >>> plain_fingerprint({"lr": np.float32(0.5), "scale": (0.8, 1.2)})
    {'lr': 0.5, 'scale': [0.8, 1.2]}
    """
    if isinstance(fingerprint, str):
        return fingerprint
    if not isinstance(fingerprint, Mapping):
        raise TypeError(f"`backup_fingerprint` must be a str or a mapping; got "
                        f"{type(fingerprint).__name__}. Build one with "
                        "fossilct.training.backup_fingerprint(params, slices=..., "
                        "class_names=...).")
    return json.loads(json.dumps(_plain(fingerprint, "backup_fingerprint"), sort_keys=True))


def backup_fingerprint(params: Mapping[str, Any], *, slices: pd.DataFrame,
                       class_names: Sequence[str],
                       splits: Sequence[str] = TRAINING_SPLITS) -> dict:
    """The fingerprint of one training: its parameters, its slices and its class order.

    Parameters
    ----------
    params : mapping
        The parameters of the run (as written to ``params.yaml``): any JSON-like values, paths,
        NumPy scalars, tuples.
    slices : DataFrame
        The slice table the training reads (e.g. :func:`fossilct.data.read_manifest`); it must
        have a ``split`` column. Only the rows of `splits` count, in table order (the order
        decides the training's file permutation), with every column.
    class_names : sequence of str
        The label order of the model's outputs.
    splits : sequence of str
        Default ``TRAINING_SPLITS`` (train and val; the test rows do not change a training).

    Returns
    -------
    dict
        ``{"parameters": {...}, "slices": {"rows": n, "sha256": hex}, "class_names": [...]}``,
        JSON-safe; pass it as ``fit_model(..., backup_fingerprint=...)``.

    Raises
    ------
    TypeError
        If a parameter is not JSON-like (the message names it).
    ValueError
        If `slices` has no ``split`` column.

    Examples
    --------
    >>> table = pd.DataFrame({"path": ["a.png", "b.png"], "split": ["train", "test"]})
    >>> fp = backup_fingerprint({"phase1_lr": 1e-3}, slices=table, class_names=["x", "y"])
    >>> fp["parameters"], fp["slices"]["rows"], fp["class_names"]
    ({'phase1_lr': 0.001}, 1, ['x', 'y'])
    """
    if "split" not in slices.columns:
        raise ValueError(f"`slices` has no 'split' column (columns: {list(slices.columns)}); "
                         "pass the slice table after the split step (notebook 03).")
    rows = slices[slices["split"].astype(str).isin([str(s) for s in splits])]
    text = rows.to_csv(index=False, lineterminator="\n")
    return plain_fingerprint({
        "parameters": dict(params),
        "slices": {"rows": len(rows), "sha256": hashlib.sha256(text.encode()).hexdigest()},
        "class_names": [str(c) for c in class_names],
    })


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _shown(value: Any) -> str:
    text = json.dumps(value) if value is not _ABSENT else "(absent)"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."



def fingerprint_changes(old: Any, new: Any) -> list[str]:
    """What differs between two stored fingerprints, one line per changed entry.

    Parameters
    ----------
    old, new : str, dict or None
        Stored fingerprints (:func:`plain_fingerprint`); nested dicts are compared entry by
        entry, with dotted names.

    Returns
    -------
    list of str
        ``"name: old -> new"`` lines (long values shortened); empty when equal.

    Examples
    --------
    >>> fingerprint_changes({"p": {"lr": 0.1, "n": 2}}, {"p": {"lr": 0.2, "n": 2}})
    ['p.lr: 0.1 -> 0.2']
    >>> fingerprint_changes({"a": 1}, {"a": 1})
    []
    """
    old_flat, new_flat = _flatten(old), _flatten(new)
    names = list(old_flat) + [k for k in new_flat if k not in old_flat]
    return [f"{name or 'fingerprint'}: {_shown(old_flat.get(name, _ABSENT))} -> "
            f"{_shown(new_flat.get(name, _ABSENT))}"
            for name in names if old_flat.get(name, _ABSENT) != new_flat.get(name, _ABSENT)]
