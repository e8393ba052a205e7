"""Tests of fossilct.matching.benchmark.queries: evaluation queries cut at known poses."""

import numpy as np
import pytest

from fossilct import planes
from fossilct.matching.pose import QueryPose, sample_at_pose
from fossilct.matching.benchmark.queries import Nuisance, cut_query, make_queries, tilted_normal


@pytest.fixture(scope="module")
def blob():
    """A (28, 30, 32) volume with an asymmetric bright object in [0, 1]."""
    grid = np.indices((28, 30, 32)).astype(np.float32)
    body = (((grid[0] - 14) / 9) ** 2 + ((grid[1] - 15) / 11) ** 2
            + ((grid[2] - 16) / 8) ** 2) <= 1
    knob = ((grid[0] - 10) ** 2 + (grid[1] - 8) ** 2 + (grid[2] - 20) ** 2) <= 16
    mask = body | knob
    volume = np.where(mask, 0.4 + 0.5 * (grid[1] / 30), 0.05).astype(np.float32)
    return volume, mask


@pytest.mark.parametrize("nuisance", [Nuisance(), Nuisance(zoom=1.4),
                                      Nuisance(zoom=0.8, crop_fraction=0.2, crop_side=3)])
def test_placement_says_where_each_pixel_lies(blob, nuisance):
    volume, mask = blob
    normal = tilted_normal(2, 15.0, 60.0)
    image, placement, _ = cut_query(volume, mask, normal=normal, offset_vox=1.5, angle_deg=40.0,
                                    mirror=True, nuisance=nuisance)
    pose = QueryPose(normal, placement[0], placement[1], placement[2])
    points = np.stack(np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]),
                                  indexing="ij"), axis=-1).astype(float)
    rendered = sample_at_pose(volume, pose, points, np.zeros(2))
    positions = placement[0] + points[..., :1] * placement[1] + points[..., 1:] * placement[2]
    inside = np.all((positions >= 1) & (positions <= np.array(volume.shape) - 2), axis=-1)
    assert inside.mean() > 0.3
    assert np.abs(rendered[inside] - image[inside]).mean() < 0.01
    # beyond the volume the section shows its background level, not black
    assert np.allclose(image[~inside & (rendered == 0)], 0.05, atol=0.01)
    assert np.linalg.norm(placement[1]) == pytest.approx(1.0 / nuisance.zoom, rel=0.05)


def test_crop_cuts_the_fossil_on_the_chosen_side(blob):
    volume, mask = blob
    full, _, _ = cut_query(volume, mask, normal=(1, 0, 0), offset_vox=0.0)
    cropped, placement, _ = cut_query(volume, mask, normal=(1, 0, 0), offset_vox=0.0,
                                      nuisance=Nuisance(crop_fraction=0.1, crop_side=0))
    assert cropped.shape[1] == full.shape[1] and cropped.shape[0] < full.shape[0]
    assert cropped[0].max() > 0.3  # the fossil now reaches the top border


def test_nuisances_change_the_image(blob):
    volume, mask = blob
    clean, _, _ = cut_query(volume, mask, normal=(0, 1, 0), offset_vox=1.0)
    white, _, _ = cut_query(volume, mask, normal=(0, 1, 0), offset_vox=1.0,
                            nuisance=Nuisance(white_background=True))
    assert np.allclose(white, 1.0 - clean)
    noisy, _, _ = cut_query(volume, mask, normal=(0, 1, 0), offset_vox=1.0,
                            nuisance=Nuisance(noise_sigma=0.05), rng=3)
    assert 0.02 < np.std(noisy - clean) < 0.06
    blurred, _, _ = cut_query(volume, mask, normal=(0, 1, 0), offset_vox=1.0,
                              nuisance=Nuisance(blur_sigma=1.5))
    assert np.abs(np.diff(blurred, axis=1)).max() < np.abs(np.diff(clean, axis=1)).max()
    assert clean.dtype == np.float32 and 0.0 <= clean.min() and clean.max() <= 1.0


