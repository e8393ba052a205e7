"""Tests of fossilct.matching.descriptors: polar signatures and the FFT rotation search."""

import cv2
import numpy as np
import pytest

from fossilct.matching import descriptors as d


@pytest.fixture
def section(rng):
    """An asymmetric 'section': an ellipse with an off-centre bright blob and texture."""
    mask = np.zeros((96, 96), np.uint8)
    cv2.ellipse(mask, (48, 46), (30, 18), 25, 0, 360, 1, -1)
    image = mask * (0.4 + 0.1 * rng.random((96, 96)))
    cv2.circle(image, (60, 40), 7, 1.0, -1)
    cv2.circle(image, (35, 52), 4, 0.0, -1)
    return image.astype(np.float32) * mask, mask.astype(np.float32)


def _spectrum(image, mask, radii, angles):
    area, centroid = d.mask_geometry(mask[None])
    stack = np.stack([mask, image], axis=-1)[None]
    samples = d.polar_samples(stack, centroid, np.sqrt(area / np.pi), radii=radii, angles=angles)
    return d.signature_spectra(d.make_signatures(samples, radii), n_harmonics=d.N_HARMONICS)[0]


def _turn(array, angle_deg, mirror=False):
    """Turn the content counter-clockwise on the screen by angle_deg, optionally flip columns."""
    if mirror:
        array = array[:, ::-1].copy()
    matrix = cv2.getRotationMatrix2D((47.5, 47.5), angle_deg, 1.0)
    return cv2.warpAffine(array, matrix, (96, 96), flags=cv2.INTER_LINEAR)


def test_polar_grid_shapes_and_errors():
    radii, angles = d.polar_grid()
    assert radii.shape == (d.N_RINGS,) and angles.shape == (d.N_ANGLES,)
    assert radii[-1] < d.MAX_RADIUS
    with pytest.raises(ValueError, match="at least 4"):
        d.polar_grid(n_rings=2)
    with pytest.raises(ValueError, match="`max_radius` must be positive"):
        d.polar_grid(max_radius=0)


def test_mask_geometry_of_an_empty_mask_is_nan():
    area, centroid = d.mask_geometry(np.zeros((1, 4, 4)))
    assert area[0] == 0 and np.isnan(centroid).all()


def test_polar_samples_angle_runs_counter_clockwise():
    stack = np.zeros((1, 21, 21, 1), np.float32)
    stack[0, :10, 10, 0] = 1.0  # a ray straight up from the centre (10, 10)
    radii, angles = d.polar_grid(n_rings=4, n_angles=4, max_radius=8.0)
    samples = d.polar_samples(stack, np.array([[10.0, 10.0]]), np.array([1.0]), radii=radii,
                              angles=angles)
    # angle 0 points down the rows, 90 deg right, 180 deg up, 270 deg left
    assert np.all(samples[0, 0, :, 2] == 1.0)
    assert samples[0, 0, :, [0, 1, 3]].max() == 0.0


def test_signatures_are_centred_unit_vectors(section):
    radii, angles = d.polar_grid()
    image, mask = section
    area, centroid = d.mask_geometry(mask[None])
    samples = d.polar_samples(np.stack([mask, image], -1)[None], centroid,
                              np.sqrt(area / np.pi), radii=radii, angles=angles)
    sig = d.make_signatures(samples, radii)
    assert sig.shape == (1, 2, d.N_RINGS, d.N_ANGLES) and sig.dtype == np.float32
    assert np.allclose(sig.reshape(2, -1).sum(axis=1), 0, atol=1e-4)
    assert np.allclose(np.linalg.norm(sig.reshape(2, -1), axis=1), 1, atol=1e-5)


def test_signature_is_invariant_to_intensity_gain_and_offset(section):
    radii, angles = d.polar_grid()
    image, mask = (np.pad(x, 40) for x in section)  # the polar grid stays inside the image
    a = _spectrum(image, mask, radii, angles)
    b = _spectrum(3 * image + 0.5, mask, radii, angles)  # a linear change of the whole image
    # the low-passed self-correlation of a textured signature is a little below 1
    itself = d.rotation_search(a, a[None], channel_weights=(0.0, 1.0)).score[0]
    assert d.rotation_search(a, b[None], channel_weights=(0.0, 1.0)).score[0] == \
        pytest.approx(itself, abs=1e-4)


@pytest.mark.parametrize("angle", [0.0, 37.0, 90.0, 211.0])
@pytest.mark.parametrize("mirror", [False, True])
def test_rotation_search_recovers_the_turn_and_the_mirror(section, angle, mirror):
    radii, angles = d.polar_grid()
    image, mask = section
    reference = _spectrum(image, mask, radii, angles)
    turned = _spectrum(_turn(image, angle, mirror), _turn(mask, angle, mirror), radii, angles)
    found = d.rotation_search(turned, reference[None])
    assert found.mirror[0] == mirror
    assert found.score[0] > 0.95
    # the query at polar angle phi shows the candidate at phi + turn (turn - phi if mirrored);
    # turning content counter-clockwise by angle shifts it to larger phi
    expected = angle % 360 if mirror else (-angle) % 360
    error = abs((found.angle_deg[0] - expected + 180) % 360 - 180)
    assert error < 3.0


def test_rotation_bounds_bound_the_exact_scores(rng):
    radii, angles = d.polar_grid(n_rings=6, n_angles=32)
    sig = d.make_signatures(rng.random((20, 2, 6, 32)), radii)
    spectra = d.signature_spectra(sig, n_harmonics=17)
    exact = d.rotation_search(spectra[3], spectra, n_angles=32).score
    bound = d.rotation_bounds(spectra[3], d.bound_features(spectra, n_angles=32))
    assert np.all(exact <= bound + 1e-4)
    assert exact[3] == pytest.approx(1.0, abs=1e-4)


def test_hu_moments_agree_with_opencv_and_reject_3d(section):
    _, mask = section
    assert np.allclose(d.hu_moments(mask), cv2.HuMoments(cv2.moments(mask)).ravel())
    with pytest.raises(ValueError, match="must be 2-D"):
        d.hu_moments(np.zeros((2, 3, 3)))


def test_spectra_and_search_reject_bad_shapes():
    with pytest.raises(ValueError, match="`n_harmonics` must be in"):
        d.signature_spectra(np.zeros((2, 8)), n_harmonics=9)
    with pytest.raises(ValueError, match="same C, R, H"):
        d.rotation_search(np.zeros((2, 4, 5), complex), np.zeros((3, 2, 4, 6), complex))
    with pytest.raises(ValueError, match="one weight per channel"):
        d.rotation_search(np.zeros((2, 4, 5), complex), np.zeros((3, 2, 4, 5), complex),
                          channel_weights=(1.0,))
