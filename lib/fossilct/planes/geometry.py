"""Plane geometry: normals, named plane sets, the in-plane basis, jitter, offsets.

Conventions are those of :mod:`fossilct.planes` (unit normals in (plane, row, col) voxel
coordinates, offsets from a centre along the normal, the great-circle basis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "AXIS_NAMES",
    "DEFAULT_OBLIQUE_ANGLES_DEG",
    "DEFAULT_ROTATION_PLANES",
    "PlaneSet",
    "axis_normals",
    "rotated_normals",
    "fibonacci_normals",
    "standard_planes",
    "plane_basis",
    "jitter_normal",
    "plane_offsets",
    "mask_offsets",
]

AXIS_NAMES = ("p", "r", "c")
"""Short names of the (plane, row, col) axes, used in plane labels."""

DEFAULT_OBLIQUE_ANGLES_DEG = tuple(range(20, 161, 20))
"""The study's oblique set: the volume turned by 20, 40, ..., 160 degrees in each coordinate
plane."""

DEFAULT_ROTATION_PLANES = ((0, 1), (0, 2), (1, 2))
"""Coordinate planes (pairs of axes) in which the oblique normals are turned."""

_AXIS_TOL = 1e-9  # |component| below this counts as zero when testing for an axis-aligned normal


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
