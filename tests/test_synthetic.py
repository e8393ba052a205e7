"""Tests of fossilct.synthetic: shells, scans, dataset folder and command line."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from fossilct import volumes
from fossilct.synthetic import (CONFUSABLE_PAIRS, MORPHOTYPES, SPECIES, make_specimen,
                                sample_morphology, sample_nuisance, write_dataset)
from fossilct.synthetic.__main__ import main
from fossilct.synthetic.chambers import Grid, Pose
from fossilct.synthetic.shells import design_shell, rasterise_shell

SIZE = 32
FULL_CONNECTIVITY = np.ones((3, 3, 3), bool)


def _intact(morph):
    """The same specimen without breakage or infill."""
    taphonomy = dict(morph["taphonomy"], breakage="none", infill_fraction=0.0)
    return dict(morph, taphonomy=taphonomy)


def _upright(morph, size):
    """Rasterise a morphology unrotated, its bounding sphere filling 80% of a cube."""
    design = design_shell(morph)
    spacing = 2 * design.bounding_radius_um / (0.8 * size)
    grid = Grid((size,) * 3, (spacing,) * 3)
    pose = Pose(np.eye(3), np.full(3, (size - 1) / 2 * spacing))
    return rasterise_shell(design, morph["taphonomy"], grid, pose)


def _with_mount(seed):
    nuisance = sample_nuisance(rng=seed)
    nuisance["mount"] = {"radius_frac": 0.06, "tilt_deg": 10.0, "azimuth_deg": 30.0,
                         "from_top": bool(seed % 2), "density": 0.4, "glue_ratio": 1.5}
    return nuisance


@pytest.fixture(scope="module")
def specimens():
    """One scan per species (size 32, seed 3), with a mounting pin."""
    return {name: make_specimen(name, size=SIZE, rng=3, nuisance=_with_mount(3))
            for name in SPECIES}


# -- catalogue ---------------------------------------------------------------------------------

def test_catalogue_has_twelve_species_and_documented_pairs():
    assert len(SPECIES) == 12 and len(set(SPECIES)) == 12
    assert all(name.endswith("_like") for name in SPECIES)
    assert len(CONFUSABLE_PAIRS) >= 2
    for a, b in CONFUSABLE_PAIRS:
        assert a in SPECIES and b in SPECIES and a != b
        assert MORPHOTYPES[a] == MORPHOTYPES[b]
    assert len(set(MORPHOTYPES.values())) == 10


def test_morphology_is_json_serialisable_and_seeded():
    morph = sample_morphology("coskinolina_like", rng=5)
    assert json.loads(json.dumps(morph)) == morph
    assert sample_morphology("coskinolina_like", rng=5) == morph
    assert sample_morphology("coskinolina_like", rng=6) != morph


def test_morphology_varies_within_species():
    elongations = [sample_morphology("alveolina_like", rng=k)["shape"]["elongation"]
                   for k in range(20)]
    assert np.ptp(elongations) > 0.4
    assert all(1.9 <= e <= 2.8 for e in elongations)


# -- one scan ----------------------------------------------------------------------------------

def test_every_species_builds_with_consistent_masks(specimens):
    for name, specimen in specimens.items():
        assert specimen.species == name
        assert specimen.volume.dtype == np.float32
        assert specimen.volume.shape[1:] == (SIZE, SIZE)
        for mask in (specimen.shell_mask, specimen.fossil_mask, specimen.mount_mask):
            assert mask.dtype == bool and mask.shape == specimen.volume.shape
        assert np.isfinite(specimen.volume).all()
        assert not (specimen.shell_mask & ~specimen.fossil_mask).any(), name
        assert not (specimen.mount_mask & specimen.fossil_mask).any(), name
        _, n_parts = ndimage.label(specimen.fossil_mask, structure=FULL_CONNECTIVITY)
        assert n_parts == 1, name
        json.dumps(specimen.params)


def test_mount_touches_border_and_shell(specimens):
    for name, specimen in specimens.items():
        mount = specimen.mount_mask
        assert mount.any(), name
        border = np.zeros_like(mount)
        border[[0, -1]] = border[:, [0, -1]] = border[:, :, [0, -1]] = True
        assert (mount & border).any(), name
        grown = ndimage.binary_dilation(mount, structure=FULL_CONNECTIVITY)
        assert (grown & specimen.fossil_mask).any(), name


@pytest.mark.parametrize("seed", range(6))
def test_mount_touches_curved_and_broken_shells(seed):
    for name in ("rhapydionina_like", "baculogypsina_like", "alveolina_like"):
        morph = sample_morphology(name, rng=seed)
        morph["taphonomy"] = dict(morph["taphonomy"], breakage=("cap", "chunk")[seed % 2])
        specimen = make_specimen(name, size=24, rng=seed, morph=morph,
                                 nuisance=_with_mount(seed))
        grown = ndimage.binary_dilation(specimen.mount_mask, structure=FULL_CONNECTIVITY)
        assert (grown & specimen.fossil_mask).any(), (name, seed)
        assert not (specimen.mount_mask & specimen.fossil_mask).any()


def test_mount_absent_without_pin():
    nuisance = dict(sample_nuisance(rng=1), mount=None)
    specimen = make_specimen("minoxia_like", size=SIZE, rng=1, nuisance=nuisance)
    assert not specimen.mount_mask.any()


def test_intensities_separate_calcite_pin_and_air(specimens):
    for name, specimen in specimens.items():
        core = ndimage.binary_erosion(specimen.shell_mask)
        shell = specimen.volume[core if core.sum() > 20 else specimen.shell_mask].mean()
        interior = ndimage.binary_erosion(specimen.mount_mask)
        pin = specimen.volume[interior if interior.any() else specimen.mount_mask].mean()
        far = ~ndimage.binary_dilation(specimen.fossil_mask | specimen.mount_mask, iterations=3)
        air = specimen.volume[far].mean()
        assert air < pin < shell, name
        assert shell - air > 0.4, name


def test_shells_are_hollow_with_several_chambers():
    for name in SPECIES:
        geometry = _upright(_intact(sample_morphology(name, rng=0)), 48)
        lumen = geometry.labels > 0
        inner_lumen = lumen & ndimage.binary_erosion(geometry.fossil, iterations=2)
        assert inner_lumen.any(), name
        chambers = np.unique(geometry.labels[lumen])
        assert len(chambers) >= 5, (name, len(chambers))
        assert geometry.shell.sum() > 0.1 * geometry.fossil.sum(), name


def test_same_seed_gives_identical_arrays_and_other_seeds_differ():
    first = make_specimen("elphidiella_like", size=SIZE, rng=11)
    again = make_specimen("elphidiella_like", size=SIZE, rng=11)
    other = make_specimen("elphidiella_like", size=SIZE, rng=12)
    for field in ("volume", "shell_mask", "fossil_mask", "mount_mask"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert first.params == again.params and first.spacing_um == again.spacing_um
    assert first.params["seed"] == 11
    assert not np.array_equal(first.shell_mask, other.shell_mask)


def test_generator_rng_gives_same_result_as_its_seed():
    from_seed = make_specimen("arumella_like", size=SIZE, rng=4)
    from_generator = make_specimen("arumella_like", size=SIZE, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(from_seed.volume, from_generator.volume)
    assert from_generator.params["seed"] is None


def test_params_rebuild_the_same_scan():
    specimen = make_specimen("rhapydionina_like", size=SIZE, rng=8)
    params = specimen.params
    rebuilt = make_specimen(params["species"], size=params["size"], rng=0,
                            morph=params["morphology"], nuisance=params["nuisance"])
    np.testing.assert_array_equal(rebuilt.volume, specimen.volume)


def test_anisotropic_spacing_shrinks_the_plane_count():
    nuisance = dict(sample_nuisance(rng=2), anisotropy=2.0)
    morph = _intact(sample_morphology("lockhartia_like", rng=2))
    specimen = make_specimen("lockhartia_like", size=40, rng=2, morph=morph, nuisance=nuisance)
    assert specimen.volume.shape == (20, 40, 40)
    assert specimen.spacing_um[0] == pytest.approx(2 * specimen.spacing_um[1])
    iso = make_specimen("lockhartia_like", size=40, rng=2, morph=morph,
                        nuisance=dict(nuisance, anisotropy=1.0))
    assert iso.volume.shape == (40, 40, 40)
    voxel_um3 = [np.prod(s.spacing_um) for s in (specimen, iso)]
    physical = [s.fossil_mask.sum() * v for s, v in zip((specimen, iso), voxel_um3)]
    assert physical[0] == pytest.approx(physical[1], rel=0.15)


def test_rescans_share_morphology_but_not_the_scan():
    morph = _intact(sample_morphology("orbitoides_like", rng=9))
    first = make_specimen("orbitoides_like", size=40, rng=1, morph=morph)
    second = make_specimen("orbitoides_like", size=40, rng=2, morph=morph)
    assert first.params["morphology"] == second.params["morphology"] == morph
    assert first.params["nuisance"] != second.params["nuisance"]
    assert not np.array_equal(first.fossil_mask, second.fossil_mask)
    sizes = [s.fossil_mask.sum() * np.prod(s.spacing_um) for s in (first, second)]
    assert sizes[0] == pytest.approx(sizes[1], rel=0.15)


def test_breakage_and_infill_change_the_specimen():
    morph = _intact(sample_morphology("fallotia_like", rng=4))
    nuisance = dict(sample_nuisance(rng=4), mount=None)
    whole = make_specimen("fallotia_like", size=40, rng=0, morph=morph, nuisance=nuisance)
    capped = dict(morph, taphonomy=dict(morph["taphonomy"], breakage="cap",
                                        break_direction=[0.0, 0.0, 1.0], break_fraction=0.4))
    broken = make_specimen("fallotia_like", size=40, rng=0, morph=capped, nuisance=nuisance)
    assert broken.fossil_mask.sum() < 0.95 * whole.fossil_mask.sum()
    assert not (broken.fossil_mask & ~whole.fossil_mask).any()
    filled_morph = dict(morph, taphonomy=dict(morph["taphonomy"], infill_fraction=1.0))
    filled = make_specimen("fallotia_like", size=40, rng=0, morph=filled_morph,
                           nuisance=nuisance)
    lumen = ndimage.binary_erosion(whole.fossil_mask & ~whole.shell_mask)
    assert filled.volume[lumen].mean() > whole.volume[lumen].mean() + 0.1


def _descriptor(geometry):
    """Outline after whitening (radial histogram of the fossil in its own inertia frame, so
    elongation and size drop out) plus the log number of lumen cells."""
    points = np.argwhere(geometry.fossil).astype(float)
    mean = points.mean(axis=0)
    variances, axes = np.linalg.eigh(np.cov(points.T))
    radii = np.linalg.norm((points - mean) @ axes / np.sqrt(variances), axis=1)
    histogram = np.histogram(radii, bins=6, range=(0, 2.4))[0] / len(radii)
    return np.append(histogram, np.log10(len(np.unique(geometry.labels))))


def test_confusable_pairs_are_closer_than_other_pairs():
    features = {name: np.mean([_descriptor(_upright(_intact(sample_morphology(name, rng=k)),
                                                    36)) for k in range(4)], axis=0)
                for name in SPECIES}
    spread = np.std(list(features.values()), axis=0)
    distance = {frozenset(pair): np.linalg.norm((features[pair[0]] - features[pair[1]]) / spread)
                for pair in itertools.combinations(SPECIES, 2)}
    confusable = {frozenset(pair) for pair in CONFUSABLE_PAIRS}
    others = [d for pair, d in distance.items() if pair not in confusable]
    for pair in CONFUSABLE_PAIRS:
        assert distance[frozenset(pair)] < np.percentile(others, 15), pair


# -- bad arguments -----------------------------------------------------------------------------

def test_unknown_species_suggests_close_match():
    with pytest.raises(ValueError, match=r"Unknown `species` 'alveolina'.*'alveolina_like'"):
        make_specimen("alveolina", rng=0)
    with pytest.raises(ValueError, match="Unknown `species` 'fosil'"):
        sample_morphology("fosil", rng=0)
    with pytest.raises(TypeError, match="`species` must be a string"):
        sample_morphology(3, rng=0)


def test_bad_size_rng_and_morph_raise():
    with pytest.raises(ValueError, match="`size` must be at least 16 .* got 8"):
        make_specimen("minoxia_like", size=8, rng=0)
    with pytest.raises(TypeError, match="`size` must be an int"):
        make_specimen("minoxia_like", size=32.0, rng=0)
    with pytest.raises(TypeError, match="`rng` must be an int seed or a numpy.random.Generator"):
        make_specimen("minoxia_like", size=32, rng="zero")
    morph = sample_morphology("minoxia_like", rng=0)
    with pytest.raises(ValueError, match="describes a 'minoxia_like' specimen but `species`"):
        make_specimen("coskinolina_like", size=32, rng=0, morph=morph)
    with pytest.raises(ValueError, match=r"`morph` lacks the keys \['shape'\]"):
        make_specimen("minoxia_like", size=32, rng=0,
                      morph={k: v for k, v in morph.items() if k != "shape"})
    with pytest.raises(TypeError, match="`morph` must be a dict"):
        make_specimen("minoxia_like", size=32, rng=0, morph=[1, 2])
    nuisance = sample_nuisance(rng=0)
    with pytest.raises(ValueError, match=r"`nuisance` lacks the keys \['fill'\]"):
        make_specimen("minoxia_like", size=32, rng=0,
                      nuisance={k: v for k, v in nuisance.items() if k != "fill"})
    with pytest.raises(ValueError, match=r"`nuisance\['anisotropy'\]` .* must be >= 1; got 0.5"):
        make_specimen("minoxia_like", size=32, rng=0, nuisance=dict(nuisance, anisotropy=0.5))
    with pytest.raises(TypeError, match="`nuisance` must be a dict"):
        make_specimen("minoxia_like", size=32, rng=0, nuisance="noisy")


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(n_specimens=0), ValueError, "`n_specimens` must be at least 1; got 0"),
    (dict(n_species=13), ValueError, "`n_species` must be between 1 and 12; got 13"),
    (dict(n_species=2.5), TypeError, "`n_species` must be an int"),
    (dict(size=15), ValueError, "`size` must be at least 16"),
    (dict(seed=-1), ValueError, "`seed` must be at least 0"),
    (dict(rescan_fraction=1.5), ValueError, r"`rescan_fraction` must be in \[0, 1\]"),
    (dict(rescan_fraction=-0.1), ValueError, r"`rescan_fraction` must be in \[0, 1\]"),
    (dict(rescan_fraction="half"), TypeError, "`rescan_fraction` must be a number"),
    (dict(formats=["nifty"]), ValueError, "Unknown format 'nifty'.*Did you mean 'nifti'"),
    (dict(formats=[]), ValueError, "`formats` is empty"),
])
def test_write_dataset_rejects_bad_arguments(tmp_path, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        write_dataset(tmp_path / "data", **kwargs)
    assert not (tmp_path / "data").exists()


def test_write_dataset_refuses_foreign_folders(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="non-empty folder without specimens.csv; refusing"):
        write_dataset(tmp_path, n_species=1, n_specimens=1, size=16)
    with pytest.raises(ValueError, match="is a file; pass a folder path"):
        write_dataset(tmp_path / "notes.txt", n_species=1, n_specimens=1, size=16)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


# -- dataset folder and command line -----------------------------------------------------------

@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic") / "data"
    table = write_dataset(folder, n_species=4, n_specimens=2, size=20, seed=7,
                          rescan_fraction=0.5, write_masks=True)
    return folder, table


def test_dataset_table_lists_rescans_and_all_formats(dataset):
    folder, table = dataset
    assert list(table.columns) == ["file", "species", "specimen_id", "voxel_size_um", "format",
                                   "seed", "generator_params", "mask_file"]
    assert len(table) == 8 + 4
    assert table["specimen_id"].nunique() == 8
    assert set(table["format"]) == set(volumes.FORMATS)
    assert table["file"].is_unique
    on_disk = pd.read_csv(folder / "specimens.csv")
    assert list(on_disk["file"]) == list(table["file"])
    for _, group in table.groupby("specimen_id"):
        morphs = [json.loads(p)["morphology"] for p in group["generator_params"]]
        assert all(m == morphs[0] for m in morphs)
        assert group["species"].nunique() == 1


def test_every_listed_file_loads_with_its_spacing_and_masks(dataset):
    folder, table = dataset
    for row in table.itertuples():
        params = json.loads(row.generator_params)
        given = None if np.isnan(row.voxel_size_um) else row.voxel_size_um
        loaded = volumes.load_volume(folder / row.file, spacing_um=given)
        assert loaded.data.shape[1:] == (20, 20), row.file
        expected = 2 * design_shell(params["morphology"]).bounding_radius_um / (
            params["nuisance"]["fill"] * 20)
        assert loaded.spacing_um[1] == pytest.approx(expected, rel=1e-4), row.file
        assert loaded.spacing_um[0] == pytest.approx(
            expected * params["nuisance"]["anisotropy"], rel=1e-4), row.file
        if row.format in ("png_folder", "dicom"):
            assert "quantised_range" in params
        masks = np.load(folder / row.mask_file)
        assert masks["fossil"].shape == loaded.data.shape
        assert not (masks["shell"] & ~masks["fossil"]).any()


def test_same_seed_gives_byte_identical_table(dataset, tmp_path):
    folder, _ = dataset
    kwargs = dict(n_species=4, n_specimens=2, size=20, rescan_fraction=0.5, write_masks=True)
    write_dataset(tmp_path / "again", seed=7, **kwargs)
    assert (tmp_path / "again" / "specimens.csv").read_bytes() == (
        folder / "specimens.csv").read_bytes()
    first = volumes.load_volume(folder / "alveolina_like_00.nii.gz").data
    np.testing.assert_array_equal(
        volumes.load_volume(tmp_path / "again" / "alveolina_like_00.nii.gz").data, first)
    write_dataset(tmp_path / "other", seed=8, **kwargs)
    assert (tmp_path / "other" / "specimens.csv").read_bytes() != (
        folder / "specimens.csv").read_bytes()


def test_specimens_do_not_depend_on_dataset_size(dataset, tmp_path):
    folder, table = dataset
    small = write_dataset(tmp_path / "small", n_species=1, n_specimens=1, size=20, seed=7,
                          rescan_fraction=0.0, formats=["nifti"])
    big_params = json.loads(table.set_index("file").loc["alveolina_like_00.nii.gz",
                                                        "generator_params"])
    assert json.loads(small["generator_params"][0])["morphology"] == big_params["morphology"]


def test_dataset_replaces_previous_dataset(tmp_path):
    write_dataset(tmp_path / "data", n_species=2, n_specimens=1, size=16, formats=["npy"])
    table = write_dataset(tmp_path / "data", n_species=1, n_specimens=1, size=16,
                          rescan_fraction=0.0, formats=["npz"])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "alveolina_like_00.npz", "specimens.csv"]
    assert list(table["file"]) == ["alveolina_like_00.npz"]


def test_cli_writes_dataset_and_prints_summary(tmp_path, capsys):
    status = main(["--out", str(tmp_path / "cli"), "--species", "2", "--specimens", "2",
                   "--size", "16", "--seed", "3", "--rescan-fraction", "0.25",
                   "--formats", "npz,nifti", "--write-masks"])
    assert status == 0
    out = capsys.readouterr().out
    assert "wrote 5 volumes (4 specimens of 2 species, 1 re-scans)" in out
    assert "formats: nifti 2, npz 3" in out
    table = pd.read_csv(tmp_path / "cli" / "specimens.csv")
    assert len(table) == 5 and (tmp_path / "cli" / table["mask_file"][0]).exists()


def test_cli_reports_bad_arguments(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--specimens", "0"]) == 2
    assert "`n_specimens` must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--rescan-fraction" in capsys.readouterr().out
