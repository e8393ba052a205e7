"""The working copy of a volume that the index cuts its sections from.

The fossil's bounding ball is resampled (anti-aliased) so that its radius is
``working_radius`` voxels; the index's cost then does not depend on the scan's resolution. The
second channel is a fossil silhouette re-segmented on the working copy (Otsu threshold inside
the given mask grown by ``MASK_GROWTH`` voxels, closing, hole filling in 3-D and in the sections
along each axis, largest component): the index's sections are compared with queries segmented
by thresholding (:func:`fossilct.segmentation.segment_slice`), whereas the given mask may be
coarser (the block-wise silhouette of :mod:`fossilct.slicing` is a voxel or two too wide, which
biased every section's centroid and size and cost a tenth of the coarse search's top-1 hits).
The given mask still bounds it, so a mounting pin stays out.

:func:`section_stack` cuts many sections of one normal at once. It is the shear-warp sampling
of :func:`fossilct.planes.sample_planes` (same convention, same result) with the interpolation
along the dominant axis done for all offsets in a single ``cv2.remap``: the index cuts thousands
of small sections, for which the per-section overhead of ``sample_planes`` dominated (4 s
instead of 0.8 s per 96^3 volume).
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct import planes

__all__ = ["WORKING_RADIUS", "ANTIALIAS_SIGMA", "MASK_GROWTH", "MIN_MASK_AGREEMENT",
           "working_copy", "section_stack"]

WORKING_RADIUS = 24.0
"""Radius, in working voxels, of the fossil's bounding ball in the working copy."""
ANTIALIAS_SIGMA = 0.5
"""Gaussian prefilter before downsampling, in working voxels."""
MASK_GROWTH = 2
"""The re-segmented silhouette may extend this many working voxels beyond the given mask."""
MIN_MASK_AGREEMENT = 0.5
"""The re-segmented silhouette is used only if it keeps at least this share of the given mask."""


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
