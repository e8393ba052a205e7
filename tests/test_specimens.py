"""Tests of fossilct.specimens: the specimens table, the inventory, and species selection."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from fossilct import atomic, volumes
from fossilct.specimens import (INVENTORY_COLUMNS, REQUIRED_COLUMNS, SpecimenTableError,
                                build_inventory, check_inventory, load_example_volumes,
                                load_inventory_volume, read_inventory, read_min_specimens,
                                read_species_report, read_specimen_table, save_dataset_outputs,
                                select_species)
from fossilct.triplets import parse_triplet

SHAPE = (6, 10, 12)


def volume(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, SHAPE, dtype=np.uint8)


@pytest.fixture
def data_dir(tmp_path):
    """A data folder with four volumes in three formats; one PNG folder has no spacing."""
    volumes.save_volume(tmp_path / "a1.npz", volume(0), (5.0, 2.5, 2.5))
    volumes.save_volume(tmp_path / "scans" / "a1_rescan.nii.gz", volume(1), 3.0)
    volumes.save_volume(tmp_path / "a2.npz", volume(2), (4.0, 2.0, 2.0))
    volumes.save_volume(tmp_path / "b1_stack", volume(3), 1.0, format="png_folder")
    return tmp_path


def write_table(folder, text: str) -> None:
    (folder / "specimens.csv").write_text(text, encoding="utf-8")


GOOD_TABLE = (
    "file,species,specimen_id,voxel_size_um,format,seed,generator_params\n"
    "a1.npz,alveolina_like,007,,npz,0,\"{\"\"whorls\"\": 3}\"\n"
    "./scans/a1_rescan.nii.gz , alveolina_like , 007,,nifti,1,{}\n"
    "\n"
    "a2.npz,alveolina_like,008,,npz,2,{}\n"
    "b1_stack/,baculogypsina_like,B1,1.5,png_folder,3,{}\n"
)


# ---------------------------------------------------------------- read_specimen_table


def test_read_table_normalises_columns_and_keeps_extras(data_dir):
    write_table(data_dir, GOOD_TABLE)
    table = read_specimen_table(data_dir)
    assert list(table.columns) == ["file", "species", "specimen_id", "voxel_size_um", "format",
                                   "seed", "generator_params"]
    assert table["file"].tolist() == ["a1.npz", "scans/a1_rescan.nii.gz", "a2.npz", "b1_stack"]
    assert table["species"].tolist() == ["alveolina_like"] * 3 + ["baculogypsina_like"]
    assert table["specimen_id"].tolist() == ["007", "007", "008", "B1"]  # leading zeros kept
    assert table["voxel_size_um"].dtype == np.float64
    assert np.isnan(table["voxel_size_um"][:3]).all() and table["voxel_size_um"][3] == 1.5
    assert table["seed"].tolist() == [0, 1, 2, 3]
    assert table["seed"].dtype.kind == "i"
    assert table["generator_params"][0] == '{"whorls": 3}'


def test_read_table_accepts_a_byte_order_mark_and_no_optional_columns(data_dir):
    (data_dir / "specimens.csv").write_bytes("\ufefffile,species,specimen_id\na1.npz,x,1\n"
                                             .encode("utf-8"))
    table = read_specimen_table(data_dir)
    assert list(table.columns) == list(REQUIRED_COLUMNS)
    assert table["specimen_id"].tolist() == ["1"]


def test_read_table_missing_folder_or_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data folder not found: .*nowhere"):
        read_specimen_table(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no specimens.csv in .*file, species, "
                                                r"specimen_id"):
        read_specimen_table(tmp_path)


def test_read_table_empty_file(data_dir):
    write_table(data_dir, "")
    with pytest.raises(SpecimenTableError, match="1 problem:\n  the file is empty"):
        read_specimen_table(data_dir)


def test_read_table_without_rows(data_dir):
    write_table(data_dir, "file,species,specimen_id\n")
    with pytest.raises(SpecimenTableError, match="the table has no rows"):
        read_specimen_table(data_dir)


def test_misspelled_column_suggests_the_known_name(data_dir):
    write_table(data_dir, "file,species,specimen\na1.npz,x,1\n")
    with pytest.raises(SpecimenTableError) as info:
        read_specimen_table(data_dir)
    message = str(info.value)
    assert "1 problem:" in message
    assert "unknown column 'specimen'; did you mean 'specimen_id'?" in message


@pytest.mark.parametrize("header, expected", [
    ("file,Species,specimen_id", "unknown column 'Species'; did you mean 'species'?"),
    ("file,species,specimen_id,voxel_size", "unknown column 'voxel_size'; did you mean "
                                            "'voxel_size_um'?"),
    ("filename,species,specimen_id", "missing required column 'file' (rename 'filename'?)"),
    ("path,species,specimen_id", "missing required column 'file'\n"),
])
def test_column_problems_are_named(data_dir, header, expected):
    write_table(data_dir, f"{header}\na1.npz,x,1\n")
    with pytest.raises(SpecimenTableError, match=r"header: ") as info:
        read_specimen_table(data_dir)
    assert expected in str(info.value)


def test_unrelated_extra_columns_are_kept(data_dir):
    write_table(data_dir, "file,species,specimen_id,notes,specimen_notes\na1.npz,x,1,ok,n\n")
    assert read_specimen_table(data_dir)["notes"].tolist() == ["ok"]


def test_duplicated_column_is_refused(data_dir):
    write_table(data_dir, "file,species,specimen_id,species\na1.npz,x,1,y\n")
    with pytest.raises(SpecimenTableError, match="column 'species' appears twice"):
        read_specimen_table(data_dir)


def test_every_row_problem_is_listed_with_its_line(data_dir):
    write_table(data_dir, (
        "file,species,specimen_id,voxel_size_um\n"
        "a1.npz,alveolina_like,A1,\n"          # 2: file listed again on line 7
        "a2.npz,,A2,\n"                          # 3: empty species
        "missing.nii,alveolina_like,A3,\n"      # 4: not on disk
        "scans/a1_rescan.nii.gz,alveolina_like,A1,-2\n"  # 5: non-positive voxel size
        "b1_stack,baculogypsina_like,,abc\n"    # 6: empty specimen_id, non-numeric voxel size
        "a1.npz,baculogypsina_like,B9,\n"       # 7: a1.npz again, other species
        "/abs/path.nii,x,X1,\n"                 # 8: absolute path
        "a2.npz,x\n"                            # 9: too few fields
        "b1_stack,x,A1,\n"                      # 10: A1 now under species x; b1_stack twice
    ))
    with pytest.raises(SpecimenTableError) as info:
        read_specimen_table(data_dir)
    message = str(info.value)
    expected = [
        "line 3: empty species",
        "line 4: file 'missing.nii' not found in",
        "line 5: voxel_size_um must be a positive number (µm) or empty; got '-2'",
        "line 6: empty specimen_id",
        "line 6: voxel_size_um must be a positive number (µm) or empty; got 'abc'",
        "line 8: file '/abs/path.nii' must be relative to the data folder",
        "line 9: 2 fields but the header has 4",
        "lines 2, 7: file 'a1.npz' is listed 2 times with different species "
        "('alveolina_like', 'baculogypsina_like')",
        "lines 6, 10: file 'b1_stack' is listed 2 times with different species",
        "specimen_id 'A1' appears under 2 species: 'alveolina_like' (lines 2, 5); 'x' (line 10)",
    ]
    for line in expected:
        assert line in message
    assert f"{len(expected)} problems:" in message
    assert "line numbers count the header as line 1" in message


def test_file_listed_twice_with_the_same_species(data_dir):
    write_table(data_dir, "file,species,specimen_id\na1.npz,x,1\n./a1.npz,x,2\n")
    with pytest.raises(SpecimenTableError, match=r"lines 2, 3: file 'a1.npz' is listed 2 times; "
                                                 r"list each file once"):
        read_specimen_table(data_dir)


SMALL_TABLE = "file,species,specimen_id,voxel_size_um\na1.npz,Nummulites é,N1,2.5\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_read_table_in_utf8_or_utf16_with_a_byte_order_mark(data_dir, encoding):
    bom = {"utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}.get(encoding, "")
    (data_dir / "specimens.csv").write_bytes((bom + SMALL_TABLE).encode(encoding))
    table = read_specimen_table(data_dir)
    assert list(table.columns) == ["file", "species", "specimen_id", "voxel_size_um"]
    assert table["species"].tolist() == ["Nummulites é"]


def test_a_latin1_table_is_refused_with_the_byte_its_line_and_the_fix(data_dir):
    (data_dir / "specimens.csv").write_bytes(SMALL_TABLE.encode("latin-1"))
    with pytest.raises(SpecimenTableError,
                       match=r"specimens\.csv' cannot be read as text: byte 57 \(line 2\) is 0xE9 "
                             r"\(in Latin-1/Windows-1252 that byte is 'é'\), invalid in UTF-8\. "
                             r"Encodings read: UTF-8, UTF-8 with BOM, UTF-16 with BOM\. Save the "
                             r"table as UTF-8"):
        read_specimen_table(data_dir)


def test_a_utf16_table_without_byte_order_mark_is_refused(data_dir):
    (data_dir / "specimens.csv").write_bytes(SMALL_TABLE.encode("utf-16-le"))
    with pytest.raises(SpecimenTableError, match=r"holds NUL bytes: it is UTF-16 without a "
                                                 r"byte-order mark.*Save it as UTF-8"):
        read_specimen_table(data_dir)


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolon_or_tab_separated_tables_are_read(data_dir, separator):
    write_table(data_dir, SMALL_TABLE.replace(",", separator))
    table = read_specimen_table(data_dir)
    assert table.to_dict("list") == {"file": ["a1.npz"], "species": ["Nummulites é"],
                                     "specimen_id": ["N1"], "voxel_size_um": [2.5]}


def test_semicolon_table_problems_name_the_separator_and_decimal_commas(data_dir):
    write_table(data_dir, "file;species;specimen_id;voxel_size_um\na1.npz;x;1;2,5\na2.npz;x\n")
    with pytest.raises(SpecimenTableError) as info:
        read_specimen_table(data_dir)
    assert "line 2: voxel_size_um must be a positive number (µm) or empty; got '2,5' (write " \
           "decimals with a point)" in str(info.value)
    assert "line 3: 2 fields but the header has 4 (a stray or missing semicolon?)" in \
           str(info.value)


def test_a_comma_header_with_semicolons_inside_a_name_stays_comma_separated(data_dir):
    write_table(data_dir, "file,species,specimen_id,notes\na1.npz,x,1,a;b;c\n")
    assert read_specimen_table(data_dir)["notes"].tolist() == ["a;b;c"]


@pytest.fixture
def outside(tmp_path, data_dir):
    """A volume next to the data folder, and a link inside the folder that leads to it."""
    elsewhere = tmp_path.parent / f"{tmp_path.name}_elsewhere"
    volumes.save_volume(elsewhere / "secret.npz", volume(5), 1.0)
    (data_dir / "link.npz").symlink_to(elsewhere / "secret.npz")
    return elsewhere


@pytest.mark.parametrize("file, shown, how", [
    ("../{name}/secret.npz", "../{name}/secret.npz", ""),
    ("scans/../../{name}/secret.npz", "../{name}/secret.npz", ""),  # normalised, then resolved
    ("link.npz", "link.npz", " through a symbolic link"),
])
def test_files_outside_the_data_folder_are_refused(data_dir, outside, file, shown, how):
    file, shown = file.format(name=outside.name), shown.format(name=outside.name)
    write_table(data_dir, f"file,species,specimen_id\n{file},x,1\n")
    with pytest.raises(SpecimenTableError,
                       match=rf"line 2: file '{re.escape(shown)}' leads{how} to '.*secret.npz', "
                             r"outside the data folder .*; move the volume into the folder, or "
                             r"pass allow_outside=True"):
        read_specimen_table(data_dir)
    table = pd.DataFrame({"file": [file], "species": ["x"], "specimen_id": ["1"]})
    with pytest.raises(SpecimenTableError, match=r"outside the data folder"):
        build_inventory(table, data_dir)
    with pytest.raises(SpecimenTableError, match=r"outside the data folder"):
        load_example_volumes(table.assign(spacing_zyx_um="1x1x1"), data_dir)


def test_allow_outside_reads_files_outside_the_data_folder(data_dir, outside):
    absolute = outside / "secret.npz"
    write_table(data_dir, f"file,species,specimen_id\n../{outside.name}/secret.npz,x,1\n"
                          f"link.npz,x,2\n{absolute},y,3\n")
    with pytest.raises(SpecimenTableError, match=r"line 4: file '.*secret.npz' must be relative "
                                                 r"to the data folder \(or pass allow_outside"):
        read_specimen_table(data_dir)
    table = read_specimen_table(data_dir, allow_outside=True)
    inventory = build_inventory(table, data_dir, allow_outside=True)
    assert inventory["shape_zyx"].tolist() == ["6x10x12"] * 3
    assert len(load_example_volumes(inventory, data_dir, allow_outside=True)) == 2


# ---------------------------------------------------------------- build_inventory


def test_inventory_lists_format_shape_and_spacing(data_dir):
    write_table(data_dir, GOOD_TABLE)
    inventory = build_inventory(read_specimen_table(data_dir), data_dir)
    assert list(inventory.columns) == list(INVENTORY_COLUMNS) + ["voxel_size_um", "seed",
                                                                  "generator_params"]
    assert inventory["format"].tolist() == ["npz", "nifti", "npz", "png_folder"]
    assert inventory["shape_zyx"].tolist() == ["6x10x12"] * 4
    assert inventory["spacing_zyx_um"].tolist() == ["5x2.5x2.5", "3x3x3", "4x2x2",
                                                    "1.5x1.5x1.5"]  # the last from voxel_size_um
    assert inventory["seed"].tolist() == [0, 1, 2, 3]


def test_voxel_size_um_overrides_the_file_spacing(data_dir):
    table = pd.DataFrame({"file": ["a1.npz"], "species": ["x"], "specimen_id": ["1"],
                          "voxel_size_um": [0.75]})
    assert build_inventory(table, data_dir)["spacing_zyx_um"].tolist() == ["0.75x0.75x0.75"]


def test_inventory_warns_for_missing_spacing(data_dir):
    table = pd.DataFrame({"file": ["b1_stack"], "species": ["x"], "specimen_id": ["1"]})
    with pytest.warns(volumes.MissingSpacingWarning, match=r"'b1_stack' \(png_folder\).*Add a "
                                                           r"voxel_size_um value"):
        inventory = build_inventory(table, data_dir)
    assert inventory["spacing_zyx_um"].tolist() == ["1x1x1"]


def test_inventory_reads_headers_only(data_dir, monkeypatch):
    write_table(data_dir, GOOD_TABLE)

    def must_not_load(*args, **kwargs):
        raise AssertionError("build_inventory loaded voxels")

    monkeypatch.setattr(volumes, "load_volume", must_not_load)
    for name, codec in list(volumes.io._CODECS.items()):
        monkeypatch.setitem(volumes.io._CODECS, name, codec._replace(read_array=must_not_load))
    assert len(build_inventory(read_specimen_table(data_dir), data_dir)) == 4


def test_inventory_round_trips_through_csv(data_dir, tmp_path):
    write_table(data_dir, GOOD_TABLE)
    inventory = build_inventory(read_specimen_table(data_dir), data_dir)
    atomic.write_csv(tmp_path / "inventory.csv", inventory)
    again = pd.read_csv(tmp_path / "inventory.csv", dtype={"specimen_id": str})
    assert [parse_triplet(t) for t in again["shape_zyx"]] == [SHAPE] * 4
    assert [parse_triplet(t) for t in again["spacing_zyx_um"]] == \
        [(5.0, 2.5, 2.5), (3, 3, 3), (4.0, 2.0, 2.0), (1.5, 1.5, 1.5)]
    assert again["specimen_id"].tolist() == inventory["specimen_id"].tolist()


def test_unreadable_files_are_all_listed(data_dir):
    (data_dir / "broken.nii").write_bytes(b"not a nifti file" * 30)
    np.save(data_dir / "flat.npy", np.zeros((10, 12)))
    table = pd.DataFrame({"file": ["broken.nii", "a1.npz", "flat.npy"], "species": ["x"] * 3,
                          "specimen_id": ["1", "2", "3"]})
    with pytest.raises(SpecimenTableError) as info:
        build_inventory(table, data_dir)
    message = str(info.value)
    assert "has 2 problems:" in message
    assert "file 'broken.nii': cannot read" in message and "corrupt" in message
    assert "file 'flat.npy': holds shape (10, 12), not a non-empty 3-D volume" in message
    assert "a1.npz" not in message


def test_file_removed_after_validation_is_reported(data_dir):
    table = pd.DataFrame({"file": ["gone.npz"], "species": ["x"], "specimen_id": ["1"]})
    with pytest.raises(SpecimenTableError, match=r"file 'gone.npz': volume not found"):
        build_inventory(table, data_dir)


def test_build_inventory_refuses_a_bad_table(data_dir):
    with pytest.raises(TypeError, match="`table` must be a pandas DataFrame; got dict"):
        build_inventory({"file": []}, data_dir)
    with pytest.raises(SpecimenTableError, match=r"`table` lacks the columns \['specimen_id'\]"):
        build_inventory(pd.DataFrame({"file": [], "species": []}), data_dir)


# ---------------------------------------------------------------- select_species


def make_inventory() -> pd.DataFrame:
    """Species a: 4 specimens in 6 files; b: 3 specimens; c: 1 specimen scanned 5 times."""
    rows = [("a", "a1"), ("a", "a1"), ("a", "a2"), ("a", "a3"), ("a", "a4"), ("a", "a4"),
            ("b", "b1"), ("b", "b2"), ("b", "b3"),
            ("c", "c1"), ("c", "c1"), ("c", "c1"), ("c", "c1"), ("c", "c1")]
    return pd.DataFrame({"file": [f"f{i}.npz" for i in range(len(rows))],
                         "species": [s for s, _ in rows], "specimen_id": [i for _, i in rows]})


def test_species_are_counted_by_distinct_specimen_not_file():
    inventory = make_inventory()
    selected, report = select_species(inventory, min_specimens=4)
    assert report.to_dict("list") == {
        "species": ["a", "b", "c"],
        "n_specimens": [4, 3, 1],
        "n_files": [6, 3, 5],
        "selected": [True, False, False],
        "reason": ["kept", "3 specimens < min_specimens=4", "1 specimen < min_specimens=4"],
        "min_specimens": [4, 4, 4],
    }
    assert selected["selected"].dtype == bool
    assert selected.loc[selected["selected"], "species"].unique().tolist() == ["a"]
    assert "selected" not in inventory.columns  # the input is not modified
    assert list(selected.columns) == list(inventory.columns) + ["selected"]


def test_selected_column_follows_the_inventory_contract_columns():
    inventory = make_inventory().assign(format="npy", shape_zyx="2x2x2", spacing_zyx_um="1x1x1",
                                        seed=0)
    selected, _ = select_species(inventory, min_specimens=1)
    assert list(selected.columns) == ["file", "species", "specimen_id", "format", "shape_zyx",
                                      "spacing_zyx_um", "selected", "seed"]
    again, _ = select_species(selected, min_specimens=4)
    assert list(again.columns) == list(selected.columns)
    assert again["selected"].tolist() == (again["species"] == "a").tolist()


def test_selection_invariants_on_random_inventories():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n_files = int(rng.integers(1, 40))
        species = rng.choice(list("pqrstu"), n_files)
        specimen = [f"{s}{rng.integers(0, 5)}" for s in species]
        inventory = pd.DataFrame({"species": species, "specimen_id": specimen})
        min_specimens = int(rng.integers(1, 6))
        most = pd.Series(specimen).groupby(species).nunique().max()
        if most < min_specimens:
            with pytest.raises(SpecimenTableError, match=r"no species has at least"):
                select_species(inventory, min_specimens=min_specimens)
            continue
        selected, report = select_species(inventory, min_specimens=min_specimens)
        for row in report.itertuples():
            rows = inventory[inventory["species"] == row.species]
            assert row.n_specimens == rows["specimen_id"].nunique()
            assert row.n_files == len(rows)
            assert row.selected == (row.n_specimens >= min_specimens)
        kept = set(report.loc[report["selected"], "species"])
        assert selected["selected"].tolist() == [s in kept for s in species]
        assert report["n_specimens"].is_monotonic_decreasing
        pd.testing.assert_frame_equal(report, select_species(inventory,
                                                             min_specimens=min_specimens)[1])


def test_selecting_no_species_is_an_error_listing_every_count():
    with pytest.raises(SpecimenTableError,
                       match=r"no species has at least `min_specimens`=5 distinct specimens, so "
                             r"nothing is selected\. Specimens per species: 'a': 4 specimens; "
                             r"'b': 3 specimens; 'c': 1 specimen\. To fix: lower `min_specimens` "
                             r"\(to 4 or less\) in the profile's 01_dataset block, or add "
                             r"specimens"):
        select_species(make_inventory(), min_specimens=5)


def test_select_species_on_an_empty_inventory():
    empty = pd.DataFrame({"species": pd.Series([], dtype=str),
                          "specimen_id": pd.Series([], dtype=str)})
    selected, report = select_species(empty, min_specimens=4)
    assert selected.empty and report.empty
    assert list(report.columns) == ["species", "n_specimens", "n_files", "selected", "reason",
                                    "min_specimens"]


@pytest.mark.parametrize("min_specimens, error, match", [
    (0, ValueError, "`min_specimens` must be at least 1; got 0"),
    (2.0, TypeError, "`min_specimens` must be an integer; got 2.0"),
    (True, TypeError, "must be an integer"),
])
def test_select_species_refuses_bad_min_specimens(min_specimens, error, match):
    with pytest.raises(error, match=match):
        select_species(make_inventory(), min_specimens=min_specimens)


def test_select_species_refuses_a_bad_inventory():
    with pytest.raises(SpecimenTableError, match=r"`inventory` lacks the columns "
                                                 r"\['specimen_id'\].*build_inventory"):
        select_species(pd.DataFrame({"species": ["a"]}), min_specimens=1)
    with pytest.raises(TypeError, match="`inventory` must be a pandas DataFrame"):
        select_species([("a", "a1")], min_specimens=1)


def test_whole_flow_from_folder_to_selection(data_dir):
    write_table(data_dir, GOOD_TABLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every volume has a spacing here: no warning
        inventory = build_inventory(read_specimen_table(data_dir), data_dir)
    selected, report = select_species(inventory, min_specimens=2)
    assert report[["species", "n_specimens", "n_files"]].values.tolist() == \
        [["alveolina_like", 2, 3], ["baculogypsina_like", 1, 1]]
    assert selected["selected"].tolist() == [True, True, True, False]


# ---------------------------------------------------------------- check_inventory / loading volumes


def selected_inventory(data_dir) -> pd.DataFrame:
    write_table(data_dir, GOOD_TABLE)
    inventory = build_inventory(read_specimen_table(data_dir), data_dir)
    return select_species(inventory, min_specimens=2)[0]


def test_check_inventory_accepts_the_pipeline_output(data_dir):
    assert check_inventory(selected_inventory(data_dir)) is None


def test_check_inventory_lists_every_broken_row(data_dir):
    inventory = selected_inventory(data_dir)
    inventory.loc[0, "species"] = ""
    inventory.loc[1, "format"] = "mha"
    inventory.loc[2, "shape_zyx"] = "6x10.5x12"
    inventory.loc[3, "spacing_zyx_um"] = "1x0x1"
    inventory.loc[3, "file"] = "a1.npz"
    inventory.loc[2, "specimen_id"] = "B1"
    with pytest.raises(SpecimenTableError) as info:
        check_inventory(inventory)
    message = str(info.value)
    for expected in ["row 0: empty species",
                     "row 1: format 'mha' is not one of",
                     "row 2: shape_zyx '6x10.5x12' is not three integers",
                     "row 3: spacing_zyx_um '1x0x1' has a non-positive entry",
                     "rows 0, 3: file 'a1.npz' is listed 2 times",
                     "specimen_id 'B1' appears under 2 species: 'alveolina_like' (row 2); "
                     "'baculogypsina_like' (row 3)",
                     "the inventory has 6 problems"]:
        assert expected in message


def test_check_inventory_needs_a_boolean_selected_column(data_dir):
    inventory = selected_inventory(data_dir)
    with pytest.raises(SpecimenTableError, match=r"lacks the columns \['selected'\]"):
        check_inventory(inventory.drop(columns="selected"))
    with pytest.raises(SpecimenTableError, match=r"column selected has dtype (object|str), not bool"):
        check_inventory(inventory.assign(selected=["yes"] * len(inventory)))


def test_load_examples_loads_the_first_specimen_of_each_selected_species(data_dir):
    inventory = selected_inventory(data_dir)
    examples = load_example_volumes(inventory, data_dir)
    assert list(examples) == ["alveolina_like · 007"]  # baculogypsina_like is not selected
    np.testing.assert_array_equal(examples["alveolina_like · 007"], volume(0))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the PNG folder gets the inventory's spacing
        every = load_example_volumes(inventory.drop(columns="selected"), data_dir)
    assert list(every) == ["alveolina_like · 007", "baculogypsina_like · B1"]
    np.testing.assert_array_equal(every["baculogypsina_like · B1"], volume(3))


def test_load_examples_with_nothing_selected_is_empty(data_dir):
    inventory = selected_inventory(data_dir).assign(selected=False)
    assert load_example_volumes(inventory, data_dir) == {}


def test_load_examples_refuses_a_bad_inventory(data_dir):
    with pytest.raises(SpecimenTableError, match=r"lacks the columns \['spacing_zyx_um'\]"):
        load_example_volumes(pd.DataFrame({"file": [], "species": [], "specimen_id": []}), data_dir)
    with pytest.raises(TypeError, match="`inventory` must be a pandas DataFrame"):
        load_example_volumes(None, data_dir)


def test_load_inventory_volume_uses_the_rows_spacing(data_dir):
    inventory = selected_inventory(data_dir)
    row = inventory.set_index("file").loc["scans/a1_rescan.nii.gz"]
    volume_read = load_inventory_volume({**row.to_dict(), "file": row.name}, data_dir)
    assert volume_read.spacing_um == parse_triplet(row["spacing_zyx_um"]) == (3.0, 3.0, 3.0)
    np.testing.assert_array_equal(volume_read.data, volume(1))
    with pytest.raises(FileNotFoundError, match="absent.npy"):
        load_inventory_volume({"file": "absent.npy", "spacing_zyx_um": "1x1x1"}, data_dir)


# ---------------------------------------------------------------- the dataset folder


def test_dataset_outputs_round_trip_and_record_the_rule(data_dir, tmp_path):
    write_table(data_dir, GOOD_TABLE)
    inventory = build_inventory(read_specimen_table(data_dir), data_dir)
    inventory, report = select_species(inventory, min_specimens=2)
    paths = save_dataset_outputs(tmp_path / "dataset", inventory=inventory, species_report=report)
    assert sorted(paths) == ["inventory.csv", "species.csv"]
    back = read_inventory(tmp_path / "dataset")
    pd.testing.assert_frame_equal(back[list(INVENTORY_COLUMNS) + ["selected"]],
                                  inventory[list(INVENTORY_COLUMNS) + ["selected"]],
                                  check_dtype=False)
    assert back["selected"].dtype == bool
    assert read_species_report(tmp_path / "dataset")["species"].tolist() == \
        report["species"].tolist()
    assert read_min_specimens(tmp_path / "dataset") == 2


def test_dataset_outputs_refuse_a_broken_inventory_and_name_a_missing_folder(data_dir, tmp_path):
    write_table(data_dir, GOOD_TABLE)
    inventory, report = select_species(build_inventory(read_specimen_table(data_dir), data_dir),
                                       min_specimens=2)
    with pytest.raises(SpecimenTableError, match="empty file"):
        save_dataset_outputs(tmp_path / "d", inventory=inventory.assign(file=""),
                             species_report=report)
    assert not (tmp_path / "d" / "inventory.csv").exists()
    with pytest.raises(FileNotFoundError, match=r"run the dataset step \(notebook 01"):
        read_inventory(tmp_path / "nowhere")
