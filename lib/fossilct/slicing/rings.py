"""Ring artefacts of a CT scan: bright or dark rings about the rotation axis, in every plane.

A detector element whose gain is off adds the same error to every projection it takes part in;
after reconstruction the error is a ring about the rotation axis, at the same radius in every
slice, so in 3-D a thin cylinder that runs through the whole scan. The planes of a volume are
the reconstruction's slices (the rotation axis runs along the plane axis). A bright ring above
the material threshold is "material" from the first plane to the last; joined to a thin-walled
fossil it makes the 3-D fossil mask enclose the field of view.

:func:`estimate_rings` measures the rings the way polar-coordinate ring correction does (the
ring is the narrow part of the radial profile about the axis), with each step made robust to
the fossil:

1. per pixel, the ``plane_quantile`` (10th) percentile over the planes: a ring is in every
   plane, a fossil structure has to fill 90 % of the planes at that pixel to show;
2. the axis: the least-squares point where the lines through the strongest-gradient pixels,
   along their gradient, meet (a ring's gradient points at its centre), iteratively reweighted
   so that lines missing the centre by more than a few voxels (the fossil, noise) lose their
   weight; no search window, so an axis far off the slice centre (a cropped scan) is found too;
3. the radial profile about it, in half-voxel bins: in each of the ``n_sectors`` (8) angular
   sectors that the bin's circle crosses inside the slice the bin's mean, then the median over
   them, where the circle crosses at least half of the sectors (a ring goes all the way round,
   so a structure on fewer than half of the crossed sectors does not count);
4. that profile minus its running median over ``radial_window_vox`` (16) voxels of radius:
   what varies slowly (cupping, the steps at the fossil's edges) is removed, the narrow rings
   remain. Only the positive part is kept: a dark ring cannot make material.

:func:`fossilct.slicing.fossil_masks` uses the estimate through its ``ring_free`` mask: voxels
above the material threshold by more than the ring at their radius.

Limits: a ring that changes from plane to plane, lies within about a voxel of the axis, or
has less than half of its circle inside the slice (an axis near a corner of a cropped scan),
is not measured; a fossil structure that is a cylinder about the axis in 90 % of the planes
(a straight tube standing on the axis) is taken for a ring.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage as ndi

__all__ = ["RingArtefacts", "estimate_rings"]

DEFAULT_PLANE_QUANTILE = 10.0
DEFAULT_N_SECTORS = 8
DEFAULT_RADIAL_WINDOW_VOX = 16.0

_BIN_VOX = 0.5  # radial bin: rings one or two voxels wide keep their peak
_MAX_PLANES = 64  # a ring is in every plane: 64 of them give the percentile (4x faster at 256)
_STRONG_SHARE = 0.25  # the quarter of the pixels with the strongest gradient vote for the axis
_MISS_SCALE_VOX = 2.0  # a line missing the axis by this much keeps half its weight
_ITERATIONS = 10


@dataclass(frozen=True)
class RingArtefacts:
    """Bright ring artefacts of a volume (see :func:`estimate_rings`).

    Attributes
    ----------
    pattern : (M, N) ndarray of float32
        What the rings add to every plane, in the volume's units; >= 0, 0 away from the rings.
    centre : (2,) ndarray of float
        The rotation axis (row, col) in pixels.
    """

    pattern: np.ndarray
    centre: np.ndarray


def _plane_quantile_image(volume: np.ndarray, quantile: float) -> np.ndarray:
    step = max(1, volume.shape[0] // _MAX_PLANES)
    return np.percentile(volume[::step], quantile, axis=0).astype(np.float32)


def _axis_centre(image: np.ndarray, radial_window_vox: float) -> np.ndarray:
    """Least-squares meeting point of the gradient lines of the image's narrow structures."""
    high = image - cv2.GaussianBlur(image, (0, 0), radial_window_vox / 4.0,
                                    borderType=cv2.BORDER_REPLICATE)
    grad_row = cv2.Sobel(high, cv2.CV_32F, 0, 1, ksize=3).astype(np.float64)
    grad_col = cv2.Sobel(high, cv2.CV_32F, 1, 0, ksize=3).astype(np.float64)
    strength = np.hypot(grad_row, grad_col)
    middle = (np.array(image.shape, float) - 1) / 2.0
    strong = strength > np.quantile(strength, 1.0 - _STRONG_SHARE)
    if not strong.any():
        return middle
    # the line through p along the gradient: normal . x = normal . p, normal perpendicular to it
    normal = np.stack([-grad_col[strong], grad_row[strong]], axis=1) / strength[strong, None]
    points = np.argwhere(strong).astype(np.float64)
    offset = np.sum(normal * points, axis=1)
    base = strength[strong] ** 2
    weight = base
    centre = middle
    for _ in range(_ITERATIONS):
        normal_w = normal * weight[:, None]
        system = normal_w.T @ normal
        if abs(np.linalg.det(system)) <= 1e-9 * np.trace(system) ** 2:
            return middle  # every line parallel: no ring to find a centre from
        centre = np.linalg.solve(system, normal_w.T @ offset)
        miss = normal @ centre - offset
        weight = base / (1.0 + (miss / _MISS_SCALE_VOX) ** 2)
    return centre


