"""What a fitted ensemble is: a small frozen record, its JSON form, and the one function that
applies it to members' probabilities (validation and test go through the same code).

Every kind first temperature-scales each member (its own validation temperature), then
combines, then temperature-scales the combination (the ensemble's validation temperature):

``member``
    One member alone (what is left when there is nothing to combine).
``soft_voting``
    ``sum_m w_m p_m`` with validated weights.
``top_k``
    The equal-weight average of the ``k`` members with the best validation score.
``switching``
    ``members = (general, specialist)``: the specialist's probabilities where the general
    model predicts one of ``switch_species`` with top probability below ``switch_threshold``.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Mapping

import numpy as np

from fossilct.ensemble.calibration import apply_temperature
from fossilct.ensemble.switching import switch_probabilities
from fossilct.ensemble.voting import average_probabilities

__all__ = ["KINDS", "EnsembleSpec", "apply_ensemble"]

KINDS = ("member", "soft_voting", "top_k", "switching")


def _positive(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a finite number > 0; got {value!r}.")


@dataclass(frozen=True)
class EnsembleSpec:
    """A fitted ensemble: everything chosen on validation, nothing else.

    Attributes
    ----------
    name : str
        Identifier in tables and file names (``"soft_voting"``).
    kind : {"member", "soft_voting", "top_k", "switching"}
    class_names : tuple of str
        Output order.
    members : tuple of str
        Member (architecture) names; for ``switching`` ``(general, specialist)``.
    temperatures : tuple of float
        Validation temperature of each member, in `members` order.
    weights : tuple of float or None
        ``member``, ``soft_voting``, ``top_k``: weight of each member (summing to 1).
    k : int or None
        ``top_k``: number of members averaged.
    switch_species : tuple of str
        ``switching``: the specialist's species.
    switch_threshold : float or None
        ``switching``: switch when the general model's temperature-scaled top probability is
        below it.
    ensemble_temperature : float
        Temperature applied to the combined probabilities.
    abstention_threshold : float or None
        Accept a slice when the top probability >= it; None when the target accuracy was not
        reached on validation (or not asked for).
    target_accuracy : float or None
        The accuracy the abstention threshold was chosen for.
    validation : dict of str to float
        Validation scores recorded when the choice was made (for the report).

    Raises
    ------
    ValueError
        On construction, when the fields contradict each other (the message names the field).
    """

    name: str
    kind: str
    class_names: tuple[str, ...]
    members: tuple[str, ...]
    temperatures: tuple[float, ...]
    weights: tuple[float, ...] | None = None
    k: int | None = None
    switch_species: tuple[str, ...] = ()
    switch_threshold: float | None = None
    ensemble_temperature: float = 1.0
    abstention_threshold: float | None = None
    target_accuracy: float | None = None
    validation: dict = field(default_factory=dict)

    def __post_init__(self):
        where = f"ensemble {self.name!r}"
        if self.kind not in KINDS:
            raise ValueError(f"{where}: `kind`={self.kind!r}; choose one of {KINDS}.")
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"{where}: `class_names` must be >= 2 distinct names; got "
                             f"{list(self.class_names)}.")
        if not self.members or len(set(self.members)) != len(self.members):
            raise ValueError(f"{where}: `members` must be distinct names; got "
                             f"{list(self.members)}.")
        if len(self.temperatures) != len(self.members):
            raise ValueError(f"{where}: {len(self.temperatures)} `temperatures` for "
                             f"{len(self.members)} members.")
        for t in (*self.temperatures, self.ensemble_temperature):
            _positive(t, "temperature")
        expected = {"member": 1, "switching": 2}.get(self.kind)
        if expected is not None and len(self.members) != expected:
            raise ValueError(f"{where}: kind {self.kind!r} takes {expected} member(s); got "
                             f"{list(self.members)}.")
        if self.kind == "switching":
            self._check_switching(where)
        else:
            self._check_weights(where)
        for name in ("abstention_threshold", "target_accuracy"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{where}: `{name}`={value!r} must lie in [0, 1] or be None.")

    def _check_weights(self, where: str) -> None:
        w = np.asarray(self.weights if self.weights is not None else [], dtype=np.float64)
        if w.shape != (len(self.members),) or (w < 0).any() or not np.isclose(w.sum(), 1.0):
            raise ValueError(f"{where}: `weights` must be {len(self.members)} non-negative "
                             f"numbers summing to 1; got {self.weights!r}.")
        if self.kind == "top_k" and (self.k != len(self.members)
                                     or not np.allclose(w, 1.0 / len(self.members))):
            raise ValueError(f"{where}: top-k averages its k={self.k!r} members with equal "
                             f"weights; got {len(self.members)} members, weights "
                             f"{self.weights!r}.")

    def _check_switching(self, where: str) -> None:
        unknown = sorted(set(self.switch_species) - set(self.class_names))
        if unknown:
            raise ValueError(f"{where}: `switch_species` {unknown} are not in `class_names`.")
        if self.switch_threshold is None or not 0 <= self.switch_threshold <= 1:
            raise ValueError(f"{where}: `switch_threshold`={self.switch_threshold!r} must lie "
                             "in [0, 1].")

    @property
    def used_members(self) -> tuple[str, ...]:
        """Members whose probabilities the ensemble needs (weight > 0; both for switching)."""
        if self.weights is None:
            return self.members
        return tuple(m for m, w in zip(self.members, self.weights) if w > 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists).

        Examples
        --------
        >>> spec = EnsembleSpec(name="one", kind="member", class_names=("a", "b"),
        ...                     members=("cnn",), temperatures=(1.5,), weights=(1.0,))
        >>> EnsembleSpec.from_dict(spec.to_dict()) == spec
        True
        """
        return {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "ensemble.json"
                  ) -> "EnsembleSpec":
        """Rebuild a spec from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            Unknown or missing keys (named, with `source`), or inconsistent fields.
        """
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls)
                    if f.default is MISSING and f.default_factory is MISSING}
        unknown, missing = sorted(set(data) - names), sorted(required - set(data))
        if unknown or missing:
            raise ValueError(f"{source}: an ensemble entry has unknown keys {unknown} and lacks "
                             f"{missing}; write it with EnsembleSpec.to_dict.")
        values = {key: (tuple(value) if isinstance(value, list) else value)
                  for key, value in data.items()}
        return cls(**values)


