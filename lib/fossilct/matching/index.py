"""Per-volume index of candidate sections, and its on-disk cache.

:func:`build_index` cuts one volume along a set of plane normals (the three axes plus a
Fibonacci hemisphere) at regularly spaced offsets and stores, per section, where it lies (normal,
offset, 3-D centroid, equivalent radius) and its polar-signature spectra
(:mod:`fossilct.matching.descriptors`). A query is then compared with every section of a volume
at once, all in-plane turns and mirror images included (:mod:`fossilct.matching.search`).

The sections are cut from a *working copy* of the volume: the fossil's bounding ball, resampled
(anti-aliased) so that its radius is ``working_radius`` voxels, with a fossil silhouette as a
second channel. That silhouette is re-segmented on the working copy (Otsu threshold inside the
given mask grown by ``MASK_GROWTH`` voxels, closing, hole filling in 3-D and in the sections
along each axis, largest component) because the sections are compared with queries segmented
by thresholding (:func:`fossilct.segmentation.segment_slice`), whereas the given mask may be
coarser (the block-wise silhouette of :mod:`fossilct.slicing` is a voxel or two too wide, which
biases every section's centroid and size); the given mask still bounds it, so a mounting pin
stays out. The working copy is kept in the index for the local refinement of poses, so a search
never touches the full-resolution volume until it renders the final match.

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
from pathlib import Path

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct import planes
from fossilct.atomic import atomic_path
from fossilct.matching import descriptors
from fossilct.matching.errors import MatchingError, check_volume_and_mask

__all__ = [
    "INDEX_VERSION",
    "N_NORMALS",
    "WORKING_RADIUS",
    "OFFSET_STEP",
    "MIN_AREA_FRACTION",
    "VolumeIndex",
    "index_normals",
    "working_copy",
    "section_stack",
    "build_index",
    "index_key",
    "load_or_build_index",
]

INDEX_VERSION = 2
"""Bumped whenever the index layout or its computation changes (invalidates every cache)."""
N_NORMALS = 150
"""Fibonacci-hemisphere normals besides the three axes (about 11 degrees apart)."""
WORKING_RADIUS = 24.0
"""Radius, in working voxels, of the fossil's bounding ball in the working copy."""
OFFSET_STEP = 1.0
"""Spacing of the indexed sections along each normal, in working voxels."""
MIN_AREA_FRACTION = 0.05
"""Sections smaller than this fraction of the largest section of their normal are not indexed
(caps of the fossil: too small to place reliably)."""
MIN_AREA_PX = 12.0
"""Sections below this area (working pixels) are never indexed."""
ANTIALIAS_SIGMA = 0.5
"""Gaussian prefilter before downsampling, in working voxels."""
MASK_GROWTH = 2
"""The re-segmented silhouette may extend this many working voxels beyond the given mask."""
MIN_MASK_AGREEMENT = 0.5
"""The re-segmented silhouette is used only if it keeps at least this share of the given mask."""


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
    fossil_centre : (3,) ndarray of float64
        Centroid of the fossil mask.
    factor : float
        Full-resolution voxels per working voxel (>= 1).
    work : (S, S, S, 2) ndarray of float32
        Working copy: channel 0 the fossil mask (fractional), channel 1 the image. Working voxel
        ``w`` lies at ``fossil_centre + factor * (w - (S - 1) / 2)``.
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
    fossil_centre: np.ndarray
    factor: float
    work: np.ndarray
    normals: np.ndarray
    entry_normal: np.ndarray
    entry_offset: np.ndarray
    entry_centroid: np.ndarray
    entry_radius: np.ndarray
    spectra: np.ndarray = field(repr=False)
    bounds: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return int(self.entry_normal.size)

    def to_work(self, points: np.ndarray) -> np.ndarray:
        """Map full-resolution voxel coordinates (..., 3) to working-copy coordinates."""
        centre_w = (self.work.shape[0] - 1) / 2.0
        return (np.asarray(points) - self.fossil_centre) / self.factor + centre_w

    def to_full(self, points: np.ndarray) -> np.ndarray:
        """Map working-copy coordinates (..., 3) to full-resolution voxel coordinates."""
        centre_w = (self.work.shape[0] - 1) / 2.0
        return (np.asarray(points) - centre_w) * self.factor + self.fossil_centre