def _ring_profile(image: np.ndarray, centre: np.ndarray, *, n_sectors: int,
                  radial_window_vox: float) -> tuple[np.ndarray, np.ndarray]:
    """Radius bin of each pixel and the positive narrow part of the profile per bin."""
    rows, cols = np.indices(image.shape, dtype=np.float64)
    d_row, d_col = rows - centre[0], cols - centre[1]
    bins = (np.hypot(d_row, d_col) / _BIN_VOX).astype(np.intp)
    sector = np.minimum(((np.arctan2(d_row, d_col) + np.pi) / (2 * np.pi) * n_sectors)
                        .astype(np.intp), n_sectors - 1)
    n_bins = int(bins.max()) + 1
    key = (bins * n_sectors + sector).ravel()
    count = np.bincount(key, minlength=n_bins * n_sectors).reshape(n_bins, n_sectors)
    total = np.bincount(key, image.ravel(), minlength=n_bins * n_sectors).reshape(n_bins, n_sectors)
    crossed = count > 0
    measured = 2 * crossed.sum(axis=1) >= n_sectors
    ring = np.zeros(n_bins)
    if measured.any():
        means = np.where(crossed[measured], total[measured] / np.maximum(count[measured], 1),
                         np.nan)
        profile = np.nanmedian(means, axis=1)
        window = 2 * int(round(radial_window_vox / (2 * _BIN_VOX))) + 1
        ring[measured] = np.maximum(profile - ndi.median_filter(profile, size=window,
                                                              mode="nearest"), 0.0)
    return bins, ring


def estimate_rings(volume: np.ndarray, *, plane_quantile: float = DEFAULT_PLANE_QUANTILE,
                   n_sectors: int = DEFAULT_N_SECTORS,
                   radial_window_vox: float = DEFAULT_RADIAL_WINDOW_VOX) -> RingArtefacts:
    """Estimate the bright ring artefacts of a volume (the module's steps 1-4).

    Parameters
    ----------
    volume : (P, M, N) ndarray of real numbers
        Planes are the reconstruction's slices; usually the blurred 8-bit analysis volume of
        :func:`fossilct.slicing.prepare_volume`.
    plane_quantile : float, keyword-only
        Percentile over the planes, in [0, 50]; default 10: a structure must fill 90 % of the
        planes at a pixel to be taken for a ring.
    n_sectors : int, keyword-only
        Angular sectors (>= 3); default 8: a ring must cover more than half of them.
    radial_window_vox : float, keyword-only
        Running-median window over the radius, voxels (> 2); default 16: rings narrower than
        about half of it are measured.

    Returns
    -------
    RingArtefacts

    Raises
    ------
    ValueError
        If `volume` is not 3-D with planes of at least 3 x 3 pixels, holds NaN/inf, or an
        option is out of range.

    Examples
    --------
    >>> rows, cols = np.indices((40, 40)) - np.array([21.0, 18.0])[:, None, None]
    >>> ring = 30.0 * np.exp(-(np.hypot(rows, cols) - 12) ** 2 / 2)
    >>> volume = np.broadcast_to(40.0 + ring, (16, 40, 40))
    >>> rings = estimate_rings(volume)
    >>> np.round(rings.centre, 1).tolist(), bool(rings.pattern[21, 30] > 25), float(rings.pattern[21, 18])
    ([21.0, 18.0], True, 0.0)
    """
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape[1:]) < 3 or volume.shape[0] < 1:
        raise ValueError(
            f"`volume` must be 3-D (plane, row, col) with planes of at least 3 x 3 pixels; got "
            f"shape {volume.shape}. Pass the whole scan, not one slice."
        )
    if not np.issubdtype(volume.dtype, np.number) or (
            np.issubdtype(volume.dtype, np.inexact) and not np.isfinite(volume).all()):
        raise ValueError(f"`volume` must hold finite real numbers; got dtype {volume.dtype} "
                         f"with NaN/inf or non-numbers. Fix the file or fill the gaps first.")
    if not 0.0 <= float(plane_quantile) <= 50.0:
        raise ValueError(f"`plane_quantile` must be in [0, 50] (percent); got {plane_quantile}.")
    if int(n_sectors) < 3:
        raise ValueError(f"`n_sectors` must be at least 3; got {n_sectors}.")
    if not float(radial_window_vox) > 2.0:
        raise ValueError(f"`radial_window_vox` must be more than 2 voxels; got {radial_window_vox}.")
    image = _plane_quantile_image(volume, float(plane_quantile))
    centre = _axis_centre(image, float(radial_window_vox))
    bins, ring = _ring_profile(image, centre, n_sectors=int(n_sectors),
                               radial_window_vox=float(radial_window_vox))
    return RingArtefacts(ring[bins].astype(np.float32), centre)
