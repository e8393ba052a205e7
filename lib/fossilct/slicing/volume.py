"""Per-volume preparation: intensity scaling, thresholds, 3-D fossil mask, mount removal, crop.

Steps of :func:`prepare_volume` (about 0.4 s for a 256^3 volume on one core):

1. Resample to isotropic voxels (:func:`fossilct.volumes.resample_isotropic`).
2. Analysis scale: the volume is mapped to 8 bits between its 0.01th and 99.99th percentiles
   and blurred (:func:`blur_volume`, ``blur_sigma`` voxels) so that thresholds do not pick up
   noise.
3. Material and calcite thresholds: :func:`fossilct.slicing.masks.threshold_volume` (Otsu,
   with the background's noise floor as the fallback when the fossil is a tiny fraction of
   the voxels), and the bright ring artefacts about the rotation axis:
   :func:`fossilct.slicing.rings.estimate_rings`.
4. The fossil's filled silhouette and the mount (pins, glue), on a coarse analysis grid, with
   material made by rings alone dropped: :func:`fossilct.slicing.masks.fossil_masks` (the
   method and its limits are described there).
5. Output scale: the volume is clipped to the 1st percentile of all voxels and the 99th
   percentile of the material voxels and scaled to 8 bits. (The study clipped to the 1st and
   99th percentiles of all voxels; when the shell is under 1 % of the voxels the 99th
   percentile falls in the background and the fossil saturates, hence the material's
   percentile for the upper limit.) The mount and a one-block halo are set to the background
   level (the histogram's background mode), and the volume is cropped to the fossil's bounding
   box plus ``crop_margin`` voxels; slices read the background level outside the crop too, so
   their padding looks like more background.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct import planes as planes_mod
from fossilct.segmentation import DEFAULT_NOISE_FLOOR_SIGMAS, NoFossilError
from fossilct.slicing.masks import (DEFAULT_ANALYSIS_SIZE, DEFAULT_CLOSING_VOXELS,
                                    DEFAULT_MIN_FOSSIL_FRACTION, DEFAULT_MOUNT_GROWTH,
                                    DEFAULT_MOUNT_OPENING_FRACTION, FossilMasks, VolumeThresholds,
                                    fossil_masks, threshold_volume, upsample_mask)
from fossilct.slicing.rings import estimate_rings
from fossilct.volumes import resample_isotropic

__all__ = [
    "DEFAULT_PERCENTILES",
    "PreparedVolume",
    "blur_volume",
    "prepare_volume",
]

DEFAULT_PERCENTILES = (1.0, 99.0)
DEFAULT_BLUR_SIGMA = 0.8
DEFAULT_CROP_MARGIN = 4

_STRIDE = 2  # percentiles from every 2nd voxel per axis: 8x cheaper
_RANGE_PERCENTILES = (0.01, 99.99)  # analysis scale: robust min and max


def blur_volume(volume: np.ndarray, sigma: float = DEFAULT_BLUR_SIGMA) -> np.ndarray:
    """Gaussian blur of a uint8 volume, separably with OpenCV (in-plane, then across planes).

    Parameters
    ----------
    volume : (P, M, N) ndarray of uint8
    sigma : float
        Standard deviation in voxels, the same along the three axes; 0 returns a copy.

    Returns
    -------
    (P, M, N) ndarray of uint8

    Examples
    --------
    >>> volume = np.zeros((5, 5, 5), np.uint8); volume[2, 2, 2] = 255
    >>> blurred = blur_volume(volume, 1.0)
    >>> int(blurred[2, 2, 2]) < 255, int(blurred.sum()) > 200
    (True, True)
    """
    volume = np.ascontiguousarray(volume)
    if sigma <= 0:
        return volume.copy()
    ksize = 2 * int(np.ceil(2 * sigma)) + 1  # +-2 sigma holds 95 % of the kernel's weight
    out = np.empty_like(volume)
    for k in range(volume.shape[0]):
        out[k] = cv2.GaussianBlur(volume[k], (ksize, ksize), sigma,
                                  borderType=cv2.BORDER_REPLICATE)
    columns = out.reshape(volume.shape[0], -1)
    across = cv2.GaussianBlur(columns, (1, ksize), sigmaX=0, sigmaY=sigma,
                              borderType=cv2.BORDER_REPLICATE)
    return across.reshape(volume.shape)


@dataclass(frozen=True)
class PreparedVolume:
    """A volume ready for slicing (see :func:`prepare_volume`).

    Attributes
    ----------
    volume : (P', M', N') ndarray of uint8
        Scaled volume, mount set to the background level, cropped to the fossil plus a margin.
    crop_origin : (3,) ndarray of int
        Position of the crop in the isotropic volume.
    source_shape : tuple of int
        Shape of the isotropic volume.
    spacing_um : float
        Isotropic voxel side, µm.
    centre : (3,) ndarray of float
        Fossil centre (bounding-box centre) in crop coordinates.
    frame_size : int
        Side of the square slice frame (the fossil's bounding-sphere diameter), pixels.
    masks : FossilMasks
        Analysis-grid masks, in isotropic-volume coordinates.
    thresholds : VolumeThresholds
        On the analysis scale.
    limits : (float, float)
        Output intensity limits (1st percentile, material's 99th), in the input's units.
    background : int
        Background level (the histogram's background mode) in `volume`; the mount is replaced
        by it, and slices use it outside the volume.
    mount_voxels : int
        Material voxels set to 0 as mount.
    views : fossilct.planes.VolumeViews
        `volume` prepared for plane sampling.
    input_shape : tuple of int
        Shape of the volume as given (before resampling).
    input_spacing_um : tuple of 3 float
        Its (plane, row, col) spacing, µm. Voxel ``i`` of the isotropic volume along an axis
        lies at ``(i + 0.5) * input_shape / source_shape - 0.5`` of the input's voxels
        (:func:`fossilct.volumes.resample_isotropic`); add `crop_origin` to a position in
        `volume` first.
    """

    volume: np.ndarray
    crop_origin: np.ndarray
    source_shape: tuple[int, int, int]
    spacing_um: float
    centre: np.ndarray
    frame_size: int
    masks: FossilMasks
    thresholds: VolumeThresholds
    limits: tuple[float, float]
    background: int
    mount_voxels: int
    views: planes_mod.VolumeViews = field(repr=False, compare=False)
    input_shape: tuple[int, int, int]
    input_spacing_um: tuple[float, float, float]


def _scale_to_uint8(volume: np.ndarray, low: float, high: float) -> np.ndarray:
    """``255 * clip((volume - low) / (high - low), 0, 1)`` rounded, as uint8 (a new array)."""
    scale = 255.0 / (high - low)
    flat = np.ascontiguousarray(volume, dtype=np.float32).reshape(volume.shape[0], -1)
    # cv2.addWeighted saturates to 0..255 and rounds in one pass (4x faster than numpy)
    return cv2.addWeighted(flat, scale, flat, 0.0, -low * scale, dtype=cv2.CV_8U).reshape(volume.shape)


def _level_percentile(hist: np.ndarray, q: float) -> float:
    """Percentile `q` of 8-bit values given their 256-bin histogram."""
    cumulative = np.cumsum(hist)
    return float(np.searchsorted(cumulative, q / 100.0 * cumulative[-1]))


def _output_lut(low: float, high: float) -> np.ndarray:
    """Map analysis levels to output levels: clip to [low, high], scale to 0..255."""
    levels = np.arange(256, dtype=np.float64)
    return np.rint(np.clip((levels - low) / (high - low), 0.0, 1.0) * 255.0).astype(np.uint8)


def prepare_volume(volume: np.ndarray, spacing_um=1.0, *, target_um: float | None = None,
                   percentiles=DEFAULT_PERCENTILES, blur_sigma: float = DEFAULT_BLUR_SIGMA,
                   noise_floor_sigmas: float = DEFAULT_NOISE_FLOOR_SIGMAS,
                   analysis_size: int = DEFAULT_ANALYSIS_SIZE,
                   closing_voxels: float = DEFAULT_CLOSING_VOXELS,
                   mount_opening_fraction: float = DEFAULT_MOUNT_OPENING_FRACTION,
                   mount_growth: float = DEFAULT_MOUNT_GROWTH,
                   min_fossil_fraction: float = DEFAULT_MIN_FOSSIL_FRACTION,
                   crop_margin: int = DEFAULT_CROP_MARGIN) -> PreparedVolume:
    """Scale a CT volume, find the fossil, remove the mount and crop (module steps 1-5).

    Parameters
    ----------
    volume : (P, M, N) ndarray of real numbers
        The scan in (plane, row, col) order.
    spacing_um : float or (float, float, float)
        Voxel spacing in µm, default 1.
    target_um : float, keyword-only
        Isotropic voxel side; default the finest spacing.
    percentiles : (float, float), keyword-only
        Output clip percentiles (of all voxels, of material voxels), default (1, 99).
    blur_sigma : float, keyword-only
        Blur before thresholding, voxels, default 0.8.
    noise_floor_sigmas : float, keyword-only
        See :func:`threshold_volume`.
    analysis_size, closing_voxels, mount_opening_fraction, mount_growth, min_fossil_fraction
        See :func:`fossil_masks`.
    crop_margin : int, keyword-only
        Voxels kept around the fossil's bounding box, default 4.

    Returns
    -------
    PreparedVolume

    Raises
    ------
    ValueError
        Invalid volume (not 3-D, NaN/inf), spacing or options.
    NoFossilError
        Constant volume or no fossil found.

    Examples
    --------
    >>> grid = np.indices((40, 40, 40)) - 19.5
    >>> ball = (np.sqrt(np.sum(grid ** 2, axis=0)) < 10).astype(np.float32)
    >>> prepared = prepare_volume(ball)
    >>> prepared.volume.shape, prepared.frame_size, prepared.thresholds.method
    ((28, 28, 28), 23, 'otsu')
    """
    low_pct, high_pct = (float(p) for p in percentiles)
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"`percentiles` must satisfy 0 <= low < high <= 100; got {percentiles!r}.")
    if float(blur_sigma) < 0 or int(crop_margin) < 0:
        raise ValueError(f"`blur_sigma` and `crop_margin` must be >= 0; got {blur_sigma}, {crop_margin}.")
    iso, target = resample_isotropic(volume, spacing_um, target_um=target_um)
    sample = iso[::2 * _STRIDE, ::2 * _STRIDE, ::2 * _STRIDE]  # the robust range needs few voxels
    if not np.isfinite(iso).all():
        raise ValueError("`volume` holds NaN/inf values; fix the file (fossilct.volumes rejects them).")
    range_low, range_high = (float(v) for v in np.percentile(sample, _RANGE_PERCENTILES))
    if range_high <= range_low:
        range_low, range_high = float(iso.min()), float(iso.max())
    if range_high <= range_low:
        raise NoFossilError(f"The volume is constant (every voxel {range_low}); there is no fossil.")
    analysis = _scale_to_uint8(iso, range_low, range_high)
    del iso
    blurred = blur_volume(analysis, float(blur_sigma))
    thresholds = threshold_volume(blurred, noise_floor_sigmas=noise_floor_sigmas)
    rings = estimate_rings(blurred)
    masks = fossil_masks(blurred > thresholds.material, blurred > thresholds.calcite,
                         ring_free=blurred > thresholds.material + rings.pattern,
                         analysis_size=analysis_size, closing_voxels=closing_voxels,
                         mount_opening_fraction=mount_opening_fraction,
                         mount_growth=mount_growth, min_fossil_fraction=min_fossil_fraction)
    # output limits, on the analysis scale (level 255 = range_high)
    analysis_sample = analysis[::_STRIDE, ::_STRIDE, ::_STRIDE]
    low_level = _level_percentile(np.bincount(analysis_sample.ravel(), minlength=256), low_pct)
    is_material = blurred[::_STRIDE, ::_STRIDE, ::_STRIDE] > thresholds.material
    high_level = _level_percentile(np.bincount(analysis_sample[is_material], minlength=256), high_pct)
    if high_level <= low_level:
        high_level = low_level + 1.0
    del blurred
    to_units = (range_high - range_low) / 255.0
    limits = (range_low + low_level * to_units, range_low + high_level * to_units)
    lut = _output_lut(low_level, high_level)
    scaled = cv2.LUT(analysis.reshape(analysis.shape[0], -1), lut).reshape(analysis.shape)
    analysis_hist = np.bincount(analysis_sample.ravel(), minlength=256)
    background = int(lut[int(np.argmax(analysis_hist[:thresholds.material + 1]))])
    f = masks.factor
    mount_voxels = 0
    if masks.mount.any():
        # the mount plus a one-block halo (partial volume), never a block of the fossil
        zone = ndi.binary_dilation(masks.mount) & ~masks.silhouette
        points = np.argwhere(zone)
        lo, hi = points.min(axis=0), points.max(axis=0) + 1
        region = tuple(slice(a * f, min(b * f, s)) for a, b, s in zip(lo, hi, scaled.shape))
        block = upsample_mask(zone[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], f,
                              [r.stop - r.start for r in region])
        view = scaled[region]
        mount_voxels = int(np.count_nonzero(analysis[region][block] > thresholds.material))
        view[block] = background
    points = np.argwhere(masks.silhouette)
    lo_fine = points.min(axis=0) * f
    hi_fine = np.minimum((points.max(axis=0) + 1) * f, scaled.shape) - 1
    centre_iso = (lo_fine + hi_fine) / 2.0
    centres = points * f + (f - 1) / 2.0
    radius = float(np.sqrt(np.max(np.sum((centres - centre_iso) ** 2, axis=1)))) + f * np.sqrt(3) / 2
    frame_size = 2 * int(np.ceil(radius)) + 1
    start = np.maximum(lo_fine - int(crop_margin), 0)
    stop = np.minimum(hi_fine + 1 + int(crop_margin), scaled.shape)
    cropped = np.ascontiguousarray(scaled[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]])
    return PreparedVolume(cropped, start.astype(int), tuple(int(s) for s in scaled.shape),
                          float(target), centre_iso - start, frame_size, masks, thresholds,
                          limits, background, mount_voxels, planes_mod.volume_views(cropped),
                          tuple(int(n) for n in np.shape(volume)),
                          tuple(float(x) for x in np.broadcast_to(np.asarray(spacing_um, float),
                                                                  3)))
