"""Tests of fossilct.manifest: ids, deterministic writing, reading, contract checks."""

import numpy as np
import pandas as pd
import pytest

from fossilct import manifest
from slice_fixtures import write_manifest as write_slices_manifest


def _rows(n=4):
    rows = []
    for k in range(n):
        slice_id = manifest.slice_id_for(f"vol_{k % 2}.nii.gz", "rot_pr_040", k)
        rows.append(dict(
            path=manifest.image_path_for("alveolina_like", slice_id), slice_id=slice_id,
            file=f"vol_{k % 2}.nii.gz", specimen_id=f"s{k % 2}", species="alveolina_like",
            split="", plane="rot_pr_040",
            normal_zyx=manifest.format_vector([np.cos(0.7), np.sin(0.7), -0.0]),
            angle_deg=40.0, index=k, offset_um=-3.25 * k, foreground_fraction=0.1 + 0.01 * k,
            bbox=manifest.format_vector([1, 2, 30 + k, 40], decimals=None),
            source_shape="64x64x64", seed=1234 + k))
    return pd.DataFrame(rows)


@pytest.fixture
def written(tmp_path):
    frame = _rows()
    for path in frame["path"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"png")
    target = manifest.write_manifest(frame, tmp_path / "manifest.csv")
    return frame, target


def test_ids_and_paths_are_stable_and_safe():
    assert manifest.slice_id_for("a/b c.nii", "axis_p", 3) == "a_b_c.nii__axis_p__0003"
    assert manifest.image_path_for("x y", "id") == "images/x_y/id.png"


def test_write_is_byte_identical_and_order_independent(tmp_path, written):
    frame, target = written
    shuffled = frame.sample(frac=1.0, random_state=3)
    again = manifest.write_manifest(shuffled, tmp_path / "again.csv")
    assert target.read_bytes() == again.read_bytes()
    assert target.read_text().splitlines()[0] == ",".join(manifest.MANIFEST_COLUMNS)
    assert "-0.000000" not in target.read_text()


def test_round_trip_types(written):
    frame, target = written
    back = manifest.read_manifest(target)
    assert list(back.columns) == list(manifest.MANIFEST_COLUMNS)
    assert back["split"].tolist() == [""] * 4
    assert back["index"].dtype == np.int64 and back["seed"].dtype == np.int64
    assert back["offset_um"].dtype == np.float64
    assert np.allclose(sorted(back["offset_um"]), sorted(frame["offset_um"]))
    assert manifest.parse_vector(back["bbox"].iloc[0], dtype=int) == (1, 2, 30, 40)
    assert manifest.parse_vector(back["source_shape"].iloc[0], dtype=int) == (64, 64, 64)


def test_check_manifest_accepts_a_good_manifest(tmp_path, written):
    _, target = written
    manifest.check_manifest(manifest.read_manifest(target), root=tmp_path)


def test_write_rejects_missing_columns(tmp_path):
    with pytest.raises(manifest.ManifestError, match=r"columns \['seed'\] are missing"):
        manifest.write_manifest(_rows().drop(columns="seed"), tmp_path / "m.csv")


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No manifest at .*Run notebook 02_slices"):
        manifest.read_manifest(tmp_path / "absent.csv")
    (tmp_path / "short.csv").write_text("path,slice_id\na,b\n")
    with pytest.raises(manifest.ManifestError, match=r"lacks columns \['file'"):
        manifest.read_manifest(tmp_path / "short.csv")
    bad = _rows(1).astype(str)
    bad.loc[0, "index"] = "seven"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(manifest.ManifestError, match=r"column 'index' must hold an integer in "
                                                     r"every row; 1 do not \(line 2: 'seven'\)"):
        manifest.read_manifest(tmp_path / "bad.csv")


def test_parse_vector_rejects_garbage():
    with pytest.raises(manifest.ManifestError, match=r"Cannot parse 'a b'"):
        manifest.parse_vector("a b")


@pytest.mark.parametrize("column, value, message", [
    ("foreground_fraction", 1.5, r"foreground_fraction outside \[0, 1\] \(rows \[1\]\)"),
    ("angle_deg", 200.0, r"angle_deg outside \[0, 180\]"),
    ("index", -1, "index negative"),
    ("split", "training", "split not in"),
    ("path", "/abs/x.png", "path must be relative"),
    ("specimen_id", "", r"empty specimen_id in rows \[1\]"),
    ("normal_zyx", "1 1 0", "normal_zyx not a unit 3-vector"),
    ("bbox", "5 5 2 9", "bbox not 'row0 col0 row1 col1'"),
    ("bbox", "x y", "bbox not"),
])
def test_check_manifest_finds_bad_values(tmp_path, written, column, value, message):
    frame = manifest.read_manifest(written[1])
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    with pytest.raises(manifest.ManifestError, match=message):
        manifest.check_manifest(frame, root=tmp_path, check_files=False)


def test_check_manifest_finds_duplicates_missing_files_and_columns(tmp_path, written):
    frame = manifest.read_manifest(written[1])
    duplicated = frame.copy()
    duplicated.loc[1, "slice_id"] = duplicated.loc[0, "slice_id"]
    with pytest.raises(manifest.ManifestError, match="slice_id not unique"):
        manifest.check_manifest(duplicated, root=tmp_path)
    (tmp_path / frame["path"].iloc[2]).unlink()
    with pytest.raises(manifest.ManifestError, match=r"1 image files missing .*rows \[2\]"):
        manifest.check_manifest(frame, root=tmp_path)
    with pytest.raises(manifest.ManifestError, match=r"missing \['seed'\], unexpected \['extra'\]"):
        manifest.check_manifest(frame.drop(columns="seed").assign(extra=1), root=tmp_path)


