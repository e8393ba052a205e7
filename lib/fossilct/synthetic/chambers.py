"""Chambers, rods and foramina as implicit solids, rasterised on a voxel grid.

A foraminiferal shell grows by adding chambers. Each chamber here is a superellipsoid (centre,
three local axes, three radii, one exponent) with a wall of given thickness; optional partitions
(radial plates and horizontal rafters) split its lumen into chamberlets. Rasterising the chambers
in growth order implements the rule that makes septa:

    lumen_i = inner_i - partitions_i - union(outer_j for j < i)
    shell   = union(outer_i) - union(lumen_i)

so the part of an earlier chamber's wall that a later chamber covers stays calcite and becomes the
septum between them. Foramina are small balls carved through that septum; rods are solid calcite
(spines, pillars). Every solid is evaluated only inside its own bounding box, and the specimen's
rotation is applied to the geometry (coordinates), never by resampling a volume.

All lengths are micrometres in the *shell frame* (the frame the growth model works in); a `Pose`
maps it into the volume, whose axes are (plane, row, col).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Grid", "Pose", "Chamber", "Rod", "Foramen", "Grain", "rasterise_chambers",
           "rasterise_rods", "carve_foramina", "surface_points"]


@dataclass(frozen=True)
class Grid:
    """A voxel grid: `shape` (P, M, N), `spacing_um` (plane, row, col); voxel i at i * spacing."""

    shape: tuple[int, int, int]
    spacing_um: tuple[float, float, float]

    def box(self, lo_um: np.ndarray, hi_um: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index slices covering the physical box [lo_um, hi_um]; None when it misses the grid."""
        spacing = np.asarray(self.spacing_um)
        start = np.maximum(np.floor(lo_um / spacing).astype(int), 0)
        stop = np.minimum(np.ceil(hi_um / spacing).astype(int) + 1, self.shape)
        if np.any(stop <= start):
            return None
        return tuple(slice(int(a), int(b)) for a, b in zip(start, stop))

    def coords(self, box: tuple[slice, slice, slice], origin_um: np.ndarray,
               axes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coordinates of the voxels of `box` along the columns of `axes`, relative to `origin_um`.

        Returns three float32 arrays of the box's shape: ``u_j = axes[:, j] . (x - origin)``.
        """
        deltas = [(np.arange(s.start, s.stop, dtype=np.float32) * np.float32(sp) - np.float32(o))
                  for s, sp, o in zip(box, self.spacing_um, origin_um)]
        dp = deltas[0][:, None, None]
        dr = deltas[1][None, :, None]
        dc = deltas[2][None, None, :]
        a = axes.astype(np.float32)
        return tuple(a[0, j] * dp + a[1, j] * dr + a[2, j] * dc for j in range(3))


@dataclass(frozen=True)
class Pose:
    """Where the shell sits in the volume: ``x_volume = centre_um + rotation @ x_shell``."""

    rotation: np.ndarray
    centre_um: np.ndarray

    def to_volume(self, point: np.ndarray) -> np.ndarray:
        """Map a shell-frame point (3,) to volume coordinates (µm)."""
        return self.centre_um + self.rotation @ point

    def extent_box(self, centre: np.ndarray, half_extent: np.ndarray,
                   grid: Grid) -> tuple[slice, slice, slice] | None:
        """Grid box of a shell-frame axis-aligned box (centre, half extent) after rotation."""
        centre_v = self.to_volume(centre)
        half_v = np.abs(self.rotation) @ half_extent
        return grid.box(centre_v - half_v, centre_v + half_v)


@dataclass(frozen=True)
class Chamber:
    """One chamber: superellipsoid ``sum(|u_j / r_j| ** exponent) <= 1`` in its local frame.

    `axes` holds the local unit axes (columns) in the shell frame; local axis 2 is the chamber's
    own "height" axis, used by the partitions: `n_radial` radial plates around it and `n_layers`
    horizontal rafters along it, both only where the normalised in-plane radius exceeds
    `partition_zone` (the marginal zone of orbitolinid-like chambers).
    """

    centre: np.ndarray
    axes: np.ndarray
    radii: np.ndarray
    exponent: float
    wall_um: float
    n_radial: int = 0
    n_layers: int = 1
    partition_zone: float = 0.0
    partition_um: float = 0.0
    phase_rad: float = 0.0


@dataclass(frozen=True)
class Rod:
    """A solid calcite capsule from `start` to `end`, radius tapering from `radius_start_um`."""

    start: np.ndarray
    end: np.ndarray
    radius_start_um: float
    radius_end_um: float


@dataclass(frozen=True)
class Foramen:
    """An opening: the shell inside a ball, restricted to the inner solid of chamber `chamber`."""

    centre: np.ndarray
    radius_um: float
    chamber: int


@dataclass(frozen=True)
class Grain:
    """Agglutinated texture: a random field of grains, fixed in the shell frame.

    ``field`` is a sum of cosines with random wave vectors of length ``2 pi / grain size`` and
    random phases, scaled to unit variance. Where it exceeds `threshold` the outer surface grows by
    `bump_um` (grains stuck on the wall); the renderer also uses it to vary wall density.
    """

    wavevectors: np.ndarray
    phases: np.ndarray
    bump_um: float
    threshold: float

    def field(self, x, y, z) -> np.ndarray:
        """Field values (float32, mean 0, variance 1) at shell-frame coordinates (µm)."""
        total = np.zeros(np.shape(x), np.float32)
        for (kx, ky, kz), phase in zip(self.wavevectors.astype(np.float32), self.phases):
            total += np.cos(kx * x + ky * y + kz * z + np.float32(phase))
        return total * np.float32(np.sqrt(2.0 / len(self.phases)))


def _superellipsoid_power(u, v, w, radii, exponent):
    """``sum |u_j/r_j|**p`` (float32), the implicit function whose level 1 is the surface."""
    if exponent == 2.0:
        return (u / radii[0]) ** 2 + (v / radii[1]) ** 2 + (w / radii[2]) ** 2
    p = np.float32(exponent)
    return (np.abs(u / radii[0]) ** p + np.abs(v / radii[1]) ** p + np.abs(w / radii[2]) ** p)


def _partition_walls(u, v, w, chamber: Chamber) -> np.ndarray | None:
    """Voxels of the chamber's radial plates and rafters (bool), or None without partitions."""
    if chamber.n_radial == 0 and chamber.n_layers <= 1:
        return None
    half = np.float32(chamber.partition_um / 2)
    radii = chamber.radii.astype(np.float32)
    marginal = np.hypot(u / radii[0], v / radii[1]) > np.float32(chamber.partition_zone)
    walls = np.zeros(u.shape, bool)
    if chamber.n_radial:
        sector = np.float32(2 * np.pi / chamber.n_radial)
        angle = np.mod(np.arctan2(v, u) - np.float32(chamber.phase_rad), sector)
        offset = np.minimum(angle, sector - angle)
        walls |= np.hypot(u, v) * np.sin(offset) < half
    if chamber.n_layers > 1:
        step = 2 * radii[2] / np.float32(chamber.n_layers)
        shifted = w + radii[2]
        walls |= np.abs(shifted - step * np.round(shifted / step)) < half
    return walls & marginal


def _chamber_box(chamber: Chamber, pose: Pose, grid: Grid, margin_um: float = 0.0):
    axes_v = pose.rotation @ chamber.axes
    centre_v = pose.to_volume(chamber.centre)
    half = np.abs(axes_v) @ (chamber.radii + margin_um)
    return grid.box(centre_v - half, centre_v + half), centre_v, axes_v


def rasterise_chambers(chambers: list[Chamber], grid: Grid, pose: Pose, outer: np.ndarray,
                       labels: np.ndarray, *, first_label: int = 1,
                       grain: Grain | None = None) -> None:
    """Add `chambers` (in growth order) to the `outer` and `labels` arrays, in place.

    Parameters
    ----------
    chambers : list of Chamber
        In growth order; chamber i gets lumen label ``first_label + i``.
    grid, pose : Grid, Pose
        The voxel grid and the shell's pose in it.
    outer : (P, M, N) ndarray of bool
        Union of the solids so far (the fossil); updated.
    labels : (P, M, N) ndarray of int32
        Lumen label per voxel, 0 for calcite or outside; updated.
    grain : Grain, optional
        Agglutinated wall: the outer surface grows by ``grain.bump_um`` where the grain field
        exceeds its threshold.

    Examples
    --------
    >>> grid = Grid((9, 9, 9), (1.0, 1.0, 1.0))
    >>> pose = Pose(np.eye(3), np.array([4.0, 4.0, 4.0]))
    >>> ball = Chamber(np.zeros(3), np.eye(3), np.full(3, 4.0), 2.0, wall_um=1.5)
    >>> outer, labels = np.zeros(grid.shape, bool), np.zeros(grid.shape, np.int32)
    >>> rasterise_chambers([ball], grid, pose, outer, labels)
    >>> int(outer[4, 4, 4]), int(labels[4, 4, 4]), int(labels[4, 4, 0])
    (1, 1, 0)
    """
    for index, chamber in enumerate(chambers):
        margin = 0.0 if grain is None else grain.bump_um
        box, centre_v, axes_v = _chamber_box(chamber, pose, grid, margin)
        if box is None:
            continue
        u, v, w = grid.coords(box, centre_v, axes_v)
        radii = chamber.radii.astype(np.float32)
        solid = _superellipsoid_power(u, v, w, radii, chamber.exponent) <= 1
        if grain is not None:
            # Grains only matter in the thin band the outer surface can grow into.
            grown = _superellipsoid_power(u, v, w, radii + np.float32(grain.bump_um),
                                          chamber.exponent) <= 1
            band = grown & ~solid
            a, c = chamber.axes.astype(np.float32), chamber.centre.astype(np.float32)
            ub, vb, wb = u[band], v[band], w[band]
            shell_xyz = [c[k] + a[k, 0] * ub + a[k, 1] * vb + a[k, 2] * wb for k in range(3)]
            solid[band] = grain.field(*shell_xyz) > grain.threshold
        # The lumen lies inside the solid: evaluate it on the solid's voxels only.
        us, vs, ws = u[solid], v[solid], w[solid]
        inner_radii = np.maximum(radii - np.float32(chamber.wall_um), np.float32(1e-3))
        inner = _superellipsoid_power(us, vs, ws, inner_radii, chamber.exponent) <= 1
        partitions = _partition_walls(us, vs, ws, chamber)
        if partitions is not None:
            inner &= ~partitions
        sub_outer = outer[box]
        sub_labels = labels[box]
        lumen = np.zeros(solid.shape, bool)
        lumen[solid] = inner
        sub_labels[lumen & ~sub_outer] = first_label + index
        sub_outer |= solid


def carve_foramina(foramina: list[Foramen], chambers: list[Chamber], grid: Grid, pose: Pose,
                   outer: np.ndarray, labels: np.ndarray, *, first_label: int = 1) -> None:
    """Open each foramen: calcite inside its ball and inside its chamber's inner solid -> lumen.

    Restricting the carving to the chamber's inner solid opens the septum between two chambers
    without ever piercing the outer wall. The foramen of the last chamber may reach 1.5 times
    beyond its outer solid: that is the aperture, open to the exterior on purpose.

    Examples
    --------
    >>> grid, pose = Grid((9, 9, 15), (1.0, 1.0, 1.0)), Pose(np.eye(3), np.array([4.0, 4.0, 7.0]))
    >>> pair = [Chamber(np.array([0, 0, z]), np.eye(3), np.full(3, 4.0), 2.0, wall_um=1.0)
    ...         for z in (-2.5, 2.5)]
    >>> outer, labels = np.zeros(grid.shape, bool), np.zeros(grid.shape, np.int32)
    >>> rasterise_chambers(pair, grid, pose, outer, labels)
    >>> int(labels[4, 4, 8])
    0
    >>> carve_foramina([Foramen(np.array([0, 0, 1.0]), 1.5, 1)], pair, grid, pose, outer, labels)
    >>> int(labels[4, 4, 8])
    2
    """
    for foramen in foramina:
        chamber = chambers[foramen.chamber]
        centre_v = pose.to_volume(foramen.centre)
        box = grid.box(centre_v - foramen.radius_um, centre_v + foramen.radius_um)
        if box is None:
            continue
        axes_v = pose.rotation @ chamber.axes
        u, v, w = grid.coords(box, pose.to_volume(chamber.centre), axes_v)
        inner_radii = np.maximum(chamber.radii - chamber.wall_um, 1e-3).astype(np.float32)
        reach = _superellipsoid_power(u, v, w, inner_radii, chamber.exponent) <= 1
        if foramen.chamber == len(chambers) - 1:
            reach |= _superellipsoid_power(u, v, w, chamber.radii.astype(np.float32) * 1.5,
                                           chamber.exponent) <= 1
        a, b, c = grid.coords(box, centre_v, np.eye(3))
        ball = a * a + b * b + c * c <= np.float32(foramen.radius_um ** 2)
        sub_labels = labels[box]
        carve = ball & reach & outer[box] & (sub_labels == 0)
        sub_labels[carve] = first_label + foramen.chamber


def rasterise_rods(rods: list[Rod], grid: Grid, pose: Pose, outer: np.ndarray,
                   labels: np.ndarray) -> None:
    """Add solid rods: they become calcite (``outer`` True, ``labels`` 0) wherever they reach.

    Examples
    --------
    >>> grid, pose = Grid((9, 9, 9), (1.0, 1.0, 1.0)), Pose(np.eye(3), np.full(3, 4.0))
    >>> outer, labels = np.zeros(grid.shape, bool), np.ones(grid.shape, np.int32)
    >>> rod = Rod(np.array([-4.0, 0, 0]), np.array([4.0, 0, 0]), 1.0, 1.0)
    >>> rasterise_rods([rod], grid, pose, outer, labels)
    >>> int(outer.sum()), int(labels[:, 4, 4].max())
    (45, 0)
    """
    for rod in rods:
        start_v, end_v = pose.to_volume(rod.start), pose.to_volume(rod.end)
        reach = max(rod.radius_start_um, rod.radius_end_um)
        box = grid.box(np.minimum(start_v, end_v) - reach, np.maximum(start_v, end_v) + reach)
        if box is None:
            continue
        a, b, c = grid.coords(box, start_v, np.eye(3))
        axis = (end_v - start_v).astype(np.float32)
        length_sq = max(float(axis @ axis), 1e-9)
        t = np.clip((a * axis[0] + b * axis[1] + c * axis[2]) / np.float32(length_sq), 0, 1)
        dist_sq = (a - t * axis[0]) ** 2 + (b - t * axis[1]) ** 2 + (c - t * axis[2]) ** 2
        radius = np.float32(rod.radius_start_um) + np.float32(
            rod.radius_end_um - rod.radius_start_um) * t
        solid = dist_sq <= radius * radius
        outer[box] |= solid
        labels[box][solid] = 0


_DIRECTIONS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
                        if (i, j, k) != (0, 0, 0)], dtype=float)


def surface_points(chamber: Chamber) -> np.ndarray:
    """26 points (26, 3) on the chamber's outer surface (shell frame), for bounding spheres.

    Examples
    --------
    >>> ball = Chamber(np.zeros(3), np.eye(3), np.full(3, 2.0), 2.0, 0.0)
    >>> bool(np.allclose(np.linalg.norm(surface_points(ball), axis=1), 2.0))
    True
    """
    local = _DIRECTIONS / np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)
    power = np.sum(np.abs(local / chamber.radii) ** chamber.exponent, axis=1)
    level = power ** (1 / chamber.exponent)
    return chamber.centre + (local / level[:, None]) @ chamber.axes.T
