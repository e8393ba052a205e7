"""Involute spiral shells (fusiform alveolinids, lenticular involute forms) as one implicit field.

An involute planispiral shell is a logarithmic spiral of whorls, each wrapping the whole previous
shell. In the shell frame (coiling axis z) the outline of the whorl reached at spiral angle phi is
the surface ``F(x) = R(phi) = r0 * exp(b * phi)`` of the "spheroidal radius"

    F = (rho ** p + |z / E| ** p) ** (1 / p),      rho = hypot(x, y)

with elongation E along the axis (E > 1 fusiform, E < 1 lenticular) and profile exponent p (2:
rounded periphery; p < 2: keeled). Every voxel therefore has an analytic spiral angle phi (the
smallest phi congruent to its polar angle with R(phi) >= F), a whorl, a chamber
(``floor(phi / step)``) and distances to the spiral lamina and to the septa, so the whole shell is
rasterised in a few vectorised passes instead of chamber by chamber. Septula (plates
perpendicular to the axis) split alveolinid chambers into chamberlets; a band near the base of
every septum stays open (the foramina). An optional nucleus of early whorls coils about a tilted
axis, as in streptospiral alveolinids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fossilct.synthetic.chambers import Grid, Pose

__all__ = ["SpiralSpec", "rasterise_spiral"]

#: Foramina open the part of each septum between these fractions of the whorl height.
FORAMEN_BAND = (0.12, 0.45)


@dataclass(frozen=True)
class SpiralSpec:
    """An involute spiral shell; lengths in µm, angles in radians (shell frame, axis z)."""

    r0_um: float
    growth_per_rad: float
    phi_max: float
    elongation: float
    exponent: float
    chambers_per_whorl: int
    wall_um: float
    septum_um: float
    septulum_step_um: float
    septulum_um: float
    foramen_span: float
    nucleus_whorls: int
    nucleus_tilt_rad: float

    @property
    def outer_radius_um(self) -> float:
        """Equatorial radius of the final whorl."""
        return self.r0_um * math.exp(self.growth_per_rad * self.phi_max)

    @property
    def bounding_radius_um(self) -> float:
        """Radius of a sphere about the origin holding the shell (p <= 2 keeps it inside)."""
        return self.outer_radius_um * max(1.0, self.elongation)

    @property
    def n_labels(self) -> int:
        """One more than the largest lumen label the shell can use."""
        return 3 + math.ceil(self.phi_max * self.chambers_per_whorl / (2 * math.pi))


def _whorl_cells(x, y, z, d_core, spec: SpiralSpec, *, elongation, exponent, phi_lo, phi_hi,
                 septula: bool):
    """Inside mask and lumen labels (0 = calcite) of the whorls between angles phi_lo and phi_hi.

    `d_core` is the distance (µm) to the boundary of the core the first whorl wraps (proloculus
    or nucleus); voxels with ``d_core < 0`` belong to the core and are left out.
    """
    f32 = np.float32
    two_pi = f32(2 * np.pi)
    b = f32(spec.growth_per_rad)
    rho = np.hypot(x, y)
    theta = np.mod(np.arctan2(y, x), two_pi)
    zs = np.abs(z) / f32(elongation)
    if exponent == 2.0:
        radius = np.hypot(rho, zs)
    else:
        p = f32(exponent)
        radius = (rho ** p + zs ** p) ** (1 / p)
    radius = np.maximum(radius, f32(1e-3 * spec.r0_um))
    phi_star = np.log(radius / f32(spec.r0_um)) / b
    phi = theta + two_pi * np.ceil((phi_star - theta) / two_pi)
    phi = np.where(phi < phi_lo, theta + two_pi * np.ceil((f32(phi_lo) - theta) / two_pi), phi)
    inside = (phi <= f32(phi_hi) + 1e-6) & (d_core >= 0)
    r_out = f32(spec.r0_um) * np.exp(b * phi)
    r_in = r_out * f32(math.exp(-2 * math.pi * spec.growth_per_rad))
    if exponent == 2.0:
        gradient = np.hypot(rho, zs / f32(elongation)) / radius
    else:
        gradient = radius ** (1 - p) * np.hypot(rho ** (p - 1), zs ** (p - 1) / f32(elongation))
    gradient = np.maximum(gradient, f32(1e-3))
    d_out = (r_out - radius) / gradient
    d_in = np.where(phi < f32(phi_lo) + two_pi, d_core, (radius - r_in) / gradient)
    half = f32(spec.wall_um / 2)
    last_whorl = phi > f32(phi_hi) - two_pi
    walls = (d_in < half) | (d_out < np.where(last_whorl, 2 * half, half))

    step = two_pi / f32(spec.chambers_per_whorl)
    chamber = np.floor(phi / step)
    offset = phi - chamber * step
    right_angle = f32(np.pi / 2)
    to_septum = rho * np.sin(np.minimum(np.minimum(offset, step - offset), right_angle))
    septa = to_septum < f32(spec.septum_um / 2)
    height = d_in / np.maximum(d_in + d_out, f32(1e-3))
    opening = ((height > FORAMEN_BAND[0]) & (height < FORAMEN_BAND[1])
               & (zs < f32(spec.foramen_span) * radius) & (rho > f32(2 * spec.septum_um)))
    walls |= septa & ~opening
    to_face = rho * np.sin(np.clip(f32(phi_hi) - phi, 0, right_angle))
    walls |= to_face < f32(spec.septum_um)
    if septula and spec.septulum_step_um > 0:
        s = f32(spec.septulum_step_um)
        # Septula sit between the equatorial plane's neighbours, so the equator is a lumen row.
        shifted = z - s / 2
        walls |= np.abs(shifted - s * np.round(shifted / s)) < f32(spec.septulum_um / 2)
    lumen = inside & ~walls
    return inside, np.where(lumen, chamber.astype(np.int32) + 2, 0).astype(np.int32)


def rasterise_spiral(spec: SpiralSpec, grid: Grid, pose: Pose, outer: np.ndarray,
                     labels: np.ndarray) -> None:
    """Add the spiral shell to `outer` (bool) and `labels` (int32 lumen labels), in place.

    Label 1 is the proloculus, ``2 + floor(phi / step)`` the chamber reached at spiral angle phi.

    Examples
    --------
    >>> spec = SpiralSpec(r0_um=2.0, growth_per_rad=0.12, phi_max=4 * np.pi, elongation=1.5,
    ...                   exponent=2.0, chambers_per_whorl=8, wall_um=1.0, septum_um=1.0,
    ...                   septulum_step_um=0.0, septulum_um=0.0, foramen_span=1.0,
    ...                   nucleus_whorls=0, nucleus_tilt_rad=0.0)
    >>> grid = Grid((40, 40, 40), (1.0, 1.0, 1.0))
    >>> outer, labels = np.zeros(grid.shape, bool), np.zeros(grid.shape, np.int32)
    >>> rasterise_spiral(spec, grid, Pose(np.eye(3), np.full(3, 20.0)), outer, labels)
    >>> bool(outer[20, 20, 20]), len(np.unique(labels)) > 10
    (True, True)
    """
    box = pose.extent_box(np.zeros(3), np.array([spec.outer_radius_um, spec.outer_radius_um,
                                                 spec.outer_radius_um * spec.elongation]), grid)
    if box is None:
        return
    x, y, z = grid.coords(box, pose.centre_um, pose.rotation)
    f32 = np.float32
    # Only voxels inside the spheroid enclosing the shell (p <= 2 keeps the shell inside it)
    # are evaluated, as flat arrays.
    envelope = (x * x + y * y + (z / f32(spec.elongation)) ** 2
                <= f32(spec.outer_radius_um) ** 2)
    x, y, z = x[envelope], y[envelope], z[envelope]
    r = np.sqrt(x * x + y * y + z * z)
    prolo_um = f32(spec.r0_um)
    phi_lo = 2 * math.pi * spec.nucleus_whorls
    label = np.zeros(r.shape, np.int32)
    if spec.nucleus_whorls:
        r_nucleus = f32(spec.r0_um * math.exp(spec.growth_per_rad * phi_lo))
        near = r < r_nucleus + f32(spec.wall_um)
        cos_t, sin_t = f32(math.cos(spec.nucleus_tilt_rad)), f32(math.sin(spec.nucleus_tilt_rad))
        xn, yn, zn = x[near], y[near] * cos_t - z[near] * sin_t, y[near] * sin_t + z[near] * cos_t
        theta_n = np.mod(np.arctan2(yn, xn), f32(2 * np.pi))
        phi_env = theta_n + f32(2 * np.pi) * np.floor((f32(phi_lo) - theta_n) / f32(2 * np.pi))
        d_core = r - r_nucleus
        d_core[near] = r[near] - f32(spec.r0_um) * np.exp(f32(spec.growth_per_rad) * phi_env)
        in_core = d_core[near] < 0
        _, nucleus_label = _whorl_cells(xn[in_core], yn[in_core], zn[in_core],
                                        r[near][in_core] - prolo_um, spec, elongation=1.0,
                                        exponent=2.0, phi_lo=0.0, phi_hi=phi_lo, septula=False)
        core_label = np.zeros(in_core.shape, np.int32)
        core_label[in_core] = nucleus_label
        label[near] = core_label
    else:
        d_core = r - prolo_um
    core = d_core < 0
    inside, outer_label = _whorl_cells(x, y, z, d_core, spec, elongation=spec.elongation,
                                       exponent=spec.exponent, phi_lo=phi_lo,
                                       phi_hi=spec.phi_max, septula=True)
    label = np.where(core, label, outer_label)
    proloculus = r < prolo_um
    label[proloculus] = np.where(r[proloculus] < prolo_um - f32(spec.wall_um), 1, 0)
    inside |= core
    box_inside = np.zeros(envelope.shape, bool)
    box_inside[envelope] = inside
    box_label = np.zeros(envelope.shape, np.int32)
    box_label[envelope] = label
    outer[box] |= box_inside
    labels[box] = np.where(box_inside, box_label, labels[box])
