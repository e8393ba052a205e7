"""Tests of fossilct.matching.source_grid: a match's plane in the user's own file."""

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
from matching_fixtures import SMALL_INDEX, true_pose

from fossilct import segmentation, slicing, synthetic, volumes
from fossilct.matching import (SourceGrid, load_library, make_library_volume,
                               match_slice_to_volume, prepare_query, section_from_file)
from fossilct.matching.benchmark.queries import cut_query, tilted_normal
from fossilct.matching.pose import QueryPose
from fossilct.matching.similarity import dice, ncc


def _anisotropic_scan(seed: int, keep_every: tuple[int, int, int]):
    """A synthetic scan thinned along some axes, with the spacing that says so."""
    specimen = synthetic.make_specimen("lockhartia_like", size=48, rng=seed)
    data = specimen.volume[::keep_every[0], ::keep_every[1], ::keep_every[2]]
    spacing = tuple(float(np.mean(specimen.spacing_um)) * k for k in keep_every)
    return np.ascontiguousarray(data), spacing


def test_prepared_voxels_read_the_file_where_the_grid_says(rng):
    data, spacing = _anisotropic_scan(5, (2, 1, 1))
    prepared = slicing.prepare_volume(data, spacing)
    grid = SourceGrid.from_prepared(prepared)
    assert grid.shape == data.shape and grid.spacing_um == spacing
    low, high = prepared.limits
    points = np.argwhere(prepared.volume > 0)
    points = points[rng.choice(len(points), 2000, replace=False)]

    def level_error(mapping):
        values = ndi.map_coordinates(data.astype(np.float32), mapping(points).T, order=1,
                                     mode="nearest")
        expected = np.clip((values - low) / (high - low), 0, 1) * 255
        return np.median(np.abs(expected - prepared.volume[tuple(points.T)]))

    assert level_error(grid.to_file) < 2.0
    # a grid off by half a file voxel along the thinned axis reads clearly different values
    assert level_error(lambda p: grid.to_file(p) + [0.5, 0, 0]) > 3 * level_error(grid.to_file)


def test_plane_in_file_scales_the_normal_inversely():
    grid = SourceGrid(np.array([0.5, 1.0, 1.0]), np.zeros(3), (4.0, 2.0, 2.0), (10, 20, 20))
    normal = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    row = np.array([-1.0, 1.0, 0.0]) / np.sqrt(2)
    plane = grid.plane_in_file(QueryPose(normal, np.array([4.0, 6.0, 8.0]), 2 * row,
                                         2 * np.array([0.0, 0.0, 1.0])))
    assert np.allclose(plane.centre_vox, [2.0, 6.0, 8.0])
    assert np.allclose(plane.centre_um, [8.0, 12.0, 16.0])
    # physical spacing is 2 µm on every axis: the physical frame is the prepared one
    assert np.allclose(plane.normal_um, normal) and np.allclose(plane.row_um, row)
    assert np.allclose(plane.normal_vox, np.array([2.0, 1.0, 0.0]) / np.sqrt(5))
    assert plane.pixel_um == pytest.approx(4.0)


def test_the_normal_stays_normal_to_the_rows_and_columns_under_any_scaling(rng):
    grid = SourceGrid(np.array([0.5, 1.2, 0.8]), np.array([1.0, -2.0, 0.5]), (4.0, 2.0, 3.0),
                      (10, 20, 20))
    for _ in range(5):
        normal = tilted_normal(int(rng.integers(3)), rng.uniform(0, 60), rng.uniform(0, 360))
        row, col = np.linalg.svd(normal[None])[2][1:]
        plane = grid.plane_in_file(QueryPose(normal, rng.uniform(0, 9, 3), 1.5 * row,
                                             1.5 * col))
        for n, r, c in ((plane.normal_vox, plane.row_vox, plane.col_vox),
                        (plane.normal_um, plane.row_um, plane.col_um)):
            assert abs(n @ r) < 1e-12 and abs(n @ c) < 1e-12
            assert np.allclose([np.linalg.norm(n), np.linalg.norm(r), np.linalg.norm(c)], 1)


