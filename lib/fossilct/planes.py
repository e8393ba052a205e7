"""Plane geometry and plane sampling in voxel coordinates (plane, row, col).

Conventions
-----------
normal
    A unit 3-vector ``(n_p, n_r, n_c)`` in (plane, row, col) voxel coordinates.
offset
    Signed distance in voxels of the plane from the ``centre`` point along the normal: the plane is
    ``{x : (x - centre) . normal = offset}``. The default centre is the volume centre
    ``((P - 1) / 2, (M - 1) / 2, (N - 1) / 2)``.
in-plane basis
    ``R`` is the rotation that carries ``e_p = (1, 0, 0)`` onto the normal along the great circle
    (Rodrigues' formula); image rows run along ``u = R e_r`` and image columns along
    ``v = R e_c``. The basis is smooth in the normal everywhere except at ``-e_p``, where the axis
    of the rotation is undefined and the half turn about ``e_r`` is used (``u = e_r``,
    ``v = -e_c``). The standard plane sets of this module lie in the hemisphere ``n_p >= 0``,
    where the basis is continuous. Consequences: ``normal = e_p`` gives ``volume[k]`` itself,
    ``e_r`` gives ``volume[::-1, k, :]`` and ``e_c`` gives ``volume[::-1, :, k].T``.
pixel positions
    Pixel ``(i, j)`` of an ``(H, W)`` image sits at
    ``centre + offset * normal + (i - (H - 1) / 2) * u' + (j - (W - 1) / 2) * v'``, where
    ``(u', v')`` is ``(u, v)`` turned by ``angle_deg`` about the normal so that the image content
    turns counter-clockwise (as ``np.rot90`` and ``scipy.ndimage.rotate`` do), and ``mirror``
    flips the columns afterwards. Points outside the volume read as 0.

Sampling method
---------------
Linear sampling (``order=1``) is a shear-warp factorisation: the axis ``d`` along which the
normal is largest (``|n_d| >= 1/sqrt(3)``) is interpolated first, on the integer grid of the two
other axes (one ``cv2.remap`` over the volume viewed as a ``(D, A*B)`` image, exact in the other
axes); a 2-D affine warp (``cv2.warpAffine``) then carries that grid onto the image. It is about
ten times faster than ``scipy.ndimage.map_coordinates`` (0.7 ms against 12 ms for a 300 x 300
oblique slice of a 256^3 volume on one core; see ``benchmarks/bench_slices.py``) and agrees with
trilinear interpolation to OpenCV's 1/32-voxel fixed-point precision. ``order=0`` uses nearest
neighbours in both steps; ``order=3`` calls ``scipy.ndimage.map_coordinates`` (cubic spline,
slow, for reference-quality sampling). Axis-aligned planes at voxel positions with angle 0 are
plain array indexing.

Many slices: build :func:`volume_views` once (the axis-first copies) and call
:func:`sample_planes` with all normals and offsets. Rotating the whole volume once per normal
and indexing it is not faster: ``scipy.ndimage.affine_transform`` needs about 5 ms per
300 x 300 output plane, so a rotated 256^3 volume costs as much as ten times its slices cut
one by one here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np
import scipy.ndimage as ndi

__all__ = [
    "AXIS_NAMES",
    "PlaneSet",
    "axis_normals",
    "rotated_normals",
    "fibonacci_normals",
    "standard_planes",
    "plane_basis",
    "jitter_normal",
    "plane_offsets",
    "mask_offsets",
    "VolumeViews",
    "volume_views",
    "sample_plane",
    "sample_planes",
]

AXIS_NAMES = ("p", "r", "c")
"""Short names of the (plane, row, col) axes, used in plane labels."""

DEFAULT_OBLIQUE_ANGLES_DEG = tuple(range(20, 161, 20))
"""The study's oblique set: the volume turned by 20, 40, ..., 160 degrees in each coordinate
plane."""

DEFAULT_ROTATION_PLANES = ((0, 1), (0, 2), (1, 2))
"""Coordinate planes (pairs of axes) in which the oblique normals are turned."""

_AXIS_TOL = 1e-9  # |component| below this counts as zero when testing for an axis-aligned normal
_CV_MAX_WIDTH = 32000  # cv2.remap/warpAffine use 16-bit coordinates: source sides < 32767
_CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
_CV_MAX_CHANNELS = 4


def _as_unit(normal, *, name: str = "normal") -> np.ndarray:
    """Return `normal` as a float64 unit vector (3,) or array (K, 3), validating it."""
    arr = np.asarray(normal, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] != 3:
        raise ValueError(
            f"`{name}` must have shape (3,) or (K, 3) in (plane, row, col) order; got shape "
            f"{arr.shape}. Pass e.g. (1, 0, 0) for the plane axis."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite; got {arr.tolist()}.")
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    if np.any(norms < 1e-12):
        raise ValueError(f"`{name}` must be non-zero; got {arr.tolist()}. Give a direction vector.")
    return arr / norms


def axis_normals() -> np.ndarray:
    """Return the three coordinate-axis normals.

    Returns
    -------
    normals : (3, 3) ndarray of float64
        Rows ``e_p, e_r, e_c``: planes perpendicular to the plane, row and column axes.

    Examples
    --------
    >>> axis_normals()
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    return np.eye(3)


