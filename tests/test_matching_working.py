"""Tests of fossilct.matching.working: the working copy and its sections."""

import numpy as np
import pytest

from fossilct import planes
from fossilct.matching.working import section_stack, working_copy


@pytest.fixture
def ellipsoid():
    grid = np.indices((40, 40, 40)) - np.array([18.0, 20.0, 21.0])[:, None, None, None]
    mask = (grid[0] / 15) ** 2 + (grid[1] / 10) ** 2 + (grid[2] / 7) ** 2 <= 1
    volume = np.where(mask, 0.2, 0.0).astype(np.float32)
    shell = mask & ~((grid[0] / 13) ** 2 + (grid[1] / 8) ** 2 + (grid[2] / 5) ** 2 <= 1)
    volume[shell] = 0.9
    return volume, mask


def test_working_copy_scales_the_fossil_ball_to_the_working_radius(ellipsoid):
    volume, mask = ellipsoid
    work, centre, factor = working_copy(volume, mask, working_radius=8.0)
    assert work.shape[:3] == (work.shape[0],) * 3 and work.shape[3] == 2
    assert work.dtype == np.float32
    assert np.allclose(centre, np.argwhere(mask).mean(axis=0))
    assert factor == pytest.approx((15.0 + 1.0) / 8.0, rel=0.1)
    # the silhouette channel keeps the fossil's filled extent along the long axis
    extent = np.flatnonzero(work[:, work.shape[1] // 2, work.shape[2] // 2, 0] > 0.5)
    assert (extent.max() - extent.min() + 1) * factor == pytest.approx(31, abs=2 * factor)


def test_small_fossils_are_not_enlarged(ellipsoid):
    volume, mask = ellipsoid
    _, _, factor = working_copy(volume, mask, working_radius=64.0)
    assert factor == 1.0


def test_silhouette_is_filled_even_where_the_given_mask_is_hollow(ellipsoid):
    volume, mask = ellipsoid
    hollow = mask & (volume > 0.5)
    work, _, _ = working_copy(volume, hollow, working_radius=12.0)
    middle = work[work.shape[0] // 2, :, :, 0]
    assert middle[middle.shape[0] // 2, middle.shape[1] // 2] > 0.5


def test_section_stack_equals_planes_sampling(rng):
    work = rng.random((15, 15, 15, 2)).astype(np.float32)
    normal = (0.3, 0.8, 0.52)
    offsets = np.array([-2.0, 0.0, 1.5])
    stack = section_stack(work, normal, offsets, size=11)
    reference = planes.sample_planes(work, normal, offsets, size=11)
    assert stack.shape == (3, 11, 11, 2)
    assert np.abs(stack - reference).max() < 0.02
