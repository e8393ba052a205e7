"""Tests of fossilct.matching.records: library volumes, matches and results."""

import numpy as np
import pandas as pd
from matching_fixtures import library_volume

from fossilct.matching import Library, Match, match_slice_to_volume
from fossilct.matching.benchmark.queries import cut_query
from fossilct.matching.records import MATCH_COLUMNS
from fossilct.matching.refine import RefineTarget


def test_refine_target_is_made_once_from_the_volume():
    volume = library_volume("lockhartia_like", 3)
    target = volume.refine_target
    assert isinstance(target, RefineTarget) and target is volume.refine_target
    assert np.array_equal(target.image, volume.volume)


def test_match_row_has_the_table_columns():
    volume = library_volume("lockhartia_like", 3)
    image, _, _ = cut_query(volume.volume, volume.mask, normal=(1, 0, 0), offset_vox=0.0)
    match = match_slice_to_volume(image, volume)[0]
    assert isinstance(match, Match)
    row = match.as_row()
    assert ["rank", *row] == list(MATCH_COLUMNS)
    assert row["offset_um"] == match.offset_um and row["dice"] == match.scores["dice"]


def test_library_length_counts_the_ready_volumes():
    library = Library((library_volume("lockhartia_like", 3),),
                      pd.DataFrame([{"file": "x", "reason": "bad"}]))
    assert len(library) == 1
