"""Thresholds and the 3-D fossil mask of a scan: silhouette and mount (pins, glue).

Used by :func:`fossilct.slicing.prepare_volume` (step 3 and 4 of :mod:`fossilct.slicing.volume`).

Thresholds (:func:`threshold_volume`) on the histogram of the blurred, 8-bit scan:

- *material* (fossil, infill, mount): Otsu's threshold, but never below the noise floor
  ``mode + noise_floor_sigmas * sigma`` of the background peak. When the fossil fills a small
  fraction of the scan (thin walls, wide field of view: under 1 % of the voxels in half of the
  synthetic scans) the histogram is one background peak with a faint tail and Otsu splits the
  background itself (half of the voxels "foreground"); the noise floor is then the documented
  fallback. A constant volume, or nothing above the floor, raises
  :class:`~fossilct.segmentation.NoFossilError`.
- *calcite*: a second Otsu threshold among the material voxels, separating the shell from
  intermediate densities (sediment, glue, carbon pins).

Masks (:func:`fossil_masks`), on an analysis grid whose longest side is about ``analysis_size``
(64) voxels (blocks of ``f**3`` voxels; a block is set when any of its voxels is), so their cost
and their parameters do not depend on the scan's resolution:

- ring artefacts (with ``ring_free``, the material once the rings of
  :mod:`fossilct.slicing.rings` are subtracted): a block set only by ring voxels, with no
  ring-free voxel in it or its six face neighbours, is dropped. A bright ring runs through
  every plane; left in, it joins a thin-walled fossil and the hole filling below turns it
  into a solid cylinder that fills the field of view. At the fossil's surface (within one
  block of ring-free material) the threshold alone decides, as without rings, so a ring
  neither cuts the shell nor moves its surface, and a scan whose rings stay below the
  threshold gives the same masks;
- silhouette: the material closed (radius ``closing_voxels``) and its holes filled in 3-D and
  in every 2-D section along the three axes (a chamber whose aperture is open in 3-D is
  still enclosed in most sections): shell + lumen + infill;
- mount: a mounting pin, stem or glue rod is long, thin and leaves the field of view, while
  the fossil is compact. An opening of the silhouette with a ball of radius
  ``mount_opening_fraction`` (0.5) times the silhouette's largest inscribed radius (at
  least 1.5 times the thickest section crossing the volume's faces, at most 0.8 times the
  inscribed radius) keeps the compact body. Of the thinner pieces it cuts, those that touch
  the volume border may hold a pin: the pin is the part that runs from the border to at
  least two voxels away from the body, extended to the body along its fitted axis; thin
  rims and tips of the fossil that the pin touches, spines and necks between chambers stay
  fossil. This is geometric, so it works whether the mount is brighter or darker than
  calcite, and spines are kept because they do not run to the border. The glue blob where
  the pin meets the shell is thicker than the pin and survives the opening; the mount is
  therefore extended by the material connected to the pin's cut within ``mount_growth``
  pin radii of the cut's centre and more than one voxel outside the calcite silhouette (so
  neither the shell's walls nor the fossil's surface layer are taken).
- the fossil is the largest connected component of the silhouette without the mount.

Limits (measured on the synthetic scans with a pin forced on, 56-80^3: 99 % of the fossil's
voxels kept, 3-15 % of the mount's voxels left on average): a pin as thick as the fossil
(next to thin discs such as orbitoides_like or elphidiella_like) survives the opening and is
kept, and so is most of its glue; a fossil part that is thinner than the opening and runs
to the volume border (a truncated scan) is taken for a pin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct.segmentation import (DEFAULT_NOISE_FLOOR_SIGMAS, NoFossilError, foreground_threshold,
                                   otsu_threshold)

__all__ = [
    "VolumeThresholds",
    "FossilMasks",
    "threshold_volume",
    "fossil_masks",
    "upsample_mask",
]

DEFAULT_ANALYSIS_SIZE = 64
DEFAULT_CLOSING_VOXELS = 2.0
DEFAULT_MOUNT_OPENING_FRACTION = 0.5
DEFAULT_MOUNT_GROWTH = 2.0
DEFAULT_MIN_FOSSIL_FRACTION = 1e-3

_PIN_OPENING_MARGIN = 1.5  # the opening's radius is at least 1.5x the thickest border section
_MAX_OPENING_FRACTION = 0.8  # ...but at most 0.8x the inscribed radius, so the body survives
_PIN_MIN_DISTANCE = 2  # analysis voxels from the body (chessboard) that only a pin reaches
_STRIDE = 2  # the histogram from every 2nd voxel per axis: 8x cheaper


@dataclass(frozen=True)
class VolumeThresholds:
    """Thresholds of an 8-bit volume (foreground: values above them).

    Attributes
    ----------
    material : int
        Fossil, infill and mount against air.
    calcite : int
        Shell against intermediate densities (>= `material`).
    method : str
        ``"otsu"`` or ``"noise_floor"`` (the fallback that set `material`).
    noise_floor : float
        Background mode + ``noise_floor_sigmas`` standard deviations.
    """

    material: int
    calcite: int
    method: str
    noise_floor: float


def threshold_volume(volume: np.ndarray, *,
                     noise_floor_sigmas: float = DEFAULT_NOISE_FLOOR_SIGMAS) -> VolumeThresholds:
    """Material and calcite thresholds of an 8-bit (blurred) volume (module step 3).

    Parameters
    ----------
    volume : ndarray of uint8
        Usually :func:`blur_volume` of the scaled scan; the histogram uses every second voxel
        along each axis.
    noise_floor_sigmas : float, keyword-only
        Width of the background peak, in standard deviations, below which nothing is material
        (default 4; see :func:`fossilct.segmentation.foreground_threshold`).

    Returns
    -------
    VolumeThresholds

    Raises
    ------
    TypeError
        If `volume` is not uint8.
    NoFossilError
        If the volume is constant or nothing is above the material threshold.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> volume = np.clip(rng.normal(40, 5, (20, 20, 20)), 0, 255).astype(np.uint8)
    >>> volume[5:15, 5:15, 5:15] = 200
    >>> result = threshold_volume(volume)
    >>> 60 < result.material < 200, result.method
    (True, 'otsu')
    """
    volume = np.asarray(volume)
    if volume.dtype != np.uint8:
        raise TypeError(f"`volume` must be uint8; got {volume.dtype}. Scale it first.")
    sample = volume[::_STRIDE, ::_STRIDE, ::_STRIDE]
    hist = np.bincount(sample.reshape(-1), minlength=256).astype(np.float64)
    if np.count_nonzero(hist) < 2:
        raise NoFossilError("The volume is constant: there is no fossil to slice.")
    material, method, floor = foreground_threshold(hist, noise_floor_sigmas=noise_floor_sigmas)
    above = hist.copy()
    above[:material + 1] = 0.0
    if above.sum() == 0:
        raise NoFossilError(
            f"No voxel is above the material threshold {material}/255 (noise floor "
            f"{floor:.1f}): the volume holds no fossil."
        )
    calcite = max(material, otsu_threshold(above))
    return VolumeThresholds(int(material), int(calcite), method, float(floor))


def _analysis_factor(shape, analysis_size: int) -> int:
    return max(1, int(np.ceil(max(shape) / float(analysis_size))))


def _block_any(mask: np.ndarray, factor: int) -> np.ndarray:
    """True for each factor**3 block holding a True voxel (the last blocks may be partial)."""
    out = mask
    for axis in range(3):
        # OR of strided views, one axis at a time: each pass shrinks the array by `factor`
        size = int(np.ceil(out.shape[axis] / factor))
        reduced = np.zeros(out.shape[:axis] + (size,) + out.shape[axis + 1:], dtype=bool)
        for k in range(factor):
            part = out[(slice(None),) * axis + (slice(k, None, factor),)]
            reduced[(slice(None),) * axis + (slice(0, part.shape[axis]),)] |= part
        out = reduced
    return out


def upsample_mask(mask: np.ndarray, factor: int, shape) -> np.ndarray:
    """Expand an analysis-grid mask to full resolution (each voxel becomes a block).

    Parameters
    ----------
    mask : (p, m, n) ndarray of bool
    factor : int
        Block side.
    shape : (int, int, int)
        Full-resolution shape (the blocks are cropped to it).

    Returns
    -------
    (P, M, N) ndarray of bool

    Examples
    --------
    >>> upsample_mask(np.array([[[True, False]]]), 2, (1, 2, 3)).astype(int).tolist()
    [[[1, 1, 0], [1, 1, 0]]]
    """
    out = mask
    for axis in range(3):
        out = np.repeat(out, factor, axis=axis)
    return out[:shape[0], :shape[1], :shape[2]]


def _ball(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    grid = np.indices((2 * r + 1,) * 3) - r
    return np.sum(grid ** 2, axis=0) <= radius ** 2 + 1e-9


def _closing(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius <= 0:
        return mask
    pad = int(np.ceil(radius))
    closed = ndi.binary_closing(np.pad(mask, pad), structure=_ball(radius))
    return closed[pad:-pad, pad:-pad, pad:-pad] | mask


def _fill_3d(mask: np.ndarray) -> np.ndarray:
    labels, _ = ndi.label(~mask)
    outside = np.isin(labels, _border_labels(labels))
    return ~outside


def _fill_2d_along_axes(mask: np.ndarray) -> np.ndarray:
    """Union over the three axes of 2-D hole filling of every section."""
    out = mask.copy()
    for axis in range(3):
        moved = np.moveaxis(mask, axis, 0)
        filled = np.empty_like(moved)
        for k in range(moved.shape[0]):
            section = np.ascontiguousarray(moved[k]).astype(np.uint8)
            padded = cv2.copyMakeBorder(section, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
            flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
            cv2.floodFill(padded, flood, (0, 0), 2)
            filled[k] = padded[1:-1, 1:-1] != 2
        out |= np.moveaxis(filled, 0, axis)
    return out


def _silhouette(mask: np.ndarray, closing_voxels: float) -> np.ndarray:
    return _fill_2d_along_axes(_fill_3d(_closing(mask, closing_voxels)))


def _border_labels(labels: np.ndarray) -> np.ndarray:
    faces = np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(),
                            labels[:, :, [0, -1]].ravel()])
    found = np.unique(faces)
    return found[found > 0]


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[[0, -1]].any() or mask[:, [0, -1]].any() or mask[:, :, [0, -1]].any())


def _border_section_radius(mask: np.ndarray) -> float:
    """Largest inscribed radius of the mask's sections on the six faces of the volume (2-D)."""
    best = 0.0
    for axis in range(3):
        for index in (0, -1):
            face = np.ascontiguousarray(np.take(mask, index, axis=axis)).astype(np.uint8)
            if face.any():
                padded = cv2.copyMakeBorder(face, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
                best = max(best, float(cv2.distanceTransform(padded, cv2.DIST_L2, 5).max()))
    return best


def _pins(thin: np.ndarray, candidates: np.ndarray, body: np.ndarray) -> np.ndarray:
    """The pin-shaped part of each thin piece that touches the border.

    A thin piece can hold a pin and a thin rim or tip of the fossil that the pin happens to
    touch. The pin is the part that runs from the border away from the body: the piece's
    voxels at least ``_PIN_MIN_DISTANCE`` from the body that connect to the border. A line
    (principal axis) fitted to them extends the pin to the body: the piece's voxels within
    1.5 pin radii of that line, on the pin's side, are the mount too; the rest stays fossil.
    A piece that only grazes the border (nothing that far) is fossil.
    """
    distance = ndi.distance_transform_cdt(~body, metric="chessboard")
    mount = np.zeros(thin.shape, bool)
    for label in candidates:
        piece = thin == label
        far, _ = ndi.label(piece & (distance >= _PIN_MIN_DISTANCE), structure=np.ones((3, 3, 3)))
        pin = np.isin(far, _border_labels(far))
        points = np.argwhere(pin).astype(np.float64)
        if len(points) < 2:
            continue
        centre = points.mean(axis=0)
        direction = np.linalg.svd(points - centre, full_matrices=False)[2][0]
        along = (points - centre) @ direction
        radius = np.percentile(np.sqrt(np.maximum(
            np.sum((points - centre) ** 2, axis=1) - along ** 2, 0.0)), 90) + 1.0
        # the pin's end nearest the body: orient the axis from the border towards the body
        near_end = points[np.argmin(distance[tuple(points.astype(int).T)])]
        toward_body = 1.0 if (near_end - centre) @ direction > 0 else -1.0
        stop = toward_body * ((near_end - centre) @ direction) + 2 * radius
        rest = np.argwhere(piece & ~pin).astype(np.float64)
        rel = rest - centre
        t = toward_body * (rel @ direction)
        across = np.sqrt(np.maximum(np.sum(rel ** 2, axis=1) - (rel @ direction) ** 2, 0.0))
        stub = rest[(across <= 1.5 * radius) & (t <= stop)].astype(int)
        mount |= pin
        mount[tuple(stub.T)] = True
    return mount


def _grow_mount(mount: np.ndarray, silhouette: np.ndarray, depth: np.ndarray,
                calcite: np.ndarray, closing_voxels: float, growth: float) -> np.ndarray:
    """Add the glue blob: material next to where each pin was cut, outside the shell's walls.

    Per pin, the region grown is limited to a ball of ``growth`` pin radii around the centre of
    the cut, and to voxels more than one voxel outside the calcite silhouette, so it can
    neither run along the fossil's surface nor eat its walls.
    """
    shell = ndi.binary_dilation(_silhouette(calcite, closing_voxels))
    candidates = silhouette & ~shell & ~mount
    body = silhouette & ~mount
    pins, count = ndi.label(mount, structure=np.ones((3, 3, 3)))
    grown = mount.copy()
    grid = np.indices(mount.shape, dtype=np.float32)
    for label in range(1, count + 1):
        pin = pins == label
        cut = pin & ndi.binary_dilation(body)
        if not cut.any():
            continue
        radius = growth * float(depth[pin].max())
        centre = np.argwhere(cut).mean(axis=0)
        ball = np.sum((grid - centre.reshape(3, 1, 1, 1).astype(np.float32)) ** 2, axis=0) <= radius ** 2
        blob, _ = ndi.label((candidates & ball) | pin)
        grown |= np.isin(blob, np.unique(blob[pin])) & ~pin | pin
    return grown


@dataclass(frozen=True)
class FossilMasks:
    """Masks on the analysis grid (see :func:`fossil_masks`).

    Attributes
    ----------
    silhouette : (p, m, n) ndarray of bool
        The fossil: shell + lumen + infill, mount removed.
    mount : (p, m, n) ndarray of bool
        Removed structures (pin, glue, anything thin that runs to the border).
    factor : int
        Analysis block side in voxels.
    touches_border : bool
        The fossil itself touches the volume border (a truncated scan).
    ring_blocks : int
        Material blocks dropped as ring artefacts (0 without ``ring_free``).
    """

    silhouette: np.ndarray
    mount: np.ndarray
    factor: int
    touches_border: bool
    ring_blocks: int


def fossil_masks(material: np.ndarray, calcite: np.ndarray | None = None, *,
                 ring_free: np.ndarray | None = None,
                 analysis_size: int = DEFAULT_ANALYSIS_SIZE,
                 closing_voxels: float = DEFAULT_CLOSING_VOXELS,
                 mount_opening_fraction: float = DEFAULT_MOUNT_OPENING_FRACTION,
                 mount_growth: float = DEFAULT_MOUNT_GROWTH,
                 min_fossil_fraction: float = DEFAULT_MIN_FOSSIL_FRACTION) -> FossilMasks:
    """Find the fossil's filled silhouette and the mount (module step 4).

    Parameters
    ----------
    material : (P, M, N) ndarray of bool
        Voxels above the material threshold.
    calcite : (P, M, N) ndarray of bool, optional
        Voxels above the calcite threshold; stops the mount's growth. Default: `material`.
    ring_free : (P, M, N) ndarray of bool, optional, keyword-only
        Voxels above the material threshold plus the ring artefacts at their pixel
        (:func:`fossilct.slicing.rings.estimate_rings`); material blocks away from them are
        ring artefacts and dropped (module docstring). Default None: no ring is dropped.
    analysis_size : int, keyword-only
        Longest side of the analysis grid (>= 8), default 64.
    closing_voxels : float, keyword-only
        Closing radius in analysis voxels (seals foramina and apertures), default 2.
    mount_opening_fraction : float, keyword-only
        Opening radius as a fraction of the silhouette's largest inscribed radius, in [0, 1);
        default 0.5. 0 disables mount removal.
    mount_growth : float, keyword-only
        How far the mount grows back towards the shell, in pin radii, default 2 (the generator's
        and typical glue blobs are 1.2-1.8 pin radii).
    min_fossil_fraction : float, keyword-only
        The fossil must fill at least this fraction of the analysis grid, default 1e-3.

    Returns
    -------
    FossilMasks

    Raises
    ------
    ValueError
        If the masks are not 3-D or differ in shape, or an option is out of range.
    NoFossilError
        If nothing (or too little) is material.

    Examples
    --------
    >>> grid = np.indices((40, 40, 40)) - 20
    >>> shell = np.abs(np.sqrt(np.sum(grid ** 2, axis=0)) - 10) < 1.5
    >>> pin = (np.hypot(grid[1], grid[2]) < 2) & (grid[0] > 10)   # runs to the border
    >>> masks = fossil_masks(shell | pin, shell)
    >>> masks.factor, bool(masks.silhouette[20, 20, 20]), bool(masks.mount[35, 20, 20])
    (1, True, True)

    A bright ring in every plane, crossing the shell, swallows the field of view unless
    `ring_free` tells it apart:

    >>> ring = np.abs(np.hypot(grid[1] + 4, grid[2] + 4) - 15) < 1
    >>> swallowed = fossil_masks(shell | ring, shell)
    >>> kept = fossil_masks(shell | ring, shell, ring_free=shell)
    >>> swallowed.touches_border, kept.touches_border, round(float(kept.silhouette.mean()), 2)
    (True, False, 0.1)
    """
    material = np.asarray(material, dtype=bool)
    calcite = material if calcite is None else np.asarray(calcite, dtype=bool)
    ring_free = None if ring_free is None else np.asarray(ring_free, dtype=bool)
    if material.ndim != 3 or calcite.shape != material.shape:
        raise ValueError(
            f"`material` must be 3-D and `calcite` of the same shape; got {material.shape} and "
            f"{calcite.shape}."
        )
    if ring_free is not None and ring_free.shape != material.shape:
        raise ValueError(
            f"`ring_free` must have the shape of `material` {material.shape}; got "
            f"{ring_free.shape}. Threshold the same volume as `material`."
        )
    if int(analysis_size) < 8:
        raise ValueError(f"`analysis_size` must be at least 8 voxels; got {analysis_size}.")
    if not 0.0 <= float(mount_opening_fraction) < 1.0:
        raise ValueError(f"`mount_opening_fraction` must be in [0, 1); got {mount_opening_fraction}.")
    if float(closing_voxels) < 0 or float(mount_growth) < 0:
        raise ValueError(
            f"`closing_voxels` and `mount_growth` must be >= 0; got {closing_voxels}, {mount_growth}."
        )
    factor = _analysis_factor(material.shape, int(analysis_size))
    coarse = _block_any(material, factor)
    ring_blocks = 0
    if ring_free is not None:
        # one block (face neighbours) of slack keeps the fossil's surface as the threshold set it
        kept = coarse & ndi.binary_dilation(_block_any(ring_free, factor))
        ring_blocks = int(np.count_nonzero(coarse & ~kept))
        coarse = kept
    if not coarse.any():
        raise NoFossilError("Nothing is above the material threshold: the volume holds no fossil.")
    silhouette = _silhouette(coarse, float(closing_voxels))
    labels, _ = ndi.label(silhouette)
    largest = int(np.bincount(labels.ravel())[1:].max())
    if largest < float(min_fossil_fraction) * silhouette.size:
        raise NoFossilError(
            f"The largest object above the threshold fills {largest / silhouette.size:.1e} of "
            f"the volume, below min_fossil_fraction={min_fossil_fraction}: no fossil found."
        )
    # pad by one so that the volume border counts as outside for the inscribed radius
    depth = ndi.distance_transform_edt(np.pad(silhouette, 1))
    inscribed = float(depth.max())
    # the opening must also cut the thickest structure crossing the border (a pin's section)
    radius = float(mount_opening_fraction) * inscribed
    if radius > 0:
        radius = min(max(radius, _PIN_OPENING_MARGIN * _border_section_radius(silhouette)),
                     _MAX_OPENING_FRACTION * inscribed)
    depth = depth[1:-1, 1:-1, 1:-1]
    mount = np.zeros_like(silhouette)
    if radius >= 1.0:
        core = np.pad(depth > radius, 1)
        body = (ndi.distance_transform_edt(~core) <= radius)[1:-1, 1:-1, 1:-1] & silhouette
        thin, _ = ndi.label(silhouette & ~body, structure=np.ones((3, 3, 3)))
        candidates = _border_labels(thin)
        if candidates.size:
            mount = _pins(thin, candidates, body)
    if mount.any() and mount_growth > 0:
        mount = _grow_mount(mount, silhouette, depth, _block_any(calcite, factor),
                            float(closing_voxels), float(mount_growth))
    labels, _ = ndi.label(silhouette & ~mount)
    fossil = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    return FossilMasks(fossil, mount, factor, _touches_border(fossil), ring_blocks)
