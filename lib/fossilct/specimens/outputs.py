"""The dataset step's folder: the inventory, the species report and the gallery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import pandas as pd

from fossilct import atomic

from .inventory import check_inventory

__all__ = [
    "DATASET_FILES",
    "save_dataset_outputs",
    "read_inventory",
    "read_species_report",
    "read_min_specimens",
]

DATASET_FILES = ("inventory.csv", "species.csv")
"""Tables of the dataset folder (figures are added as ``<name>.png``)."""


def save_dataset_outputs(dataset_dir: str | os.PathLike, *, inventory: pd.DataFrame,
                         species_report: pd.DataFrame,
                         figures: Mapping[str, object] | None = None) -> dict[str, Path]:
    """Check the inventory against its contract, then write the dataset folder atomically.

    Parameters
    ----------
    dataset_dir : path-like
        Created if missing.
    inventory : pandas.DataFrame
        From `build_inventory` then `select_species`.
    species_report : pandas.DataFrame
        The report of `select_species`.
    figures : mapping of str to matplotlib Figure, optional
        Saved as ``<name>.png``.

    Returns
    -------
    dict of str to Path
        File name -> path.

    Raises
    ------
    SpecimenTableError
        If the inventory breaks its contract (nothing is written).
    """
    check_inventory(inventory)
    dataset_dir = Path(dataset_dir)
    paths = {"inventory.csv": atomic.write_csv(dataset_dir / "inventory.csv", inventory),
             "species.csv": atomic.write_csv(dataset_dir / "species.csv", species_report)}
    paths.update(atomic.save_figures(figures, dataset_dir))
    return paths


def _read(dataset_dir: str | os.PathLike, name: str) -> pd.DataFrame:
    path = Path(dataset_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run the dataset step "
                                "(notebook 01, `python run_all.py --only 01`) first.")
    return pd.read_csv(path, dtype={"file": str, "species": str, "specimen_id": str},
                       keep_default_na=False, na_values={"voxel_size_um": [""]})


def read_inventory(dataset_dir: str | os.PathLike) -> pd.DataFrame:
    """The inventory of a dataset folder (``inventory.csv``), checked against its contract.

    Raises
    ------
    FileNotFoundError
        If the folder has no inventory (the message names the step that writes it).
    SpecimenTableError
        If the inventory breaks its contract.
    """
    inventory = _read(dataset_dir, "inventory.csv")
    if inventory["selected"].dtype == object:
        inventory["selected"] = inventory["selected"].map({"True": True, "False": False})
    check_inventory(inventory)
    return inventory


def read_species_report(dataset_dir: str | os.PathLike) -> pd.DataFrame:
    """Which species were kept and why (``species.csv``)."""
    return _read(dataset_dir, "species.csv")


def read_min_specimens(dataset_dir: str | os.PathLike) -> int:
    """The selection rule the dataset step applied (``min_specimens``), for later steps to
    apply again when files are lost."""
    return int(read_species_report(dataset_dir)["min_specimens"].max())