def _canonical(normals: np.ndarray) -> np.ndarray:
    """Flip normals with a negative plane component into the hemisphere ``n_p >= 0``."""
    flip = normals[:, 0] < -_AXIS_TOL
    out = normals.copy()
    out[flip] *= -1.0
    return out


def _check_rotation_planes(planes) -> tuple[tuple[int, int], ...]:
    checked = []
    for pair in planes:
        pair = tuple(int(a) for a in pair)
        if len(pair) != 2 or pair[0] == pair[1] or not all(a in (0, 1, 2) for a in pair):
            raise ValueError(
                f"`planes` must hold pairs of distinct axes from 0, 1, 2; got {pair!r}. "
                f"Use e.g. ((0, 1), (0, 2), (1, 2))."
            )
        checked.append(pair)
    return tuple(checked)


def rotated_normals(angles_deg: Iterable[float] = DEFAULT_OBLIQUE_ANGLES_DEG, *,
                    planes: Sequence[tuple[int, int]] = DEFAULT_ROTATION_PLANES) -> np.ndarray:
    """Return the normals of the study's oblique planes.

    Turning the volume by ``angle`` in the coordinate plane of axes ``(a, b)`` and then cutting it
    perpendicular to axis ``a`` is the same as cutting the unturned volume perpendicular to
    ``cos(angle) e_a + sin(angle) e_b``; this function returns those normals.

    Parameters
    ----------
    angles_deg : iterable of float, optional
        Turning angles in degrees; default 20, 40, ..., 160 (``DEFAULT_OBLIQUE_ANGLES_DEG``).
    planes : sequence of (int, int), keyword-only
        Coordinate planes as pairs of axes ``(a, b)``; default ``((0, 1), (0, 2), (1, 2))``.

    Returns
    -------
    normals : (len(planes) * len(angles_deg), 3) ndarray of float64
        Unit normals, plane-major then angle order, flipped into the hemisphere ``n_p >= 0``
        (a normal and its opposite give the same plane).

    Raises
    ------
    ValueError
        If a pair in `planes` is not two distinct axes from 0, 1, 2.

    Examples
    --------
    >>> np.round(rotated_normals([90], planes=[(0, 2)]), 6)
    array([[0., 0., 1.]])
    >>> rotated_normals().shape
    (24, 3)
    """
    planes = _check_rotation_planes(planes)
    angles = np.deg2rad(np.asarray(list(angles_deg), dtype=np.float64))
    normals = np.zeros((len(planes) * angles.size, 3))
    for k, (a, b) in enumerate(planes):
        rows = slice(k * angles.size, (k + 1) * angles.size)
        normals[rows, a] = np.cos(angles)
        normals[rows, b] = np.sin(angles)
    normals[np.abs(normals) < _AXIS_TOL] = 0.0
    return _canonical(normals)


def fibonacci_normals(n: int, *, hemisphere: bool = True) -> np.ndarray:
    """Return `n` nearly uniformly spread unit normals (Fibonacci spiral).

    Parameters
    ----------
    n : int
        Number of normals, at least 1.
    hemisphere : bool, keyword-only
        If True (default) cover only ``n_p >= 0`` (a plane's two normals are equivalent);
        otherwise the whole sphere.

    Returns
    -------
    normals : (n, 3) ndarray of float64

    Raises
    ------
    ValueError
        If `n` < 1.

    Examples
    --------
    >>> normals = fibonacci_normals(50)
    >>> normals.shape, bool(np.all(normals[:, 0] >= 0)), np.allclose(np.linalg.norm(normals, axis=1), 1)
    ((50, 3), True, True)
    """
    if int(n) < 1:
        raise ValueError(f"`n` must be at least 1; got {n}. Ask for the number of normals wanted.")
    k = np.arange(int(n), dtype=np.float64) + 0.5
    # uniform in n_p over [0, 1] (hemisphere) or [-1, 1] (sphere) gives uniform area density
    n_p = 1.0 - k / n if hemisphere else 1.0 - 2.0 * k / n
    azimuth = np.pi * (1.0 + 5.0 ** 0.5) * k
    radius = np.sqrt(np.clip(1.0 - n_p ** 2, 0.0, None))
    return np.stack([n_p, radius * np.cos(azimuth), radius * np.sin(azimuth)], axis=1)


