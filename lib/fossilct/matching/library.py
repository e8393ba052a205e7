"""Building a library: volumes validated, prepared and indexed, with every file left out reported.

:func:`make_library_volume` takes arrays; :func:`library_volume_from_prepared` takes a volume
prepared by :func:`fossilct.slicing.prepare_volume`; :func:`load_library` is the I/O edge: it
reads the volumes listed in a table, prepares them, attaches their indexes (cached on disk when
a folder is given) and reports every file it had to leave out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fossilct import slicing, specimens
from fossilct.matching.errors import check_volume_and_mask
from fossilct.matching.index import build_index, load_or_build_index
from fossilct.matching.records import Library, LibraryVolume
from fossilct.matching.source_grid import SourceGrid

__all__ = ["SKIPPED_COLUMNS", "make_library_volume", "library_volume_from_prepared",
           "load_library"]

SKIPPED_COLUMNS = ("file", "reason")
"""Columns of the tables of volumes left out of a library or a search."""


def make_library_volume(volume: np.ndarray, mask: np.ndarray, *, voxel_size_um: float,
                        file: str = "", specimen: str = "", species: str = "",
                        cache_dir: str | os.PathLike | None = None, with_index: bool = True,
                        source_grid: SourceGrid | None = None, **index_params) -> LibraryVolume:
    """Validate a volume and its fossil mask and attach its index.

    Parameters
    ----------
    volume : (P, M, N) ndarray of numbers
        Isotropic, intensity-normalised volume, fossil bright.
    mask : (P, M, N) ndarray of bool
        Fossil silhouette.
    voxel_size_um : float, keyword-only
    file, specimen, species : str, keyword-only
        Identification copied into matches.
    cache_dir : path-like, optional, keyword-only
        Index cache folder (:func:`~fossilct.matching.load_or_build_index`); None builds the index
        in memory.
    with_index : bool, keyword-only
        Build or load the index (default True); False for the reference method only.
    source_grid : SourceGrid, optional, keyword-only
        The way back to the file the volume came from; None: the arrays are the file
        (``SourceGrid.identity``).
    **index_params
        Passed to the index builder.

    Returns
    -------
    LibraryVolume

    Raises
    ------
    ValueError, TypeError, MatchingError
        As :func:`~fossilct.matching.errors.check_volume_and_mask` and the index builder.
    """
    name = file or "volume"
    volume, mask = check_volume_and_mask(volume, mask, voxel_size_um=voxel_size_um, name=name)
    index = None
    if with_index and cache_dir is not None:
        index = load_or_build_index(volume, mask, cache_dir=cache_dir,
                                    voxel_size_um=voxel_size_um, name=name, **index_params)
    elif with_index:
        index = build_index(volume, mask, voxel_size_um=voxel_size_um, name=name, **index_params)
    if source_grid is None:
        source_grid = SourceGrid.identity(volume.shape, voxel_size_um=voxel_size_um)
    return LibraryVolume(volume=np.ascontiguousarray(volume), mask=mask,
                         voxel_size_um=float(voxel_size_um), file=str(file),
                         specimen=str(specimen), species=str(species), index=index,
                         source_grid=source_grid)


def library_volume_from_prepared(prepared: slicing.PreparedVolume, *, file: str = "",
                                 specimen: str = "", species: str = "",
                                 cache_dir: str | os.PathLike | None = None,
                                 with_index: bool = True, **index_params) -> LibraryVolume:
    """A :class:`LibraryVolume` from a volume prepared by :func:`fossilct.slicing.prepare_volume`.

    The prepared (cropped, mount-free, 8-bit) volume is scaled to [0, 1]; the fossil mask is the
    preparation's silhouette brought to full resolution on the crop. Poses refer to the
    cropped volume, and matches also report them in the input's grid
    (:meth:`~fossilct.matching.source_grid.SourceGrid.from_prepared`).

    Parameters
    ----------
    prepared : fossilct.slicing.PreparedVolume
    file, specimen, species, cache_dir, with_index, **index_params
        As :func:`make_library_volume`.

    Returns
    -------
    LibraryVolume
    """
    masks = prepared.masks
    full = slicing.upsample_mask(masks.silhouette, masks.factor, prepared.source_shape)
    start = prepared.crop_origin
    stop = start + np.asarray(prepared.volume.shape)
    mask = full[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]]
    volume = prepared.volume.astype(np.float32) / 255.0
    return make_library_volume(volume, mask, voxel_size_um=prepared.spacing_um, file=file,
                               specimen=specimen, species=species, cache_dir=cache_dir,
                               with_index=with_index,
                               source_grid=SourceGrid.from_prepared(prepared), **index_params)


def load_library(table: pd.DataFrame, data_dir: str | os.PathLike, *,
                 cache_dir: str | os.PathLike | None = None, with_index: bool = True,
                 prepare_options: Mapping | None = None, **index_params) -> Library:
    """Read, prepare and index the volumes listed in a table; report the ones left out.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per file with columns ``file`` (relative to `data_dir`), ``specimen_id``,
        ``species`` and optionally ``spacing_zyx_um`` (``"PxMxN"`` µm, as the inventory writes
        it) or ``voxel_size_um`` (isotropic, for files that store no spacing) overriding the
        file's spacing where they are filled; e.g. the inventory of notebook 01 or a
        ``specimens.csv``.
    data_dir : path-like
        Folder the files are relative to.
    cache_dir : path-like, optional, keyword-only
        Index cache folder (e.g. ``outputs/<profile>/matching/index``).
    with_index : bool, keyword-only
        Build or load indexes (default True).
    prepare_options : mapping, optional, keyword-only
        Keyword arguments of :func:`fossilct.slicing.prepare_volume`.
    **index_params
        Passed to the index builder.

    Returns
    -------
    Library
        The volumes in table order, and ``skipped`` (file, reason) for each file that could not
        be read, holds no fossil, or could not be indexed.

    Raises
    ------
    ValueError
        If `table` lacks a required column.
    """
    missing = sorted({"file", "specimen_id", "species"} - set(table.columns))
    if missing:
        raise ValueError(f"`table` lacks columns {missing}; it needs file, specimen_id and "
                         f"species (the inventory of notebook 01 has them).")
    data_dir = Path(data_dir)
    ready, skipped = [], []
    for row in table.to_dict("records"):
        file = str(row["file"])
        try:
            loaded = specimens.load_inventory_volume(row, data_dir)
            prepared = slicing.prepare_volume(loaded.data, loaded.spacing_um,
                                              **dict(prepare_options or {}))
            ready.append(library_volume_from_prepared(
                prepared, file=file, specimen=str(row["specimen_id"]), species=str(row["species"]),
                cache_dir=cache_dir, with_index=with_index, **index_params))
        except (OSError, ValueError) as error:  # VolumeError, NoFossilError, MatchingError
            skipped.append({"file": file, "reason": f"{type(error).__name__}: {error}"})
    return Library(tuple(ready), pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS)))