def apply_ensemble(spec: EnsembleSpec, member_probs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ensemble's probabilities from its members' probabilities.

    Parameters
    ----------
    spec : EnsembleSpec
    member_probs : mapping of str to (N, K) array_like
        Member name -> raw (not temperature-scaled) probabilities, columns in
        ``spec.class_names`` order; members the spec does not use may be present.

    Returns
    -------
    (N, K) ndarray of float64

    Raises
    ------
    ValueError
        A used member is missing, or the arrays' shapes differ or do not have K columns.

    Examples
    --------
    >>> spec = EnsembleSpec(name="avg", kind="soft_voting", class_names=("a", "b"),
    ...                     members=("m1", "m2"), temperatures=(1.0, 1.0), weights=(0.5, 0.5))
    >>> apply_ensemble(spec, {"m1": np.array([[1.0, 0.0]]), "m2": np.array([[0.5, 0.5]])})
    array([[0.75, 0.25]])
    """
    missing = [m for m in spec.used_members if m not in member_probs]
    if missing:
        raise ValueError(f"ensemble {spec.name!r} needs the probabilities of {missing}; got "
                         f"{list(member_probs)}.")
    k = len(spec.class_names)
    shapes = {m: np.shape(member_probs[m]) for m in spec.used_members}
    if len(set(shapes.values())) != 1 or next(iter(shapes.values()))[-1:] != (k,):
        raise ValueError(f"ensemble {spec.name!r}: members' probabilities must share one (N, "
                         f"{k}) shape; got {shapes}.")
    temperature = dict(zip(spec.members, spec.temperatures))
    scaled = {m: apply_temperature(member_probs[m], temperature[m]) for m in spec.used_members}
    if spec.kind == "switching":
        general, specialist = spec.members
        mask = np.isin(spec.class_names, spec.switch_species)
        combined = switch_probabilities(scaled[general], scaled[specialist], species_mask=mask,
                                        threshold=spec.switch_threshold)
    else:
        used = [spec.weights[spec.members.index(m)] for m in spec.used_members]
        combined = average_probabilities(np.stack([scaled[m] for m in spec.used_members]),
                                         np.asarray(used) / np.sum(used))
    if spec.ensemble_temperature == 1.0:
        return combined
    return apply_temperature(combined, spec.ensemble_temperature)
