"""Tests of fossilct.matching.index: the per-volume index and its on-disk cache."""

import numpy as np
import pytest

from fossilct import planes
from fossilct.matching import MatchingError, build_index, index as index_module
from fossilct.matching import load_or_build_index, working

SMALL = dict(n_normals=12, working_radius=10.0)


@pytest.fixture(scope="module")
def ellipsoid():
    """A (30, 26, 28) hollow ellipsoid with an off-centre chamber wall."""
    grid = np.indices((30, 26, 28)).astype(np.float32)
    centre = np.array([14.5, 12.5, 13.5])[:, None, None, None]
    radial = np.sqrt(np.sum(((grid - centre) / np.array([11, 8, 9])[:, None, None, None]) ** 2,
                            axis=0))
    mask = radial <= 1.0
    volume = np.where(mask, 0.3, 0.05).astype(np.float32)
    volume[(radial > 0.8) & mask] = 0.9
    volume[(np.abs(grid[0] - 18) < 1) & mask] = 0.9
    return volume, mask


def test_index_holds_sections_of_every_normal(ellipsoid):
    volume, mask = ellipsoid
    index = build_index(volume, mask, voxel_size_um=2.0, **SMALL)
    assert index.normals.shape == (15, 3)
    assert set(np.unique(index.entry_normal)) == set(range(15))
    assert len(index) == index.spectra.shape[0] == index.bounds.shape[0]
    assert index.spectra.dtype == np.complex64 and index.bounds.dtype == np.float32
    assert index.shape == volume.shape and index.voxel_size_um == 2.0
    # every indexed centroid lies inside the fossil and on its plane
    inside = mask[tuple(np.round(index.entry_centroid).astype(int).T)]
    assert inside.mean() > 0.95
    normals = index.normals[index.entry_normal]
    centre = (np.array(volume.shape) - 1) / 2
    assert np.allclose(np.einsum("kj,kj->k", index.entry_centroid - centre, normals),
                       index.entry_offset)


def test_working_copy_shrinks_large_fossils_only(ellipsoid):
    volume, mask = ellipsoid
    work, centre, factor = working.working_copy(volume, mask, working_radius=6.0)
    # the fossil's bounding radius (11 voxels + 1) becomes 6 working voxels, plus a 2-voxel rim
    assert factor == pytest.approx(12.0 / 6.0, rel=0.05)
    assert work.shape == (17, 17, 17, 2) and work.dtype == np.float32
    assert centre == pytest.approx([14.5, 12.5, 13.5], abs=0.1)
    assert work[8, 8, 8, 0] == pytest.approx(1.0) and work[0, 0, 0, 0] == 0.0
    _, _, same = working.working_copy(volume, mask, working_radius=64.0)
    assert same == 1.0


def test_section_stack_agrees_with_planes(ellipsoid):
    volume, mask = ellipsoid
    work = np.stack([mask.astype(np.float32), volume], axis=-1)[:26, :26, :26]
    normal = planes.fibonacci_normals(7)[4]
    offsets = np.array([-3.0, 0.0, 2.5])
    stack = working.section_stack(work, normal, offsets, size=26)
    reference = planes.sample_planes(work, normal, offsets, size=26)
    assert np.abs(stack - reference).max() < 0.02


def test_index_is_deterministic(ellipsoid):
    volume, mask = ellipsoid
    a = build_index(volume, mask, **SMALL)
    b = build_index(volume, mask, **SMALL)
    assert a.key == b.key
    assert np.array_equal(a.spectra, b.spectra)


def test_cache_is_reused_and_rebuilt_when_stale(ellipsoid, tmp_path, monkeypatch):
    volume, mask = ellipsoid
    calls = []
    real = index_module.build_index
    monkeypatch.setattr(index_module, "build_index",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load_or_build_index(volume, mask, cache_dir=tmp_path, name="spec 1.nii", **SMALL)
    files = list(tmp_path.glob("*.npz"))
    assert len(calls) == 1 and len(files) == 1 and files[0].name.startswith("spec_1.nii-")
    again = load_or_build_index(volume, mask, cache_dir=tmp_path, name="spec 1.nii", **SMALL)
    assert len(calls) == 1  # read from the cache
    assert again.key == first.key and np.array_equal(again.spectra, first.spectra)
    assert np.array_equal(again.entry_centroid, first.entry_centroid)
    assert again.params == first.params and again.factor == first.factor
    # a changed volume is a new key: rebuilt, and the stale file of this name removed
    changed = volume.copy()
    changed[15, 12, 13] += 0.5
    third = load_or_build_index(changed, mask, cache_dir=tmp_path, name="spec 1.nii", **SMALL)
    assert len(calls) == 2 and third.key != first.key
    assert [f.name for f in tmp_path.glob("*.npz")] == [f"spec_1.nii-{third.key}.npz"]
    # a changed parameter is a new key too
    load_or_build_index(changed, mask, cache_dir=tmp_path, name="spec 1.nii", n_normals=13,
                        working_radius=10.0)
    assert len(calls) == 3


def test_corrupt_cache_file_is_rebuilt(ellipsoid, tmp_path):
    volume, mask = ellipsoid
    first = load_or_build_index(volume, mask, cache_dir=tmp_path, name="a", **SMALL)
    path = next(tmp_path.glob("*.npz"))
    path.write_bytes(b"truncated")
    again = load_or_build_index(volume, mask, cache_dir=tmp_path, name="a", **SMALL)
    assert again.key == first.key and np.array_equal(again.spectra, first.spectra)
    assert path.stat().st_size > 1000


def test_volume_with_no_fossil_is_refused(ellipsoid):
    volume, mask = ellipsoid
    with pytest.raises(MatchingError, match=r"\(empty.nii\) has no fossil"):
        build_index(volume, np.zeros_like(mask), name="empty.nii")
    tiny = np.zeros_like(mask)
    tiny[10:12, 10:12, 10:12] = True
    with pytest.raises(MatchingError, match="only 8 voxels"):
        build_index(volume, tiny)


def test_bad_inputs_are_refused(ellipsoid):
    volume, mask = ellipsoid
    with pytest.raises(ValueError, match="must be 3-D"):
        build_index(volume[0], mask[0])
    with pytest.raises(ValueError, match="must have the volume's shape"):
        build_index(volume, mask[:-1])
    with pytest.raises(ValueError, match="`voxel_size_um` .* must be positive"):
        build_index(volume, mask, voxel_size_um=0)
    with pytest.raises(TypeError, match="must be real numeric"):
        build_index(volume.astype(complex), mask)
    broken = volume.copy()
    broken[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="1 NaN/inf"):
        build_index(broken, mask)
    with pytest.raises(ValueError, match="`working_radius` must be in"):
        build_index(volume, mask, working_radius=2)
    with pytest.raises(ValueError, match="`offset_step` must be in"):
        build_index(volume, mask, offset_step=0)
    with pytest.raises(ValueError, match="`min_area_fraction` must be in"):
        build_index(volume, mask, min_area_fraction=1.0)
    with pytest.raises(ValueError, match="`n_normals` must be >= 0"):
        build_index(volume, mask, n_normals=-1)
    with pytest.raises(ValueError, match="`n_normals` must be >= 0"):
        index_module.index_normals(-2)
    with pytest.raises(TypeError, match="Unknown index parameters"):
        load_or_build_index(volume, mask, cache_dir="unused", n_rngs=3)
