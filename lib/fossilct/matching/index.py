"""Per-volume index of candidate sections, and its on-disk cache.

:func:`build_index` cuts one volume along a set of plane normals (the three axes plus a
Fibonacci hemisphere) at regularly spaced offsets and stores, per section, where it lies (normal,
offset, 3-D centroid, equivalent radius) and its polar-signature spectra
(:mod:`fossilct.matching.descriptors`). A query is then compared with every section of a volume
at once, all in-plane turns and mirror images included (:mod:`fossilct.matching.search`).

The sections are cut from a *working copy* of the volume (:mod:`fossilct.matching.working`): the
fossil's bounding ball resampled so that its radius is ``working_radius`` voxels, with a
re-segmented fossil silhouette as a second channel.

:func:`load_or_build_index` caches indexes as ``.npz`` files named by a hash of the volume's
content, the mask and every parameter: a changed volume or parameter gives a new key, so a stale
index is never read; it is rebuilt and written atomically (:mod:`fossilct.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from fossilct import planes
from fossilct.atomic import atomic_path
from fossilct.matching import descriptors
from fossilct.matching.errors import MatchingError, check_volume_and_mask
from fossilct.matching.working import WORKING_RADIUS, section_stack, working_copy

__all__ = [
    "INDEX_VERSION",
    "N_NORMALS",
    "WORKING_RADIUS",
    "OFFSET_STEP",
    "MIN_AREA_FRACTION",
    "VolumeIndex",
    "index_normals",
    "build_index",
    "index_key",
    "load_or_build_index",
]

INDEX_VERSION = 3
"""Bumped whenever the index layout or its computation changes (invalidates every cache)."""
N_NORMALS = 150
"""Fibonacci-hemisphere normals besides the three axes (about 11 degrees apart)."""
OFFSET_STEP = 1.0
"""Spacing of the indexed sections along each normal, in working voxels."""
MIN_AREA_FRACTION = 0.05
"""Sections smaller than this fraction of the largest section of their normal are not indexed
(caps of the fossil: too small to place reliably)."""
MIN_AREA_PX = 12.0
"""Sections below this area (working pixels) are never indexed."""


def index_normals(n_normals: int = N_NORMALS) -> np.ndarray:
    """The indexed plane normals: the three axes, then `n_normals` Fibonacci-hemisphere normals.

    Parameters
    ----------
    n_normals : int
        Number of Fibonacci normals (>= 0), default ``N_NORMALS``.

    Returns
    -------
    (3 + n_normals, 3) ndarray of float64
        Unit normals in (plane, row, col) order, all with ``n_p >= 0``.

    Raises
    ------
    ValueError
        If `n_normals` is negative.

    Examples
    --------
    >>> index_normals(5).shape
    (8, 3)
    """
    if int(n_normals) < 0:
        raise ValueError(f"`n_normals` must be >= 0; got {n_normals}.")
    if int(n_normals) == 0:
        return planes.axis_normals()
    return np.concatenate([planes.axis_normals(), planes.fibonacci_normals(int(n_normals))])


@dataclass(frozen=True, eq=False)
class VolumeIndex:
    """Indexed sections of one volume (see the module docstring).

    Coordinates are voxels of the full-resolution volume in (plane, row, col) order; offsets
    follow :mod:`fossilct.planes` (signed distance from the volume centre along the normal).

    Attributes
    ----------
    key : str
        Content hash of volume, mask and parameters (:func:`index_key`).
    params : dict
        The parameters the index was built with.
    shape : tuple of int
        Shape (P, M, N) of the volume.
    voxel_size_um : float
        Voxel edge of the volume, micrometres.
    factor : float
        Full-resolution voxels per working voxel of the working copy (>= 1).
    normals : (J, 3) ndarray of float64
        The indexed normals.
    entry_normal : (K,) ndarray of int
        Row of `normals` of each section.
    entry_offset : (K,) ndarray of float64
        Offset of each section.
    entry_centroid : (K, 3) ndarray of float64
        3-D centroid of each section's fossil mask.
    entry_radius : (K,) ndarray of float64
        Equivalent radius ``sqrt(area / pi)`` of each section.
    spectra : (K, 2, R, H) ndarray of complex64
        Polar-signature spectra (mask, image) of each section.
    bounds : (K, 2 * R * H) ndarray of float32
        Their :func:`~fossilct.matching.descriptors.bound_features`, for pruning the search.
    """

    key: str
    params: dict
    shape: tuple[int, int, int]
    voxel_size_um: float
    factor: float
    normals: np.ndarray
    entry_normal: np.ndarray
    entry_offset: np.ndarray
    entry_centroid: np.ndarray
    entry_radius: np.ndarray
    spectra: np.ndarray = field(repr=False)
    bounds: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return int(self.entry_normal.size)

    @cached_property
    def bases(self) -> np.ndarray:
        """(J, 2, 3): ``planes.plane_basis`` (rows, columns) of each indexed normal."""
        return np.stack([np.stack(planes.plane_basis(n)) for n in self.normals])



def _check_params(n_normals, working_radius, offset_step, min_area_fraction):
    if int(n_normals) < 0:
        raise ValueError(f"`n_normals` must be >= 0; got {n_normals}.")
    if not 4.0 <= float(working_radius) <= 256.0:
        raise ValueError(f"`working_radius` must be in [4, 256] voxels; got {working_radius}.")
    if not 0.1 <= float(offset_step) <= float(working_radius) / 2:
        raise ValueError(f"`offset_step` must be in [0.1, working_radius / 2] working voxels; got "
                         f"{offset_step}.")
    if not 0.0 <= float(min_area_fraction) < 1.0:
        raise ValueError(f"`min_area_fraction` must be in [0, 1); got {min_area_fraction}.")


def index_key(volume: np.ndarray, mask: np.ndarray, params: dict) -> str:
    """Hash of the volume's content, its mask and the index parameters (hex, 32 characters).

    Examples
    --------
    >>> volume, mask = np.zeros((4, 4, 4), np.float32), np.ones((4, 4, 4), bool)
    >>> index_key(volume, mask, {"a": 1}) == index_key(volume.copy(), mask, {"a": 1})
    True
    >>> index_key(volume, mask, {"a": 1}) == index_key(volume, mask, {"a": 2})
    False
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps({"version": INDEX_VERSION, "shape": list(volume.shape),
                              **params}, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(volume, dtype=np.float32).tobytes())
    digest.update(np.packbits(np.asarray(mask, dtype=bool)).tobytes())
    return digest.hexdigest()


