"""Tests of fossilct.matching.library_search: the cascade over many volumes."""

import dataclasses

import pytest
from matching_fixtures import library_volume

from fossilct.matching import MatchingError, SearchEffort, prepare_query
from fossilct.matching.benchmark.queries import cut_query, tilted_normal
from fossilct.matching import library_search
from fossilct.matching.library_search import check_searchable, search_library


@pytest.fixture(scope="module")
def shelf():
    return [library_volume("lockhartia_like", 3), library_volume("elphidiella_like", 7),
            library_volume("arumella_like", 4)]


@pytest.fixture(scope="module")
def query(shelf):
    source = shelf[1]
    image, _, _ = cut_query(source.volume, source.mask, normal=tilted_normal(2, 10.0, 70.0),
                            offset_vox=0.5, angle_deg=130.0)
    return prepare_query(image, pixel_size_um=source.voxel_size_um)


def test_every_volume_keeps_a_pose_and_the_source_fits_best(shelf, query):
    found = search_library(query, shelf, effort=SearchEffort(n_screen_volumes=2,
                                                             n_refine_volumes=1))
    assert [hit.target.file for hit in found.found] == [v.file for v in shelf]
    assert not found.skipped
    refined = [hit for hit in found.found if hit.candidates[0].refined]
    assert [hit.target.file for hit in refined] == [shelf[1].file]
    assert refined[0].candidates[0].score > 0.95
    best = max(found.found, key=lambda hit: hit.candidates[0].score)
    assert best.target.file == shelf[1].file


def test_refined_volumes_follow_the_effort(shelf, query):
    found = search_library(query, shelf, effort=SearchEffort(n_screen_volumes=3,
                                                             n_refine_volumes=3))
    assert all(hit.candidates[0].refined for hit in found.found)


def test_each_refined_volume_gets_n_refine_library_refinements_whatever_n_refine(shelf, query):
    effort = SearchEffort(n_refine=1, n_refine_library=2, n_screen_volumes=3, n_refine_volumes=3)
    found = search_library(query, shelf, effort=effort)
    assert [sum(c.refined for c in hit.candidates) for hit in found.found] == [2, 2, 2]


def test_the_library_search_has_its_own_candidate_counts(shelf, query):
    effort = SearchEffort(n_candidates=40, n_screen=40, n_candidates_library=3,
                          n_screen_library=2, n_refine_library=1, n_screen_volumes=3,
                          n_refine_volumes=1)
    found = search_library(query, shelf, effort=effort)
    assert [len(hit.candidates) for hit in found.found] == [2, 2, 2]
    wide = dataclasses.replace(effort, n_candidates=1, n_screen=1, n_candidates_library=5,
                               n_screen_library=5)
    assert [len(hit.candidates) for hit in search_library(query, shelf, effort=wide).found] \
        == [5, 5, 5]


def test_volumes_that_cannot_be_searched_are_skipped(shelf, query):
    bare = dataclasses.replace(shelf[0], index=None, file="bare.nii")
    found = search_library(query, [bare, shelf[1], "not a volume"])
    assert [hit.target.file for hit in found.found] == [shelf[1].file]
    reasons = {row["file"]: row["reason"] for row in found.skipped}
    assert "has no index" in reasons["bare.nii"] and "TypeError" in reasons["?"]


def test_check_searchable():
    volume = library_volume("lockhartia_like", 3)
    assert check_searchable(volume) is volume
    bare = dataclasses.replace(volume, index=None)
    assert check_searchable(bare, needs_index=False) is bare
    with pytest.raises(MatchingError, match="has no index"):
        check_searchable(bare)
    with pytest.raises(TypeError, match="must be a LibraryVolume"):
        check_searchable(volume.volume)


def test_contenders_are_screened_and_refined_until_none_can_win(shelf, query, monkeypatch):
    effort = SearchEffort(n_screen_volumes=1, n_refine_volumes=1)
    monkeypatch.setattr(library_search, "PRERANK_RISE", -10.0)
    monkeypatch.setattr(library_search, "SCREEN_RISE", -10.0)
    least = search_library(query, shelf, effort=effort)
    assert sum(hit.candidates[0].refined for hit in least.found) == 1
    monkeypatch.setattr(library_search, "PRERANK_RISE", 10.0)
    monkeypatch.setattr(library_search, "SCREEN_RISE", 10.0)
    every = search_library(query, shelf, effort=effort)
    assert all(hit.candidates[0].refined for hit in every.found)
