"""Resampling an anisotropic volume onto a grid of cubic voxels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import check_spacing

__all__ = ["DEFAULT_ORDER", "resample_isotropic"]

DEFAULT_ORDER = 1
"""Spline order of `resample_isotropic`: 1 (trilinear) creates no over- or undershoot."""


def _check_volume(volume) -> np.ndarray:
    if not isinstance(volume, np.ndarray):
        raise TypeError(f"`volume` must be a numpy array (plane, row, col); got "
                        f"{type(volume).__name__}.")
    if volume.ndim != 3 or volume.size == 0:
        raise ValueError(f"`volume` must be a non-empty 3-D array (plane, row, col); got shape "
                         f"{volume.shape}. For a single slice pass volume[np.newaxis].")
    if volume.dtype.kind not in "biuf":
        raise TypeError(f"`volume` must hold real numbers; got dtype {volume.dtype}.")
    return volume


def resample_isotropic(volume: np.ndarray, spacing_um, *, target_um: float | None = None,
                       order: int = DEFAULT_ORDER) -> tuple[np.ndarray, float]:
    """Resample a volume so that every voxel is a cube of side `target_um`.

    The volume is treated as a grid of voxels whose physical extent ``shape * spacing_um`` is
    kept: each axis gets ``round(shape * spacing / target_um)`` voxels (at least 1), and voxel
    centres are placed as in `scipy.ndimage.zoom` with ``grid_mode=True``; edges are extended
    with the nearest value. When the spacing already equals `target_um` on every axis nothing
    is interpolated.

    Parameters
    ----------
    volume : (P, M, N) ndarray of int, uint, float or bool
        The volume in (plane, row, col) order.
    spacing_um : float or sequence of 3 float
        Its (plane, row, col) spacing in µm.
    target_um : float, optional
        Side of the output voxels in µm. Default: the finest of `spacing_um`, so no axis loses
        resolution.
    order : int, optional
        Spline interpolation order, 0 (nearest) to 5. Default `DEFAULT_ORDER` (1, trilinear).

    Returns
    -------
    resampled : (P', M', N') ndarray of float32
        The isotropic volume.
    target_um : float
        The voxel side actually used.

    Raises
    ------
    TypeError
        If `volume` is not a numeric ndarray, or `spacing_um` not numeric.
    ValueError
        If `volume` is not 3-D or empty, a spacing is not positive, `target_um` is not
        positive, or `order` is not an integer in 0..5.

    Examples
    --------
    >>> volume = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    >>> out, target = resample_isotropic(volume, (2.0, 1.0, 1.0))
    >>> out.shape, out.dtype, target
    ((4, 2, 2), dtype('float32'), 1.0)
    >>> out[:, 0, 0].tolist()
    [0.0, 1.0, 3.0, 4.0]
    """
    volume = _check_volume(volume)
    spacing = check_spacing(spacing_um)
    if target_um is None:
        target = min(spacing)
    else:
        target = check_spacing(target_um, name="target_um")[0]
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 0 <= order <= 5:
        raise ValueError(f"`order` must be an integer spline order in 0..5; got {order!r}.")
    if all(value == target for value in spacing):
        return volume.astype(np.float32, copy=False), target
    factors = [max(1, round(size * value / target)) / size
               for size, value in zip(volume.shape, spacing)]
    resampled = ndimage.zoom(volume.astype(np.float32, copy=False), factors, order=int(order),
                             mode="nearest", grid_mode=True, output=np.float32)
    return resampled, target
