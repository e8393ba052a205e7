"""Confidence-based switching between a general model and a specialist, chosen on validation.

The study's final model used a general network G and, for a few "weak" species, a second
network S: when G predicts one of those species without enough confidence, S's probabilities
are used instead. Here every part of the rule comes from the validation split:

* **G** is the member with the best validation score (macro-F1 by default).
* **The specialist's species** are those where S's validation F1 is higher than G's. F1 rather
  than recall: a member that predicts a species more often gains recall on it at the cost of
  false positives elsewhere, and F1 counts both.
* **The threshold** is chosen on a grid: switch when G's top probability is *below* it. The
  chosen threshold maximises the validation score of the switched predictions; among equal
  scores, the smallest (fewest switched slices: G is kept when the data cannot tell). A
  threshold of 0 never switches and is always a candidate, so switching never scores below G
  on validation.
* **S** is the member whose switching rule gains most over G on validation; with no positive
  gain there is no specialist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from fossilct.ensemble.errors import NothingToCombineError
from fossilct.ensemble.scores import per_species_f1, validation_score

__all__ = [
    "DEFAULT_THRESHOLDS",
    "switch_probabilities",
    "specialist_species",
    "Switching",
    "fit_switching",
    "SwitchingChoice",
    "choose_general_and_specialist",
]

DEFAULT_THRESHOLDS = tuple(float(t) for t in np.round(np.linspace(0.0, 1.0, 101), 2))
"""Thresholds tried by default: 0, 0.01, ..., 1 (switch when G's top probability < t)."""


def _pair(general, specialist) -> tuple[np.ndarray, np.ndarray]:
    general = np.asarray(general, dtype=np.float64)
    specialist = np.asarray(specialist, dtype=np.float64)
    if general.ndim != 2 or general.shape != specialist.shape:
        raise ValueError(f"`general` and `specialist` must be (n_slices, n_classes) arrays of one "
                         f"shape; got {general.shape} and {specialist.shape}.")
    return general, specialist


def switch_probabilities(general, specialist, *, species_mask, threshold: float) -> np.ndarray:
    """Apply the switching rule.

    Parameters
    ----------
    general, specialist : (N, K) array_like of float
        Probabilities of G and S for the same slices.
    species_mask : (K,) array_like of bool
        The specialist's species.
    threshold : float
        Switch when G predicts a species of `species_mask` with top probability < `threshold`.

    Returns
    -------
    (N, K) ndarray of float64
        S's row where the rule switches, G's elsewhere.

    Raises
    ------
    ValueError
        Shapes that do not match.

    Examples
    --------
    >>> g = np.array([[0.6, 0.4], [0.9, 0.1], [0.3, 0.7]])
    >>> s = np.array([[0.2, 0.8], [0.2, 0.8], [0.2, 0.8]])
    >>> switch_probabilities(g, s, species_mask=[True, False], threshold=0.8)[:, 0].tolist()
    [0.2, 0.9, 0.3]
    """
    general, specialist = _pair(general, specialist)
    species_mask = np.asarray(species_mask, dtype=bool)
    if species_mask.shape != (general.shape[1],):
        raise ValueError(f"`species_mask` must have one entry per class ({general.shape[1]}); got "
                         f"shape {species_mask.shape}.")
    use = species_mask[general.argmax(axis=1)] & (general.max(axis=1) < threshold)
    return np.where(use[:, None], specialist, general)


def specialist_species(general, specialist, y_true, *, class_names: Sequence[str]
                       ) -> np.ndarray:
    """(K,) bool: the species whose validation F1 is higher under S than under G.

    Examples
    --------
    >>> g = np.eye(3)[[0, 0, 2, 2]]
    >>> s = np.eye(3)[[0, 1, 1, 2]]
    >>> specialist_species(g, s, [0, 1, 2, 2], class_names="abc").tolist()
    [True, True, False]
    """
    general, specialist = _pair(general, specialist)
    return (per_species_f1(y_true, specialist, class_names=class_names)
            > per_species_f1(y_true, general, class_names=class_names))


@dataclass(frozen=True)
class Switching:
    """A fitted switching rule and its validation record.

    Attributes
    ----------
    species : tuple of str
        The specialist's species.
    threshold : float
        Switch when G's top probability is below it (0: never).
    score, baseline : float
        Validation score with the rule and of G alone.
    n_switched : int
        Validation slices the rule hands to the specialist.
    """

    species: tuple[str, ...]
    threshold: float
    score: float
    baseline: float
    n_switched: int

    @property
    def gain(self) -> float:
        """Validation score gained over G alone (>= 0)."""
        return self.score - self.baseline


def fit_switching(general, specialist, y_true, *, class_names: Sequence[str],
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS, score: str = "macro_f1"
                  ) -> Switching:
    """Choose the specialist's species and the threshold on validation.

    Parameters
    ----------
    general, specialist : (N, K) array_like of float
        Validation probabilities of G and S.
    y_true : (N,) array_like of int
    class_names : sequence of str, length K
    thresholds : sequence of float
        Candidates in [0, 1]; 0 (never switch) is always added.
    score : {"macro_f1", "accuracy"}

    Returns
    -------
    Switching

    Raises
    ------
    ValueError
        Shapes that do not match, thresholds outside [0, 1], unknown `score`.

    Examples
    --------
    G is unsure and wrong on the second slice; S is right everywhere, so it beats G on both
    species, and the smallest threshold above 0.6 fixes that slice:

    >>> g = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> s = np.array([[0.7, 0.3], [0.1, 0.9], [0.2, 0.8]])
    >>> rule = fit_switching(g, s, [0, 1, 1], class_names="ab", thresholds=[0.5, 0.7, 0.95],
    ...                      score="accuracy")
    >>> rule.species, rule.threshold, rule.n_switched, round(rule.gain, 3)
    (('a', 'b'), 0.7, 1, 0.333)
    """
    general, specialist = _pair(general, specialist)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or not ((thresholds >= 0) & (thresholds <= 1)).all():
        raise ValueError(f"`thresholds` must be a 1-D sequence in [0, 1]; got "
                         f"{thresholds.tolist()}.")
    candidates = np.unique(np.r_[0.0, thresholds])
    mask = specialist_species(general, specialist, y_true, class_names=class_names)
    baseline = validation_score(y_true, general, class_names=class_names, score=score)
    scores = [baseline if t == 0 else validation_score(
        y_true, switch_probabilities(general, specialist, species_mask=mask, threshold=t),
        class_names=class_names, score=score) for t in candidates]
    best = int(np.argmax(scores))  # first maximum = smallest threshold
    threshold = float(candidates[best])
    switched = mask[general.argmax(axis=1)] & (general.max(axis=1) < threshold)
    return Switching(species=tuple(str(n) for n, m in zip(class_names, mask) if m),
                     threshold=threshold, score=float(scores[best]), baseline=float(baseline),
                     n_switched=int(switched.sum()))


@dataclass(frozen=True)
class SwitchingChoice:
    """G, S and the fitted rule of every candidate specialist.

    Attributes
    ----------
    general : str
        Member with the best validation score.
    specialist : str or None
        Candidate with the largest positive gain; None when no candidate gains.
    candidates : dict of str to Switching
        Every other member's fitted rule.
    member_scores : dict of str to float
        Validation score of each member.
    """

    general: str
    specialist: str | None
    candidates: dict
    member_scores: dict

    @property
    def rule(self) -> Switching | None:
        """The chosen specialist's rule (None without specialist)."""
        return None if self.specialist is None else self.candidates[self.specialist]


def choose_general_and_specialist(member_probs: Mapping[str, np.ndarray], y_true, *,
                                  class_names: Sequence[str],
                                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                                  score: str = "macro_f1") -> SwitchingChoice:
    """Choose G (best validation score) and S (largest validated switching gain).

    Parameters
    ----------
    member_probs : mapping of str to (N, K) ndarray
        Member name -> validation probabilities (temperature-scaled in the ensembles).
    y_true : (N,) array_like of int
    class_names : sequence of str
    thresholds, score
        See :func:`fit_switching`.

    Returns
    -------
    SwitchingChoice
        Ties go to the member listed first.

    Raises
    ------
    NothingToCombineError
        Fewer than 2 members.
    ValueError
        As :func:`fit_switching`.
    """
    if len(member_probs) < 2:
        raise NothingToCombineError(f"switching needs a general model and at least one "
                                    f"candidate specialist; got {list(member_probs)}.")
    member_scores = {name: validation_score(y_true, p, class_names=class_names, score=score)
                     for name, p in member_probs.items()}
    general = max(member_scores, key=member_scores.get)  # first of equal maxima
    candidates = {name: fit_switching(member_probs[general], p, y_true, class_names=class_names,
                                      thresholds=thresholds, score=score)
                  for name, p in member_probs.items() if name != general}
    best = max(candidates, key=lambda name: candidates[name].gain)
    return SwitchingChoice(general=general,
                           specialist=best if candidates[best].gain > 0 else None,
                           candidates=candidates, member_scores=member_scores)
