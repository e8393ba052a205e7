"""Species selection: keep the species with enough distinct specimens."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .table import SpecimenTableError, check_table

__all__ = ["select_species"]


def _nothing_selected_error(report: pd.DataFrame, min_specimens: int) -> SpecimenTableError:
    counts = "; ".join(f"{row.species!r}: {row.n_specimens} specimen"
                       f"{'s' if row.n_specimens != 1 else ''}"
                       for row in report.itertuples())
    most = int(report["n_specimens"].max())
    return SpecimenTableError(
        f"no species has at least `min_specimens`={min_specimens} distinct specimens, so "
        f"nothing is selected. Specimens per species: {counts}. To fix: lower `min_specimens` "
        f"(to {most} or less) in the profile's 01_dataset block, or add specimens (rows with "
        "new specimen_id values) to specimens.csv.")



def select_species(inventory: pd.DataFrame, *, min_specimens: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the species that have at least `min_specimens` distinct specimens.

    Specimens are counted by distinct ``specimen_id``, never by file: re-scans and cropped
    exports of one specimen count once.

    Parameters
    ----------
    inventory : pandas.DataFrame
        One row per file with at least ``species`` and ``specimen_id``.
    min_specimens : int
        Smallest number of distinct specimens a species needs to be kept (the report's 4).

    Returns
    -------
    selected_inventory : pandas.DataFrame
        A copy of `inventory` with a boolean column ``selected`` placed right after
        ``spacing_zyx_um``, so the inventory's first columns are always
        ``file, species, specimen_id, format, shape_zyx, spacing_zyx_um, selected``.
    report : pandas.DataFrame
        One row per species: ``species, n_specimens, n_files, selected, reason,
        min_specimens``, where reason is ``"kept"`` or e.g. ``"3 specimens < min_specimens=4"``
        and ``min_specimens`` records the rule (later steps re-apply it); sorted by decreasing
        ``n_specimens``, then species.

    Raises
    ------
    TypeError
        If `inventory` is not a DataFrame or `min_specimens` not an integer.
    ValueError
        If `min_specimens` < 1.
    SpecimenTableError
        If `inventory` lacks ``species`` or ``specimen_id``, or if it has species but none
        reaches `min_specimens` (the message lists every species' count and the fix).

    Examples
    --------
    >>> inventory = pd.DataFrame({"species": ["a", "a", "a", "b"],
    ...                           "specimen_id": ["a1", "a1", "a2", "b1"]})
    >>> selected, report = select_species(inventory, min_specimens=2)
    >>> selected["selected"].tolist()
    [True, True, True, False]
    >>> report.drop(columns="min_specimens")
      species  n_specimens  n_files  selected                        reason
    0       a            2        3      True                          kept
    1       b            1        1     False  1 specimen < min_specimens=2
    """
    check_table(inventory, ("species", "specimen_id"), "inventory")
    if isinstance(min_specimens, bool) or not isinstance(min_specimens, (int, np.integer)):
        raise TypeError(f"`min_specimens` must be an integer; got {min_specimens!r}.")
    if min_specimens < 1:
        raise ValueError(f"`min_specimens` must be at least 1; got {min_specimens}. Set it in "
                         "the profile's 01_dataset block.")
    groups = inventory.groupby("species", sort=True)
    n_specimens = groups["specimen_id"].nunique()
    report = pd.DataFrame({
        "species": n_specimens.index.astype(str),
        "n_specimens": n_specimens.to_numpy(dtype=np.int64),
        "n_files": groups.size().reindex(n_specimens.index).to_numpy(dtype=np.int64),
    })
    report["selected"] = report["n_specimens"] >= min_specimens
    report["reason"] = [
        "kept" if keep else
        f"{n} specimen{'s' if n != 1 else ''} < min_specimens={min_specimens}"
        for n, keep in zip(report["n_specimens"], report["selected"])]
    report["min_specimens"] = int(min_specimens)
    report = report.sort_values(["n_specimens", "species"], ascending=[False, True],
                                kind="stable").reset_index(drop=True)
    if len(report) and not report["selected"].any():
        raise _nothing_selected_error(report, min_specimens)
    kept = set(report.loc[report["selected"], "species"])
    position = inventory.columns.get_loc("spacing_zyx_um") + 1 \
        if "spacing_zyx_um" in inventory.columns else len(inventory.columns)
    selected = inventory.drop(columns="selected", errors="ignore")
    selected.insert(min(position, len(selected.columns)), "selected",
                    selected["species"].isin(kept).astype(bool))
    return selected, report