def build_index(volume: np.ndarray, mask: np.ndarray, *, voxel_size_um: float = 1.0,
                n_normals: int = N_NORMALS, working_radius: float = WORKING_RADIUS,
                offset_step: float = OFFSET_STEP, min_area_fraction: float = MIN_AREA_FRACTION,
                n_rings: int = descriptors.N_RINGS, n_angles: int = descriptors.N_ANGLES,
                max_radius: float = descriptors.MAX_RADIUS,
                n_harmonics: int = descriptors.N_HARMONICS, name: str = "volume") -> VolumeIndex:
    """Index the sections of one volume (see the module docstring).

    Parameters
    ----------
    volume : (P, M, N) ndarray of numbers
        Isotropic, intensity-normalised volume, fossil bright.
    mask : (P, M, N) ndarray of bool
        Filled fossil silhouette (without mounting pin), e.g. from :mod:`fossilct.slicing`.
    voxel_size_um : float, keyword-only
        Voxel edge in micrometres (default 1.0).
    n_normals : int, keyword-only
        Fibonacci normals besides the axes (default ``N_NORMALS``).
    working_radius : float, keyword-only
        Fossil radius in working voxels (default ``WORKING_RADIUS``).
    offset_step : float, keyword-only
        Section spacing in working voxels (default ``OFFSET_STEP``).
    min_area_fraction : float, keyword-only
        Smallest indexed section, as a fraction of the largest of its normal (default
        ``MIN_AREA_FRACTION``).
    n_rings, n_angles, max_radius, n_harmonics : keyword-only
        Polar-signature layout (defaults from :mod:`fossilct.matching.descriptors`).
    name : str, keyword-only
        The volume's name in error messages.

    Returns
    -------
    VolumeIndex

    Raises
    ------
    ValueError, TypeError
        Bad volume, mask or parameters (see
        :func:`~fossilct.matching.errors.check_volume_and_mask`).
    MatchingError
        A volume with no fossil, or one too small to cut any section from.

    Examples
    --------
    >>> grid = np.indices((24, 24, 24)) - 11.5
    >>> mask = (grid[0] / 9) ** 2 + (grid[1] / 6) ** 2 + (grid[2] / 4) ** 2 <= 1
    >>> index = build_index(mask.astype(np.float32), mask, n_normals=4, working_radius=8)
    >>> index.normals.shape, index.spectra.shape[1:]
    ((7, 3), (2, 16, 16))
    """
    volume, mask = check_volume_and_mask(volume, mask, voxel_size_um=voxel_size_um, name=name)
    _check_params(n_normals, working_radius, offset_step, min_area_fraction)
    radii, angles = descriptors.polar_grid(n_rings=n_rings, n_angles=n_angles,
                                           max_radius=max_radius)
    params = dict(n_normals=int(n_normals), working_radius=float(working_radius),
                  offset_step=float(offset_step), min_area_fraction=float(min_area_fraction),
                  n_rings=int(n_rings), n_angles=int(n_angles), max_radius=float(max_radius),
                  n_harmonics=int(n_harmonics))
    work, fossil_centre, factor = working_copy(volume, mask, working_radius=working_radius)
    size = work.shape[0]
    centre_w = np.full(3, (size - 1) / 2.0)
    half = (size - 1) / 2.0 - 1.0
    n_steps = np.floor(half / offset_step)
    offsets = np.arange(-n_steps, n_steps + 1) * offset_step
    normals = index_normals(n_normals)
    vol_centre = (np.asarray(volume.shape, dtype=np.float64) - 1.0) / 2.0
    parts = {k: [] for k in ("normal", "offset", "centroid", "radius", "spectra")}
    for j, normal in enumerate(normals):
        sections = section_stack(work, normal, offsets, size=size)
        area, centroid = descriptors.mask_geometry(sections[..., 0])
        keep = area >= max(MIN_AREA_PX, float(min_area_fraction) * area.max())
        if not keep.any():
            continue
        rho = np.sqrt(area[keep] / np.pi)
        samples = descriptors.polar_samples(sections[keep], centroid[keep], rho, radii=radii,
                                            angles=angles)
        parts["spectra"].append(descriptors.signature_spectra(
            descriptors.make_signatures(samples, radii), n_harmonics=n_harmonics))
        u, v = planes.plane_basis(normal)
        in_plane = centroid[keep] - (size - 1) / 2.0
        points_w = (centre_w + offsets[keep, None] * normal + in_plane[:, :1] * u
                    + in_plane[:, 1:] * v)
        points = (points_w - centre_w) * factor + fossil_centre
        parts["normal"].append(np.full(int(keep.sum()), j))
        parts["offset"].append((points - vol_centre) @ normal)
        parts["centroid"].append(points)
        parts["radius"].append(rho * factor)
    if not parts["normal"]:
        raise MatchingError(f"`volume` ({name}) gave no section of at least {MIN_AREA_PX} working "
                            f"pixels: its fossil is too small or too thin to match.")
    key = index_key(volume, mask, {**params, "voxel_size_um": float(voxel_size_um)})
    spectra = np.concatenate(parts["spectra"])
    return VolumeIndex(
        key=key, params=params, shape=tuple(int(s) for s in volume.shape),
        voxel_size_um=float(voxel_size_um), factor=float(factor), normals=normals,
        entry_normal=np.concatenate(parts["normal"]),
        entry_offset=np.concatenate(parts["offset"]),
        entry_centroid=np.concatenate(parts["centroid"]),
        entry_radius=np.concatenate(parts["radius"]), spectra=spectra,
        bounds=descriptors.bound_features(spectra, n_angles=n_angles))


