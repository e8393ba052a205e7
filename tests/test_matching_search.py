"""Tests of fossilct.matching.search: one query in one volume, coarse then refined."""

import numpy as np
import pytest
from matching_fixtures import library_volume, true_pose

from fossilct.matching import SearchEffort, prepare_query, search
from fossilct.matching.benchmark.queries import Nuisance, cut_query, tilted_normal
from fossilct.matching.pose import pose_errors
from fossilct.matching.search import (PARTIAL_SHARES, Candidate, candidate_counts,
                                      coarse_candidates, query_spectra, refine_candidates,
                                      screen_candidates, search_index, section_guesses,
                                      tilted_candidates)


@pytest.fixture(scope="module")
def target():
    return library_volume("elphidiella_like", 7)


def _query(target, axis=1, tilt=14.0, offset=1.5, angle=60.0, mirror=True):
    normal = tilted_normal(axis, tilt, 30.0)
    image, placement, _ = cut_query(target.volume, target.mask, normal=normal, offset_vox=offset,
                                    angle_deg=angle, mirror=mirror)
    query = prepare_query(image, pixel_size_um=target.voxel_size_um)
    return query, true_pose(query, placement)


def _error(pose, truth, shape):
    def frame(p):
        return np.stack([p.row_axis / p.scale, p.col_axis / p.scale, p.normal])
    return pose_errors(frame(truth), truth.offset(shape), frame(pose), pose.offset(shape))


def test_search_recovers_the_plane_a_section_was_cut_from(target):
    query, truth = _query(target)
    best = search_index(query, target.index, target.refine_target)[0]
    errors = _error(best.pose, truth, target.volume.shape)
    assert best.refined and best.score > 0.95
    assert errors.mirror_ok and errors.normal_deg < 1.5 and errors.offset_vox < 0.5
    assert errors.angle_deg < 1.5
    assert np.linalg.norm(best.pose.centre - truth.centre) < 1.0


def test_coarse_candidates_are_distinct_and_one_is_near_the_truth(target):
    query, truth = _query(target)
    found = coarse_candidates(query, target.index, n_candidates=12)
    assert len(found) == 12 and not any(c.refined for c in found)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    errors = [_error(c.pose, truth, target.volume.shape) for c in found]
    assert min(e.normal_deg for e in errors if e.offset_vox < 3 and e.mirror_ok) < 15
    poses = {(round(c.pose.offset(target.volume.shape)), c.pose.angle_mirror()[1],
              tuple(np.round(c.pose.normal, 1))) for c in found}
    assert len(poses) == len(found)  # non-maximum suppression left no duplicate


def test_screening_and_refinement_raise_the_fit(target):
    query, _ = _query(target, axis=0, tilt=8.0, offset=-2.0, angle=200.0, mirror=False)
    coarse = coarse_candidates(query, target.index, n_candidates=8)
    screened = screen_candidates(query, target.refine_target, coarse, n_screen=8)
    refined = refine_candidates(query, target.refine_target, screened, n_refine=2)
    assert len(screened) == 8 and [c.refined for c in refined] == [True] * 2 + [False] * 6
    assert refined[0].score >= screened[0].score - 1e-9
    assert refined[0].score > 0.95


def test_screening_keeps_a_coarse_pose_its_quick_refinement_would_worsen(target, monkeypatch):
    query, truth = _query(target)
    exact = Candidate(truth, 0.0)
    monkeypatch.setattr(search, "SCREEN_LEVELS", ((6.0, 24, 5),))   # drifts on a blurred copy
    drifted = search.refine_poses(query, target.refine_target, [truth], fixed_scale=True,
                                  levels=search.SCREEN_LEVELS)[0][0]
    assert search.pose_scores(query, target.refine_target, [drifted])[0] < \
        search.pose_scores(query, target.refine_target, [truth])[0]
    screened = screen_candidates(query, target.refine_target, [exact], n_screen=1,
                                 keep_starts=True)
    assert screened[0].pose is truth
    assert screened[0].score == pytest.approx(
        search.pose_scores(query, target.refine_target, [truth])[0])
    assert screen_candidates(query, target.refine_target, [exact], n_screen=1)[0].pose \
        is not truth


