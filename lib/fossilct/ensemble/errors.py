"""The ensemble package's error type."""

from __future__ import annotations

__all__ = ["NothingToCombineError"]


class NothingToCombineError(ValueError):
    """Fewer than two members were given to a rule that combines members.

    :func:`fossilct.ensemble.fit_ensembles` does not raise it: with one member it returns that
    member, temperature-scaled, and says so in its notes; the individual fitting functions
    (weights, top-k, switching) raise it. A subclass of ValueError.
    """
