"""Tests of fossilct.testscans: forms, morphotypes, scanner, dataset folder and command line."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from fossilct import specimens, volumes
from fossilct.testscans import (SPECIES, WALL_FRACTION_RANGES, ChamberletDisc, chain_from_chambers,
                                render_scan, sample_scan, sample_specimen, write_dataset)
from fossilct.testscans.__main__ import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Every species once, one re-scan, all eight formats (size 32)."""
    out = tmp_path_factory.mktemp("scans") / "data"
    table = write_dataset(out, n_specimens=1, size=32, seed=4, n_rescans=2,
                          formats=volumes.FORMATS)
    return out, table


def _extent_ratios(specimen, n=40):
    """Principal extents (sorted, largest first) of a form's wall and lumen on a regular grid."""
    axis = np.linspace(-1.05, 1.05, n)
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    is_wall, chamber = specimen["form"].sample(points, wall=specimen["wall"])
    body = points[is_wall | (chamber >= 0)]
    spread = np.sqrt(np.linalg.eigvalsh(np.cov(body.T)))[::-1]
    return spread / spread[0]


# -- forms and morphotypes ----------------------------------------------------------------------

def test_chains_are_long_discs_flat_and_coils_compact():
    for seed in range(3):
        for species in ("uniserial_straight", "uniserial_arcuate"):
            assert _extent_ratios(sample_specimen(species, rng=seed))[1] < 0.3   # long, narrow
        for species in ("biserial_straight", "biserial_arcuate"):
            assert _extent_ratios(sample_specimen(species, rng=seed))[1] < 0.6
        ratios = _extent_ratios(sample_specimen("discoidal_cyclic", rng=seed))
        assert ratios[1] > 0.9 and ratios[2] < 0.35                             # a flat lens
        assert _extent_ratios(sample_specimen("globular_coiled", rng=seed))[2] > 0.4
        assert sample_specimen("discoidal_cyclic", rng=seed)["n_chambers"] >= 40


def test_septa_separate_chambers_with_a_foramen():
    chain = chain_from_chambers([[-0.5, 0, 0], [0.5, 0, 0]], [[0.6] * 3, [0.6] * 3], aperture=0.3)
    centre, radius = chain.centres[0], chain.semi_axes[0, 0]       # -0.455 on x, 0.545
    ring = np.linspace(0, 2 * np.pi, 64, endpoint=False)

    def circle_on_rim(off_axis):
        """Points 0.02 inside chamber 0's surface, `off_axis` from the axis, towards chamber 1."""
        along = np.sqrt((radius - 0.02) ** 2 - off_axis ** 2)
        return centre + np.column_stack([np.full(64, along), off_axis * np.cos(ring),
                                         off_axis * np.sin(ring)])

    # the septum is chamber 0's rim inside chamber 1; the foramen (radius 0.3 x 0.545) pierces it
    septum, foramen = circle_on_rim(0.25), circle_on_rim(0.1)
    assert chain.sample(septum, wall=0.05)[0].all()
    assert not chain.sample(foramen, wall=0.05)[0].any()
    assert chain.bounding_radius == pytest.approx(1.0)


def test_form_errors():
    chain = chain_from_chambers([[0, 0, 0]], [[1, 1, 1]])
    with pytest.raises(ValueError, match=r"`points` must have shape \(K, 3\); got \(4,\)"):
        chain.sample(np.zeros(4), wall=0.1)
    with pytest.raises(ValueError, match=r"`wall` must be in \(0, 1\)"):
        chain.sample(np.zeros((2, 3)), wall=1.5)
    disc = ChamberletDisc((0.2, 0.1), np.array([0.3, 1.0]), np.array([1, 9]), np.zeros(2))
    with pytest.raises(ValueError, match=r"`wall` must be in \(0, 1\)"):
        disc.sample(np.zeros((2, 3)), wall=0)
    with pytest.raises(ValueError, match=r"must both be \(C, 3\); got \(1, 3\) and \(1, 2\)"):
        chain_from_chambers([[0, 0, 0]], [[1, 1]])
    with pytest.raises(ValueError, match="`semi_axes` must be positive"):
        chain_from_chambers([[0, 0, 0]], [[1, 0, 1]])
    with pytest.raises(ValueError, match="Unknown species 'nodosaria'; choose from uniserial"):
        sample_specimen("nodosaria", rng=0)


def test_specimens_are_deterministic_and_varied():
    a, b = sample_specimen("biserial_arcuate", rng=5), sample_specimen("biserial_arcuate", rng=5)
    assert np.array_equal(a["form"].centres, b["form"].centres) and a["infill"] == b["infill"]
    other = sample_specimen("biserial_arcuate", rng=6)
    assert (a["radius_um"], a["wall"]) != (other["radius_um"], other["wall"])


# -- scanner ------------------------------------------------------------------------------------

@pytest.mark.parametrize("species", SPECIES)
def test_wall_fraction_in_the_stated_range(species):
    low, high = WALL_FRACTION_RANGES[species]
    for j in range(3):
        scan = sample_scan(anisotropic=j == 1, rng=[8, j])
        rendered = render_scan(sample_specimen(species, rng=[7, j]), scan, size=64)
        assert low <= rendered.wall.mean() <= high
        assert 0.001 <= rendered.wall.mean() <= 0.025


@pytest.mark.slow
def test_wall_fraction_in_the_stated_range_over_many_scans():
    # the measurement behind WALL_FRACTION_RANGES: 16 specimens x sizes 64 and 96 per species
    for species in SPECIES:
        low, high = WALL_FRACTION_RANGES[species]
        for j in range(16):
            specimen = sample_specimen(species, rng=[7, j])
            for size in (64, 96):
                scan = sample_scan(anisotropic=j % 2 == 0, rng=[8, j, size])
                assert low <= render_scan(specimen, scan, size=size).wall.mean() <= high