def test_tilted_candidates_tilt_each_plane_four_ways_about_the_same_centre(target):
    query, _ = _query(target)
    coarse = coarse_candidates(query, target.index, n_candidates=3)
    tilted = tilted_candidates(coarse, n_tilted=2)
    assert len(tilted) == 8 and tilted_candidates(coarse, n_tilted=0) == []
    for k, candidate in enumerate(tilted):
        source = coarse[k // 4]
        assert candidate.score == source.score and not candidate.refined
        assert np.allclose(candidate.pose.centre, source.pose.centre)
        assert candidate.pose.scale == pytest.approx(source.pose.scale)
        assert candidate.pose.normal[0] >= 0
        angle = np.degrees(np.arccos(np.clip(abs(candidate.pose.normal @ source.pose.normal),
                                             0, 1)))
        assert angle == pytest.approx(search.TILT_DEG)
        assert abs(candidate.pose.normal @ candidate.pose.row_axis) < 1e-9
    assert len({tuple(np.round(c.pose.normal, 6)) for c in tilted[:4]}) == 4


def test_the_one_volume_search_screens_the_tilted_starts_too(target):
    query, _ = _query(target)
    plain = search_index(query, target.index, target.refine_target,
                         effort=SearchEffort(n_candidates=2, n_screen=2, n_tilted=0, n_refine=1))
    tilted = search_index(query, target.index, target.refine_target,
                          effort=SearchEffort(n_candidates=2, n_screen=2, n_tilted=1, n_refine=1))
    assert len(plain) == 2 and len(tilted) == 2 + 4


def test_zero_refinement_returns_the_coarse_poses(target):
    query, _ = _query(target)
    coarse = search_index(query, target.index, target.refine_target,
                          effort=SearchEffort(n_candidates=5, n_screen=0, n_refine=0))
    assert len(coarse) == 5 and not coarse[0].refined


def test_query_spectra_are_memoised_per_index(target):
    query, _ = _query(target)
    first = query_spectra(query, target.index)
    assert first is query_spectra(query, target.index)
    assert first.shape == (2, target.index.params["n_rings"], target.index.params["n_harmonics"])


def test_bad_counts_are_refused(target):
    query, _ = _query(target)
    with pytest.raises(ValueError, match="`n_candidates` must be at least 1"):
        coarse_candidates(query, target.index, n_candidates=0)
    with pytest.raises(TypeError, match="must be a SearchEffort"):
        search_index(query, target.index, target.refine_target, effort={"n_refine": 1})


def test_a_whole_query_has_one_guess_and_a_partial_view_larger_ones(target):
    query, _ = _query(target)
    assert len(section_guesses(query)) == 1
    cut = cut_query(target.volume, target.mask, normal=(1, 0, 0), offset_vox=0.0,
                    nuisance=Nuisance(visible_fraction=0.7, crop_side=0))
    partial = prepare_query(cut.image, pixel_size_um=target.voxel_size_um)
    guesses = section_guesses(partial)
    assert partial.partial and len(guesses) == 1 + len(PARTIAL_SHARES)
    # the hidden part lies beyond the top border: the guessed centroids move up, radii grow
    assert all(g.centre[0] < partial.centroid[0] for g in guesses[1:])
    assert [g.radius for g in guesses] == sorted(g.radius for g in guesses)


def test_a_partial_view_is_found_from_its_visible_part(target):
    normal = tilted_normal(2, 8.0, 20.0)
    cut = cut_query(target.volume, target.mask, normal=normal, offset_vox=1.0, angle_deg=50.0,
                    nuisance=Nuisance(visible_fraction=0.7, crop_side=1))
    query = prepare_query(cut.image, pixel_size_um=target.voxel_size_um)
    truth = true_pose(query, cut.placement)
    best = search_index(query, target.index, target.refine_target)[0]
    errors = _error(best.pose, truth, target.volume.shape)
    assert query.partial and cut.visible_fraction == pytest.approx(0.7, abs=0.05)
    assert errors.mirror_ok and errors.normal_deg < 3 and errors.offset_vox < 1
    assert np.linalg.norm(best.pose.centre - truth.centre) < 1.5


def test_each_guessed_whole_section_gets_the_candidates_of_a_whole_query(target):
    whole, _ = _query(target)
    cut = cut_query(target.volume, target.mask, normal=(1, 0, 0), offset_vox=0.0,
                    nuisance=Nuisance(visible_fraction=0.7, crop_side=0))
    partial = prepare_query(cut.image, pixel_size_um=target.voxel_size_um)
    effort = SearchEffort(n_candidates=5, n_screen=0, n_refine=0)
    assert candidate_counts(whole, effort) == (5, 0)
    n_guesses = 1 + len(PARTIAL_SHARES)
    assert candidate_counts(partial, effort) == (5 * n_guesses, 0)
    coarse = search_index(partial, target.index, target.refine_target, effort=effort)
    assert len(coarse) == 5 * n_guesses