def test_arrays_are_their_own_file():
    grid = np.indices((32, 32, 32)) - 15.5
    mask = (grid[0] / 12) ** 2 + (grid[1] / 8) ** 2 + (grid[2] / 6) ** 2 <= 1
    volume = np.where(mask, 0.8, 0.1) + 0.1 * (grid[0] > 0)
    target = make_library_volume(volume, mask, voxel_size_um=2.0, **SMALL_INDEX)
    image, _, _ = cut_query(target.volume, target.mask, normal=(0, 1, 0), offset_vox=1.0)
    match = match_slice_to_volume(image, target)[0]
    assert np.allclose(match.plane_in_file.centre_vox, match.centre_vox)
    assert np.allclose(match.plane_in_file.centre_um, np.asarray(match.centre_vox) * 2.0)


@pytest.mark.parametrize("keep_every", [(2, 1, 1), (1, 2, 3)])
def test_round_trip_through_a_nifti_file(tmp_path, keep_every):
    data, spacing = _anisotropic_scan(3, keep_every)
    path = tmp_path / "scan.nii.gz"
    volumes.save_volume(path, data, spacing)
    library = load_library(pd.DataFrame({"file": ["scan.nii.gz"], "specimen_id": ["s1"],
                                         "species": ["lockhartia_like"]}), tmp_path,
                           **SMALL_INDEX)
    target = library.volumes[0]
    assert target.source_grid.shape == data.shape
    image, placement, _ = cut_query(target.volume, target.mask, normal=tilted_normal(1, 15.0, 60.0),
                                    offset_vox=1.5, angle_deg=70.0, mirror=True)
    query = prepare_query(image, pixel_size_um=target.voxel_size_um)
    match = match_slice_to_volume(query, target)[0]
    found, known = match.plane_in_file, target.source_grid.plane_in_file(true_pose(query,
                                                                               placement))
    assert np.degrees(np.arccos(min(1.0, found.normal_um @ known.normal_um))) < 2.0
    assert np.linalg.norm(found.centre_um - known.centre_um) < 0.7 * min(spacing)
    assert np.degrees(np.arccos(min(1.0, found.row_um @ known.row_um))) < 2.0
    assert found.pixel_um == pytest.approx(target.voxel_size_um, rel=0.02)
    section = section_from_file(path, found, query.gray.shape, centre_px=query.centroid)
    scaled = (section - section.min()) / np.ptp(section)
    region = query.silhouette
    assert ncc(np.where(region, query.gray, 0), np.where(region, scaled, 0)) > 0.9
    assert dice(segmentation.segment_slice(scaled, image_size=64).mask, query.silhouette) > 0.85


def test_section_from_file_refuses_bad_requests():
    volume = np.zeros((4, 6, 6), np.float32)
    plane = SourceGrid.identity(volume.shape, voxel_size_um=1.0).plane_in_file(
        QueryPose(np.array([1.0, 0, 0]), np.array([2.0, 2.5, 2.5]), np.array([0, 1.0, 0]),
                  np.array([0, 0, 1.0])))
    with pytest.raises(ValueError, match="`size_px` must be one side or"):
        section_from_file(volume, plane, (0, 4))
    with pytest.raises(ValueError, match="`pixel_um` must be positive"):
        section_from_file(volume, plane, 4, pixel_um=0.0)
    with pytest.raises(ValueError, match="must be a file, a fossilct.volumes.Volume or a 3-D"):
        section_from_file(volume[0], plane, 4)
    with pytest.raises(FileNotFoundError):
        section_from_file("no/such/scan.nii.gz", plane, 4)
    with pytest.raises(ValueError, match="`step` must be positive"):
        SourceGrid(np.array([0.0, 1.0, 1.0]), np.zeros(3), (1.0, 1.0, 1.0), (4, 4, 4))