@dataclass(frozen=True)
class PlaneSet:
    """Named plane orientations.

    Attributes
    ----------
    normals : (K, 3) ndarray of float64
        Unit normals in (plane, row, col) order.
    labels : tuple of str
        One unique label per normal, e.g. ``"axis_p"`` or ``"rot_pr_040"``.
    angles_deg : (K,) ndarray of float64
        Turning angle of the oblique family the normal belongs to (0 for the axes).
    """

    normals: np.ndarray
    labels: tuple[str, ...]
    angles_deg: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def standard_planes(*, axes: bool = True,
                    oblique_angles_deg: Iterable[float] = DEFAULT_OBLIQUE_ANGLES_DEG,
                    rotation_planes: Sequence[tuple[int, int]] = DEFAULT_ROTATION_PLANES,
                    n_fibonacci: int = 0) -> PlaneSet:
    """Return the study's plane set: the three axes plus the turned (oblique) planes.

    Parameters
    ----------
    axes : bool, keyword-only
        Include the three axis normals (labels ``axis_p``, ``axis_r``, ``axis_c``).
    oblique_angles_deg : iterable of float, keyword-only
        Turning angles of the oblique planes (labels ``rot_<a><b>_<angle>``); empty for none.
        Default 20..160 in steps of 20 (``DEFAULT_OBLIQUE_ANGLES_DEG``).
    rotation_planes : sequence of (int, int), keyword-only
        Coordinate planes in which to turn, default all three.
    n_fibonacci : int, keyword-only
        Extra normals spread evenly over the hemisphere (labels ``fib_<k>``); default 0.

    Returns
    -------
    PlaneSet

    Raises
    ------
    ValueError
        If the set is empty or two entries have the same normal.

    Examples
    --------
    >>> planes = standard_planes()
    >>> len(planes), planes.labels[:4]
    (27, ('axis_p', 'axis_r', 'axis_c', 'rot_pr_020'))
    """
    angles = [float(a) for a in oblique_angles_deg]
    rotation_planes = _check_rotation_planes(rotation_planes)
    normals, labels, family_angles = [], [], []
    if axes:
        normals.append(axis_normals())
        labels += [f"axis_{name}" for name in AXIS_NAMES]
        family_angles += [0.0] * 3
    if angles:
        normals.append(rotated_normals(angles, planes=rotation_planes))
        for a, b in rotation_planes:
            labels += [f"rot_{AXIS_NAMES[a]}{AXIS_NAMES[b]}_{angle:03.0f}" for angle in angles]
            family_angles += angles
    if n_fibonacci:
        normals.append(fibonacci_normals(n_fibonacci))
        labels += [f"fib_{k:03d}" for k in range(int(n_fibonacci))]
        family_angles += [0.0] * int(n_fibonacci)
    if not labels:
        raise ValueError(
            "The plane set is empty: `axes` is False, `oblique_angles_deg` is empty and "
            "`n_fibonacci` is 0. Enable at least one family."
        )
    stacked = np.concatenate(normals)
    # two labels for one plane would sample the same slices twice
    gram = np.abs(stacked @ stacked.T) - np.eye(len(stacked))
    if np.any(gram > 1.0 - 1e-9):
        i, j = np.argwhere(gram > 1.0 - 1e-9)[0]
        raise ValueError(
            f"Planes {labels[i]!r} and {labels[j]!r} have the same normal "
            f"{np.round(stacked[i], 6).tolist()}; an oblique angle of 0, 90 or 180 degrees "
            f"repeats an axis. Drop it from `oblique_angles_deg` or set `axes=False`."
        )
    return PlaneSet(stacked, tuple(labels), np.asarray(family_angles, dtype=np.float64))