def test_make_queries_is_deterministic_and_balanced(blob):
    volume, mask = blob
    sources = [(volume, mask, 2.0), (volume[::-1].copy(), mask[::-1].copy(), 3.0)]
    a = make_queries(sources, 10, rng=5)
    b = make_queries(sources, 10, rng=5)
    c = make_queries(sources, 10, rng=6)
    assert all(np.array_equal(x.image, y.image) and x.angle_deg == y.angle_deg
               for x, y in zip(a, b))
    assert any(x.angle_deg != y.angle_deg for x, y in zip(a, c))
    assert [q.kind for q in a].count("oblique") == 5
    assert [q.target for q in a] == [0, 1] * 5
    for query in a:
        assert (query.tilt_deg == 0) == (query.kind == "axis")
        assert query.tilt_deg <= 25.0
        assert query.pixel_size_um == pytest.approx(sources[query.target][2]
                                                     / query.nuisance.zoom)
        offsets, area = planes.mask_offsets(sources[query.target][1], query.normal)
        nearest = area[np.argmin(np.abs(offsets - query.offset_vox))]
        assert nearest >= 0.2 * area.max()


def test_bad_arguments_are_refused(blob):
    volume, mask = blob
    with pytest.raises(ValueError, match="`volumes` is empty"):
        make_queries([], 3, rng=0)
    with pytest.raises(ValueError, match="`n_queries` must be at least 1"):
        make_queries([(volume, mask, 1.0)], 0, rng=0)
    with pytest.raises(ValueError, match="`white_fraction` must be in"):
        make_queries([(volume, mask, 1.0)], 2, rng=0, white_fraction=2.0)
    with pytest.raises(ValueError, match="Tilts must satisfy"):
        make_queries([(volume, mask, 1.0)], 2, rng=0, min_tilt_deg=30.0)
    with pytest.raises(ValueError, match="`zoom_range` must be"):
        make_queries([(volume, mask, 1.0)], 2, rng=0, zoom_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="misses the fossil"):
        cut_query(volume, mask, normal=(1, 0, 0), offset_vox=13.0)
    with pytest.raises(ValueError, match="`nuisance` out of range"):
        cut_query(volume, mask, normal=(1, 0, 0), offset_vox=0.0,
                  nuisance=Nuisance(crop_fraction=0.6))


@pytest.mark.parametrize("side", [0, 1, 2, 3])
def test_partial_view_keeps_the_requested_share_of_the_section(blob, side):
    volume, mask = blob
    full = cut_query(volume, mask, normal=(1, 0, 0), offset_vox=0.0)
    part = cut_query(volume, mask, normal=(1, 0, 0), offset_vox=0.0,
                     nuisance=Nuisance(visible_fraction=0.7, crop_side=side))
    assert full.visible_fraction == 1.0
    assert part.visible_fraction == pytest.approx(0.7, abs=0.05)
    assert part.image.size < full.image.size
    assert np.allclose(part.placement[1:], full.placement[1:])


def test_make_queries_draws_partial_views_only_when_asked(blob):
    volume, mask = blob
    plain = make_queries([(volume, mask, 2.0)], 6, rng=4)
    again = make_queries([(volume, mask, 2.0)], 6, rng=4, visible_range=(0.5, 0.6))
    assert [q.offset_vox for q in plain] == [q.offset_vox for q in again]
    partial = make_queries([(volume, mask, 2.0)], 20, rng=4, partial_fraction=1.0,
                           visible_range=(0.6, 0.8), crop_probability=0.0, zoom_range=(1.5, 2))
    shares = np.array([q.visible_fraction for q in partial])
    assert np.all((shares > 0.55) & (shares < 0.85))
    with pytest.raises(ValueError, match="`visible_range` must be"):
        make_queries([(volume, mask, 2.0)], 2, rng=0, visible_range=(0.0, 0.5))
