"""Tests of fossilct.slicing.rings: ring artefacts about the rotation axis."""

import numpy as np
import pytest

from fossilct.slicing import rings


def _ring_image(shape, axis, radii, amplitudes, width=0.7):
    """(M, N) float32: Gaussian rings of the given radii and peak amplitudes about `axis`."""
    row, col = np.indices(shape, dtype=np.float64)
    radius = np.hypot(row - axis[0], col - axis[1])
    image = sum(a * np.exp(-(radius - r) ** 2 / (2 * width ** 2)) for r, a in zip(radii, amplitudes))
    return image.astype(np.float32)


def _ringed_noise(shape=(24, 48, 48), axis=(25.3, 21.6), radii=(9.0, 17.0), amplitudes=(20.0, 12.0),
                  rng=0):
    """Background 40 + noise (sd 3) with the same rings in every plane; the ring image too."""
    pattern = _ring_image(shape[1:], axis, radii, amplitudes)
    noise = np.random.default_rng(rng).normal(0.0, 3.0, shape)
    return (40.0 + noise + pattern[None]).astype(np.float32), pattern


def test_finds_the_axis_and_the_rings():
    volume, truth = _ringed_noise()
    result = rings.estimate_rings(volume)
    assert result.pattern.shape == (48, 48) and result.pattern.dtype == np.float32
    assert np.allclose(result.centre, (25.3, 21.6), atol=0.3)
    assert (result.pattern >= 0).all()
    on_ring = truth > 10
    assert np.median(result.pattern[on_ring]) > 0.7 * np.median(truth[on_ring])
    assert np.abs(result.pattern - truth).mean() < 1.0


def test_axis_near_the_edge_of_a_cropped_scan():
    # cropped near the axis: the outer ring has a third of its circle outside the slice
    volume, truth = _ringed_noise(shape=(16, 48, 48), axis=(8.0, 30.0), radii=(6.0, 14.0),
                                  amplitudes=(20.0, 20.0))
    result = rings.estimate_rings(volume)
    assert np.allclose(result.centre, (8.0, 30.0), atol=0.3)
    outer = (truth > 10) & (np.hypot(*(np.indices((48, 48)) - np.array([8.0, 30.0])[:, None, None])) > 10)
    assert np.median(result.pattern[outer]) > 14.0


def test_axis_outside_the_slice_is_found():
    volume, _ = _ringed_noise(shape=(16, 40, 40), axis=(-6.0, 20.0), radii=(14.0, 25.0),
                              amplitudes=(20.0, 20.0))
    assert np.allclose(rings.estimate_rings(volume).centre, (-6.0, 20.0), atol=0.5)


def test_no_ring_gives_no_pattern(rng):
    # a fossil-like blob in a few planes and noise: nothing reaches one grey level
    volume = rng.normal(40.0, 3.0, (24, 48, 48))
    volume[8:14, 10:30, 12:26] += 120.0
    result = rings.estimate_rings(np.clip(volume, 0, 255).astype(np.uint8))
    assert result.pattern.max() < 1.0


def test_a_structure_in_some_planes_only_is_not_a_ring():
    # a cylinder wall about the axis in half of the planes (a tube standing on the axis)
    tube = _ring_image((48, 48), (23.5, 23.5), [12.0], [100.0])
    volume = np.full((24, 48, 48), 40.0, np.float32)
    volume[6:18] += tube
    assert rings.estimate_rings(volume).pattern.max() < 1.0
    volume[:] = 40.0 + tube  # in every plane it is indistinguishable from a ring
    assert rings.estimate_rings(volume).pattern.max() > 50.0


def test_slow_radial_change_is_not_a_ring():
    # cupping: a smooth darkening towards the axis
    row, col = np.indices((48, 48))
    cupping = 30.0 * np.exp(-((row - 24.0) ** 2 + (col - 24.0) ** 2) / 300.0)
    volume = np.broadcast_to(100.0 - cupping, (12, 48, 48))
    assert rings.estimate_rings(volume).pattern.max() < 1.0


@pytest.mark.parametrize("volume, kwargs, error, message", [
    (np.zeros((8, 8)), {}, ValueError, "must be 3-D"),
    (np.zeros((4, 2, 8)), {}, ValueError, "at least 3 x 3"),
    (np.full((4, 8, 8), np.nan), {}, ValueError, "NaN/inf"),
    (np.zeros((4, 8, 8), bool), {}, ValueError, "finite real numbers; got dtype bool"),
    (np.zeros((4, 8, 8)), {"plane_quantile": 60}, ValueError, r"`plane_quantile` must be in \[0, 50\]"),
    (np.zeros((4, 8, 8)), {"n_sectors": 2}, ValueError, "`n_sectors` must be at least 3"),
    (np.zeros((4, 8, 8)), {"radial_window_vox": 2}, ValueError, "more than 2 voxels"),
])
def test_errors(volume, kwargs, error, message):
    with pytest.raises(error, match=message):
        rings.estimate_rings(volume, **kwargs)
