"""The records of matching: a library volume, a match, a library search result."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from fossilct.matching.index import VolumeIndex
from fossilct.matching.refine import RefineTarget
from fossilct.matching.source_grid import FILE_PLANE_COLUMNS, FilePlane, SourceGrid

__all__ = ["LibraryVolume", "Library", "Match", "LibraryResult", "MATCH_COLUMNS"]


@dataclass(frozen=True, eq=False)
class LibraryVolume:
    """A volume to search, with what identifies it.

    Build it with :func:`fossilct.matching.make_library_volume` (which validates the arrays and
    attaches the index) rather than directly.

    Attributes
    ----------
    volume : (P, M, N) ndarray of float32
        Isotropic, intensity-normalised volume, fossil bright.
    mask : (P, M, N) ndarray of bool
        Fossil silhouette (shell + lumen, no mounting pin).
    voxel_size_um : float
        Voxel edge, micrometres.
    file, specimen, species : str
        Identification, copied into every match.
    index : VolumeIndex or None
        Index of the sections (needed by ``method="fossilct"``).
    source_grid : SourceGrid or None
        The way from `volume`'s voxels back to the file it was read from; every match then
        also reports its plane in that file (``Match.plane_in_file``).
    """

    volume: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    voxel_size_um: float
    file: str = ""
    specimen: str = ""
    species: str = ""
    index: VolumeIndex | None = field(default=None, repr=False)
    source_grid: SourceGrid | None = field(default=None, repr=False)

    @cached_property
    def refine_target(self) -> RefineTarget:
        """The volume and its smoothed copy for pose refinement (made on first use)."""
        return RefineTarget(self.volume)


MATCH_COLUMNS = ("rank", "file", "specimen", "species", "method", "score", "fit", "dice", "ncc",
                 "ssim", "orb", "normal_p", "normal_r", "normal_c", "offset_vox", "offset_um",
                 "angle_deg", "mirror", "scale", "refined", "reliability", "tilt_drop", "reliable",
                 "partial", *FILE_PLANE_COLUMNS)
"""Columns of :meth:`Match.as_row` (plus ``rank`` from the ranking): the pose in the prepared
volume, then the plane in the original file (centre in the file's voxels, physical unit normal;
NaN when the volume has no source grid)."""


@dataclass(frozen=True, eq=False)
class Match:
    """Where a query section lies in one volume, and how well it matches there.

    Attributes
    ----------
    file, specimen, species : str
        The volume's identification.
    method : str
        ``"fossilct"`` or ``"reference"``.
    normal : tuple of 3 floats
        Unit plane normal, (plane, row, col) voxel axes, with ``normal[0] >= 0``.
    offset_vox : float
        Signed distance of the plane from the volume centre along `normal`, voxels
        (:mod:`fossilct.planes` convention).
    offset_um : float
        The same in micrometres.
    angle_deg : float
        In-plane angle in [0, 360): ``fossilct.planes.sample_plane(volume, normal, offset_vox,
        angle_deg=angle_deg, mirror=mirror)`` shows the section as the query shows it (up to
        translation and scale).
    mirror : bool
        The query is the mirror image of that section (seen from the plane's other side).
    scale : float
        Volume voxels per query pixel.
    centre_vox : tuple of 3 floats
        Voxel position of the query's fossil centroid.
    scores : dict
        Per-metric scores ``dice``, ``ncc``, ``ssim``, ``orb`` (see
        :mod:`fossilct.matching.scoring`).
    score : float
        Combined score (higher is better).
    fit : float
        The method's own objective at the match (fossilct: correlation of query and rendered
        section; reference: the study's fine score).
    refined : bool
        Whether the pose was refined (fossilct; always True for the reference).
    reliability : float
        Margin of `fit` over the best fit found for a pose in another basin
        (:mod:`fossilct.matching.reliability`); NaN for the reference method, which scores no
        alternative on the same objective.
    tilt_drop : float
        How much `fit` falls when the plane tilts by a few degrees
        (:func:`fossilct.matching.reliability.tilt_drop`): near 0 when the section barely
        changes with tilt, so that its normal is uncertain; NaN unless refined by fossilct.
    reliable : bool
        Whether the margin, the fit and the tilt drop pass the calibrated thresholds (and the
        pose was refined); False for the reference method.
    partial : bool
        The query is a partial view (its fossil touches the image border): only its visible
        part was matched.
    image : (S, S) ndarray of uint8
        The matched section, in the frame of the query's square image (``Query.image``).
    mask : (S, S) ndarray of bool
        Its silhouette.
    plane_in_file : FilePlane or None
        The matched plane in the original file's voxel grid and in µm (None when the volume
        came without a source grid); :func:`fossilct.matching.section_from_file` cuts it out
        of the file.
    """

    file: str
    specimen: str
    species: str
    method: str
    normal: tuple[float, float, float]
    offset_vox: float
    offset_um: float
    angle_deg: float
    mirror: bool
    scale: float
    centre_vox: tuple[float, float, float]
    scores: dict
    score: float
    fit: float
    refined: bool
    reliability: float
    tilt_drop: float
    reliable: bool
    partial: bool
    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    plane_in_file: FilePlane | None = field(default=None, repr=False)

    def as_row(self) -> dict:
        """The match as a flat dict (no images), for tables."""
        in_file = (self.plane_in_file.as_row() if self.plane_in_file is not None
                   else dict.fromkeys(FILE_PLANE_COLUMNS, float("nan")))
        return {"file": self.file, "specimen": self.specimen, "species": self.species,
                "method": self.method, "score": self.score, "fit": self.fit,
                **{k: float(self.scores[k]) for k in ("dice", "ncc", "ssim", "orb")},
                "normal_p": self.normal[0], "normal_r": self.normal[1],
                "normal_c": self.normal[2], "offset_vox": self.offset_vox,
                "offset_um": self.offset_um, "angle_deg": self.angle_deg, "mirror": self.mirror,
                "scale": self.scale, "refined": self.refined,
                "reliability": self.reliability, "tilt_drop": self.tilt_drop,
                "reliable": self.reliable,
                "partial": self.partial, **in_file}


@dataclass(frozen=True, eq=False)
class LibraryResult:
    """A query searched in a library of volumes.

    Attributes
    ----------
    matches : list of Match
        The best match of every searched volume, best first.
    volumes : pandas.DataFrame
        One row per match (:data:`MATCH_COLUMNS`), ranked.
    specimens : pandas.DataFrame
        ``rank, specimen, species, score, n_volumes``: a specimen scores its best volume.
    species : pandas.DataFrame
        ``rank, species, score, n_specimens``: a species scores its best specimen.
    skipped : pandas.DataFrame
        ``file, reason``: volumes that could not be searched (unreadable, no fossil, ...).
    seconds : float
        Wall time of the search.
    """

    matches: list
    volumes: pd.DataFrame
    specimens: pd.DataFrame
    species: pd.DataFrame
    skipped: pd.DataFrame
    seconds: float

    @property
    def best(self) -> Match | None:
        """The best match, or None if no volume could be searched."""
        return self.matches[0] if self.matches else None


@dataclass(frozen=True, eq=False)
class Library:
    """Volumes ready to search, and those that could not be made ready.

    Attributes
    ----------
    volumes : tuple of LibraryVolume
    skipped : pandas.DataFrame
        ``file, reason`` of each volume left out (unreadable file, no fossil, ...).
    """

    volumes: tuple
    skipped: pd.DataFrame

    def __len__(self) -> int:
        return len(self.volumes)
