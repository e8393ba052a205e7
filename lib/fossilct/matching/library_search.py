"""The fossilct search over a library of volumes: coarse everywhere, refined where it pays.

Signature scores are not comparable between volumes (a smooth, low-resolution volume
correlates well with many sections), so the volumes are ranked in steps of growing cost:

1. Coarse: the query is compared with every volume's index
   (:func:`fossilct.matching.search.coarse_candidates`), and each volume is ranked by the
   full-resolution fit (:func:`fossilct.matching.refine.pose_scores`) of its ``N_PRERANK``
   best coarse candidates.
2. Screen: the candidates of the ``n_screen_volumes`` best volumes are screened by a quick
   refinement (:func:`fossilct.matching.search.screen_candidates`), and those volumes are
   re-ranked by their best screened fit.
3. Refine: the ``n_refine_volumes`` best of those are refined fully
   (:func:`fossilct.matching.search.refine_candidates`).

Every volume keeps its best pose so far (coarse, screened or refined), so the whole library is
ranked. The counts come from :class:`~fossilct.matching.effort.SearchEffort`. A volume that
cannot be searched (no index, not a LibraryVolume, a search error) is reported as skipped and
the others are still ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fossilct.matching import search
from fossilct.matching.effort import SearchEffort, resolve_effort
from fossilct.matching.errors import MatchingError
from fossilct.matching.preprocess import Query
from fossilct.matching.records import LibraryVolume
from fossilct.matching.refine import pose_scores

__all__ = ["N_PRERANK", "VolumeCandidates", "LibrarySearch", "check_searchable",
           "search_library"]

N_PRERANK = 3
"""Best coarse candidates per volume whose fit at full resolution ranks the volumes."""


@dataclass(frozen=True, eq=False)
class VolumeCandidates:
    """The poses found for a query in one library volume.

    Attributes
    ----------
    target : LibraryVolume
    candidates : list of Candidate
        Best first; ``candidates[0].refined`` says whether the best was refined fully.
    """

    target: LibraryVolume
    candidates: list


@dataclass(frozen=True, eq=False)
class LibrarySearch:
    """The result of :func:`search_library`.

    Attributes
    ----------
    found : list of VolumeCandidates
        One per searched volume, in library order.
    skipped : list of dict
        ``{"file", "reason"}`` of each volume that could not be searched.
    """

    found: list
    skipped: list


def check_searchable(target, *, needs_index: bool = True) -> LibraryVolume:
    """`target` if it can be searched: a LibraryVolume, with an index for the fossilct method.

    Parameters
    ----------
    target : object
    needs_index : bool, keyword-only
        Require an index (default True; False for the reference method).

    Returns
    -------
    LibraryVolume

    Raises
    ------
    TypeError
        If `target` is not a LibraryVolume.
    MatchingError
        If it has no index and `needs_index`.
    """
    if not isinstance(target, LibraryVolume):
        raise TypeError(f"The volume to search must be a LibraryVolume (see "
                        f"fossilct.matching.make_library_volume); got {type(target).__name__}.")
    if needs_index and target.index is None:
        raise MatchingError(f"Volume {target.file or '(unnamed)'} has no index; build it with "
                            f"make_library_volume(..., with_index=True) or use "
                            f"method='reference'.")
    return target


def _skip(target, error: Exception) -> dict:
    return {"file": getattr(target, "file", "?"), "reason": f"{type(error).__name__}: {error}"}


def search_library(query: Query, volumes: Sequence[LibraryVolume], *,
                   effort: SearchEffort | None = None) -> LibrarySearch:
    """Search a query in every volume of a library (module docstring).

    Parameters
    ----------
    query : Query
        From :func:`fossilct.matching.prepare_query`.
    volumes : sequence of LibraryVolume
        Indexed volumes.
    effort : SearchEffort, optional, keyword-only
        Search effort (None: the library default).

    Returns
    -------
    LibrarySearch

    Raises
    ------
    TypeError
        If `effort` is not a SearchEffort.
    """
    effort = resolve_effort(effort)
    coarse, skipped = [], []
    for position, target in enumerate(volumes):
        try:
            check_searchable(target)
            found = search.coarse_candidates(
                query, target.index, n_candidates=max(effort.n_candidates, effort.n_screen))
            fit = float(pose_scores(query, target.refine_target,
                                    [c.pose for c in found[:N_PRERANK]]).max())
            coarse.append((fit, position, target, found))
        except (MatchingError, TypeError) as error:
            skipped.append(_skip(target, error))
    coarse.sort(key=lambda item: -item[0])
    best: dict[int, VolumeCandidates] = {}
    screened = []
    for rank, (_, position, target, found) in enumerate(coarse):
        if rank < effort.n_screen_volumes:
            found = search.screen_candidates(query, target.refine_target, found,
                                             n_screen=max(effort.n_screen, effort.n_refine))
            screened.append((found[0].score, position, target, found))
        best[position] = VolumeCandidates(target, found)
    screened.sort(key=lambda item: -item[0])
    for _, position, target, found in screened[:effort.n_refine_volumes]:
        refined = search.refine_candidates(query, target.refine_target, found,
                                           n_refine=effort.n_refine)
        best[position] = VolumeCandidates(target, refined)
    return LibrarySearch([best[k] for k in sorted(best)], skipped)
