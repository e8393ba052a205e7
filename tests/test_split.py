"""Tests of fossilct.split: specimen-level invariants (property tests), search, errors."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fossilct import split as splitting


@st.composite
def file_tables(draw):
    """Random file-level tables: several files (re-scans) per specimen, slice counts per file."""
    rows = []
    n_species = draw(st.integers(1, 4))
    for s in range(n_species):
        for k in range(draw(st.integers(3, 9))):
            for f in range(draw(st.integers(1, 3))):
                rows.append({"file": f"sp{s}_{k}_scan{f}.nii", "specimen_id": f"sp{s}-{k}",
                             "species": f"species_{s}",
                             "n_slices": draw(st.integers(1, 900))})
    return pd.DataFrame(rows)


def _val_totals(table, result):
    split = result.row_split
    return table.assign(split=split).query("split == 'val'").groupby("species")["n_slices"].sum()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=file_tables(), seed=st.integers(0, 2 ** 16))
def test_split_invariants(table, seed):
    result = splitting.split_by_specimen(table, val_target=1000, val_cap=1200, rng=seed)
    # every specimen assigned exactly once, to a known split
    assert set(result.assignment.index) == set(table["specimen_id"])
    assert result.assignment.index.is_unique
    assert set(result.assignment) <= {"train", "val", "test"}
    # re-scans (files of one specimen) always together
    assert (table.assign(split=result.row_split).groupby("specimen_id")["split"].nunique() == 1).all()
    # each species is in all three splits, with about test_fraction of its specimens in test
    per_species = result.assignment.groupby(table.groupby("specimen_id")["species"].first()).agg(list)
    for species, splits in per_species.items():
        assert {"train", "val", "test"} <= set(splits)
        n = len(splits)
        assert splits.count("test") == min(max(1, round(0.2 * n)), n - 2)
    # the cap holds whenever a feasible subset exists, and the notes say when it cannot
    totals = _val_totals(table, result)
    counts = table.groupby(["species", "specimen_id"])["n_slices"].sum()
    for species, total in totals.items():
        remaining = [c for (s, sid), c in counts.items()
                     if s == species and result.assignment[sid] != "test"]
        if min(remaining) <= 1200:
            assert total <= 1200
        else:
            assert any(species in note for note in result.notes)
    # deterministic for a seed
    again = splitting.split_by_specimen(table, val_target=1000, val_cap=1200, rng=seed)
    assert result.assignment.equals(again.assignment)
    assert result.valid_for_reporting and result.mode == "specimen"
    splitting.check_split(table.assign(split=result.row_split))


@st.composite
def specimen_tables(draw):
    """Random specimen tables: 3-12 specimens per species, 0-400 slices each."""
    rows = []
    for s in range(draw(st.integers(1, 5))):
        for k in range(draw(st.integers(3, 12))):
            rows.append({"specimen_id": f"sp{s}-{k}", "species": f"species_{s}",
                         "n_slices": draw(st.integers(0, 400))})
    return pd.DataFrame(rows)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=specimen_tables(), test_fraction=st.floats(0.05, 0.6),
       val_target=st.integers(1, 1500), seed=st.integers(0, 2 ** 16))
def test_training_is_never_starved(table, test_fraction, val_target, seed):
    result = splitting.split_by_specimen(table, test_fraction=test_fraction, val_target=val_target,
                                         val_cap=val_target + 200, rng=seed)
    assert result.assignment.index.is_unique                     # no specimen in two splits
    assert set(result.assignment.index) == set(table["specimen_id"])
    species = table.set_index("specimen_id")["species"]
    per_species = result.assignment.groupby(species.reindex(result.assignment.index)).value_counts()
    for name, group in table.groupby("species"):
        n = len(group)
        counts = per_species[name]
        assert {"train", "val", "test"} <= set(counts.index)    # all three splits
        assert counts["train"] >= counts["val"]                  # train never fewer than val
        if n - counts["test"] - 1 >= np.ceil(0.5 * n):
            assert counts["train"] >= np.ceil(0.5 * n)           # train keeps half when it can
        else:
            assert any(note.startswith(f"{name}: training keeps") for note in result.notes)
        slices = group.assign(split=result.assignment[group["specimen_id"]].to_numpy())
        total = slices.groupby("split")["n_slices"].sum()
        noted = any(note.startswith(f"{name}: training has") for note in result.notes)
        assert noted == (total["train"] < total["val"])          # said whenever it happens
        remaining = slices.loc[slices["split"] != "test", "n_slices"]
        if remaining.min() <= min(val_target + 200, remaining.sum() // 2):
            assert total["train"] >= total["val"]                # ...and avoided when it can be
    splitting.check_split(table.assign(split=result.row_split))


@pytest.mark.parametrize("n_specimens, expected", [(3, (1, 1, 1)), (4, (2, 1, 1)), (5, (3, 1, 1))])
def test_small_species_give_training_the_most_specimens(n_specimens, expected):
    # few slices per specimen: the old split gave validation most specimens to approach the target
    table = pd.DataFrame({"specimen_id": [f"s{i}" for i in range(n_specimens)], "species": "a",
                          "n_slices": [30, 20, 5, 25, 40][:n_specimens]})
    result = splitting.split_by_specimen(table, val_target=120, val_cap=160, rng=0)
    sizes = result.assignment.value_counts()
    assert (sizes["train"], sizes["val"], sizes["test"]) == expected
    if n_specimens > 3:
        assert any("under val_target=120: at most 1 of its" in note for note in result.notes)


def test_notes_say_what_could_not_be_met():
    three = pd.DataFrame({"specimen_id": ["a1", "a2", "a3"], "species": "a",
                          "n_slices": [10, 500, 10]})
    result = splitting.split_by_specimen(three, test_fraction=0.5, val_target=400, val_cap=600,
                                         rng=0)
    notes = " ".join(result.notes)
    assert "a: test_fraction=0.5 of 3 specimens gives 2 test specimens; 1 used" in notes
    assert "a: training keeps 1 of 3 specimens, fewer than min_train_fraction=0.5" in notes
    assert all(note.startswith("a: ") and note.endswith(".") for note in result.notes)


def test_slice_rows_and_specimen_rows_give_the_same_split():
    specimens = pd.DataFrame({"specimen_id": [f"s{i}" for i in range(6)], "species": "a",
                              "n_slices": [5, 9, 4, 7, 3, 8]})
    slices = specimens.loc[specimens.index.repeat(specimens["n_slices"])].drop(columns="n_slices")
    by_specimen = splitting.split_by_specimen(specimens, val_target=10, val_cap=12, rng=1)
    by_slice = splitting.split_by_specimen(slices.reset_index(drop=True), val_target=10,
                                           val_cap=12, rng=1)
    assert by_specimen.assignment.sort_index().equals(by_slice.assignment.sort_index())


@pytest.mark.parametrize("min_train_fraction, max_val", [(0.5, 2), (0.2, 3)])
def test_exhaustive_search_finds_the_exact_target(min_train_fraction, max_val):
    table = pd.DataFrame({"specimen_id": [f"s{i}" for i in range(8)], "species": "a",
                          "n_slices": [130, 270, 440, 610, 330, 90, 520, 700]})
    result = splitting.split_by_specimen(table, val_target=1000, val_cap=1200, rng=3,
                                         min_train_fraction=min_train_fraction)
    remaining = table[result.assignment[table.specimen_id].to_numpy() != "test"]["n_slices"]
    # brute force over the subsets of the remaining 6 specimens that validation may take: at
    # most 8 - 2 - ceil(0.5 * 8) = 2 (train keeps half), or 3 (never more than train keeps),
    # holding at most half of the remaining slices
    totals = [sum(c for c, bit in zip(remaining, f"{mask:06b}"[::-1]) if bit == "1")
              for mask in range(1, 2 ** len(remaining) - 1) if f"{mask:b}".count("1") <= max_val]
    best = min(abs(t - 1000) for t in totals if 2 * t <= remaining.sum())
    assert abs(_val_totals(table, result)["a"] - 1000) == best
    assert (result.assignment == "val").sum() <= max_val


def test_bounded_search_is_used_for_large_pools_and_respects_the_cap():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"specimen_id": [f"s{i}" for i in range(30)], "species": "a",
                          "n_slices": rng.integers(50, 400, size=30)})
    result = splitting.split_by_specimen(table, val_target=1000, val_cap=1200, rng=0,
                                         max_subsets=1000)
    total = _val_totals(table, result)["a"]
    assert total <= 1200 and abs(total - 1000) <= 20
    again = splitting.split_by_specimen(table, val_target=1000, val_cap=1200, rng=0,
                                        max_subsets=1000)
    assert result.assignment.equals(again.assignment)


def test_joint_search_balances_classes():
    # species b cannot reach the target; a and c can reach 1000 or 700
    table = pd.DataFrame({
        "specimen_id": [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)]
        + [f"c{i}" for i in range(4)],
        "species": ["a"] * 4 + ["b"] * 4 + ["c"] * 4,
        "n_slices": [700, 1000, 5000, 5000, 700, 700, 700, 700, 700, 1000, 5000, 5000]})
    result = splitting.split_by_specimen(table, test_fraction=0.25, val_target=1000,
                                         val_cap=1200, rng=0)
    totals = _val_totals(table, result)
    naive_cv = splitting.coefficient_of_variation([1000, totals["b"], 1000])
    assert result.cv_per_split["val"] <= naive_cv + 1e-9


def test_cap_exceeded_uses_smallest_specimen_and_says_so():
    table = pd.DataFrame({"specimen_id": [f"s{i}" for i in range(4)], "species": "big",
                          "n_slices": [5000, 3000, 4000, 6000]})
    result = splitting.split_by_specimen(table, val_target=1000, val_cap=1200, rng=0)
    val = result.assignment[result.assignment == "val"].index.tolist()
    remaining = table[result.assignment[table.specimen_id].to_numpy() != "test"]
    assert val == [remaining.loc[remaining.n_slices.idxmin(), "specimen_id"]]
    assert "exceeds val_cap=1200" in result.notes[0] and "big" in result.notes[0]


def test_summary_and_cv():
    table = pd.DataFrame({"specimen_id": ["a1", "a2", "a3", "b1", "b2", "b3"],
                          "species": ["a"] * 3 + ["b"] * 3,
                          "n_slices": [100, 200, 300, 100, 100, 100]})
    result = splitting.split_by_specimen(table, val_target=150, val_cap=400, rng=0)
    summary = result.summary
    assert summary["species"].tolist() == ["a", "b", "ALL", "CV_%"]
    row_all = summary[summary.species == "ALL"].iloc[0]
    assert row_all[["n_slices_train", "n_slices_val", "n_slices_test"]].sum() == 900
    assert row_all[["n_specimens_train", "n_specimens_val", "n_specimens_test"]].sum() == 6
    assert set(result.cv_per_split) == {"train", "val", "test"}
    assert summary["valid_for_reporting"].all() and (summary["mode"] == "specimen").all()
    assert splitting.coefficient_of_variation([1, 1, 1]) == 0.0
    assert np.isnan(splitting.coefficient_of_variation([]))


def test_slice_level_mode_is_flagged_and_leaks():
    table = pd.DataFrame({"specimen_id": np.repeat([f"s{i}" for i in range(4)], 50),
                          "species": "a"})
    result = splitting.split_by_specimen(table, val_target=40, rng=0, mode="slice_level")
    assert not result.valid_for_reporting and result.mode == "slice_level"
    assert set(result.row_split) == {"leaky_train", "leaky_val", "leaky_test"}
    assert (result.row_split == "leaky_val").sum() == 40
    assert (result.assignment == "mixed").any()
    assert not result.summary["valid_for_reporting"].any()
    assert "NOT valid for reporting" in result.notes[0]
    leaky = splitting.apply_split(table, result)
    with pytest.raises(splitting.SplitError, match="slice-level split"):
        splitting.check_split(leaky)


def test_apply_split_sets_the_column():
    manifest = pd.DataFrame({"specimen_id": ["a1", "a1", "a2", "a3", "a4"], "species": "a",
                             "split": ""})
    result = splitting.split_by_specimen(manifest, val_target=1, val_cap=2, rng=0)
    applied = splitting.apply_split(manifest, result)
    assert applied["split"].iloc[0] == applied["split"].iloc[1]
    assert (manifest["split"] == "").all()  # input untouched
    splitting.check_split(applied)
    with pytest.raises(splitting.SplitError, match=r"\['zz'\] of the manifest have no split"):
        splitting.apply_split(pd.concat([manifest, pd.DataFrame(
            {"specimen_id": ["zz"], "species": ["a"], "split": [""]})], ignore_index=True), result)


@pytest.mark.parametrize("table, kwargs, message", [
    (pd.DataFrame({"specimen_id": ["a", "b"], "species": ["x", "x"]}), {},
     r"fewer than 3 specimens.*'x' has 2"),
    (pd.DataFrame({"specimen": ["a"], "species": ["x"]}), {}, r"lacks columns \['specimen_id'\]"),
    (pd.DataFrame({"specimen_id": [], "species": []}), {}, "table is empty"),
    (pd.DataFrame({"specimen_id": ["a", "a", "b", "c"], "species": ["x", "y", "x", "x"]}), {},
     r"\['a'\] appear under several species"),
    (pd.DataFrame({"specimen_id": ["a", "b", "c"], "species": "x"}), {"mode": "file"},
     "`mode` must be"),
    (pd.DataFrame({"specimen_id": ["a", "b", "c"], "species": "x"}), {"test_fraction": 1.0},
     r"`test_fraction` must be in \(0, 1\)"),
    (pd.DataFrame({"specimen_id": ["a", "b", "c"], "species": "x"}), {"val_target": 2000},
     "val_target <= val_cap"),
    (pd.DataFrame({"specimen_id": ["a", "b", "c"], "species": "x"}), {"shortlist": 0},
     "must be >= 1"),
    (pd.DataFrame({"specimen_id": ["a", "b", "c"], "species": "x"}), {"min_train_fraction": 1.0},
     r"`min_train_fraction` must be in \(0, 1\)"),
    (pd.DataFrame({"specimen_id": ["a", "b", "c"], "species": "x", "n_slices": [1, 2, -3]}), {},
     "`n_slices` must be non-negative"),
    (pd.DataFrame({"specimen_id": ["a", "b", "c"], "species": "x", "n_slices": [1, 2, 3]}),
     {"mode": "slice_level"}, "needs one row per slice"),
])
def test_split_errors(table, kwargs, message):
    with pytest.raises(splitting.SplitError, match=message):
        splitting.split_by_specimen(table, **kwargs)


def test_check_split_errors():
    ok = pd.DataFrame({"specimen_id": ["a1", "a2", "a3"], "species": "a",
                       "split": ["train", "val", "test"]})
    splitting.check_split(ok)
    with pytest.raises(splitting.SplitError, match=r"without a split.*\['a2'\]"):
        splitting.check_split(ok.assign(split=["train", "", "test"]))
    with pytest.raises(splitting.SplitError, match=r"more than one split \(leakage\): \['a1'\]"):
        splitting.check_split(pd.concat([ok, ok.iloc[[0]].assign(split="test")]))
    with pytest.raises(splitting.SplitError, match=r"missing from some splits: \{'a': \['val'\]\}"):
        splitting.check_split(ok.assign(split=["train", "train", "test"]))
    with pytest.raises(splitting.SplitError, match=r"lacks columns \['split'\]"):
        splitting.check_split(ok.drop(columns="split"))
    with pytest.raises(splitting.SplitError, match="no `split` column"):
        splitting.summarise_split(ok.drop(columns="split"))


# ---------------------------------------------------------------- the split folder


def _split_folder(tmp_path):
    from slice_fixtures import write_manifest
    from fossilct import manifest

    slices_dir = tmp_path / "slices"
    write_manifest(slices_dir, classes=("disk", "square"), specimens={"train": 2, "val": 1,
                                                                      "test": 1})
    slices = manifest.read_manifest(slices_dir / "manifest.csv").assign(split="")
    result = splitting.split_by_specimen(slices, test_fraction=0.25, val_target=6, val_cap=8, rng=0)
    leaky = splitting.split_by_specimen(slices, test_fraction=0.25, val_target=6, val_cap=8, rng=0,
                              mode="slice_level")
    return slices_dir, splitting.apply_split(slices, result), splitting.apply_split(slices, leaky), result


def test_split_folder_round_trip_in_both_modes(tmp_path):
    slices_dir, slices, leaky, result = _split_folder(tmp_path)
    splitting.save_split_outputs(tmp_path / "split", slices=slices, slice_level=leaky,
                                    summary=splitting.summarise_split(slices), notes=["a note"])
    back = splitting.read_split_slices(slices_dir, tmp_path / "split")
    assert back["split"].tolist() == slices["split"].tolist()
    assert back["path"].map(lambda p: p.startswith(str(slices_dir.resolve()))).all()
    level = splitting.read_split_slices(slices_dir, tmp_path / "split", mode="slice_level")
    assert set(level["split"]) == {"train", "val", "test"}
    assert (tmp_path / "split" / "notes.txt").read_text() == "a note\n"
    with pytest.raises(splitting.SplitError, match=r"`mode` must be one of"):
        splitting.read_split_slices(slices_dir, tmp_path / "split", mode="file")


def test_a_split_older_than_the_slices_is_refused(tmp_path):
    slices_dir, slices, leaky, _ = _split_folder(tmp_path)
    splitting.save_split_outputs(tmp_path / "split", slices=slices.iloc[1:],
                                    slice_level=leaky.iloc[1:], summary=splitting.summarise_split(slices))
    with pytest.raises(splitting.SplitError, match=r"does not split the slices of .* Re-run the split step"):
        splitting.read_split_slices(slices_dir, tmp_path / "split")
    with pytest.raises(FileNotFoundError, match=r"run the split step \(notebook 03"):
        splitting.read_split_slices(slices_dir, tmp_path / "nowhere")


def test_save_refuses_a_leaking_split_and_writes_nothing(tmp_path):
    _, slices, leaky, _ = _split_folder(tmp_path)
    with pytest.raises(splitting.SplitError, match=r"leaky_\*"):
        splitting.save_split_outputs(tmp_path / "split", slices=leaky, slice_level=leaky,
                                        summary=splitting.summarise_split(slices))
    assert not (tmp_path / "split").exists()


def test_fingerprint_changes_with_the_split_not_with_the_paths(tmp_path):
    _, slices, leaky, _ = _split_folder(tmp_path)
    assert splitting.fingerprint(slices) == splitting.fingerprint(
        slices.assign(path="elsewhere").iloc[::-1])
    assert splitting.fingerprint(slices) != splitting.fingerprint(leaky)
