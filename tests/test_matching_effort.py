"""Tests of fossilct.matching.effort: the search effort record and its defaults."""

import pytest

from fossilct.matching.effort import SearchEffort, resolve_effort


def test_defaults_are_the_documented_ones():
    effort = SearchEffort()
    assert (effort.n_candidates, effort.n_screen, effort.n_refine) == (48, 48, 5)
    assert (effort.n_candidates_library, effort.n_screen_library) == (24, 24)
    assert (effort.n_tilted, effort.n_refine_library) == (12, 3)
    assert (effort.n_screen_volumes, effort.n_refine_volumes) == (6, 3)
    assert resolve_effort(None) == effort


def test_from_mapping_changes_only_the_named_fields():
    effort = SearchEffort.from_mapping({"n_candidates": 48, "n_screen": 32})
    assert effort == SearchEffort(n_candidates=48, n_screen=32)
    assert SearchEffort.from_mapping({}) == SearchEffort.from_mapping(None) == SearchEffort()
    with pytest.raises(ValueError, match=r"Unknown search effort settings \['n_volumes'\]"):
        SearchEffort.from_mapping({"n_volumes": 3})


def test_effort_is_frozen():
    with pytest.raises(AttributeError):
        SearchEffort().n_screen = 3


@pytest.mark.parametrize("fields,error,message", [
    ({"n_candidates": 0}, ValueError, "`n_candidates` must be at least 1"),
    ({"n_candidates_library": 0}, ValueError, "`n_candidates_library` must be at least 1"),
    ({"n_screen": -1}, ValueError, "`n_screen`, `n_tilted`, `n_refine` and `n_screen_library` "
                                   r"must be >= 0; got -1, 12, 5, 24"),
    ({"n_tilted": -1}, ValueError, "`n_screen`, `n_tilted`, `n_refine` and `n_screen_library`"),
    ({"n_screen_library": -1}, ValueError, "must be >= 0; got 48, 12, 5, -1"),
    ({"n_refine_library": 0}, ValueError, "`n_refine_library` must be at least 1"),
    ({"n_refine_volumes": 0}, ValueError, "`n_refine_volumes` must be at least 1"),
    ({"n_refine_volumes": 7}, ValueError, "at most `n_screen_volumes`"),
    ({"n_screen": 2.5}, TypeError, "`n_screen` of the search effort must be an integer"),
    ({"n_refine": True}, TypeError, "`n_refine` of the search effort must be an integer"),
])
def test_bad_counts_are_refused(fields, error, message):
    with pytest.raises(error, match=message):
        SearchEffort(**fields)


def test_resolve_effort_refuses_a_mapping():
    with pytest.raises(TypeError, match="`effort` must be a SearchEffort or None"):
        resolve_effort({"n_screen": 3})