def test_infill_is_partial_and_rings_are_the_same_in_every_plane():
    specimen = next(s for s in (sample_specimen("globular_coiled", rng=k) for k in range(10))
                    if s["infill"] is not None)
    scan = sample_scan(anisotropic=False, rng=3)
    rendered = render_scan(specimen, scan, size=40)
    lumen_or_infill = rendered.infill.sum()
    assert 0 < lumen_or_infill and not (rendered.infill & rendered.wall).any()
    without_rings = render_scan(specimen, dict(scan, rings=[]), size=40)
    difference = rendered.volume - without_rings.volume
    assert np.allclose(difference, difference[0], atol=1e-6)   # one 2-D pattern, every plane
    assert np.abs(difference).max() > 0.02


def test_anisotropic_scans_have_fewer_thicker_planes():
    specimen = sample_specimen("uniserial_arcuate", rng=1)
    scan = sample_scan(anisotropic=True, rng=2)
    rendered = render_scan(specimen, scan, size=48)
    assert rendered.volume.shape == (round(48 / scan["anisotropy"]), 48, 48)
    spacing = rendered.spacing_um
    assert spacing[0] / spacing[1] == pytest.approx(48 / rendered.volume.shape[0])
    assert rendered.volume.dtype == np.float32
    with pytest.raises(ValueError, match="`size` must be at least 16 voxels; got 8"):
        render_scan(specimen, scan, size=8)


# -- dataset folder -----------------------------------------------------------------------------

def test_dataset_is_deterministic(tmp_path):
    first = write_dataset(tmp_path / "a", n_species=2, n_specimens=2, size=24, seed=1, n_rescans=1)
    second = write_dataset(tmp_path / "b", n_species=2, n_specimens=2, size=24, seed=1, n_rescans=1)
    other = write_dataset(tmp_path / "c", n_species=2, n_specimens=2, size=24, seed=2, n_rescans=1)
    pd.testing.assert_frame_equal(first, second)
    table_bytes = [(tmp_path / name / "specimens.csv").read_bytes() for name in ("a", "b")]
    assert table_bytes[0] == table_bytes[1]
    for file in first["file"]:
        a = volumes.load_volume(tmp_path / "a" / file, spacing_um=1.0).data
        b = volumes.load_volume(tmp_path / "b" / file, spacing_um=1.0).data
        assert np.array_equal(a, b)
    assert not first["params"].equals(other["params"])


def test_formats_read_back_with_their_encodings(folder):
    out, table = folder
    assert set(table["format"]) == set(volumes.FORMATS)
    assert len(table) == len(SPECIES) + 2 and table["specimen_id"].nunique() == len(SPECIES)
    for row in table.itertuples():
        spacing = None if pd.isna(row.voxel_size_um) else row.voxel_size_um
        with warnings.catch_warnings():
            warnings.simplefilter("error", volumes.MissingSpacingWarning)
            volume = volumes.load_volume(out / row.file, spacing_um=spacing)
        params = json.loads(row.params)
        assert volume.data.shape[1:] == (32, 32)
        if row.format == "nrrd":
            assert volume.data.dtype == np.int16 and volume.data.min() < 0
        elif row.format in ("tiff_folder", "tiff_stack", "png_folder", "dicom"):
            assert volume.data.dtype == np.uint16
        else:
            assert volume.data.dtype == np.float32
        if row.format == "npy":
            assert volume.data.min() < 0 and np.median(volume.data) < 0   # air is negative
        if row.format in ("nifti", "nrrd"):
            assert volume.spacing_um[0] > 1.3 * volume.spacing_um[1]      # anisotropic planes
            assert np.isnan(row.voxel_size_um)
        else:
            assert volume.spacing_um[0] == pytest.approx(volume.spacing_um[1], rel=1e-4)
        assert params["specimen"]["species"] == row.species
        assert 0 < params["wall_fraction"] < 0.05


def test_table_is_valid_for_the_package(folder):
    out, table = folder
    read = specimens.read_specimen_table(out)
    assert list(read["file"]) == list(table["file"])
    inventory = specimens.build_inventory(read, out)
    rescans = read[read["file"].str.contains("_rescan1")]
    assert len(rescans) == 2
    first_scans = read.loc[~read.index.isin(rescans.index), "specimen_id"]
    assert set(rescans["specimen_id"]) <= set(first_scans)
    assert len(inventory) == len(read)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_species": 7}, ValueError, "`n_species` must be between 1 and 6; got 7"),
    ({"n_specimens": 2.5}, TypeError, "`n_specimens` must be an int; got float 2.5"),
    ({"size": 16}, ValueError, "`size` must be at least 24; got 16"),
    ({"n_rescans": 99}, ValueError, "`n_rescans` must be between 0 and 30; got 99"),
    ({"formats": ["jpeg"]}, ValueError, r"`formats` must be .* unknown \['jpeg'\]"),
])
def test_dataset_errors(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        write_dataset(tmp_path / "out", **kwargs)


def test_dataset_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="non-empty folder without specimens.csv; refusing"):
        write_dataset(tmp_path, n_species=1, n_specimens=1, size=24, n_rescans=0)
    with pytest.raises(ValueError, match="is a file; pass a folder path"):
        write_dataset(tmp_path / "notes.txt", n_species=1, n_specimens=1, size=24, n_rescans=0)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_command_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--species", "1", "--specimens", "2",
                 "--size", "24", "--rescans", "1"]) == 0
    assert "wrote 3 volumes (2 specimens of 1 species)" in capsys.readouterr().out
    assert main(["--out", str(tmp_path / "bad"), "--species", "9"]) == 2
    assert "`n_species` must be between 1 and 6" in capsys.readouterr().err
