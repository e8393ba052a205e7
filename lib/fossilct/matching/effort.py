"""How hard the fossilct method searches: one frozen record, the library's defaults in one place.

A search in one volume keeps ``n_candidates`` coarse candidates (index search), screens
``n_screen`` of them with a quick refinement, and the best ``n_tilted`` tilted four ways, and
refines the best ``n_refine`` fully (:mod:`fossilct.matching.search`). A library search keeps
``n_candidates_library`` coarse candidates per volume; those of the ``n_screen_volumes``
best-ranked volumes are screened (``n_screen_library`` each, no tilted starts) and the
``n_refine_library`` best candidates of each of the ``n_refine_volumes`` best volumes are
refined fully (:mod:`fossilct.matching.library_search`). The two searches have their own counts:
one volume is searched once per query, a library's volumes are each searched, so a wide search
costs little in one volume and multiplies in a library.

Every public function that searches takes ``effort: SearchEffort | None``; None means
``SearchEffort()``, the defaults below. A notebook parameter or a profile gives a mapping of
the fields to change (:meth:`SearchEffort.from_mapping`; None or ``{}`` means the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

__all__ = ["SearchEffort", "resolve_effort"]


@dataclass(frozen=True)
class SearchEffort:
    """Search effort of the fossilct method (module docstring).

    Attributes
    ----------
    n_candidates : int
        One-volume search: coarse candidates kept (>= 1), per guessed whole section (a partial
        view, whose hidden part is guessed several ways, gets this many per guess:
        :func:`fossilct.matching.search.candidate_counts`); default 48.
    n_screen : int
        One-volume search: candidates screened by a quick refinement (>= 0), per guessed whole
        section like `n_candidates`; default 48. On notebook 07's benchmark (200 queries of
        the embedded data) 24 and 24 placed 92 % of the oblique queries in 0.32 s per query and
        48 and 48 placed 93 % in 0.46 s, axis-aligned and partial views unchanged; 96 and 96
        placed 2 more of the 288 queries of ``benchmarks/bench_unseen_scans.py``'s second test
        source than 48 and 48, for 30-45 % more time.
    n_tilted : int
        Best coarse candidates also screened tilted in a one-volume search (>= 0; the tilted
        starts of :mod:`fossilct.matching.search`); default 12 (on notebook 07's benchmark, 0
        placed 88 % of the oblique queries in 0.20 s per query, 12 placed 92 % in 0.34 s, with
        24 candidates screened).
    n_refine : int
        Best screened candidates refined fully in a one-volume search (>= 0; 0 returns the
        coarse poses); default 5 (on notebook 07's benchmark 3 placed 91 % of
        the oblique queries and 5 placed 92 %, for 6 % more time per query, with 24 candidates
        screened).
    n_candidates_library : int
        Library search: coarse candidates kept per volume (>= 1); default 24 (every volume of
        the library is searched, so its cost multiplies by the library's size).
    n_screen_library : int
        Library search: candidates screened per screened volume (>= 0); default 24.
    n_refine_library : int
        Library search: best screened candidates refined fully in each refined volume (>= 1);
        default 3 (5 found no more specimens and cost 6 % more per volume).
    n_screen_volumes : int
        Library search: volumes whose candidates are screened (>= 1); default 6.
    n_refine_volumes : int
        Library search: volumes refined fully, in ``[1, n_screen_volumes]``; default 3.

    Raises
    ------
    TypeError
        A count that is not an integer.
    ValueError
        A count out of its range.

    Examples
    --------
    >>> SearchEffort().n_candidates, SearchEffort(n_screen=32).n_screen
    (48, 32)
    """

    n_candidates: int = 48
    n_screen: int = 48
    n_tilted: int = 12
    n_refine: int = 5
    n_candidates_library: int = 24
    n_screen_library: int = 24
    n_refine_library: int = 3
    n_screen_volumes: int = 6
    n_refine_volumes: int = 3

    def __post_init__(self):
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"`{item.name}` of the search effort must be an integer; got "
                                f"{value!r} ({type(value).__name__}).")
        for name in ("n_candidates", "n_candidates_library"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1; got {getattr(self, name)}.")
        counts = ("n_screen", "n_tilted", "n_refine", "n_screen_library")
        if min(getattr(self, name) for name in counts) < 0:
            raise ValueError(f"`n_screen`, `n_tilted`, `n_refine` and `n_screen_library` must "
                             f"be >= 0; got {', '.join(str(getattr(self, n)) for n in counts)}.")
        if self.n_refine_library < 1:
            raise ValueError(f"`n_refine_library` must be at least 1; got "
                             f"{self.n_refine_library}.")
        if not 1 <= self.n_refine_volumes <= self.n_screen_volumes:
            raise ValueError(f"`n_refine_volumes` must be at least 1 and at most "
                             f"`n_screen_volumes`; got {self.n_refine_volumes} and "
                             f"{self.n_screen_volumes}.")

    @classmethod
    def from_mapping(cls, options: Mapping | None) -> "SearchEffort":
        """The effort with the fields named in `options` changed (None or ``{}``: defaults).

        Parameters
        ----------
        options : mapping or None
            E.g. a notebook's ``search_effort`` parameter: ``{"n_candidates": 48}``.

        Returns
        -------
        SearchEffort

        Raises
        ------
        ValueError
            An unknown field name, or a value out of range.

        Examples
        --------
        >>> SearchEffort.from_mapping({"n_screen": 32}) == SearchEffort(n_screen=32)
        True
        >>> SearchEffort.from_mapping(None) == SearchEffort()
        True
        """
        options = dict(options or {})
        known = [item.name for item in fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"Unknown search effort settings {unknown}; the fields are "
                             f"{known}. Fix the `search_effort` parameter or profile entry.")
        return cls(**options)


def resolve_effort(effort: SearchEffort | None) -> SearchEffort:
    """`effort`, or the library default for None; refuses anything else.

    Raises
    ------
    TypeError
        If `effort` is neither a SearchEffort nor None.

    Examples
    --------
    >>> resolve_effort(None) == SearchEffort()
    True
    """
    if effort is None:
        return SearchEffort()
    if not isinstance(effort, SearchEffort):
        raise TypeError(f"`effort` must be a SearchEffort or None (the library default); got "
                        f"{type(effort).__name__}. Build one with SearchEffort(...) or "
                        f"SearchEffort.from_mapping(dict).")
    return effort