def _bases(normals: np.ndarray, angles_deg, mirrors) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised basis: rows and columns directions (K, 3) for unit normals (K, 3)."""
    n = normals
    c = n[:, 0]
    # Rodrigues' rotation taking e_p to n (axis k = e_p x n = (0, -n_c, n_r)) applied to e_r, e_c
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(c > -1.0 + 1e-12, 1.0 / (1.0 + c), 0.0)
    u = np.stack([-n[:, 1], 1.0 - n[:, 1] ** 2 * scale, -n[:, 1] * n[:, 2] * scale], axis=1)
    v = np.stack([-n[:, 2], -n[:, 1] * n[:, 2] * scale, 1.0 - n[:, 2] ** 2 * scale], axis=1)
    antipode = c <= -1.0 + 1e-12
    u[antipode] = (0.0, 1.0, 0.0)  # half turn about e_r
    v[antipode] = (0.0, 0.0, -1.0)
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))[:, None]
    u, v = np.cos(theta) * u - np.sin(theta) * v, np.sin(theta) * u + np.cos(theta) * v
    return u, np.where(np.asarray(mirrors, dtype=bool)[:, None], -v, v)


def plane_basis(normal, *, angle_deg: float = 0.0, mirror: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return the in-plane unit vectors of image rows and columns for a normal.

    Parameters
    ----------
    normal : (3,) array_like
        Plane normal in (plane, row, col) order; normalised here.
    angle_deg : float, keyword-only
        In-plane turn: the sampled image content turns counter-clockwise by this angle.
    mirror : bool, keyword-only
        Negate the column vector (the image is flipped left-right).

    Returns
    -------
    u, v : (3,) ndarray of float64
        Directions in which image rows and columns increase; ``(u, v, normal)`` is orthonormal.

    Raises
    ------
    ValueError
        If `normal` is zero, not finite or not a 3-vector.

    Examples
    --------
    >>> u, v = plane_basis([0, 1, 0])
    >>> (u + 0.0).round(6).tolist(), (v + 0.0).round(6).tolist()
    ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    """
    n = _as_unit(normal)
    if n.ndim != 1:
        raise ValueError(f"`normal` must have shape (3,); got {n.shape}. Pass one normal.")
    u, v = _bases(n[None, :], [float(angle_deg)], [bool(mirror)])
    return u[0], v[0]