def test_read_manifest_resolves_paths_against_its_folder(tmp_path):
    csv = write_slices_manifest(tmp_path, classes=("disk", "square", "cross"))
    relative = manifest.read_manifest(csv)
    absolute = manifest.read_manifest(csv, absolute_paths=True)
    assert (absolute["path"] == [str(tmp_path.resolve() / p) for p in relative["path"]]).all()
    assert manifest.class_names_of(absolute) == ["cross", "disk", "square"]
    with pytest.raises(ValueError, match=r"holds 1 species \(\['a'\]\); classification needs"):
        manifest.class_names_of(pd.DataFrame({"species": ["a", "a"]}))


def test_missing_manifest_names_the_step(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No manifest at .*nowhere.csv.*02_slices"):
        manifest.read_manifest(tmp_path / "nowhere.csv")


@pytest.mark.parametrize("species", ["..", ".", "a/../..", "../../../tmp/x", "..\\..\\x", ""])
def test_image_paths_stay_in_one_folder_under_images(species):
    path = manifest.image_path_for(species, "../../slice")
    parts = path.split("/")
    assert len(parts) == 3 and parts[0] == "images" and parts[2] == "slice.png"
    assert parts[1] not in ("", ".", "..") and not parts[1].startswith(".")


def test_safe_component_is_one_short_stable_name():
    assert manifest.safe_component("alveolina like") == "alveolina_like"  # unchanged names
    assert manifest.safe_component("Nummulites é") == "Nummulites_e"
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(manifest.safe_component(long_a)) == manifest.MAX_COMPONENT_CHARS
    assert manifest.safe_component(long_a) != manifest.safe_component(long_b)
    assert manifest.slice_id_for(".hidden", "axis_p", 1) == "hidden__axis_p__0001"


def test_distinct_names_that_would_share_a_folder_are_refused():
    assert manifest.check_distinct_components(["a", "b", "a"], what="species") == {"a": "a",
                                                                                  "b": "b"}
    with pytest.raises(manifest.ManifestError,
                       match=r"distinct species names would share .*'a b', 'a_b' -> 'a_b'; "
                             r"'Alv', 'alv' -> 'Alv'. Rename them in specimens.csv"):
        manifest.check_distinct_components(["a b", "a_b", "Alv", "alv", "c"], what="species")


def test_write_refuses_species_or_slice_ids_that_collide(tmp_path):
    frame = _rows()
    frame.loc[1, "species"] = "alveolina like"
    with pytest.raises(manifest.ManifestError, match=r"'alveolina like', 'alveolina_like'"):
        manifest.write_manifest(frame, tmp_path / "m.csv")
    frame = _rows()
    frame.loc[1, "file"] = "vol 0.nii.gz"  # its slice ids equal those of vol_0.nii.gz
    frame.loc[1, "slice_id"] = frame.loc[0, "slice_id"]
    with pytest.raises(manifest.ManifestError, match=r"1 slice_id value\(s\) come from more than "
                                                     r"one volume file.*\['vol 0.nii.gz', "
                                                     r"'vol_0.nii.gz'\]"):
        manifest.write_manifest(frame, tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_read_names_the_lines_of_a_cut_or_damaged_manifest(tmp_path, written):
    text = written[1].read_text()
    cases = {
        "mid_row.csv": (text[: text.index("\n", text.index("\n") + 1) + 30] + "\n",
                        r"cut short or damaged: the header has 15 fields, but line 3 has \d+\. "
                        r"Rebuild it: re-run the slice step"),
        "mid_value.csv": (text[:-2], r"cut short: its last line \(5\) has no line end"),
        "empty.csv": ("", r"is empty\. Rebuild it"),
        "latin1.bin": (None, r"is not UTF-8 text \(byte \d+ cannot be decoded\)"),
        "huge_field.csv": (text + "x" * 200_000 + "\n", r"damaged at line 6 \(field larger"),
    }
    for name, (content, message) in cases.items():
        if content is None:
            (tmp_path / name).write_bytes(text.replace("alveolina", "alv\xe9olina")
                                          .encode("latin-1"))
        else:
            (tmp_path / name).write_text(content)
        with pytest.raises(manifest.ManifestError, match=message):
            manifest.read_manifest(tmp_path / name)


def test_read_names_the_lines_of_values_that_are_not_numbers(tmp_path, written):
    lines = written[1].read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",12.5"  # a seed must be an integer
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(manifest.ManifestError, match=r"column 'seed' must hold an integer in every "
                                                     r"row; 1 do not \(line 3: '12.5'\)"):
        manifest.read_manifest(tmp_path / "m.csv")


@pytest.mark.parametrize("path", ["../../etc/x.png", "/abs/x.png", "images\\..\\..\\x.png",
                                  "C:/x.png", "images/../../x.png"])
def test_read_refuses_image_paths_that_leave_the_folder(tmp_path, written, path):
    lines = written[1].read_text().splitlines()
    lines[3] = path + lines[3][lines[3].index(","):]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(manifest.ManifestError, match=r"1 image path\(s\) lead outside its "
                                                     r"folder \(line 4: .*\); paths must be "
                                                     r"relative, with '/' and without '\.\.'"):
        manifest.read_manifest(tmp_path / "m.csv")
