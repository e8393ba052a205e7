"""Tests of the public matching entry points (fossilct method): pose recovery, invariances,
library ranking, bad volumes."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
from matching_fixtures import library_volume

from fossilct.matching import (Library, LibraryVolume, MatchingError, SearchEffort,
                               make_library_volume, match_slice_to_library,
                               match_slice_to_volume, prepare_query)
from fossilct import planes
from fossilct.matching import matcher
from fossilct.matching.pose import QueryPose, frame_of, pose_errors
from fossilct.matching.benchmark.queries import cut_query, tilted_normal


@pytest.fixture(scope="module")
def target():
    return library_volume("elphidiella_like", 7)


def _errors(match, normal, offset, angle, mirror):
    return pose_errors(frame_of(normal, angle, mirror), offset,
                       frame_of(match.normal, match.angle_deg, match.mirror), match.offset_vox)


@pytest.mark.parametrize("axis,tilt,angle,mirror", [(0, 0.0, 0.0, False), (1, 0.0, 70.0, True),
                                                    (2, 0.0, 200.0, False),
                                                    (0, 15.0, 30.0, True),
                                                    (1, 20.0, 300.0, False)])
def test_noise_free_queries_recover_their_exact_pose(target, axis, tilt, angle, mirror):
    normal = tilted_normal(axis, tilt, 40.0)
    image, _, _ = cut_query(target.volume, target.mask, normal=normal, offset_vox=1.3,
                            angle_deg=angle, mirror=mirror)
    match = match_slice_to_volume(image, target, pixel_size_um=target.voxel_size_um)[0]
    errors = _errors(match, normal, 1.3, angle, mirror)
    assert errors.mirror_ok
    assert errors.normal_deg < 2.0 and errors.offset_vox < 0.5 and errors.angle_deg < 2.0
    assert match.scale == pytest.approx(1.0)
    assert match.fit > 0.95 and match.scores["dice"] > 0.8


def test_unknown_pixel_size_estimates_the_scale(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=(0, 1, 0), offset_vox=-2.0,
                            angle_deg=45.0)
    zoomed = np.kron(image, np.ones((2, 2), np.float32))  # 2 query pixels per voxel
    match = match_slice_to_volume(zoomed, target)[0]
    assert _errors(match, (0, 1, 0), -2.0, 45.0, False).success(
        max_offset_vox=1, max_normal_deg=3, max_angle_deg=3)
    assert match.scale == pytest.approx(0.5, rel=0.05)


def test_matching_is_invariant_to_mirroring_and_quarter_turns(target):
    normal = tilted_normal(2, 10.0, 120.0)
    image, _, _ = cut_query(target.volume, target.mask, normal=normal, offset_vox=0.7,
                            angle_deg=25.0)
    size = target.voxel_size_um
    plain = match_slice_to_volume(image, target, pixel_size_um=size)[0]
    turned = match_slice_to_volume(np.rot90(image).copy(), target, pixel_size_um=size)[0]
    mirrored = match_slice_to_volume(image[:, ::-1].copy(), target, pixel_size_um=size)[0]
    # np.rot90 turns the content counter-clockwise: the planes angle grows by 90 degrees
    assert _errors(turned, normal, 0.7, 115.0, False).success(
        max_offset_vox=0.5, max_normal_deg=2, max_angle_deg=2)
    assert _errors(mirrored, normal, 0.7, 25.0, True).success(
        max_offset_vox=0.5, max_normal_deg=2, max_angle_deg=2)
    assert plain.fit == pytest.approx(turned.fit, abs=0.02)
    assert plain.fit == pytest.approx(mirrored.fit, abs=0.02)


def test_match_record_is_complete_and_consistent(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=(1, 0, 0), offset_vox=0.0)
    matches = match_slice_to_volume(image, target, n_matches=3)
    assert 1 <= len(matches) <= 3
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    best = matches[0]
    assert best.file == target.file and best.species == "elphidiella_like"
    assert best.method == "fossilct" and best.refined
    assert np.linalg.norm(best.normal) == pytest.approx(1.0)
    assert best.offset_um == pytest.approx(best.offset_vox * target.voxel_size_um)
    assert 0.0 <= best.angle_deg < 360.0
    assert best.image.shape == best.mask.shape == (128, 128) and best.image.dtype == np.uint8
    assert set(best.scores) == {"dice", "ncc", "ssim", "orb"}
    assert all(-1.0 <= v <= 1.0 for v in best.scores.values())
    row = best.as_row()
    assert row["dice"] == best.scores["dice"] and "image" not in row


def test_a_match_reports_its_normal_facing_up_whichever_side_the_pose_saw(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=tilted_normal(2, 10.0, 30.0),
                            offset_vox=1.0)
    pose = match_slice_to_volume(image, target)[0]
    query = prepare_query(image, pixel_size_um=target.voxel_size_um)
    seen = QueryPose(np.asarray(pose.normal), np.asarray(pose.centre_vox),
                     *planes.plane_basis(pose.normal, angle_deg=pose.angle_deg,
                                         mirror=pose.mirror))
    behind = dataclasses.replace(seen, normal=-seen.normal)
    made = [matcher._make_match(query, target, p, fit=0.9, refined=True, margin=0.0,
                                method="fossilct", weights=None) for p in (seen, behind)]
    assert made[0].normal[0] >= 0 and made[1].normal == made[0].normal
    assert (made[1].offset_vox, made[1].angle_deg, made[1].mirror) == \
        (made[0].offset_vox, made[0].angle_deg, made[0].mirror)
    assert np.array_equal(made[1].image, made[0].image)


def test_matched_silhouette_follows_the_query_rule_not_the_volume_mask(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=(0, 1, 0), offset_vox=2.0)
    best = match_slice_to_volume(image, target)[0]
    assert best.scores["dice"] > 0.9  # the query's own section, found again
    assert not best.image[~best.mask].any()
    shrunk = dataclasses.replace(target, mask=ndi.binary_erosion(target.mask, iterations=4))
    same = match_slice_to_volume(image, shrunk)[0]
    assert np.array_equal(same.mask, best.mask)


def test_matching_is_deterministic(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=(0, 0, 1), offset_vox=1.0,
                            angle_deg=10.0)
    a = match_slice_to_volume(image, target)[0]
    b = match_slice_to_volume(image, target)[0]
    assert a.normal == b.normal and a.offset_vox == b.offset_vox
    assert np.array_equal(a.image, b.image)


@pytest.fixture(scope="module")
def library(target):
    return [target, library_volume("lockhartia_like", 3), library_volume("arumella_like", 4)]


def test_library_ranks_the_source_volume_first(library):
    source = library[0]
    image, _, _ = cut_query(source.volume, source.mask, normal=tilted_normal(1, 12.0, 0.0),
                            offset_vox=-1.0, angle_deg=80.0, mirror=True)
    result = match_slice_to_library(image, library, pixel_size_um=source.voxel_size_um,
                                    effort=SearchEffort(n_refine_volumes=2))
    assert result.best.file == source.file
    assert list(result.volumes["rank"]) == [1, 2, 3]
    assert result.specimens["specimen"].iloc[0] == source.specimen
    assert result.species["species"].iloc[0] == "elphidiella_like"
    assert result.volumes["refined"].sum() == 2
    assert result.skipped.empty and result.seconds > 0


def test_bad_volume_in_a_library_is_reported_and_skipped(library):
    broken = LibraryVolume(volume=library[1].volume, mask=library[1].mask, voxel_size_um=1.0,
                           file="no-index.npz", specimen="x", species="y", index=None)
    source = library[0]
    image, _, _ = cut_query(source.volume, source.mask, normal=(1, 0, 0), offset_vox=0.0)
    shelf = Library((broken, source, library[2]),
                    pd.DataFrame([{"file": "unreadable.nii", "reason": "VolumeError: bad"}]))
    result = match_slice_to_library(image, shelf, effort=SearchEffort(n_refine_volumes=1))
    assert set(result.skipped["file"]) == {"unreadable.nii", "no-index.npz"}
    assert "has no index" in result.skipped.set_index("file").loc["no-index.npz", "reason"]
    assert len(result.matches) == 2 and result.best.file == source.file


def test_bad_calls_are_refused(target):
    image, _, _ = cut_query(target.volume, target.mask, normal=(1, 0, 0), offset_vox=0.0)
    with pytest.raises(ValueError, match="`method` must be one of"):
        match_slice_to_volume(image, target, method="magic")
    with pytest.raises(ValueError, match="`n_matches` must be at least 1"):
        match_slice_to_volume(image, target, n_matches=0)
    with pytest.raises(TypeError, match="must be a LibraryVolume"):
        match_slice_to_volume(image, target.volume)
    bare = make_library_volume(target.volume, target.mask, voxel_size_um=1.0, with_index=False)
    with pytest.raises(MatchingError, match="has no index"):
        match_slice_to_volume(image, bare)
    with pytest.raises(ValueError, match="The library is empty"):
        match_slice_to_library(image, Library((), pd.DataFrame(columns=["file", "reason"])))
    with pytest.raises(TypeError, match="`effort` must be a SearchEffort"):
        match_slice_to_library(image, [target], effort={"n_screen": 2})
    with pytest.raises(ValueError, match="unknown metrics"):
        match_slice_to_volume(image, target, weights={"hu": 1.0})
    with pytest.raises(MatchingError, match="is blank"):
        match_slice_to_volume(np.zeros((40, 40)), target)
    query = prepare_query(image)
    assert match_slice_to_volume(query, target)[0].file == target.file
