"""Tests of fossilct.slice_dataset: the on-disk builder (PNGs, manifest, counts, examples)."""

import numpy as np
import pandas as pd
import pytest
import cv2

from fossilct import manifest, slice_dataset, slicing, specimens, split, synthetic, volumes


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small synthetic data folder (3 species x 3 specimens, some re-scans) and its inventory."""
    folder = tmp_path_factory.mktemp("data")
    synthetic.write_dataset(folder, n_species=3, n_specimens=3, size=40, seed=1, rescan_fraction=0.4)
    inventory = specimens.build_inventory(specimens.read_specimen_table(folder), folder)
    inventory, _ = specimens.select_species(inventory, min_specimens=3)
    return folder, inventory


@pytest.fixture(scope="module")
def built(dataset, tmp_path_factory):
    folder, inventory = dataset
    out = tmp_path_factory.mktemp("slices")
    result = slice_dataset.build_slice_dataset(inventory, folder, out, quota_per_species=45,
                                               image_size=32, seed=3, progress=False)
    return out, result


def test_manifest_meets_its_contract(built):
    out, result = built
    frame = manifest.read_manifest(out / "manifest.csv")
    manifest.check_manifest(frame, root=out)
    assert list(frame.columns) == list(manifest.MANIFEST_COLUMNS)
    assert (frame["split"] == "").all()
    assert (frame["foreground_fraction"] >= 0.02).all()
    pd.testing.assert_frame_equal(frame, result.manifest)


def test_pngs_are_8bit_gray_of_image_size(built):
    out, result = built
    for path in result.manifest["path"].iloc[::10]:
        image = cv2.imread(str(out / path), cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint8 and image.shape == (32, 32)
        assert image.max() > 0 and image[0, 0] == 0


def test_quota_per_species_and_counts(built, dataset):
    _, result = built
    per_species = result.manifest.groupby("species").size()
    counts = result.counts
    assert list(counts.columns) == list(slice_dataset.COUNT_COLUMNS)
    assert len(counts) == len(dataset[1])
    assert (counts["written"] + counts["shortfall"] == counts["requested"]).all()
    assert counts.groupby("species")["requested"].sum().eq(45).all()
    assert (per_species == counts.groupby("species")["written"].sum()).all()
    assert per_species.min() >= 40  # small volumes may fall short by a few, never silently
    assert (counts["error"] == "").all()
    assert set(counts["threshold_method"]) <= {"otsu", "noise_floor"}


def test_counts_explain_the_yield(built):
    _, result = built
    counts = result.counts
    assert (counts["candidates"] >= counts["written"] + counts["no_fossil"]
            + counts["below_min_foreground"]).all()
    assert (counts["below_min_relative_area"] == 0).all()          # not the rule in use
    summary = slicing.summarise_yield(counts)
    assert summary["requested"].tolist() == [45, 45, 45]
    assert (summary["written"] == result.manifest.groupby("species").size().to_numpy()).all()


def test_relative_area_rule_is_plumbed_through(dataset, tmp_path):
    folder, inventory = dataset
    result = slice_dataset.build_slice_dataset(inventory, folder, tmp_path, quota_per_species=45,
                                               image_size=32, seed=3, progress=False,
                                               acceptance="relative_area", min_relative_area=0.9)
    counts = result.counts
    assert counts["below_min_relative_area"].sum() > 0 and counts["below_min_foreground"].sum() == 0
    assert (counts["written"] + counts["shortfall"] == counts["requested"]).all()
    with pytest.raises(ValueError, match="`acceptance` must be one of"):
        slice_dataset.build_slice_dataset(inventory, folder, tmp_path, quota_per_species=5,
                                          acceptance="relative")


def test_rescans_keep_their_specimen(built, dataset):
    _, result = built
    table = dataset[1].set_index("file")["specimen_id"]
    assert (result.manifest["specimen_id"] == result.manifest["file"].map(table)).all()
    assert result.manifest.groupby("specimen_id")["file"].nunique().max() >= 2


def test_rebuild_is_byte_identical_whatever_the_worker_count(built, dataset, tmp_path):
    out, _ = built
    folder, inventory = dataset
    again = slice_dataset.build_slice_dataset(inventory, folder, tmp_path, quota_per_species=45,
                                              image_size=32, seed=3, n_workers=2, progress=False)
    assert (tmp_path / "manifest.csv").read_bytes() == (out / "manifest.csv").read_bytes()
    first = again.manifest["path"].iloc[0]
    assert (tmp_path / first).read_bytes() == (out / first).read_bytes()
    other = slice_dataset.build_slice_dataset(inventory, folder, tmp_path, quota_per_species=45,
                                              image_size=32, seed=4, progress=False)
    assert not other.manifest["slice_id"].equals(again.manifest["slice_id"])


def test_split_of_the_built_manifest(built):
    out, result = built
    outcome = split.split_by_specimen(result.manifest, val_target=15, val_cap=20, rng=0)
    applied = split.apply_split(result.manifest, outcome)
    split.check_split(applied)
    manifest.check_manifest(applied, root=out)


def test_examples_for_the_gallery(built):
    out, _ = built
    examples = slice_dataset.read_slice_examples(out)
    assert len(examples) >= 3 and examples["species"].nunique() == 3
    row = examples.iloc[0]
    assert row["raw"].shape == row["mask"].shape and row["mask"].dtype == bool
    assert row["image"].shape == (32, 32)


def test_bad_files_are_counted_not_fatal(dataset, tmp_path):
    folder, inventory = dataset
    broken = tmp_path / "data"
    broken.mkdir()
    (broken / "empty.npy").write_bytes(b"not a numpy file")
    volumes.save_volume(broken / "flat.npy", np.full((20, 20, 20), 3.0, np.float32), (1, 1, 1))
    noise = np.random.default_rng(0).normal(0, 1, (24, 24, 24)).astype(np.float32)
    volumes.save_volume(broken / "noise.npz", noise, (1, 1, 1))
    table = pd.DataFrame({"file": ["empty.npy", "flat.npy", "noise.npz"],
                          "species": ["x", "x", "x"], "specimen_id": ["a", "b", "c"],
                          "spacing_zyx_um": ["1x1x1"] * 3})
    with pytest.warns(UserWarning, match="empty.npy \\(x\\) gave no slices"):
        result = slice_dataset.build_slice_dataset(table, broken, tmp_path / "out",
                                                   quota_per_species=6, image_size=32,
                                                   progress=False)
    errors = result.counts.set_index("file")["error"]
    assert all(errors != "") and len(result.manifest) == 0
    assert "constant" in errors["flat.npy"] and "fossil" in errors["noise.npz"]
    assert (tmp_path / "out" / "manifest.csv").is_file()
    assert slice_dataset.file_errors(result.counts)["file"].tolist() == [
        "empty.npy", "flat.npy", "noise.npz"]


def test_strict_build_stops_on_a_bad_file_and_writes_nothing(dataset, tmp_path):
    folder, inventory = dataset
    first = inventory[inventory["selected"]].iloc[0]
    broken = inventory.copy()
    broken.loc[broken["file"] == first["file"], "file"] = "missing.npy"
    with pytest.raises(slice_dataset.SliceDatasetError,
                       match=r"1 of \d+ files could not be sliced \(strict mode\):\n- missing.npy"):
        slice_dataset.build_slice_dataset(broken, folder, tmp_path / "out", quota_per_species=9,
                                          image_size=32, progress=False, strict=True)
    assert not (tmp_path / "out" / "manifest.csv").exists()
    assert not (tmp_path / "out" / "images").exists()


def test_species_losing_specimens_is_dropped_and_reported(dataset, tmp_path):
    folder, inventory = dataset
    selected = inventory[inventory["selected"]]
    species = sorted(selected["species"].unique())[0]
    lost = selected.loc[selected["species"] == species, "specimen_id"].unique()[0]
    broken = inventory.copy()
    broken.loc[broken["specimen_id"] == lost, "file"] = "missing.npy"
    broken = broken.drop_duplicates("file")
    with pytest.warns(UserWarning, match=rf"species {species} left out: only 2 specimens gave "
                                         r"slices < min_specimens=3"):
        result = slice_dataset.build_slice_dataset(broken, folder, tmp_path / "out",
                                                   quota_per_species=9, image_size=32,
                                                   progress=False, min_specimens=3)
    assert result.dropped["species"].tolist() == [species]
    assert species not in set(result.manifest["species"])
    assert not (tmp_path / "out" / "images" / species).exists()
    assert pd.read_csv(tmp_path / "out" / "dropped_species.csv")["species"].tolist() == [species]


def test_save_and_read_the_slices_folder(built, tmp_path):
    out, result = built
    paths = slice_dataset.save_slices_outputs(out, result)
    assert sorted(paths) == ["counts.csv", "dropped_species.csv", "examples.npz", "manifest.csv"]
    table = slice_dataset.read_slices(out)
    assert table["path"].map(lambda p: p.startswith(str(out.resolve()))).all()
    assert table["slice_id"].tolist() == result.manifest["slice_id"].tolist()
    assert slice_dataset.read_counts(out)["file"].tolist() == result.counts["file"].tolist()
    other = result.manifest.iloc[1:]
    with pytest.raises(manifest.ManifestError, match="does not list the slices of this build"):
        slice_dataset.save_slices_outputs(out, slice_dataset.BuildResult(
            other, result.counts, result.dropped, 0.0))
    with pytest.raises(FileNotFoundError, match="run the slice step"):
        slice_dataset.read_counts(tmp_path)


def test_builder_errors(dataset, tmp_path):
    folder, inventory = dataset
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        slice_dataset.build_slice_dataset([], folder, tmp_path, quota_per_species=5)
    with pytest.raises(ValueError, match=r"lacks columns \['species'\]"):
        slice_dataset.build_slice_dataset(inventory.drop(columns="species"), folder, tmp_path,
                                          quota_per_species=5)
    with pytest.raises(ValueError, match="No file is selected"):
        slice_dataset.build_slice_dataset(inventory.assign(selected=False), folder, tmp_path,
                                          quota_per_species=5)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        slice_dataset.build_slice_dataset(inventory, tmp_path / "absent", tmp_path,
                                          quota_per_species=5)
    with pytest.raises(ValueError, match="`n_workers` must be >= 1"):
        slice_dataset.build_slice_dataset(inventory, folder, tmp_path, quota_per_species=5,
                                          n_workers=0)
    with pytest.raises(FileNotFoundError, match="No gallery examples"):
        slice_dataset.read_slice_examples(tmp_path / "nothing")


def test_species_whose_names_share_a_folder_are_refused_before_writing(dataset, tmp_path):
    folder, inventory = dataset
    selected = inventory[inventory["selected"]]
    first, second = sorted(selected["species"].unique())[:2]
    clash = inventory.replace({"species": {first: "alveolina like", second: "alveolina_like"}})
    with pytest.raises(manifest.ManifestError, match=r"'alveolina like', 'alveolina_like'"):
        slice_dataset.build_slice_dataset(clash, folder, tmp_path / "out", quota_per_species=9,
                                          image_size=32, progress=False)
    assert not (tmp_path / "out").exists()


def test_read_image_size_reads_one_slice_header(built, tmp_path):
    out, _ = built
    assert slice_dataset.read_image_size(out) == 32
    with pytest.raises(FileNotFoundError, match=r"no slice image under .*run the slice step"):
        slice_dataset.read_image_size(tmp_path)