def jitter_normal(normal, *, max_deg: float, rng: int | np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tilt normals by a random angle, uniformly over the spherical cap of radius `max_deg`.

    Parameters
    ----------
    normal : (3,) or (K, 3) array_like
        Unit normals (normalised here).
    max_deg : float, keyword-only
        Cap radius in degrees, in [0, 90]. 0 returns the normals unchanged.
    rng : int or numpy.random.Generator, keyword-only
        Seed or generator.

    Returns
    -------
    normal : ndarray of float64, shape of the input
        Tilted unit normals.
    tilt_deg : float ndarray, shape () or (K,)
        Angle between each input and output normal, in degrees.

    Raises
    ------
    ValueError
        If `max_deg` is outside [0, 90] or a normal is invalid.

    Examples
    --------
    >>> tilted, tilt = jitter_normal([1, 0, 0], max_deg=5, rng=0)
    >>> bool(0 <= tilt <= 5), bool(np.isclose(np.degrees(np.arccos(tilted[0])), tilt))
    (True, True)
    """
    if not 0.0 <= float(max_deg) <= 90.0:
        raise ValueError(f"`max_deg` must be in [0, 90] degrees; got {max_deg}. Use e.g. 5.")
    n = _as_unit(normal)
    single = n.ndim == 1
    n = np.atleast_2d(n)
    rng = np.random.default_rng(rng)
    # cos(tilt) uniform on [cos(max), 1] is uniform by area over the cap
    cos_tilt = rng.uniform(np.cos(np.deg2rad(float(max_deg))), 1.0, size=len(n))
    azimuth = rng.uniform(0.0, 2.0 * np.pi, size=len(n))
    sin_tilt = np.sqrt(np.clip(1.0 - cos_tilt ** 2, 0.0, None))
    u, v = _bases(n, np.zeros(len(n)), np.zeros(len(n), bool))
    out = (cos_tilt[:, None] * n + sin_tilt[:, None]
           * (np.cos(azimuth)[:, None] * u + np.sin(azimuth)[:, None] * v))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    tilt = np.degrees(np.arccos(np.clip(np.sum(out * n, axis=1), -1.0, 1.0)))
    return (out[0], tilt[0]) if single else (out, tilt)


def _centre_of(shape, centre) -> np.ndarray:
    if centre is None:
        return (np.asarray(shape[:3], dtype=np.float64) - 1.0) / 2.0
    c = np.asarray(centre, dtype=np.float64)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ValueError(f"`centre` must be 3 finite numbers (plane, row, col); got {centre!r}.")
    return c


def plane_offsets(shape: Sequence[int], normal, *, step: float = 1.0, centre=None) -> np.ndarray:
    """Return the offsets, `step` voxels apart, at which planes of a normal cut the volume box.

    The grid starts at the lowest corner of the box along the normal, so for an axis normal and
    the default centre and step the offsets fall exactly on voxel planes.

    Parameters
    ----------
    shape : sequence of int
        Volume shape (P, M, N).
    normal : (3,) array_like
        Plane normal.
    step : float, keyword-only
        Spacing of the offsets in voxels, default 1.
    centre : (3,) array_like, keyword-only
        Origin of the offsets; default the volume centre.

    Returns
    -------
    offsets : (K,) ndarray of float64
        Increasing offsets; ``index`` in provenance tables is the position in this array.

    Raises
    ------
    ValueError
        If `shape` is not 3 positive ints or `step` is not positive.

    Examples
    --------
    >>> plane_offsets((4, 5, 6), (1, 0, 0))
    array([-1.5, -0.5,  0.5,  1.5])
    """
    shape = _check_shape(shape)
    if not float(step) > 0:
        raise ValueError(f"`step` must be positive (voxels); got {step}.")
    n = _as_unit(normal)
    c = _centre_of(shape, centre)
    corners = np.array(np.meshgrid(*[[0, s - 1] for s in shape], indexing="ij")).reshape(3, -1).T
    proj = (corners - c) @ n
    lo, hi = proj.min(), proj.max()
    count = int(np.floor((hi - lo) / float(step) + 1e-9)) + 1
    return lo + float(step) * np.arange(count)


def _check_shape(shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)[:3]
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"`shape` must be 3 positive sizes (P, M, N); got {shape!r}.")
    return shape


def mask_offsets(mask: np.ndarray, normal, *, step: float = 1.0, centre=None,
                 stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return the plane offsets of a normal and the mask area each plane cuts.

    The area is estimated by projecting the mask's voxel centres on the normal and counting them
    in slabs `step` thick around each offset (a slab of thickness ``step`` holds
    ``area * step`` voxels).

    Parameters
    ----------
    mask : (P, M, N) ndarray of bool
        Object mask.
    normal : (3,) array_like
        Plane normal.
    step : float, keyword-only
        Offset spacing in voxels, as in :func:`plane_offsets`.
    centre : (3,) array_like, keyword-only
        Offset origin; default the volume centre.
    stride : int, keyword-only
        Use every `stride`-th voxel along each axis (``stride**3`` times fewer voxels; the area is
        scaled back). 1 is exact up to the slab approximation; 2 is a good estimate for objects
        more than about 10 voxels across.

    Returns
    -------
    offsets : (K,) ndarray of float64
        As :func:`plane_offsets` for the mask's shape.
    area : (K,) ndarray of float64
        Estimated mask area (pixels) in each plane; the planes that cut the mask have
        ``area > 0``.

    Raises
    ------
    ValueError
        If `mask` is not 3-D or `stride` < 1.

    Examples
    --------
    >>> cube = np.zeros((5, 5, 5), bool); cube[1:4, 1:4, 1:4] = True
    >>> offsets, area = mask_offsets(cube, (1, 0, 0))
    >>> area.tolist()
    [0.0, 9.0, 9.0, 9.0, 0.0]
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"`mask` must be 3-D (plane, row, col); got shape {mask.shape}.")
    if int(stride) < 1:
        raise ValueError(f"`stride` must be at least 1; got {stride}.")
    stride = int(stride)
    offsets = plane_offsets(mask.shape, normal, step=step, centre=centre)
    n = _as_unit(normal)
    c = _centre_of(mask.shape, centre)
    points = np.argwhere(mask[::stride, ::stride, ::stride]).astype(np.float64) * stride
    slab = np.rint((points @ n - (c @ n) - offsets[0]) / float(step)).astype(np.intp)
    slab = slab[(slab >= 0) & (slab < offsets.size)]
    area = np.bincount(slab, minlength=offsets.size).astype(np.float64) * stride ** 3 / float(step)
    return offsets, area


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
