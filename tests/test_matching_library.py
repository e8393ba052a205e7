"""Tests of fossilct.matching.library: library volumes from arrays, prepared volumes and files."""

import numpy as np
import pandas as pd
import pytest
from matching_fixtures import SMALL_INDEX, library_volume

from fossilct import slicing, synthetic, volumes
from fossilct.matching import (MatchingError, library_volume_from_prepared, load_library,
                               make_library_volume)


def test_make_library_volume_validates_and_indexes():
    grid = np.indices((32, 32, 32)) - 15.5
    mask = (grid[0] / 12) ** 2 + (grid[1] / 8) ** 2 + (grid[2] / 6) ** 2 <= 1
    volume = np.where(mask, 0.8, 0.1)
    made = make_library_volume(volume, mask, voxel_size_um=2.0, file="e.nii", specimen="e1",
                               species="e", **SMALL_INDEX)
    assert made.volume.dtype == np.float32 and made.mask.dtype == bool
    assert made.index is not None and made.index.shape == (32, 32, 32)
    assert made.index.voxel_size_um == 2.0 and (made.file, made.specimen) == ("e.nii", "e1")
    bare = make_library_volume(volume, mask, voxel_size_um=2.0, with_index=False)
    assert bare.index is None


def test_volume_with_no_fossil_is_a_clear_error():
    target = library_volume("elphidiella_like", 7)
    with pytest.raises(MatchingError, match="has no fossil"):
        make_library_volume(target.volume, np.zeros_like(target.mask), voxel_size_um=1.0,
                            file="blank.nii")


def test_prepared_volume_keeps_the_crop_and_its_silhouette():
    specimen = synthetic.make_specimen("lockhartia_like", size=40, rng=1)
    prepared = slicing.prepare_volume(specimen.volume, specimen.spacing_um)
    made = library_volume_from_prepared(prepared, file="l.npz", with_index=False)
    assert made.volume.shape == made.mask.shape == prepared.volume.shape
    assert made.volume.max() <= 1.0 and made.voxel_size_um == prepared.spacing_um
    # the silhouette covers the bright shell of the crop
    shell = prepared.volume > 200
    assert made.mask[shell].mean() > 0.95


def test_load_library_skips_unreadable_files_and_volumes_without_fossil(tmp_path):
    specimen = synthetic.make_specimen("lockhartia_like", size=40, rng=1)
    volumes.save_volume(tmp_path / "good.npz", specimen.volume, specimen.spacing_um)
    (tmp_path / "bad.npz").write_bytes(b"not a volume")
    rng = np.random.default_rng(0)
    volumes.save_volume(tmp_path / "empty.npz",
                        rng.normal(0.1, 0.01, (24, 24, 24)).astype(np.float32), 1.0)
    table = pd.DataFrame({"file": ["bad.npz", "good.npz", "empty.npz"],
                          "specimen_id": ["a", "b", "c"], "species": ["s", "s", "t"]})
    library = load_library(table, tmp_path, cache_dir=tmp_path / "index", **SMALL_INDEX)
    assert [v.file for v in library.volumes] == ["good.npz"]
    assert list(library.skipped["file"]) == ["bad.npz", "empty.npz"]
    assert library.skipped["reason"].str.len().min() > 10
    assert len(list((tmp_path / "index").glob("*.npz"))) == 1
    with pytest.raises(ValueError, match=r"lacks columns \['species'\]"):
        load_library(table.drop(columns="species"), tmp_path)


def test_load_library_takes_the_table_voxel_size_for_files_without_spacing(tmp_path):
    specimen = synthetic.make_specimen("lockhartia_like", size=40, rng=1)
    np.save(tmp_path / "scan.npy", specimen.volume)
    table = pd.DataFrame({"file": ["scan.npy"], "specimen_id": ["a"], "species": ["s"],
                          "voxel_size_um": [7.5]})
    library = load_library(table, tmp_path, with_index=False)
    assert library.volumes[0].voxel_size_um == 7.5
    assert library.volumes[0].source_grid.spacing_um == (7.5, 7.5, 7.5)
