"""The fossilct search over a library of volumes: coarse everywhere, refined where it pays.

Signature scores are not comparable between volumes (a smooth, low-resolution volume
correlates well with many sections), so the volumes are ranked in steps of growing cost:

1. Coarse: the query is compared with every volume's index
   (:func:`fossilct.matching.search.coarse_candidates`), and each volume is ranked by the
   full-resolution fit (:func:`fossilct.matching.refine.pose_scores`) of its ``N_PRERANK``
   best coarse candidates per guessed whole section (one guess, the query itself, unless it
   is a partial view: :func:`fossilct.matching.search.section_guesses`), its *prerank fit*.
2. Screen: the candidates of the ``n_screen_volumes`` best volumes are screened by a quick
   refinement (:func:`fossilct.matching.search.screen_candidates`), and those volumes are
   re-ranked by their best screened fit.
3. Refine: the ``n_refine_library`` best candidates of each of the ``n_refine_volumes`` best
   of those volumes are refined fully (:func:`fossilct.matching.search.refine_candidates`).
4. Until no other volume can win: a screened volume is refined while its screened fit plus
   ``SCREEN_RISE`` reaches the best refined fit, and a volume not yet screened is screened while
   its prerank fit plus ``PRERANK_RISE`` does. ``SCREEN_RISE`` is a measured bound: on 30
   queries of the second test source searched in all 36 of its volumes, the true volume's fit
   rose from screened to refined by at most 0.075. The prerank fit bounds nothing (the true
   volume's fit rose from it by up to 1.0, when its first coarse candidates were all wrong),
   so ``N_PRERANK`` and ``PRERANK_RISE`` trade recall for cost. On the 76 identification
   queries of ``benchmarks/bench_unseen_scans.py --specimens 5`` (32-volume libraries), 8
   candidates and no rise put the true specimen first for 75.0 % of the second test source's
   queries and 85.5 % of the embedded data's, against 71.1 % and 84.2 % with 3 candidates and
   a rise of 0.05, for 2 % and 5 % more time per query per volume; 12 candidates found no more
   for a third more time, and a rise of 0.02 with 8 found no more either. The true volume is
   still missed mostly because none of its first coarse candidates is near the true pose: a
   quick refinement of the 6 best coarse candidates of every volume found 4 more of the second
   source's specimens, none of the embedded data's, for 15-25 % more time.

Every volume keeps its best pose so far (coarse, screened or refined), so the whole library is
ranked. The counts come from :class:`~fossilct.matching.effort.SearchEffort`. A volume that
cannot be searched (no index, not a LibraryVolume, a search error) is reported as skipped and
the others are still ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fossilct.matching import search
from fossilct.matching.effort import SearchEffort, resolve_effort
from fossilct.matching.errors import MatchingError
from fossilct.matching.preprocess import Query
from fossilct.matching.records import LibraryVolume
from fossilct.matching.refine import pose_scores

__all__ = ["N_PRERANK", "PRERANK_RISE", "SCREEN_RISE", "VolumeCandidates", "LibrarySearch",
           "check_searchable", "search_library"]

N_PRERANK = 8
"""Best coarse candidates per volume and guess whose fit at full resolution ranks the volumes."""
PRERANK_RISE = 0.0
"""Rise of a volume's fit from prerank to refined that keeps it in contention (a trade-off)."""
SCREEN_RISE = 0.08
"""Largest rise, measured, of a volume's fit from its screened fit to its refined fit."""


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
    n_prerank = N_PRERANK * len(search.section_guesses(query))
    coarse, skipped = [], []
    for position, target in enumerate(volumes):
        try:
            check_searchable(target)
            found = search.coarse_candidates(
                query, target.index, n_candidates=max(effort.n_candidates_library, effort.n_screen_library))
            fit = float(pose_scores(query, target.refine_target,
                                    [c.pose for c in found[:n_prerank]]).max())
            coarse.append((fit, position, target, found))
        except (MatchingError, TypeError) as error:
            skipped.append(_skip(target, error))
    coarse.sort(key=lambda item: -item[0])
    best: dict[int, VolumeCandidates] = {}
    screened = []

    def screen(position, target, found):
        found = search.screen_candidates(query, target.refine_target, found,
                                         n_screen=max(effort.n_screen_library, effort.n_refine_library))
        best[position] = VolumeCandidates(target, found)
        screened.append((found[0].score, position, target, found))

    def refine(position, target, found):
        refined = search.refine_candidates(query, target.refine_target, found,
                                           n_refine=effort.n_refine_library)
        best[position] = VolumeCandidates(target, refined)
        return refined[0].score

    for _, position, target, found in coarse:
        best[position] = VolumeCandidates(target, found)
    for _, position, target, found in coarse[:effort.n_screen_volumes]:
        screen(position, target, found)
    screened.sort(key=lambda item: -item[0])
    done = {item[1] for item in screened[:effort.n_refine_volumes]}
    top = max((refine(p, t, f) for _, p, t, f in screened[:effort.n_refine_volumes]),
              default=-np.inf)
    # until no other volume can win (module docstring, step 4)
    waiting = list(coarse[effort.n_screen_volumes:])
    while True:
        contenders = [item for item in screened
                      if item[1] not in done and item[0] + SCREEN_RISE >= top]
        if contenders:
            _, position, target, found = max(contenders, key=lambda item: item[0])
            done.add(position)
            top = max(top, refine(position, target, found))
        elif waiting and waiting[0][0] + PRERANK_RISE >= top:
            _, position, target, found = waiting.pop(0)
            screen(position, target, found)
        else:
            break
    return LibrarySearch([best[k] for k in sorted(best)], skipped)
