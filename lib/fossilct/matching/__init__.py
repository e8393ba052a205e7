"""Slice-to-volume matching: where does a 2-D section lie in a 3-D fossil, and in which one?

Typical use::

    from fossilct import matching
    library = matching.load_library(inventory, data_dir, cache_dir=run_dir / "matching/index")
    result = matching.match_slice_to_library(image, library, pixel_size_um=2.5)
    result.species.head(3), result.best

The engine: :mod:`~fossilct.matching.preprocess` (query preparation), :mod:`~.silhouette`
(the one outline rule of every silhouette), :mod:`~.descriptors` (polar signatures, rotation
search), :mod:`~.working` and :mod:`~.index` (working copy, per-volume index and cache),
:mod:`~.effort` (how hard to search), :mod:`~.search` (one volume) and
:mod:`~.library_search` (many volumes) with :mod:`~.refine` (the fossilct method) and
:mod:`~.reliability` (how far to trust a match), :mod:`~.reference` (the study's method),
:mod:`~.similarity` and :mod:`~.scoring` (metrics), :mod:`~.pose` (geometry),
:mod:`~.source_grid` (a match in the user's own file), :mod:`~.records` and :mod:`~.library`
(library volumes and results) and :mod:`~.matcher` (public entry points). The benchmark on
sections of known pose lives in its own subpackage, :mod:`fossilct.matching.benchmark`.
"""

from fossilct.matching.effort import SearchEffort
from fossilct.matching.errors import MatchingError
from fossilct.matching.index import VolumeIndex, build_index, load_or_build_index
from fossilct.matching.library import (library_volume_from_prepared, load_library,
                                       make_library_volume)
from fossilct.matching.matcher import METHODS, match_slice_to_library, match_slice_to_volume
from fossilct.matching.preprocess import Query, prepare_query, read_query_image
from fossilct.matching.records import Library, LibraryResult, LibraryVolume, Match
from fossilct.matching.reliability import reliability_note
from fossilct.matching.scoring import DEFAULT_WEIGHTS
from fossilct.matching.source_grid import FilePlane, SourceGrid, section_from_file

__all__ = [
    "MatchingError",
    "SearchEffort",
    "VolumeIndex",
    "build_index",
    "load_or_build_index",
    "METHODS",
    "DEFAULT_WEIGHTS",
    "Query",
    "prepare_query",
    "read_query_image",
    "LibraryVolume",
    "Library",
    "Match",
    "LibraryResult",
    "make_library_volume",
    "library_volume_from_prepared",
    "load_library",
    "match_slice_to_volume",
    "match_slice_to_library",
    "reliability_note",
    "SourceGrid",
    "FilePlane",
    "section_from_file",
]