def _fossil_ball(mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Centroid and bounding radius of the fossil (strided for large masks)."""
    stride = 2 if mask.size > 96 ** 3 else 1
    points = np.argwhere(mask[::stride, ::stride, ::stride]).astype(np.float64) * stride
    centre = points.mean(axis=0)
    radius = float(np.sqrt(((points - centre) ** 2).sum(axis=1).max())) + stride
    return centre, radius


def working_copy(volume: np.ndarray, mask: np.ndarray, *, working_radius: float = WORKING_RADIUS
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """Resample the fossil's bounding ball so that its radius is `working_radius` voxels.

    Parameters
    ----------
    volume : (P, M, N) ndarray of float32
    mask : (P, M, N) ndarray of bool
        Non-empty fossil mask.
    working_radius : float, keyword-only
        Target radius in working voxels (default ``WORKING_RADIUS``); volumes whose fossil is
        already smaller are not enlarged.

    Returns
    -------
    work : (S, S, S, 2) ndarray of float32
        Channel 0 the re-segmented fossil silhouette (fractional: smoothed by
        ``ANTIALIAS_SIGMA``), channel 1 the image; zero outside the volume.
    fossil_centre : (3,) ndarray of float64
        Fossil centroid in the volume, the centre of the working copy.
    factor : float
        Volume voxels per working voxel.

    Examples
    --------
    >>> mask = np.zeros((20, 20, 20), bool); mask[5:15, 5:15, 5:15] = True
    >>> work, centre, factor = working_copy(mask.astype(np.float32), mask, working_radius=4)
    >>> work.shape, centre.tolist(), round(factor, 3)
    ((13, 13, 13, 2), [9.5, 9.5, 9.5], 2.199)
    """
    centre, radius = _fossil_ball(mask)
    factor = max(1.0, radius / float(working_radius))
    half = int(np.ceil(radius / factor)) + 2
    size = 2 * half + 1
    sigma = ANTIALIAS_SIGMA * factor if factor > 1.2 else 0.0
    offset = centre - factor * half
    out = np.empty((size, size, size, 2), np.float32)
    for channel, data in enumerate((mask.astype(np.float32), volume)):
        smooth = ndi.gaussian_filter(data, sigma, truncate=3.0) if sigma else data
        out[..., channel] = ndi.affine_transform(smooth, np.full(3, factor), offset=offset,
                                                 output_shape=(size,) * 3, order=1,
                                                 mode="constant", cval=0.0)
    out[..., 0] = _resegment(out[..., 1], out[..., 0] > 0.5)
    return out, centre, factor


def _otsu(values: np.ndarray) -> float | None:
    """Otsu threshold of a 1-D sample (256 bins), None if it is constant."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return None
    hist, edges = np.histogram(values, bins=256, range=(low, high))
    weight = np.cumsum(hist).astype(np.float64)
    mean = np.cumsum(hist * edges[:-1])
    total_w, total_m = weight[-1], mean[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_m * weight - mean * total_w) ** 2 / (weight * (total_w - weight))
    return float(edges[int(np.nanargmax(between[:-1])) + 1])


def _fill_sections(mask: np.ndarray) -> np.ndarray:
    """Union of the 3-D hole filling and of the 2-D filling of every section along each axis."""
    filled = ndi.binary_fill_holes(mask)
    for axis in range(3):
        moved = np.moveaxis(mask, axis, 0)
        filled |= np.moveaxis(np.stack([ndi.binary_fill_holes(s) for s in moved]), 0, axis)
    return filled


def _resegment(image: np.ndarray, given: np.ndarray) -> np.ndarray:
    """The fossil silhouette re-segmented on the working copy (see the module docstring)."""
    region = ndi.binary_dilation(given, iterations=MASK_GROWTH)
    threshold = _otsu(image[region])
    fallback = given.astype(np.float32)
    if threshold is None:
        return fallback
    foreground = ndi.binary_closing(image > threshold, ndi.generate_binary_structure(3, 1),
                                    border_value=0) & region
    labels, count = ndi.label(_fill_sections(foreground))
    if count == 0:
        return fallback
    silhouette = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    if (silhouette & given).sum() < MIN_MASK_AGREEMENT * given.sum():
        return fallback
    return ndi.gaussian_filter(silhouette.astype(np.float32), ANTIALIAS_SIGMA)


def section_stack(work: np.ndarray, normal, offsets: np.ndarray, *, size: int) -> np.ndarray:
    """Sections of one normal at many offsets through the centre of a cubic working copy.

    Same result as ``planes.sample_planes(work, normal, offsets, size=size)`` (planes
    convention: offsets from the cube's centre, image centred on the centre's projection, rows
    along ``plane_basis(normal)[0]``) and the same shear-warp method, but the interpolation along
    the dominant axis runs once for all offsets (one ``cv2.remap``), which removes the per-section
    overhead that dominates when thousands of small sections are cut.

    Parameters
    ----------
    work : (S, S, S, C) ndarray of float32
        Cubic volume with C <= 4 channels.
    normal : (3,) array_like
        Plane normal.
    offsets : (K,) ndarray of float
        Offsets from the cube centre along the normal, voxels.
    size : int, keyword-only
        Side of the square sections.

    Returns
    -------
    (K, size, size, C) ndarray of float32

    Examples
    --------
    >>> work = np.random.default_rng(0).random((9, 9, 9, 2)).astype(np.float32)
    >>> stack = section_stack(work, (0.8, 0.6, 0.0), np.array([-1.0, 0.5]), size=7)
    >>> reference = planes.sample_planes(work, (0.8, 0.6, 0.0), [-1.0, 0.5], size=7)
    >>> bool(np.abs(stack - reference).max() < 0.02)
    True
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    u, v = planes.plane_basis(n)
    d = int(np.argmax(np.abs(n)))
    a, b = [k for k in range(3) if k != d]
    channels = work.shape[3]
    depth, len_a, len_b = (work.shape[k] for k in (d, a, b))
    by_depth = np.ascontiguousarray(work.transpose(d, a, b, 3)).reshape(depth, len_a * len_b,
                                                                         channels)
    centre = (np.asarray(work.shape[:3], dtype=np.float64) - 1.0) / 2.0
    grid_a = np.arange(len_a, dtype=np.float64)[:, None] - centre[a]
    grid_b = np.arange(len_b, dtype=np.float64)[None, :] - centre[b]
    # plane k through centre + (offset_k / n_d) e_d, as a height field over the (a, b) grid
    height = centre[d] - (n[a] * grid_a + n[b] * grid_b) / n[d]
    map_y = (height.reshape(1, -1) + offsets[:, None] / n[d]).astype(np.float32)
    map_x = np.broadcast_to(np.arange(len_a * len_b, dtype=np.float32), map_y.shape)
    sheared = cv2.remap(by_depth, np.ascontiguousarray(map_x), map_y, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    sheared = sheared.reshape(len(offsets), len_a, len_b, channels)
    half = (size - 1) / 2.0
    out = np.empty((len(offsets), size, size, channels), np.float32)
    for k, offset in enumerate(offsets):
        origin = centre + offset * n
        affine = np.array([[v[b], u[b], origin[b] - half * (u[b] + v[b])],
                           [v[a], u[a], origin[a] - half * (u[a] + v[a])]])
        warped = cv2.warpAffine(sheared[k], affine, (size, size),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[k] = warped.reshape(size, size, channels)
    return out


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
        Bad volume, mask or parameters (see :func:`~fossilct.matching.errors.check_volume_and_mask`).
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
    offsets = np.arange(-np.floor(half / offset_step), np.floor(half / offset_step) + 1) * offset_step
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
        samples = descriptors.polar_samples(sections[keep], centroid[keep], rho, radii=radii, angles=angles)
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
        voxel_size_um=float(voxel_size_um), fossil_centre=fossil_centre, factor=float(factor),
        work=work, normals=normals, entry_normal=np.concatenate(parts["normal"]),
        entry_offset=np.concatenate(parts["offset"]),
        entry_centroid=np.concatenate(parts["centroid"]),
        entry_radius=np.concatenate(parts["radius"]), spectra=spectra,
        bounds=descriptors.bound_features(spectra, n_angles=n_angles))


_ARRAY_FIELDS = ("fossil_centre", "work", "normals", "entry_normal", "entry_offset",
                 "entry_centroid", "entry_radius", "spectra", "bounds")


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