_ARRAY_FIELDS = ("normals", "entry_normal", "entry_offset", "entry_centroid", "entry_radius",
                 "spectra", "bounds")


def _save(index: VolumeIndex, path: Path) -> None:
    meta = dict(version=INDEX_VERSION, key=index.key, params=index.params,
                shape=list(index.shape), voxel_size_um=index.voxel_size_um, factor=index.factor)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)),
                     **{name: getattr(index, name) for name in _ARRAY_FIELDS})


def _load(path: Path, key: str) -> VolumeIndex | None:
    """The cached index at `path`, or None if it is missing, unreadable or for another key."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != INDEX_VERSION or meta.get("key") != key:
                return None
            arrays = {name: data[name] for name in _ARRAY_FIELDS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    return VolumeIndex(key=key, params=meta["params"], shape=tuple(meta["shape"]),
                       voxel_size_um=float(meta["voxel_size_um"]), factor=float(meta["factor"]),
                       **arrays)


def load_or_build_index(volume: np.ndarray, mask: np.ndarray, *, cache_dir: str | os.PathLike,
                        voxel_size_um: float = 1.0, name: str = "volume", **params
                        ) -> VolumeIndex:
    """Read a volume's index from the cache folder, or build and cache it.

    The cache file is ``<cache_dir>/<stem>-<key>.npz`` where ``stem`` is `name` reduced to safe
    characters and ``key`` is :func:`index_key` of volume, mask, voxel size and parameters. A
    missing, unreadable or outdated file is rebuilt and written atomically; other files of the
    same stem (indexes of an earlier version of this volume or earlier parameters) are removed.

    Parameters
    ----------
    volume, mask, voxel_size_um, name
        As :func:`build_index`.
    cache_dir : path-like, keyword-only
        Folder of the cache (created if missing), e.g. ``outputs/<profile>/matching/index``.
    **params
        Index parameters passed to :func:`build_index`.

    Returns
    -------
    VolumeIndex

    Raises
    ------
    As :func:`build_index`; TypeError for an unknown parameter.
    """
    volume, mask = check_volume_and_mask(volume, mask, voxel_size_um=voxel_size_um, name=name)
    defaults = dict(n_normals=N_NORMALS, working_radius=WORKING_RADIUS, offset_step=OFFSET_STEP,
                    min_area_fraction=MIN_AREA_FRACTION, n_rings=descriptors.N_RINGS,
                    n_angles=descriptors.N_ANGLES, max_radius=descriptors.MAX_RADIUS,
                    n_harmonics=descriptors.N_HARMONICS)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise TypeError(f"Unknown index parameters {unknown}; known: {sorted(defaults)}.")
    full = {k: type(v)(params.get(k, v)) for k, v in defaults.items()}
    key = index_key(volume, mask, {**full, "voxel_size_um": float(voxel_size_um)})
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name))[-80:] or "volume"
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{stem}-{key}.npz"
    if path.is_file():
        index = _load(path, key)
        if index is not None:
            return index
    index = build_index(volume, mask, voxel_size_um=voxel_size_um, name=name, **full)
    _save(index, path)
    for other in cache_dir.glob(f"{stem}-*.npz"):
        if other != path and len(other.stem) == len(stem) + 33:
            other.unlink(missing_ok=True)
    return index
