"""Shell forms of the second test source, as implicit functions of body coordinates.

A form answers, for any points in body coordinates (the form fills a sphere of radius about 1
about the origin, ``bounding_radius``), which points lie in the shell wall and which in the
lumen of which chamber (:meth:`ChamberChain.sample`, :meth:`ChamberletDisc.sample`). Nothing
is grown or rasterised ahead: the scanner (:mod:`fossilct.testscans.scanner`) evaluates the
form at the sample points of its own voxel grid, whatever the orientation, spacing or
anisotropy. Two constructions:

- :class:`ChamberChain`: chambers are ellipsoids added oldest first. A chamber's wall is its
  ellipsoid's inner rim of thickness ``wall``, except where an older chamber already occupies
  the space; so the part of an older chamber's rim inside a younger chamber is a septum, and
  the union's boundary is the outer wall. A foramen pierces each septum on the line joining
  the two chambers' centres. Uniserial and biserial chains and trochospiral coils are chains.
- :class:`ChamberletDisc`: a lens divided into concentric annuli, each cut into chamberlets
  by radial septa (alternating in phase from annulus to annulus), around a central chamber.

The rim depth of an ellipsoid is measured along the ray from its centre (exact for spheres,
close for the moderate elongations used here). ``wall`` is in body units; the scanner converts
a thickness in voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ChamberChain", "ChamberletDisc", "chain_from_chambers"]


def _as_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"`points` must have shape (K, 3); got {points.shape}.")
    return points


def _check_wall(wall: float) -> float:
    if not 0.0 < float(wall) < 1.0:
        raise ValueError(f"`wall` must be in (0, 1) body units (bounding radius 1); got {wall}.")
    return float(wall)


@dataclass(frozen=True)
class ChamberChain:
    """Ellipsoidal chambers, oldest first (see the module docstring).

    Attributes
    ----------
    centres : (C, 3) ndarray of float64
        Chamber centres, body units.
    semi_axes : (C, 3) ndarray of float64
        Semi-axes along each chamber's own axes.
    rotations : (C, 3, 3) ndarray of float64
        Columns: each chamber's axes in body coordinates (orthonormal).
    aperture : float
        Foramen radius as a fraction of the smaller semi-axis of the older chamber.
    """

    centres: np.ndarray
    semi_axes: np.ndarray
    rotations: np.ndarray
    aperture: float

    @property
    def n_chambers(self) -> int:
        return int(self.centres.shape[0])

    @property
    def bounding_radius(self) -> float:
        """Radius of a sphere about the origin that holds the form (1 for built chains)."""
        return float(np.max(np.linalg.norm(self.centres, axis=1) + self.semi_axes.max(axis=1)))

    def sample(self, points: np.ndarray, *, wall: float) -> tuple[np.ndarray, np.ndarray]:
        """Classify points: shell wall, lumen of a chamber, or outside.

        Parameters
        ----------
        points : (K, 3) ndarray of float
            Body coordinates.
        wall : float, keyword-only
            Wall thickness, body units, in (0, 1).

        Returns
        -------
        is_wall : (K,) ndarray of bool
        chamber : (K,) ndarray of int64
            Index of the (oldest) chamber whose lumen holds the point; -1 for wall and outside.

        Raises
        ------
        ValueError
            `points` not (K, 3) or `wall` outside (0, 1).

        Examples
        --------
        Two overlapping spheres (radius 0.545 about x = -0.455 and 0.455): the lumen of each,
        the septum (the older sphere's rim inside the younger), the foramen on the axis, outside:

        >>> chain = chain_from_chambers([[-0.5, 0, 0], [0.5, 0, 0]], [[0.6] * 3, [0.6] * 3])
        >>> points = np.array([[-0.45, 0, 0], [0.45, 0, 0], [0, 0.26, 0], [0.065, 0, 0],
        ...                    [0, 0, 0.6]])
        >>> is_wall, chamber = chain.sample(points, wall=0.05)
        >>> is_wall.tolist(), chamber.tolist()
        ([False, False, True, False, False], [0, 1, -1, 0, -1])
        """
        points = _as_points(points)
        wall = _check_wall(wall)
        is_wall = np.zeros(len(points), bool)
        chamber = np.full(len(points), -1, np.int64)
        inside_older = np.zeros(len(points), bool)
        previous_rim = np.zeros(0, np.intp)
        for i in range(self.n_chambers):
            # only points within the chamber's bounding sphere can be inside it
            reach = float(self.semi_axes[i].max())
            near = np.flatnonzero(np.sum((points - self.centres[i]) ** 2, axis=1) < reach ** 2)
            local = (points[near] - self.centres[i]) @ self.rotations[i]
            q = np.sqrt(np.sum((local / self.semi_axes[i]) ** 2, axis=1))
            inside = near[q < 1.0]
            local, q = local[q < 1.0], q[q < 1.0]
            with np.errstate(divide="ignore"):
                depth = np.linalg.norm(local, axis=1) * (1.0 / q - 1.0)
            own_rim = inside[(depth < wall) & ~inside_older[inside]]
            if previous_rim.size:
                # the septum between chamber i-1 and i (the older rim inside the younger
                # chamber) is pierced by a foramen on the line joining their centres
                septum = np.intersect1d(previous_rim, inside, assume_unique=True)
                axis = self.centres[i] - self.centres[i - 1]
                axis /= np.linalg.norm(axis)
                offset = points[septum] - self.centres[i - 1]
                along = offset @ axis
                off_axis = np.linalg.norm(offset - np.outer(along, axis), axis=1)
                radius = self.aperture * float(self.semi_axes[i - 1].min())
                is_wall[septum[(off_axis < radius) & (along > 0)]] = False
            is_wall[own_rim] = True
            chamber[inside[chamber[inside] < 0]] = i
            inside_older[inside] = True
            previous_rim = own_rim
        chamber[is_wall] = -1
        return is_wall, chamber


def _frame_from_axis(axis: np.ndarray) -> np.ndarray:
    """An orthonormal frame whose first column is `axis`."""
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    second = np.cross(helper, axis)
    second /= np.linalg.norm(second)
    return np.column_stack([axis, second, np.cross(axis, second)])


def chain_from_chambers(centres, semi_axes, axes=None, *, aperture: float = 0.3) -> ChamberChain:
    """Build a :class:`ChamberChain` centred on its bounding box and scaled to radius 1.

    Parameters
    ----------
    centres : (C, 3) array_like of float
        Chamber centres, any units, oldest first.
    semi_axes : (C, 3) array_like of float
        Semi-axes in the same units; the first lies along the chamber's axis.
    axes : (C, 3) array_like of float, optional
        Each chamber's first axis (default the body's first axis).
    aperture : float, keyword-only
        See :class:`ChamberChain`.

    Returns
    -------
    ChamberChain

    Raises
    ------
    ValueError
        Shapes that do not match, or non-positive semi-axes.

    Examples
    --------
    >>> chain = chain_from_chambers([[0, 0, 0], [3, 0, 0]], [[2, 1, 1], [2, 1, 1]])
    >>> np.round(chain.centres[:, 0], 3).tolist(), round(float(chain.semi_axes.max()), 3)
    ([-0.429, 0.429], 0.571)
    """
    centres = np.asarray(centres, np.float64)
    semi_axes = np.asarray(semi_axes, np.float64)
    if centres.ndim != 2 or centres.shape[1] != 3 or semi_axes.shape != centres.shape:
        raise ValueError(f"`centres` and `semi_axes` must both be (C, 3); got {centres.shape} "
                         f"and {semi_axes.shape}.")
    if not (semi_axes > 0).all():
        raise ValueError("`semi_axes` must be positive.")
    axes = np.tile([1.0, 0.0, 0.0], (len(centres), 1)) if axes is None else np.asarray(axes)
    rotations = np.stack([_frame_from_axis(a) for a in axes])
    reach = semi_axes.max(axis=1)
    middle = ((centres - reach[:, None]).min(axis=0) + (centres + reach[:, None]).max(axis=0)) / 2
    radius = float(np.max(np.linalg.norm(centres - middle, axis=1) + reach))
    return ChamberChain((centres - middle) / radius, semi_axes / radius, rotations, float(aperture))


@dataclass(frozen=True)
class ChamberletDisc:
    """A lens of chamberlets in concentric annuli around a central chamber (body axis 3).

    Attributes
    ----------
    half_thickness : (float, float)
        Half thickness at the centre and at the rim, body units (radius 1).
    ring_radii : (R,) ndarray of float64
        Outer radius of the central chamber, then of each annulus (increasing, the last 1).
    chamberlets : (R,) ndarray of int64
        Chamberlets per annulus (the first entry, the central chamber, is 1).
    phases : (R,) ndarray of float64
        Angular phase of each annulus' radial septa, in chamberlet widths.
    """

    half_thickness: tuple[float, float]
    ring_radii: np.ndarray
    chamberlets: np.ndarray
    phases: np.ndarray

    @property
    def n_chambers(self) -> int:
        return int(self.chamberlets.sum())

    @property
    def bounding_radius(self) -> float:
        """Radius of a sphere about the origin that holds the lens (its rim is at radius 1)."""
        return float(np.hypot(1.0, max(self.half_thickness)))

    def sample(self, points: np.ndarray, *, wall: float) -> tuple[np.ndarray, np.ndarray]:
        """Classify points as for :meth:`ChamberChain.sample`; the chamber index counts the
        chamberlets annulus by annulus (0: the central chamber).

        Examples
        --------
        >>> disc = ChamberletDisc((0.3, 0.1), np.array([0.2, 0.6, 1.0]), np.array([1, 8, 16]),
        ...                       np.zeros(3))
        >>> points = np.array([[0, 0, 0], [0.4, 0.15, 0], [0.4, 0, 0], [0, 0, 0.5]])
        >>> is_wall, chamber = disc.sample(points, wall=0.04)
        >>> is_wall.tolist(), chamber.tolist()  # centre, a chamberlet, a radial septum, outside
        ([False, False, True, False], [0, 1, -1, -1])
        """
        points = _as_points(points)
        wall = _check_wall(wall)
        r = np.hypot(points[:, 0], points[:, 1])
        centre_half, rim_half = self.half_thickness
        half = rim_half + (centre_half - rim_half) * np.clip(1.0 - r ** 2, 0.0, 1.0)
        height = np.abs(points[:, 2])
        inside = (r < 1.0) & (height < half)
        # the lens is flat: the distance to its surface is about the smaller of the two gaps
        is_wall = inside & (np.minimum(half - height, 1.0 - r) < wall)
        ring = np.minimum(np.searchsorted(self.ring_radii, r), len(self.ring_radii) - 1)
        ring_gap = np.abs(r[:, None] - self.ring_radii[None, :-1]).min(axis=1)
        is_wall |= inside & (ring_gap < wall / 2)
        count = self.chamberlets[ring]
        turns = (np.arctan2(points[:, 1], points[:, 0]) / (2 * np.pi)) * count + self.phases[ring]
        arc_gap = np.abs(turns - np.round(turns)) * 2 * np.pi * r / count
        is_wall |= inside & (ring > 0) & (arc_gap < wall / 2)
        first = np.concatenate([[0], np.cumsum(self.chamberlets)[:-1]])
        chamber = np.where(inside & ~is_wall,
                           first[ring] + np.floor(turns).astype(np.int64) % count, -1)
        return is_wall, chamber.astype(np.int64)
