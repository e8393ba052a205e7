"""Tests of fossilct.planes: plane sets, basis convention, jitter, offsets and sampling."""

import numpy as np
import pytest
import scipy.ndimage as ndi

from fossilct import planes


@pytest.fixture
def smooth_volume():
    """A smooth, non-symmetric (20, 24, 28) float32 volume in [0, 1]."""
    noise = np.random.default_rng(3).random((20, 24, 28)).astype(np.float32)
    volume = ndi.gaussian_filter(noise, 2.0)
    return ((volume - volume.min()) / (volume.max() - volume.min())).astype(np.float32)


def _trilinear(volume, normal, offset, size, *, angle_deg=0.0, mirror=False):
    """Reference: scipy trilinear sampling on the documented pixel positions."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    u, v = planes.plane_basis(n, angle_deg=angle_deg, mirror=mirror)
    centre = (np.array(volume.shape) - 1) / 2.0
    ii = np.arange(size[0]) - (size[0] - 1) / 2.0
    jj = np.arange(size[1]) - (size[1] - 1) / 2.0
    coords = ((centre + offset * n)[:, None, None] + u[:, None, None] * ii[None, :, None]
              + v[:, None, None] * jj[None, None, :])
    inside = np.all((coords >= 1) & (coords <= np.array(volume.shape)[:, None, None] - 2), axis=0)
    return ndi.map_coordinates(volume, coords, order=1, mode="grid-constant"), inside


# --- plane sets ---------------------------------------------------------------------------------

def test_axis_normals_are_identity():
    assert np.array_equal(planes.axis_normals(), np.eye(3))


def test_rotated_normals_match_turning_the_volume():
    normals = planes.rotated_normals([30], planes=[(0, 1)])
    assert np.allclose(normals, [[np.cos(np.pi / 6), np.sin(np.pi / 6), 0.0]])


def test_rotated_normals_default_set_is_unit_hemisphere_and_distinct():
    normals = planes.rotated_normals()
    assert normals.shape == (24, 3)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert np.all(normals[:, 0] >= 0)
    gram = np.abs(normals @ normals.T) - np.eye(24)
    assert gram.max() < 1 - 1e-6


def test_rotated_normals_past_90_degrees_are_flipped_to_the_hemisphere():
    normals = planes.rotated_normals([160], planes=[(0, 1)])
    assert np.allclose(normals, [[-np.cos(np.deg2rad(160)), -np.sin(np.deg2rad(160)), 0.0]])


def test_rotated_normals_rejects_bad_plane_pair():
    with pytest.raises(ValueError, match=r"pairs of distinct axes.*\(1, 1\)"):
        planes.rotated_normals([20], planes=[(1, 1)])


def test_fibonacci_normals_cover_the_hemisphere_evenly():
    normals = planes.fibonacci_normals(400)
    assert normals.shape == (400, 3)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert normals[:, 0].min() >= 0
    # uniform by area: n_p is uniform on [0, 1]
    assert abs(np.mean(normals[:, 0]) - 0.5) < 0.01
    sphere = planes.fibonacci_normals(400, hemisphere=False)
    assert abs(np.mean(sphere, axis=0)).max() < 0.01


def test_fibonacci_normals_rejects_zero():
    with pytest.raises(ValueError, match="`n` must be at least 1; got 0"):
        planes.fibonacci_normals(0)


def test_standard_planes_labels_and_angles():
    plane_set = planes.standard_planes(oblique_angles_deg=[45], n_fibonacci=2)
    assert plane_set.labels == ("axis_p", "axis_r", "axis_c", "rot_pr_045", "rot_pc_045",
                                "rot_rc_045", "fib_000", "fib_001")
    assert plane_set.angles_deg.tolist() == [0, 0, 0, 45, 45, 45, 0, 0]
    assert len(plane_set) == 8 and plane_set.normals.shape == (8, 3)


def test_standard_planes_rejects_repeated_axis():
    with pytest.raises(ValueError, match=r"'axis_r' and 'rot_pr_090' have the same normal"):
        planes.standard_planes(oblique_angles_deg=[90])


def test_standard_planes_rejects_empty_set():
    with pytest.raises(ValueError, match="plane set is empty"):
        planes.standard_planes(axes=False, oblique_angles_deg=[])


# --- basis --------------------------------------------------------------------------------------

@pytest.mark.parametrize("normal", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.3, -0.5, 0.8),
                                    (-0.99, 0.1, 0.05), (-1, 0, 0)])
def test_plane_basis_is_orthonormal_and_right_handed(normal):
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    u, v = planes.plane_basis(n)
    frame = np.stack([n, u, v])
    assert np.allclose(frame @ frame.T, np.eye(3))
    assert np.isclose(np.linalg.det(frame), 1.0)


def test_plane_basis_is_continuous_over_the_hemisphere():
    normals = planes.fibonacci_normals(2000)
    bases = np.array([np.concatenate(planes.plane_basis(n)) for n in normals])
    # nearest neighbours on the sphere have nearby bases
    for k in range(0, 2000, 97):
        dist = np.linalg.norm(normals - normals[k], axis=1)
        near = np.argsort(dist)[1:4]
        assert np.abs(bases[near] - bases[k]).max() < 5 * dist[near].max() + 1e-9


def test_plane_basis_angle_and_mirror():
    u, v = planes.plane_basis((1, 0, 0), angle_deg=90)
    assert np.allclose(u, [0, 0, -1]) and np.allclose(v, [0, 1, 0])
    u, v = planes.plane_basis((1, 0, 0), mirror=True)
    assert np.allclose(u, [0, 1, 0]) and np.allclose(v, [0, 0, -1])


def test_plane_basis_rejects_zero_normal():
    with pytest.raises(ValueError, match=r"`normal` must be non-zero"):
        planes.plane_basis((0, 0, 0))


def test_plane_basis_rejects_many_normals():
    with pytest.raises(ValueError, match=r"shape \(3,\); got \(2, 3\)"):
        planes.plane_basis(np.eye(3)[:2])


def test_as_unit_rejects_bad_shape_and_nan():
    with pytest.raises(ValueError, match=r"shape \(3,\) or \(K, 3\).*got shape \(2,\)"):
        planes.plane_basis((1, 0))
    with pytest.raises(ValueError, match="must be finite"):
        planes.plane_basis((np.nan, 0, 1))


# --- jitter -------------------------------------------------------------------------------------

def test_jitter_stays_in_cap_and_is_deterministic():
    base = np.tile(planes.standard_planes().normals, (40, 1))
    tilted, tilt = planes.jitter_normal(base, max_deg=7, rng=5)
    again, _ = planes.jitter_normal(base, max_deg=7, rng=5)
    assert np.array_equal(tilted, again)
    angle = np.degrees(np.arccos(np.clip(np.sum(tilted * base, axis=1), -1, 1)))
    assert np.allclose(angle, tilt, atol=1e-6)
    assert tilt.max() <= 7 + 1e-9 and tilt.max() > 5
    assert np.allclose(np.linalg.norm(tilted, axis=1), 1.0)


def test_jitter_is_uniform_over_the_cap():
    base = np.tile([0.0, 0.0, 1.0], (20000, 1))
    _, tilt = planes.jitter_normal(base, max_deg=10, rng=np.random.default_rng(1))
    # uniform by area: 1 - cos(tilt) is uniform on [0, 1 - cos(10 deg)]
    frac = (1 - np.cos(np.deg2rad(tilt))) / (1 - np.cos(np.deg2rad(10)))
    assert abs(np.mean(frac) - 0.5) < 0.01
    assert abs(np.mean(frac < 0.25) - 0.25) < 0.015


def test_jitter_zero_is_identity():
    tilted, tilt = planes.jitter_normal([0, 0.6, 0.8], max_deg=0, rng=0)
    assert np.allclose(tilted, [0, 0.6, 0.8]) and tilt == pytest.approx(0.0, abs=1e-6)


def test_jitter_rejects_bad_angle():
    with pytest.raises(ValueError, match=r"`max_deg` must be in \[0, 90\].*got 120"):
        planes.jitter_normal([1, 0, 0], max_deg=120, rng=0)


# --- offsets ------------------------------------------------------------------------------------

def test_plane_offsets_axis_fall_on_voxels():
    offsets = planes.plane_offsets((5, 7, 9), (0, 1, 0))
    assert np.allclose(offsets, np.arange(7) - 3.0)
    assert len(planes.plane_offsets((5, 7, 9), (0, 0, 1), step=2.0)) == 5


def test_plane_offsets_oblique_span_the_box():
    n = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    offsets = planes.plane_offsets((11, 11, 3), n)
    assert offsets[0] == pytest.approx(-10 / np.sqrt(2))
    assert offsets[-1] <= 10 / np.sqrt(2) + 1e-9
    assert np.allclose(np.diff(offsets), 1.0)


def test_plane_offsets_rejects_bad_step_and_shape():
    with pytest.raises(ValueError, match="`step` must be positive"):
        planes.plane_offsets((4, 4, 4), (1, 0, 0), step=0)
    with pytest.raises(ValueError, match="`shape` must be 3 positive sizes"):
        planes.plane_offsets((4, 0, 4), (1, 0, 0))
    with pytest.raises(ValueError, match="`centre` must be 3 finite numbers"):
        planes.plane_offsets((4, 4, 4), (1, 0, 0), centre=(1, 2))


def test_mask_offsets_measure_a_ball():
    grid = np.indices((41, 41, 41)) - 20.0
    ball = np.sum(grid ** 2, axis=0) <= 15 ** 2
    n = np.array([0.3, 0.5, 0.81])
    offsets, area = planes.mask_offsets(ball, n)
    cut = area > 0
    assert offsets[cut].min() == pytest.approx(-15, abs=1.5) and offsets[cut].max() == pytest.approx(15, abs=1.5)
    centre = np.argmin(np.abs(offsets))
    assert area[centre] == pytest.approx(np.pi * 15 ** 2, rel=0.05)
    _, coarse = planes.mask_offsets(ball, n, stride=2)
    assert coarse[centre] == pytest.approx(area[centre], rel=0.1)


def test_mask_offsets_rejects_bad_input():
    with pytest.raises(ValueError, match=r"`mask` must be 3-D.*\(4, 4\)"):
        planes.mask_offsets(np.ones((4, 4), bool), (1, 0, 0))
    with pytest.raises(ValueError, match="`stride` must be at least 1"):
        planes.mask_offsets(np.ones((4, 4, 4), bool), (1, 0, 0), stride=0)


# --- sampling -----------------------------------------------------------------------------------

def test_axis_planes_are_plain_indexing(smooth_volume):
    vol = smooth_volume
    offsets = planes.plane_offsets(vol.shape, (1, 0, 0))
    assert np.array_equal(planes.sample_plane(vol, (1, 0, 0), offsets[4]), vol[4])
    offsets = planes.plane_offsets(vol.shape, (0, 1, 0))
    assert np.array_equal(planes.sample_plane(vol, (0, 1, 0), offsets[5]), vol[::-1, 5, :])
    offsets = planes.plane_offsets(vol.shape, (0, 0, 1))
    assert np.array_equal(planes.sample_plane(vol, (0, 0, 1), offsets[6]), vol[::-1, :, 6].T)


@pytest.mark.parametrize("normal", [(1, 0.3, 0.2), (0.2, 1, 0.3), (0.3, 0.4, 1), (-0.5, 0.3, 0.8),
                                    (0.7, 0.7, 0.1), (0, 0.6, 0.8)])
@pytest.mark.parametrize("angle_deg", [0.0, 33.0])
def test_oblique_sampling_matches_trilinear(smooth_volume, normal, angle_deg):
    image = planes.sample_plane(smooth_volume, normal, 1.7, size=(26, 30), angle_deg=angle_deg)
    expected, inside = _trilinear(smooth_volume, normal, 1.7, (26, 30), angle_deg=angle_deg)
    assert image.dtype == np.float32 and image.shape == (26, 30)
    assert inside.sum() > 100
    assert np.abs(image - expected)[inside].max() < 0.02


def test_cubic_order_matches_trilinear_roughly(smooth_volume):
    cubic = planes.sample_plane(smooth_volume, (1, 0.4, 0.2), 0.0, size=(20, 20), order=3)
    expected, inside = _trilinear(smooth_volume, (1, 0.4, 0.2), 0.0, (20, 20))
    assert np.abs(cubic - expected)[inside].max() < 0.05


def test_nearest_order_returns_volume_values(smooth_volume):
    image = planes.sample_plane(smooth_volume, (1, 0.4, 0.2), 0.0, size=(20, 20), order=0)
    assert np.isin(image[image > 0], smooth_volume).all()


def test_in_plane_turn_and_mirror(smooth_volume):
    n = (0.8, 0.3, 0.5)
    base = planes.sample_plane(smooth_volume, n, 0.5, size=24)
    turned = planes.sample_plane(smooth_volume, n, 0.5, size=24, angle_deg=90)
    assert np.abs(turned - np.rot90(base)).max() < 0.02
    mirrored = planes.sample_plane(smooth_volume, n, 0.5, size=24, mirror=True)
    assert np.abs(mirrored - base[:, ::-1]).max() < 0.02


def test_opposite_normal_mirrors_the_image(smooth_volume):
    front = planes.sample_plane(smooth_volume, (1, 0, 0), 2.5)
    back = planes.sample_plane(smooth_volume, (-1, 0, 0), -2.5)
    assert np.array_equal(back, front[:, ::-1])


def test_outside_the_volume_is_zero(smooth_volume):
    assert not planes.sample_plane(smooth_volume, (0.6, 0.8, 0), 100.0, size=10).any()
    assert not planes.sample_plane(smooth_volume, (1, 0, 0), 50.5).any()
    wide = planes.sample_plane(smooth_volume, (0.9, 0.1, 0.1), 0.0, size=(80, 80))
    assert not wide[:5].any() and wide[40, 40] > 0


def test_default_size_holds_the_box(smooth_volume):
    assert planes.sample_plane(smooth_volume, (1, 0, 0), 0.5).shape == (24, 28)
    assert planes.sample_plane(smooth_volume, (0, 0, 1), 0.5).shape == (24, 20)
    n = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    rows, cols = planes.sample_plane(smooth_volume, n, 0.0).shape
    assert rows == int(np.floor((19 + 23) / np.sqrt(2))) + 1 and cols == 28


def test_channels_are_sampled_together(smooth_volume):
    stacked = np.stack([smooth_volume, 1 - smooth_volume], axis=-1)
    images = planes.sample_planes(stacked, (0.9, 0.2, 0.3), [0.0, 2.0], size=18)
    assert images.shape == (2, 18, 18, 2)
    single = planes.sample_planes(smooth_volume, (0.9, 0.2, 0.3), [0.0, 2.0], size=18)
    assert np.allclose(images[..., 0], single, atol=0.01)


def test_uint8_and_bool_volumes(smooth_volume):
    vol8 = np.rint(smooth_volume * 255).astype(np.uint8)
    image = planes.sample_plane(vol8, (0.9, 0.2, 0.3), 0.0, size=16, dtype=np.uint8)
    assert image.dtype == np.uint8
    mask = planes.sample_plane(smooth_volume > 0.5, (0.9, 0.2, 0.3), 0.0, size=16)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    int_volume = planes.sample_plane(vol8.astype(np.int64), (1, 0, 0), 0.5)
    assert np.array_equal(int_volume, vol8[10].astype(np.float32))


def test_centre_moves_the_origin(smooth_volume):
    image = planes.sample_plane(smooth_volume, (1, 0, 0), 0.0, size=(4, 6), centre=(3, 5.5, 7.5))
    assert np.array_equal(image, smooth_volume[3, 4:8, 5:11])


def test_batch_equals_single_calls(smooth_volume):
    normals, _ = planes.jitter_normal(np.tile([0.5, 0.5, 0.7], (3, 1)), max_deg=10, rng=2)
    batch = planes.sample_planes(smooth_volume, normals, [-2.0, 0.0, 3.0], size=20,
                                 angle_deg=[0, 10, 20], mirror=[False, True, False])
    for k, (offset, angle, mirror) in enumerate(zip([-2.0, 0.0, 3.0], [0, 10, 20],
                                                     [False, True, False])):
        single = planes.sample_plane(smooth_volume, normals[k], offset, size=20,
                                     angle_deg=angle, mirror=mirror)
        assert np.array_equal(batch[k], single)


def test_sampling_rejects_bad_input(smooth_volume):
    with pytest.raises(ValueError, match=r"`volume` must be 3-D.*got shape \(24, 28\)"):
        planes.sample_plane(smooth_volume[0], (1, 0, 0))
    with pytest.raises(ValueError, match=r"at most 4 channels.*\(2, 2, 2, 5\)"):
        planes.sample_plane(np.zeros((2, 2, 2, 5)), (1, 0, 0))
    with pytest.raises(ValueError, match=r"`volume` is empty"):
        planes.sample_plane(np.zeros((0, 2, 2)), (1, 0, 0))
    with pytest.raises(TypeError, match="real numeric; got dtype complex128"):
        planes.sample_plane(np.zeros((2, 2, 2), complex), (1, 0, 0))
    with pytest.raises(ValueError, match=r"`order` must be 0 .* got 2"):
        planes.sample_plane(smooth_volume, (1, 0, 0), order=2)
    with pytest.raises(ValueError, match=r"`size` must be a positive int"):
        planes.sample_plane(smooth_volume, (1, 0, 0), size=0)
    with pytest.raises(ValueError, match=r"`normals` \(2\) and `offsets` \(3\)"):
        planes.sample_planes(smooth_volume, np.eye(3)[:2], [0, 1, 2])
    with pytest.raises(ValueError, match=r"`offsets` must be 1-D"):
        planes.sample_planes(smooth_volume, (1, 0, 0), np.zeros((2, 2)))
