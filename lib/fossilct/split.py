"""Specimen-level train / validation / test split.

Every slice of a specimen (all its files: re-scans, cropped exports) lands in exactly one split,
because the specimen, not the file or the slice, is the unit of independence. The study's
reference code split by file and so leaked re-scans across splits; here the grouping key is
``specimen_id`` and :func:`check_split` proves the invariant on the written manifest.

Stage 1 (test): per species, ``round(test_fraction * n_specimens)`` specimens, at least one and
leaving at least two, drawn at random (seeded).

Training has priority over validation in specimens: per species, validation may take at most
``n_remaining - ceil(min_train_fraction * n_specimens)`` of the remaining specimens, and never
more than training keeps, but at least one. With the default ``min_train_fraction=0.5`` and
``test_fraction=0.2``: 3 specimens give 1 / 1 / 1 (train / val / test), 4 give 2 / 1 / 1,
5 give 3 / 1 / 1, 8 give 4-5 / 1-2 / 2, 20 give at least 10 / at most 6 / 4. (Without this limit
a species with few slices per specimen gave most of its specimens to validation to approach
``val_target`` and trained on one.)

Stage 2 (validation): per species, a subset of the remaining specimens, within that limit,
whose slice total is close to ``val_target`` and at most ``val_cap`` and, whenever a subset
allows it, at most half of the remaining slices (validation never holds more slices than
training). Candidate subsets are enumerated exhaustively when there are at most
``max_subsets`` of them, otherwise found by a bounded search (seeded random restarts of a greedy
fill followed by add / remove / swap moves). Each species keeps its ``shortlist`` best
candidates (closest to the target, then fewer specimens); a coordinate descent over species then
picks one candidate per species minimising ``CV(val sizes) + |mean(val sizes) - val_target| /
val_target``, i.e. balanced classes near the target.

The result's ``notes`` say, per species, when a target or limit cannot be met and what was done
instead: ``test_fraction`` rounding to no test specimen or leaving fewer than two (clamped);
training keeping fewer than ``min_train_fraction`` of the specimens (too few specimens);
validation below ``val_target`` because the specimen limit stopped it (the total it has);
the smallest remaining specimen exceeding ``val_cap`` (it alone is the validation set); and
training ending with fewer slices than validation (when no subset avoids it).

The coefficient of variation (CV) of class sizes is ``std / mean`` (population std, ``ddof=0``)
of the per-species slice counts in one split, in percent.

``mode="slice_level"`` assigns slices, not specimens, at random; it exists only for the leakage
experiment, its split values carry the ``leaky_`` prefix, and its result has
``valid_for_reporting=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fossilct.manifest import LEAKY_PREFIX, SPLITS

__all__ = [
    "SplitError",
    "SplitResult",
    "MODES",
    "split_by_specimen",
    "apply_split",
    "summarise_split",
    "coefficient_of_variation",
    "check_split",
    "fingerprint",
    "save_split_outputs",
    "read_split_slices",
]

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_VAL_TARGET = 1000
DEFAULT_VAL_CAP = 1200
DEFAULT_MAX_SUBSETS = 2 ** 16
DEFAULT_SHORTLIST = 8
DEFAULT_MIN_TRAIN_FRACTION = 0.5
MIN_SPECIMENS = 3
"""A species needs one specimen for each of train, validation and test."""

MODES = ("specimen", "slice_level")
"""Split modes: the specimen-level split, and the slice-level one of the leakage experiment."""
ASSIGNMENT_FILES = {"specimen": "assignments.csv", "slice_level": "slice_level_assignments.csv"}
ASSIGNMENT_COLUMNS = ("slice_id", "specimen_id", "species", "split")
_FINGERPRINT_COLUMNS = ("slice_id", "specimen_id", "species", "split", "normal_zyx", "offset_um",
                        "bbox", "foreground_fraction")

_RESTARTS = 64  # random restarts of the bounded search (each then improved by local moves)


class SplitError(ValueError):
    """The split cannot be made, or a written split breaks the specimen-level invariants."""


@dataclass(frozen=True)
class SplitResult:
    """Result of :func:`split_by_specimen`.

    Attributes
    ----------
    row_split : pandas.Series of str
        Split of every input row (index = the input's index).
    assignment : pandas.Series of str
        ``specimen_id -> split``; in slice-level mode ``"mixed"`` for specimens whose slices are
        spread over several splits.
    summary : pandas.DataFrame
        :func:`summarise_split` of the result.
    cv_per_split : dict of str to float
        CV (%) of the per-species slice counts in each split.
    mode : str
        ``"specimen"`` or ``"slice_level"``.
    valid_for_reporting : bool
        False for the slice-level mode.
    notes : tuple of str
        ``"<species>: <what could not be met and what was done instead>."``, sorted by species
        (see the module docstring); in slice-level mode, the leakage warning.
    """

    row_split: pd.Series
    assignment: pd.Series
    summary: pd.DataFrame
    cv_per_split: dict
    mode: str
    valid_for_reporting: bool
    notes: tuple[str, ...]


def coefficient_of_variation(sizes) -> float:
    """Return ``100 * std / mean`` of class sizes (population std); NaN for no class or mean 0.

    Examples
    --------
    >>> coefficient_of_variation([900, 1000, 1100])
    8.16496580927726
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.size == 0 or sizes.mean() == 0:
        return float("nan")
    return float(100.0 * sizes.std() / sizes.mean())


def _specimen_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Return one row per specimen: specimen_id, species, n_slices (sorted by species, id)."""
    missing = [c for c in ("specimen_id", "species") if c not in table.columns]
    if missing:
        raise SplitError(
            f"The table lacks columns {missing} (has {list(table.columns)}). Pass the manifest or "
            f"a specimen table with `specimen_id`, `species` (and optionally `n_slices`)."
        )
    if table.empty:
        raise SplitError("The table is empty: there are no slices to split. Run notebook 02 first.")
    frame = table.assign(specimen_id=table["specimen_id"].astype(str),
                         species=table["species"].astype(str))
    species_per_specimen = frame.groupby("specimen_id")["species"].nunique()
    clash = species_per_specimen[species_per_specimen > 1]
    if len(clash):
        raise SplitError(
            f"Specimens {clash.index[:10].tolist()} appear under several species. Fix the "
            f"specimens table: one specimen has one species."
        )
    weights = frame["n_slices"] if "n_slices" in frame.columns else pd.Series(1, index=frame.index)
    if (pd.to_numeric(weights, errors="coerce").fillna(-1) < 0).any():
        raise SplitError("`n_slices` must be non-negative integers; fix the specimen table.")
    counts = (frame.assign(n_slices=weights.astype(np.int64))
              .groupby(["species", "specimen_id"], sort=True)["n_slices"].sum().reset_index())
    return counts


def _check_counts(counts: pd.DataFrame) -> None:
    per_species = counts.groupby("species")["specimen_id"].nunique()
    small = per_species[per_species < MIN_SPECIMENS]
    if len(small):
        detail = ", ".join(f"{s!r} has {n}" for s, n in small.items())
        raise SplitError(
            f"Species with fewer than {MIN_SPECIMENS} specimens cannot be split into train, "
            f"validation and test: {detail}. Exclude them in notebook 01 (raise `min_specimens`) "
            f"or add specimens."
        )


def _subset_key(total: int, size: int, target: float) -> tuple:
    return (abs(total - target), size)


def _exhaustive_candidates(counts: np.ndarray, target: float, cap: float, shortlist: int,
                           max_size: int):
    n = counts.size
    masks = np.arange(1, 2 ** n - 1, dtype=np.int64)  # non-empty proper subsets
    bits = ((masks[:, None] >> np.arange(n)) & 1).astype(bool)
    totals = bits @ counts
    sizes = bits.sum(axis=1)
    ok = (totals <= cap) & (sizes <= max_size)
    if not ok.any():
        return []
    masks, bits, totals, sizes = masks[ok], bits[ok], totals[ok], sizes[ok]
    order = np.lexsort((masks, sizes, np.abs(totals - target)))
    chosen, seen = [], set()
    for k in order:
        if int(totals[k]) in seen:
            continue  # equal totals are equivalent for the objective: keep the best one
        seen.add(int(totals[k]))
        chosen.append(tuple(np.flatnonzero(bits[k]).tolist()))
        if len(chosen) == shortlist:
            break
    return chosen


def _local_search(members: set, counts: np.ndarray, target: float, cap: float,
                  max_size: int) -> set:
    n = counts.size
    total = int(counts[list(members)].sum())
    while True:
        best, best_members = abs(total - target), None
        outside = [i for i in range(n) if i not in members]
        moves = [members | {i} for i in outside if len(members) + 1 <= max_size]
        moves += [members - {j} for j in members if len(members) > 1]
        moves += [(members - {j}) | {i} for j in members for i in outside]
        for move in moves:
            move_total = int(counts[list(move)].sum())
            if move_total <= cap and abs(move_total - target) < best:
                best, best_members = abs(move_total - target), move
        if best_members is None:
            return members
        members = best_members
        total = int(counts[list(members)].sum())


def _bounded_candidates(counts: np.ndarray, target: float, cap: float, shortlist: int,
                        rng: np.random.Generator, max_subsets: int, max_size: int):
    n = counts.size
    found = {}
    restarts = max(1, min(_RESTARTS, max_subsets // max(1, n * n)))
    for _ in range(restarts):
        members, total = set(), 0
        for i in rng.permutation(n):
            if len(members) < max_size and total + counts[i] <= cap and total < target:
                members.add(int(i))
                total += int(counts[i])
        if not members:
            smallest = int(np.argmin(counts))
            if counts[smallest] > cap:
                continue
            members = {smallest}
        members = _local_search(members, counts, target, cap, max_size)
        total = int(counts[list(members)].sum())
        key = _subset_key(total, len(members), target)
        if total not in found or key < found[total][0]:
            found[total] = (key, tuple(sorted(members)))
    ranked = sorted(found.values())
    return [members for _, members in ranked[:shortlist]]


def _objective(totals: np.ndarray, target: float) -> float:
    return coefficient_of_variation(totals) / 100.0 + abs(totals.mean() - target) / target


def _choose_validation(pools: dict, limits: dict, target: float, cap: float, shortlist: int,
                       max_subsets: int, rng: np.random.Generator):
    """Return {species: tuple of specimen ids} and {species: note} for caps that cannot hold."""
    candidates, notes = {}, {}
    for species, pool in pools.items():
        counts = pool["n_slices"].to_numpy(np.int64)

        def search(limit):
            if 2 ** counts.size - 2 <= max_subsets:
                return _exhaustive_candidates(counts, target, limit, shortlist, limits[species])
            return _bounded_candidates(counts, target, limit, shortlist, rng, max_subsets,
                                       limits[species])

        # validation holds no more slices than training keeps, whenever a subset allows it
        found = search(min(cap, counts.sum() // 2)) or search(cap)
        if not found:
            smallest = int(np.argmin(counts))
            found = [(smallest,)]
            notes[species] = (
                f"the smallest remaining specimen ({pool['specimen_id'].iloc[smallest]}, "
                f"{int(counts[smallest])} slices) exceeds val_cap={cap:g}; it alone is the "
                f"validation set"
            )
        candidates[species] = [(int(counts[list(c)].sum()), c) for c in found]
    species_list = list(pools)
    pick = {s: 0 for s in species_list}

    def totals_for(choice):
        return np.array([candidates[s][choice[s]][0] for s in species_list], dtype=np.float64)

    best = _objective(totals_for(pick), target)
    improved = True
    while improved:
        improved = False
        for s in species_list:
            for k in range(len(candidates[s])):
                trial = dict(pick, **{s: k})
                value = _objective(totals_for(trial), target)
                if value < best - 1e-12:
                    best, pick, improved = value, trial, True
    chosen = {s: tuple(pools[s]["specimen_id"].iloc[list(candidates[s][pick[s]][1])])
              for s in species_list}
    return chosen, notes


def _slice_level(table: pd.DataFrame, *, test_fraction: float, val_target: int,
                 rng: np.random.Generator) -> pd.Series:
    row_split = pd.Series("", index=table.index, dtype=object)
    for species in sorted(table["species"].astype(str).unique()):
        rows = table.index[table["species"].astype(str) == species].to_numpy()
        rows = rows[rng.permutation(rows.size)]
        n_test = int(round(test_fraction * rows.size))
        n_val = min(int(val_target), rows.size - n_test)
        row_split[rows[:n_test]] = LEAKY_PREFIX + "test"
        row_split[rows[n_test:n_test + n_val]] = LEAKY_PREFIX + "val"
        row_split[rows[n_test + n_val:]] = LEAKY_PREFIX + "train"
    return row_split


def split_by_specimen(slices: pd.DataFrame, *, test_fraction: float = DEFAULT_TEST_FRACTION,
                      val_target: int = DEFAULT_VAL_TARGET, val_cap: int = DEFAULT_VAL_CAP,
                      rng: int | np.random.Generator = 0, mode: str = "specimen",
                      max_subsets: int = DEFAULT_MAX_SUBSETS,
                      shortlist: int = DEFAULT_SHORTLIST,
                      min_train_fraction: float = DEFAULT_MIN_TRAIN_FRACTION) -> SplitResult:
    """Split slices into train / val / test by specimen (see the module docstring).

    Parameters
    ----------
    slices : pandas.DataFrame
        One row per slice (e.g. the manifest) with ``specimen_id`` and ``species``; or one row
        per specimen or file with an ``n_slices`` column giving its slice count.
    test_fraction : float, keyword-only
        Fraction of each species' specimens sent to test (at least one), in (0, 1); default 0.2.
    val_target : int, keyword-only
        Desired validation slices per species; default 1000.
    val_cap : int, keyword-only
        Maximum validation slices per species (exceeded only when unavoidable, see ``notes``);
        default 1200.
    rng : int or numpy.random.Generator, keyword-only
        Seed or generator; the result is deterministic for a seed.
    mode : {"specimen", "slice_level"}, keyword-only
        ``"slice_level"`` only for the leakage experiment (slices, one row per slice).
    max_subsets : int, keyword-only
        Largest number of candidate subsets enumerated exhaustively per species; above it the
        bounded search is used. Default 2**16 (up to 16 specimens).
    shortlist : int, keyword-only
        Candidate subsets kept per species for the joint CV search; default 8.
    min_train_fraction : float, keyword-only
        Share of each species' specimens that training keeps before validation takes any
        (rounded up; validation still gets one, and never more than training), in (0, 1);
        default 0.5.

    Returns
    -------
    SplitResult

    Raises
    ------
    SplitError
        Missing columns, an empty table, a specimen under two species, a species with fewer than
        3 specimens, ``n_slices`` with slice-level mode, or invalid options.

    Examples
    --------
    >>> table = pd.DataFrame({"specimen_id": [f"s{i}" for i in range(5)], "species": "a",
    ...                       "n_slices": [300, 500, 700, 400, 600]})
    >>> result = split_by_specimen(table, val_target=800, val_cap=1000, rng=0)
    >>> sorted(result.assignment.value_counts().items())
    [('test', 1), ('train', 3), ('val', 1)]
    >>> int(result.summary.loc[result.summary.species == "a", "n_slices_val"].iloc[0])
    700
    >>> print(result.notes[0])  # doctest: +NORMALIZE_WHITESPACE
    a: validation has 700 slices, under val_target=800: at most 1 of its 4 non-test specimens
    may go to validation, so that training keeps 3.
    """
    if mode not in ("specimen", "slice_level"):
        raise SplitError(f"`mode` must be 'specimen' or 'slice_level'; got {mode!r}.")
    if not 0.0 < float(test_fraction) < 1.0:
        raise SplitError(f"`test_fraction` must be in (0, 1); got {test_fraction}.")
    if not 0 < int(val_target) <= int(val_cap):
        raise SplitError(
            f"Need 0 < val_target <= val_cap; got val_target={val_target}, val_cap={val_cap}."
        )
    if not 0.0 < float(min_train_fraction) < 1.0:
        raise SplitError(f"`min_train_fraction` must be in (0, 1); got {min_train_fraction}.")
    if int(max_subsets) < 1 or int(shortlist) < 1:
        raise SplitError(f"`max_subsets` and `shortlist` must be >= 1; got {max_subsets}, {shortlist}.")
    rng = np.random.default_rng(rng)
    counts = _specimen_counts(slices)
    _check_counts(counts)
    if mode == "slice_level":
        if "n_slices" in slices.columns:
            raise SplitError(
                "mode='slice_level' needs one row per slice (the manifest), not a table with "
                "`n_slices`."
            )
        row_split = _slice_level(slices, test_fraction=float(test_fraction),
                                 val_target=int(val_target), rng=rng)
        ids = slices["specimen_id"].astype(str)
        per_specimen = row_split.groupby(ids).agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
        summary = summarise_split(slices, row_split, mode=mode)
        return SplitResult(row_split, per_specimen.rename("split"), summary,
                           _cv_from_summary(summary), mode, False,
                           ("slice-level split: slices of one specimen are in several splits; "
                            "NOT valid for reporting (leakage experiment only)",))
    test_ids, pools, limits, notes = [], {}, {}, {}
    for species, group in counts.groupby("species", sort=True):
        n = len(group)
        n_test, limits[species], species_notes = _specimen_limits(
            n, test_fraction=float(test_fraction), min_train_fraction=float(min_train_fraction))
        notes[species] = species_notes
        picked = np.sort(rng.choice(n, size=n_test, replace=False))
        test_ids += group["specimen_id"].iloc[picked].tolist()
        pools[species] = group.drop(group.index[picked]).reset_index(drop=True)
    val_sets, cap_notes = _choose_validation(pools, limits, float(val_target), float(val_cap),
                                             int(shortlist), int(max_subsets), rng)
    assignment = pd.Series("train", index=counts["specimen_id"].to_numpy(), name="split", dtype=object)
    assignment[test_ids] = "test"
    for ids in val_sets.values():
        assignment[list(ids)] = "val"
    assignment.index.name = "specimen_id"
    for species, pool in pools.items():
        if species in cap_notes:
            notes[species].append(cap_notes[species])
        notes[species] += _validation_notes(pool, val_sets[species], limits[species],
                                            val_target=int(val_target))
    row_split = slices["specimen_id"].astype(str).map(assignment).rename("split")
    summary = summarise_split(slices, row_split, mode=mode)
    return SplitResult(row_split, assignment, summary, _cv_from_summary(summary), mode, True,
                       tuple(f"{species}: {note}." for species in sorted(notes)
                             for note in notes[species]))


def _specimen_limits(n: int, *, test_fraction: float, min_train_fraction: float):
    """Test specimens, the most validation may take, and notes, for a species of `n` specimens."""
    notes = []
    wanted = int(round(test_fraction * n))
    n_test = min(max(1, wanted), n - 2)
    if n_test != wanted:
        notes.append(f"test_fraction={test_fraction:g} of {n} specimens gives {wanted} test "
                     f"specimens; {n_test} used (test needs one, train and validation one each)")
    remaining = n - n_test
    train_min = int(np.ceil(min_train_fraction * n))
    max_val = max(1, min(remaining - train_min, remaining // 2))
    if remaining - max_val < train_min:
        notes.append(f"training keeps {remaining - max_val} of {n} specimens, fewer than "
                     f"min_train_fraction={min_train_fraction:g} asks ({train_min}): too few "
                     f"specimens")
    return n_test, max_val, notes


def _validation_notes(pool: pd.DataFrame, chosen: tuple, max_val: int, *, val_target: int):
    """Notes on a species' validation set: the specimen limit stopping it short of the target,
    and training ending with fewer slices than validation."""
    notes = []
    in_val = pool["specimen_id"].isin(chosen)
    val_total = int(pool.loc[in_val, "n_slices"].sum())
    train_total = int(pool.loc[~in_val, "n_slices"].sum())
    if val_total < val_target and len(chosen) == max_val and max_val < len(pool) - 1:
        notes.append(f"validation has {val_total} slices, under val_target={val_target}: at most "
                     f"{max_val} of its {len(pool)} non-test specimens may go to validation, so "
                     f"that training keeps {len(pool) - max_val}")
    if train_total < val_total:
        notes.append(f"training has {train_total} slices, fewer than validation's {val_total}")
    return notes


def _cv_from_summary(summary: pd.DataFrame) -> dict:
    cv_row = summary[summary["species"] == "CV_%"].iloc[0]
    return {split: float(cv_row[f"n_slices_{split}"]) for split in SPLITS}


def apply_split(manifest: pd.DataFrame, result: SplitResult) -> pd.DataFrame:
    """Return a copy of the manifest with its ``split`` column set from `result`.

    Parameters
    ----------
    manifest : pandas.DataFrame
        The manifest that was split (same index for the slice-level mode).
    result : SplitResult

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    SplitError
        If a manifest specimen (or row, slice-level) has no split in `result`.
    """
    out = manifest.copy()
    if result.mode == "slice_level":
        split = result.row_split.reindex(out.index)
    else:
        split = out["specimen_id"].astype(str).map(result.assignment)
    unassigned = out.loc[split.isna(), "specimen_id"].astype(str).unique()
    if len(unassigned):
        raise SplitError(
            f"Specimens {unassigned[:10].tolist()} of the manifest have no split in the result; "
            f"split the same manifest that you apply it to."
        )
    out["split"] = split.astype(str).to_numpy()
    return out


def summarise_split(slices: pd.DataFrame, row_split=None, *, mode: str = "specimen") -> pd.DataFrame:
    """Count slices and specimens per species and split, with totals and CV rows.

    Parameters
    ----------
    slices : pandas.DataFrame
        Rows with ``specimen_id``, ``species`` and (unless `row_split` is given) ``split``; an
        ``n_slices`` column weights rows (specimen tables).
    row_split : pandas.Series, optional
        Split per row (aligned with `slices`); default the ``split`` column. ``leaky_`` prefixes
        are dropped for counting.
    mode : str, keyword-only
        Written into the ``mode`` column; ``valid_for_reporting`` is ``mode == "specimen"``.

    Returns
    -------
    pandas.DataFrame
        One row per species (sorted), then ``ALL`` (totals) and ``CV_%`` (CV of each column
        over species); columns ``species, n_slices_train, n_slices_val, n_slices_test,
        n_specimens_train, n_specimens_val, n_specimens_test, mode, valid_for_reporting``.

    Examples
    --------
    >>> table = pd.DataFrame({"specimen_id": ["a1", "a1", "a2", "b1"], "species": ["a", "a", "a", "b"],
    ...                       "split": ["train", "train", "test", "train"]})
    >>> summarise_split(table)[["species", "n_slices_train", "n_specimens_test"]]
      species  n_slices_train  n_specimens_test
    0       a             2.0               1.0
    1       b             1.0               0.0
    2     ALL             3.0               1.0
    3    CV_%            33.3             100.0
    """
    if row_split is None:
        if "split" not in slices.columns:
            raise SplitError("`slices` has no `split` column; pass `row_split` or apply a split first.")
        row_split = slices["split"]
    split = pd.Series(row_split, index=slices.index).fillna("").astype(str).str.replace(
        LEAKY_PREFIX, "", regex=False)
    weights = slices["n_slices"] if "n_slices" in slices.columns else pd.Series(1, index=slices.index)
    frame = pd.DataFrame({"species": slices["species"].astype(str).to_numpy(),
                          "specimen_id": slices["specimen_id"].astype(str).to_numpy(),
                          "split": split.to_numpy(), "w": weights.to_numpy()})
    species = sorted(frame["species"].unique())
    n_slices = frame.pivot_table(index="species", columns="split", values="w", aggfunc="sum")
    n_specimens = frame.pivot_table(index="species", columns="split", values="specimen_id",
                                    aggfunc="nunique")
    out = pd.DataFrame({"species": species})
    for name, table in (("n_slices", n_slices), ("n_specimens", n_specimens)):
        for s in SPLITS:
            column = table[s] if s in table.columns else pd.Series(dtype=float)
            out[f"{name}_{s}"] = column.reindex(species).fillna(0).astype(float).to_numpy()
    numeric = [c for c in out.columns if c != "species"]
    total = {"species": "ALL", **{c: float(out[c].sum()) for c in numeric}}
    cv = {"species": "CV_%", **{c: round(coefficient_of_variation(out[c]), 1) for c in numeric}}
    out = pd.concat([out, pd.DataFrame([total, cv])], ignore_index=True)
    out["mode"] = mode
    out["valid_for_reporting"] = mode == "specimen"
    return out


def check_split(manifest: pd.DataFrame) -> None:
    """Raise unless the manifest's split is a valid specimen-level split.

    Checks: every row has a split in ``train``/``val``/``test`` (no ``leaky_`` values, no empty
    ones), no ``specimen_id`` is in two splits (so all files of a specimen are together), every
    species is present in all three splits.

    Raises
    ------
    SplitError
        Naming the offending specimens or species.

    Examples
    --------
    >>> table = pd.DataFrame({"specimen_id": ["a1", "a2", "a3", "a1"], "species": "a",
    ...                       "split": ["train", "val", "test", "test"]})
    >>> check_split(table)
    Traceback (most recent call last):
    ...
    fossilct.split.SplitError: Specimens in more than one split (leakage): ['a1']. ...
    """
    missing = [c for c in ("specimen_id", "species", "split") if c not in manifest.columns]
    if missing:
        raise SplitError(f"The manifest lacks columns {missing}; read it with fossilct.manifest.read_manifest.")
    split = manifest["split"].fillna("").astype(str)
    leaky = split.str.startswith(LEAKY_PREFIX)
    if leaky.any():
        raise SplitError(
            f"{int(leaky.sum())} rows carry a slice-level split ({LEAKY_PREFIX}*): it is not valid "
            f"for reporting. Re-run notebook 03 with mode='specimen'."
        )
    unassigned = manifest.loc[~split.isin(SPLITS), "specimen_id"].astype(str).unique()
    if len(unassigned):
        raise SplitError(
            f"Specimens without a split (values must be {list(SPLITS)}): "
            f"{unassigned[:10].tolist()}. Run notebook 03 on this manifest."
        )
    per_specimen = split.groupby(manifest["specimen_id"].astype(str)).nunique()
    leaking = per_specimen[per_specimen > 1].index.tolist()
    if leaking:
        raise SplitError(
            f"Specimens in more than one split (leakage): {leaking[:10]}. Split by specimen_id "
            f"with fossilct.split.split_by_specimen."
        )
    present = split.groupby(manifest["species"].astype(str)).agg(set)
    incomplete = {s: sorted(set(SPLITS) - found) for s, found in present.items() if found != set(SPLITS)}
    if incomplete:
        raise SplitError(
            f"Species missing from some splits: {incomplete}. Every species needs train, val and "
            f"test specimens; check min_specimens in notebook 01."
        )


def fingerprint(slices: pd.DataFrame) -> str:
    """A short hash of a slice table with its split: the same slices, cut the same way, in the
    same splits give the same value (a model records it; evaluation refuses a different one).

    Examples
    --------
    >>> table = pd.DataFrame({c: ["x"] for c in _FINGERPRINT_COLUMNS})
    >>> fingerprint(table) == fingerprint(table.assign(path="/elsewhere")), len(fingerprint(table))
    (True, 16)
    >>> fingerprint(table) == fingerprint(table.assign(split="test"))
    False
    """
    import hashlib

    frame = slices.loc[:, list(_FINGERPRINT_COLUMNS)].astype(str).sort_values("slice_id")
    text = frame.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_split_outputs(split_dir, *, slices: pd.DataFrame, slice_level: pd.DataFrame,
                       summary: pd.DataFrame, notes=(), figures=None) -> dict:
    """Check the specimen-level split, then write the split folder atomically.

    Parameters
    ----------
    split_dir : path-like
        Created if missing.
    slices : pandas.DataFrame
        The slice table with its specimen-level ``split`` (:func:`apply_split`).
    slice_level : pandas.DataFrame
        The same slices with the leakage experiment's slice-level split (``leaky_*`` values).
    summary : pandas.DataFrame
        :func:`summarise_split` of `slices`.
    notes : sequence of str
        The split's remarks (``SplitResult.notes``), written one per line to ``notes.txt``.
    figures : mapping of str to matplotlib Figure, optional
        Saved as ``<name>.png``.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    SplitError
        If `slices` is not a valid specimen-level split (nothing is written), or `slice_level`
        holds other slices.
    """
    from pathlib import Path

    from fossilct import atomic

    check_split(slices)
    if set(slice_level["slice_id"]) != set(slices["slice_id"]):
        raise SplitError("`slice_level` must split the same slices as `slices`; split the same "
                         "slice table in both modes.")
    split_dir = Path(split_dir)
    paths = {}
    for mode, table in (("specimen", slices), ("slice_level", slice_level)):
        name = ASSIGNMENT_FILES[mode]
        paths[name] = atomic.write_csv(split_dir / name, table.loc[:, list(ASSIGNMENT_COLUMNS)]
                                       .sort_values("slice_id", kind="stable"))
    paths["summary.csv"] = atomic.write_csv(split_dir / "summary.csv", summary)
    paths["notes.txt"] = atomic.write_text(split_dir / "notes.txt",
                                           "".join(f"{note}\n" for note in notes))
    paths.update(atomic.save_figures(figures, split_dir))
    return paths


def read_split_slices(slices_dir, split_dir, *, mode: str = "specimen") -> pd.DataFrame:
    """The slice table (absolute image paths) with the split of `mode` in its ``split`` column.

    Parameters
    ----------
    slices_dir : path-like
        The slice step's folder (manifest and images).
    split_dir : path-like
        The split step's folder.
    mode : {"specimen", "slice_level"}, keyword-only
        ``slice_level`` gives the leakage experiment's split as plain ``train``/``val``/``test``
        (for training and evaluating the leakage twin only; never valid for reporting).

    Returns
    -------
    pandas.DataFrame
        ``fossilct.manifest.MANIFEST_COLUMNS``, in manifest order.

    Raises
    ------
    FileNotFoundError
        If either folder lacks its files (the message names the step that writes them).
    SplitError
        Unknown `mode`, or assignments that do not cover exactly the manifest's slices (the
        split is older than the slices: re-run the split step), or an invalid specimen split.
    """
    from pathlib import Path

    from fossilct.slice_dataset import read_slices

    if mode not in MODES:
        raise SplitError(f"`mode` must be one of {MODES}; got {mode!r}.")
    path = Path(split_dir) / ASSIGNMENT_FILES[mode]
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run the split step (notebook 03, "
                                "`python run_all.py --only 03`).")
    slices = read_slices(slices_dir)
    assigned = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("slice_id")["split"]
    if set(assigned.index) != set(slices["slice_id"]):
        extra = sorted(set(assigned.index) - set(slices["slice_id"]))[:3]
        absent = sorted(set(slices["slice_id"]) - set(assigned.index))[:3]
        raise SplitError(f"{path} does not split the slices of {slices_dir} (unknown ids {extra}, "
                         f"unassigned {absent}): the slices changed after the split. Re-run the "
                         "split step (`python run_all.py --only 03`).")
    split = slices["slice_id"].map(assigned)
    slices["split"] = (split.str.replace(LEAKY_PREFIX, "", regex=False) if mode == "slice_level"
                       else split).to_numpy()
    if mode == "specimen":
        check_split(slices)
    return slices
