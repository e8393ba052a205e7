"""What a run offers the dashboard: its models (and the ensemble) and its test slices.

The model list is read from the run (``run.models``), so a new architecture or the study
ensemble appears without code changes: every model whose split is specimen-level (the leakage
twin, trained on a slice-level split, is left out), the ensemble last, with the abstention
threshold of the ensemble step's ``ensemble.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fossilct import inference

__all__ = ["ENSEMBLE", "ModelChoice", "model_choices", "pick_test_slices", "load_choice"]

ENSEMBLE = "ensemble"
"""Name (and architecture) of the ensemble step's model in ``run.models``."""


@dataclass(frozen=True)
class ModelChoice:
    """A model the user can pick.

    Attributes
    ----------
    label : str
        Shown in the model menu.
    path : pathlib.Path
        The model folder.
    record : pathlib.Path or None
        ``ensemble.json`` holding the abstention threshold (the ensemble only).
    """

    label: str
    path: Path
    record: Path | None = None


def model_choices(run) -> list[ModelChoice]:
    """The run's specimen-level models, then the ensemble if the ensemble step finished.

    Parameters
    ----------
    run : fossilct.results.Run

    Returns
    -------
    list of ModelChoice
        Empty when no model finished training.
    """
    members = [ModelChoice(f"{name} ({folder.arch})" if name != folder.arch else name,
                           folder.path)
               for name, folder in sorted(run.models.items())
               if folder.split_mode == "specimen" and name != ENSEMBLE]
    if ENSEMBLE not in run.models:
        return members
    record = Path(run.ensemble_dir) / "ensemble.json"
    return members + [ModelChoice(ENSEMBLE, run.models[ENSEMBLE].path,
                                  record if record.is_file() else None)]


def load_choice(choice: ModelChoice, *, class_names, image_size: int | None = None
                ) -> inference.Classifier:
    """Load a chosen model (its abstention threshold too, for the ensemble).

    `class_names` and `image_size` (the run's slice size) serve folders that do not state them.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`fossilct.inference.load_classifier` and
        :func:`fossilct.inference.read_abstention_threshold`.
    """
    threshold = None if choice.record is None \
        else inference.read_abstention_threshold(choice.record)
    return inference.load_classifier(choice.path, class_names=class_names,
                                     image_size=image_size, abstention_threshold=threshold)


def pick_test_slices(slices: pd.DataFrame, *, per_species: int = 6) -> list[tuple[str, str]]:
    """Test-split slices to pick from: `per_species` of each species, spread over its slices.

    Parameters
    ----------
    slices : pandas.DataFrame
        ``run.slices`` (columns ``path``, ``slice_id``, ``species``, ``split``).
    per_species : int, keyword-only

    Returns
    -------
    list of (label, path)
        Label ``species · slice_id``, sorted by species.

    Examples
    --------
    >>> table = pd.DataFrame({"path": list("abcd"), "slice_id": list("ABCD"),
    ...                       "species": ["x", "x", "x", "y"], "split": ["test"] * 3 + ["val"]})
    >>> pick_test_slices(table, per_species=2)
    [('x · A', 'a'), ('x · C', 'c')]
    """
    test = slices[slices["split"] == "test"]
    choices = []
    for species, group in test.groupby("species", sort=True):
        picks = np.unique(np.linspace(0, len(group) - 1, min(per_species, len(group))).round()
                          .astype(int))
        for row in group.iloc[picks].itertuples():
            choices.append((f"{species} · {row.slice_id}", str(row.path)))
    return choices
