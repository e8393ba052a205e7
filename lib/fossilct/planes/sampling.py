"""Plane sampling: cutting 2-D images out of a volume (shear-warp with OpenCV).

Conventions and method are described in :mod:`fossilct.planes`.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage as ndi

from fossilct.planes.geometry import _AXIS_TOL, _as_unit, _bases, _centre_of, plane_basis

__all__ = [
    "VolumeViews",
    "volume_views",
    "sample_planes",
    "sample_plane",
]

_CV_MAX_WIDTH = 32000  # cv2.remap/warpAffine use 16-bit coordinates: source sides < 32767
_CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
_CV_MAX_CHANNELS = 4


def _default_size(shape, u, v) -> tuple[int, int]:
    """Smallest image that holds the volume box seen through the plane (u, v)."""
    half = (np.asarray(shape[:3], dtype=np.float64) - 1.0) / 2.0
    extent_u = float(np.abs(u) @ half) * 2.0
    extent_v = float(np.abs(v) @ half) * 2.0
    return int(np.floor(extent_u + 1e-6)) + 1, int(np.floor(extent_v + 1e-6)) + 1


def _check_size(size) -> tuple[int, int]:
    if np.ndim(size) == 0:
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"`size` must be a positive int or (rows, cols); got {size!r}.")
    return size


def _prepare_volume(volume) -> np.ndarray:
    volume = np.asarray(volume)
    if volume.ndim not in (3, 4):
        raise ValueError(
            f"`volume` must be 3-D (plane, row, col) or 4-D with a trailing channel axis; got "
            f"shape {volume.shape}. For a single slice pass volume[np.newaxis]."
        )
    if volume.ndim == 4 and not 1 <= volume.shape[3] <= _CV_MAX_CHANNELS:
        raise ValueError(
            f"`volume` may have at most {_CV_MAX_CHANNELS} channels; got shape {volume.shape}. "
            f"Sample the channels in groups."
        )
    if min(volume.shape[:3]) < 1:
        raise ValueError(f"`volume` is empty; got shape {volume.shape}.")
    if volume.dtype == bool:
        return volume.astype(np.uint8)
    if not np.issubdtype(volume.dtype, np.number) or np.issubdtype(volume.dtype, np.complexfloating):
        raise TypeError(
            f"`volume` must be real numeric; got dtype {volume.dtype}. Convert it, e.g. "
            f"volume.astype(np.float32)."
        )
    if volume.dtype.type not in _CV_DTYPES:
        return volume.astype(np.float32)
    return volume


class VolumeViews:
    """A volume prepared for repeated plane sampling: copies with each axis first, made once.

    :func:`sample_planes` builds one internally; build it yourself with :func:`volume_views`
    when sampling the same volume in many calls (the copies then cost nothing after the first
    use of each dominant axis).
    """

    def __init__(self, volume: np.ndarray):
        self.volume = _prepare_volume(volume)
        self._views: dict[int, np.ndarray] = {}

    @property
    def shape(self) -> tuple[int, ...]:
        return self.volume.shape

    def axis_first(self, d: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Return the (D, A, B[, C]) array with axis `d` first and the other two axes (a, b)."""
        a, b = [k for k in range(3) if k != d]
        if d not in self._views:
            order = (d, a, b) + ((3,) if self.volume.ndim == 4 else ())
            self._views[d] = np.ascontiguousarray(self.volume.transpose(order))
        return self._views[d], (a, b)


def volume_views(volume: np.ndarray) -> VolumeViews:
    """Prepare a volume for many :func:`sample_planes` calls.

    Parameters
    ----------
    volume : (P, M, N) or (P, M, N, C) ndarray
        As for :func:`sample_planes`.

    Returns
    -------
    VolumeViews

    Raises
    ------
    ValueError, TypeError
        As :func:`sample_planes`.

    Examples
    --------
    >>> views = volume_views(np.zeros((4, 5, 6), np.uint8))
    >>> views.shape
    (4, 5, 6)
    """
    return VolumeViews(volume)


def _interp_flag(order: int) -> int:
    return cv2.INTER_NEAREST if order == 0 else cv2.INTER_LINEAR


def _shear_warp(views: VolumeViews, origin, n, u, v, size, order, cache: dict,
                fill_value: float) -> np.ndarray:
    """Sample one plane by interpolating along the dominant axis, then warping in 2-D.

    `origin`, `n`, `u`, `v` are 3-lists of floats; `cache` keeps index grids between calls.
    """
    d = max(range(3), key=lambda k: abs(n[k]))
    vol_d, (a, b) = views.axis_first(d)
    depth, len_a, len_b = vol_d.shape[:3]
    rows, cols = size
    ci, cj = (rows - 1) / 2.0, (cols - 1) / 2.0
    # extent of the image's footprint on the (a, b) grid, from its four corners
    span_a = abs(u[a]) * ci + abs(v[a]) * cj
    span_b = abs(u[b]) * ci + abs(v[b]) * cj
    a0 = max(int(np.floor(origin[a] - span_a)) - 1, 0)
    a1 = min(int(np.ceil(origin[a] + span_a)) + 1, len_a - 1)
    b0 = max(int(np.floor(origin[b] - span_b)) - 1, 0)
    b1 = min(int(np.ceil(origin[b] + span_b)) + 1, len_b - 1)
    channels = vol_d.shape[3:]
    if a0 > a1 or b0 > b1:
        return np.full((rows, cols) + channels, fill_value, dtype=vol_d.dtype)
    flat = vol_d.reshape((depth, len_a * len_b) + channels)
    height, width = a1 - a0 + 1, b1 - b0 + 1
    # the plane as a height field over the (a, b) grid: x_d = g(a, b), linear in a and b
    slope_a, slope_b = -n[a] / n[d], -n[b] / n[d]
    base = origin[d] + slope_a * (a0 - origin[a]) + slope_b * (b0 - origin[b])
    key = ("grid", height, width)
    if key not in cache:
        cache[key] = (np.arange(height, dtype=np.float32)[:, None],
                      np.arange(width, dtype=np.float32)[None, :])
    grid_a, grid_b = cache[key]
    depth_map = (grid_a * np.float32(slope_a) + np.float32(base)) + grid_b * np.float32(slope_b)
    chunk = max(1, (_CV_MAX_WIDTH - width) // len_b + 1)
    flag = _interp_flag(order)
    key = ("map_x", min(chunk, height), width, len_b)
    if key not in cache:
        cache[key] = ((np.arange(min(chunk, height), dtype=np.float32) * len_b)[:, None]
                      + np.arange(width, dtype=np.float32)[None, :])
    map_x = cache[key]
    if chunk >= height:
        start = a0 * len_b + b0
        stop = a1 * len_b + b1 + 1
        sheared = cv2.remap(flat[:, start:stop], map_x, depth_map, flag,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=fill_value)
    else:
        sheared = np.empty((height, width) + channels, dtype=vol_d.dtype)
        for r0 in range(0, height, chunk):
            r1 = min(r0 + chunk, height)
            start = (a0 + r0) * len_b + b0
            stop = (a0 + r1 - 1) * len_b + b1 + 1
            sheared[r0:r1] = cv2.remap(flat[:, start:stop], map_x[:r1 - r0], depth_map[r0:r1], flag,
                                       borderMode=cv2.BORDER_CONSTANT,
                                       borderValue=fill_value).reshape(
                                           (r1 - r0, width) + channels)
    affine = np.array([
        [v[b], u[b], origin[b] - ci * u[b] - cj * v[b] - b0],
        [v[a], u[a], origin[a] - ci * u[a] - cj * v[a] - a0],
    ], dtype=np.float64)
    out = cv2.warpAffine(sheared, affine, (cols, rows), flags=flag | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=fill_value)
    return out.reshape((rows, cols) + channels)


def _axis_index(volume: np.ndarray, origin, n, u, v, size, fill_value: float) -> np.ndarray | None:
    """Plain indexing when the plane sits on voxel centres along a coordinate axis, else None.

    `origin`, `n`, `u`, `v` are 3-lists of floats.
    """
    vectors = (n, u, v)
    for w in vectors:
        for x in w:
            if not (abs(x) < _AXIS_TOL or abs(abs(x) - 1.0) < _AXIS_TOL):
                return None
    rows, cols = size
    axes = [max(range(3), key=lambda k: abs(w[k])) for w in vectors]
    signs = [1 if w[k] > 0 else -1 for w, k in zip(vectors, axes)]
    pos = origin[axes[0]]
    start_i = origin[axes[1]] - signs[1] * (rows - 1) / 2.0
    start_j = origin[axes[2]] - signs[2] * (cols - 1) / 2.0
    if not all(abs(x - round(x)) < 1e-6 for x in (pos, start_i, start_j)):
        return None
    channels = volume.shape[3:]
    out = np.full((rows, cols) + channels, fill_value, dtype=volume.dtype)
    pos = int(round(pos))
    if not 0 <= pos < volume.shape[axes[0]]:
        return out
    idx_i = int(round(start_i)) + signs[1] * np.arange(rows)
    idx_j = int(round(start_j)) + signs[2] * np.arange(cols)
    ok_i = (idx_i >= 0) & (idx_i < volume.shape[axes[1]])
    ok_j = (idx_j >= 0) & (idx_j < volume.shape[axes[2]])
    plane = np.take(volume, pos, axis=axes[0])
    # after take, the two remaining axes keep their order: transpose if rows come second
    if axes[1] > axes[2]:
        plane = np.swapaxes(plane, 0, 1)
    out[np.ix_(ok_i, ok_j)] = plane[np.ix_(idx_i[ok_i], idx_j[ok_j])]
    return out


def _spline(volume: np.ndarray, origin, u, v, size, fill_value: float) -> np.ndarray:
    rows, cols = size
    ii = np.arange(rows) - (rows - 1) / 2.0
    jj = np.arange(cols) - (cols - 1) / 2.0
    coords = (origin[:, None, None] + u[:, None, None] * ii[None, :, None]
              + v[:, None, None] * jj[None, None, :])
    if volume.ndim == 3:
        return ndi.map_coordinates(volume.astype(np.float32), coords, order=3, mode="constant",
                                   cval=fill_value)
    return np.stack([ndi.map_coordinates(volume[..., k].astype(np.float32), coords, order=3,
                                         mode="constant", cval=fill_value)
                     for k in range(volume.shape[3])], axis=-1)


def sample_planes(volume: np.ndarray | VolumeViews, normals, offsets, *, size=None, angle_deg=0.0,
                  mirror=False, order: int = 1, centre=None, dtype=np.float32,
                  fill_value: float = 0.0) -> np.ndarray:
    """Sample many planes of a volume (one image per normal/offset pair).

    The volume is copied once per dominant axis used (see the module docstring), so sampling
    many planes in one call is much faster than calling :func:`sample_plane` repeatedly.

    Parameters
    ----------
    volume : (P, M, N) or (P, M, N, C) ndarray, or VolumeViews
        Real-valued volume, optionally with up to 4 channels sampled together (e.g. an image and
        a mask). Interpolation runs in the volume's dtype (uint8 volumes round to integers);
        other dtypes than uint8, uint16, int16, float32, float64 are converted to float32.
        Pass :func:`volume_views` of it when sampling the same volume in many calls.
    normals : (K, 3) or (3,) array_like
        Plane normals; one normal is shared by all offsets.
    offsets : (K,) array_like of float
        Signed distances from `centre` along each normal, in voxels.
    size : int or (int, int), keyword-only
        Image size (rows, cols). Default: the smallest image holding the volume box seen along
        the first normal.
    angle_deg : float or (K,) array_like, keyword-only
        In-plane turn in degrees (counter-clockwise image content).
    mirror : bool or (K,) array_like of bool, keyword-only
        Flip columns.
    order : {0, 1, 3}, keyword-only
        Nearest, linear (shear-warp) or cubic-spline interpolation.
    centre : (3,) array_like, keyword-only
        Origin of the offsets and image centre; default the volume centre.
    dtype : numpy dtype, keyword-only
        Output dtype, default float32 (values are cast, not rescaled).
    fill_value : float, keyword-only
        Value of points outside the volume, default 0 (e.g. the background level, so that a
        slice's padding looks like more background).

    Returns
    -------
    images : (K, rows, cols) or (K, rows, cols, C) ndarray of `dtype`
        `fill_value` outside the volume.

    Raises
    ------
    ValueError
        Wrong volume dimensions, channel count, size, order, or mismatched normals/offsets.
    TypeError
        Non-numeric volume.

    Examples
    --------
    >>> volume = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    >>> images = sample_planes(volume, [1, 0, 0], [-1.0, 0.0, 1.0])
    >>> images.shape, bool(np.array_equal(images[2], volume[2]))
    ((3, 4, 5), True)
    """
    views = volume if isinstance(volume, VolumeViews) else VolumeViews(volume)
    volume = views.volume
    if order not in (0, 1, 3):
        raise ValueError(f"`order` must be 0 (nearest), 1 (linear) or 3 (cubic); got {order!r}.")
    offsets = np.atleast_1d(np.asarray(offsets, dtype=np.float64))
    if offsets.ndim != 1:
        raise ValueError(f"`offsets` must be 1-D; got shape {offsets.shape}.")
    n = _as_unit(normals, name="normals")
    first = n if n.ndim == 1 else n[:1].reshape(-1)
    n = np.broadcast_to(n, (offsets.size, 3)) if n.ndim == 1 else n
    if len(n) != offsets.size:
        raise ValueError(
            f"`normals` ({len(n)}) and `offsets` ({offsets.size}) must have the same length, or "
            f"give one normal for all offsets."
        )
    angles = np.broadcast_to(np.asarray(angle_deg, dtype=np.float64), offsets.shape)
    mirrors = np.broadcast_to(np.asarray(mirror, dtype=bool), offsets.shape)
    c = _centre_of(volume.shape, centre)
    if size is None:
        u0, v0 = plane_basis(first if first.size else (1, 0, 0),
                             angle_deg=float(angles[0]) if angles.size else 0.0)
        size = _default_size(volume.shape, u0, v0)
    size = _check_size(size)
    out = np.empty((offsets.size,) + size + volume.shape[3:], dtype=dtype)
    if not offsets.size:
        return out
    u, v = _bases(n, angles, mirrors)
    origins = c + offsets[:, None] * n
    cache: dict = {}
    # plain float lists: per-slice arithmetic on numpy scalars would dominate small images
    for k, (origin, n_k, u_k, v_k) in enumerate(zip(origins.tolist(), n.tolist(), u.tolist(),
                                                     v.tolist())):
        if order == 3:
            out[k] = _spline(volume, np.array(origin), np.array(u_k), np.array(v_k), size,
                             float(fill_value))
            continue
        image = _axis_index(volume, origin, n_k, u_k, v_k, size, fill_value)
        if image is None:
            image = _shear_warp(views, origin, n_k, u_k, v_k, size, order, cache, float(fill_value))
        out[k] = image
    return out


def sample_plane(volume: np.ndarray, normal, offset: float = 0.0, *, size=None,
                 angle_deg: float = 0.0, mirror: bool = False, order: int = 1, centre=None,
                 dtype=np.float32, fill_value: float = 0.0) -> np.ndarray:
    """Sample one plane of a volume as a 2-D image.

    Parameters
    ----------
    volume : (P, M, N) or (P, M, N, C) ndarray
        Real-valued volume (see :func:`sample_planes` for dtypes and channels).
    normal : (3,) array_like
        Plane normal in (plane, row, col) order.
    offset : float
        Signed distance of the plane from `centre` along the normal, in voxels.
    size : int or (int, int), keyword-only
        Image size; default the smallest image holding the whole volume box.
    angle_deg : float, keyword-only
        In-plane turn (counter-clockwise image content), degrees.
    mirror : bool, keyword-only
        Flip columns.
    order : {0, 1, 3}, keyword-only
        Interpolation order (see the module docstring).
    centre : (3,) array_like, keyword-only
        Origin; default the volume centre.
    dtype : numpy dtype, keyword-only
        Output dtype, default float32.
    fill_value : float, keyword-only
        Value of points outside the volume, default 0.

    Returns
    -------
    image : (rows, cols) or (rows, cols, C) ndarray of `dtype`
        `fill_value` outside the volume.

    Raises
    ------
    ValueError, TypeError
        As :func:`sample_planes`.

    Examples
    --------
    >>> volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    >>> sample_plane(volume, (0, 0, 1), 0.5)  # volume[::-1, :, 2].T
    array([[14.,  2.],
           [18.,  6.],
           [22., 10.]], dtype=float32)
    """
    return sample_planes(volume, normal, [offset], size=size, angle_deg=angle_deg, mirror=mirror,
                         order=order, centre=centre, dtype=dtype, fill_value=fill_value)[0]
