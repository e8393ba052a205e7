"""Discoidal-annular shells (orbitoidal larger foraminifera) as one implicit field.

In the shell frame (disc axis z) the test is a lens ``|z| <= H(rho)`` of radius R with a
bilocular embryon in the centre. Around it, an equatorial layer ``|z| < h_eq`` is divided into
concentric annuli of width w, each annulus into chamberlets of about the same arc length, with
staggered partitions from ring to ring and stolons (small openings) through the annular walls.
Above and below, lateral chamberlets fill the lens in layers that drape over the equatorial layer
and thin out towards the periphery, where the test ends in a solid flange. Every voxel gets its
cell analytically (ring, sector, layer), so the disc is rasterised in a few vectorised passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fossilct.synthetic.chambers import Grid, Pose

__all__ = ["DiscSpec", "rasterise_disc"]

#: Golden-ratio step that staggers partition phases from ring to ring without repeating.
_STAGGER = 0.6180339887
#: Sectors per annulus never drop below this count (keeps inner rings chambered).
MIN_SECTORS = 6


@dataclass(frozen=True)
class DiscSpec:
    """A lenticular disc with annular chamberlets; lengths in µm (shell frame, axis z)."""

    radius_um: float
    half_thickness_um: float
    equatorial_half_um: float
    lens_exponent: float
    embryon_um: float
    ring_um: float
    chamberlet_um: float
    lateral_layers: int
    lateral_cell_um: float
    wall_um: float
    phase_seed: float

    @property
    def bounding_radius_um(self) -> float:
        return max(self.radius_um, self.half_thickness_um)

    def _sector_counts(self) -> tuple[int, int, int]:
        n_rings = math.ceil(self.radius_um / self.ring_um) + 2
        n_sectors = math.ceil(2 * math.pi * self.radius_um / self.chamberlet_um) + MIN_SECTORS + 1
        n_lateral = math.ceil(2 * math.pi * self.radius_um / self.lateral_cell_um) + MIN_SECTORS + 1
        return n_rings, n_sectors, n_lateral

    @property
    def n_labels(self) -> int:
        """One more than the largest lumen label the disc can use."""
        n_rings, n_sectors, n_lateral = self._sector_counts()
        n_lat_rings = math.ceil(self.radius_um / self.lateral_cell_um) + 2
        return 3 + n_rings * n_sectors + 2 * self.lateral_layers * n_lat_rings * n_lateral


def _annular_cells(rho, theta, *, start_um, ring_um, arc_um, wall_um, phase_seed):
    """Ring index, sector index, annular-wall and partition masks of concentric chamberlets."""
    f32 = np.float32
    start_um = np.asarray(start_um, dtype=f32)
    s = rho - start_um
    ring = np.maximum(np.floor(s / f32(ring_um)), 0)
    mid = start_um + (ring + f32(0.5)) * f32(ring_um)
    n = np.maximum(f32(MIN_SECTORS), np.round(f32(2 * np.pi) * mid / f32(arc_um)))
    sector = f32(2 * np.pi) / n
    phase = sector * np.mod(ring * f32(_STAGGER) + np.asarray(phase_seed, dtype=f32), f32(1.0))
    shifted = np.mod(theta - phase, f32(2 * np.pi))
    index = np.floor(shifted / sector)
    within = shifted - index * sector
    half = f32(wall_um / 2)
    lower = s - ring * f32(ring_um)
    upper = (ring + 1) * f32(ring_um) - s
    annular = ((ring >= 1) & (lower < half)) | (upper < half)
    partition = rho * np.sin(np.minimum(np.minimum(within, sector - within), f32(np.pi / 2))) < half
    middle = np.abs(within - sector / 2) < f32(0.2) * sector
    return ring.astype(np.int32), np.mod(index, n).astype(np.int32), annular, partition, middle


def rasterise_disc(spec: DiscSpec, grid: Grid, pose: Pose, outer: np.ndarray,
                   labels: np.ndarray) -> None:
    """Add the disc to `outer` (bool) and `labels` (int32 lumen labels), in place.

    Labels: 1 protoconch, 2 deuteroconch, then equatorial and lateral chamberlets.

    Examples
    --------
    >>> spec = DiscSpec(radius_um=18.0, half_thickness_um=6.0, equatorial_half_um=1.5,
    ...                 lens_exponent=1.0, embryon_um=3.0, ring_um=3.0, chamberlet_um=3.0,
    ...                 lateral_layers=2, lateral_cell_um=4.0, wall_um=1.0, phase_seed=0.3)
    >>> grid = Grid((40, 40, 40), (1.0, 1.0, 1.0))
    >>> outer, labels = np.zeros(grid.shape, bool), np.zeros(grid.shape, np.int32)
    >>> rasterise_disc(spec, grid, Pose(np.eye(3), np.full(3, 20.0)), outer, labels)
    >>> bool(outer[20, 20, 20]), bool(outer[20, 20, 39]), int(labels[20, 19, 20])
    (True, False, 1)
    """
    f32 = np.float32
    extent = np.array([spec.radius_um, spec.radius_um, spec.half_thickness_um])
    box = pose.extent_box(np.zeros(3), extent, grid)
    if box is None:
        return
    x, y, z = grid.coords(box, pose.centre_um, pose.rotation)
    # Only voxels inside the cylinder enclosing the lens are evaluated, as flat arrays.
    envelope = ((x * x + y * y <= f32(spec.radius_um) ** 2)
                & (np.abs(z) <= f32(spec.half_thickness_um)))
    x, y, z = x[envelope], y[envelope], z[envelope]
    rho = np.hypot(x, y)
    theta = np.mod(np.arctan2(y, x), f32(2 * np.pi))
    az = np.abs(z)
    wall, h_eq = f32(spec.wall_um), f32(spec.equatorial_half_um)
    u = np.minimum((rho / f32(spec.radius_um)) ** 2, f32(1.0))
    rise = f32(spec.half_thickness_um - spec.equatorial_half_um)
    q = f32(spec.lens_exponent)
    profile = (1 - u) ** q
    height = h_eq + rise * profile
    inside = (rho <= f32(spec.radius_um)) & (az <= height)
    slope = rise * q * (1 - u) ** (q - 1) * 2 * rho / f32(spec.radius_um) ** 2
    walls = ((height - az) / np.sqrt(1 + slope * slope) < wall) | (f32(spec.radius_um) - rho < wall)

    re = f32(spec.embryon_um)
    d1 = re - np.sqrt((x + f32(0.3) * re) ** 2 + y * y + z * z)
    d2 = f32(0.8) * re - np.sqrt((x - f32(0.6) * re) ** 2 + y * y + z * z)
    embryon = (d1 > 0) | (d2 > 0)
    embryon_wall = f32(1.4) * wall
    label = np.where(d1 > embryon_wall, 1, np.where((d2 > embryon_wall) & (d1 < 0), 2, 0))

    n_rings, n_sectors, n_lateral = spec._sector_counts()
    ring, sector, annular, partition, middle = _annular_cells(
        rho, theta, start_um=1.5 * spec.embryon_um, ring_um=spec.ring_um,
        arc_um=spec.chamberlet_um, wall_um=spec.wall_um, phase_seed=spec.phase_seed)
    stolon = annular & middle & (az < f32(0.35) * h_eq)
    equatorial = ~embryon & (az < h_eq)
    eq_walls = ((annular & ~stolon) | partition | (h_eq - az < wall / 2))
    label = np.where(equatorial & ~eq_walls, 3 + ring * n_sectors + sector, label)

    lateral = ~embryon & (az >= h_eq)
    layer_um = np.maximum(rise * profile / f32(spec.lateral_layers), f32(1e-3))
    depth = az - h_eq
    layer = np.clip(np.floor(depth / layer_um), 0, spec.lateral_layers - 1)
    layer_walls = ((depth - layer * layer_um < wall / 2)
                   | ((layer + 1) * layer_um - depth < wall / 2))
    face = layer * 2 + (z > 0)
    # Each layer (and each side) gets its own ring offset and partition phase, so lateral
    # chamberlets of successive layers do not line up.
    offset = np.mod(f32(spec.phase_seed) + face * f32(_STAGGER), f32(1.0))
    lat_ring, lat_sector, lat_annular, lat_partition, _ = _annular_cells(
        rho, theta, start_um=-f32(spec.lateral_cell_um) * offset, ring_um=spec.lateral_cell_um,
        arc_um=spec.lateral_cell_um, wall_um=spec.wall_um, phase_seed=offset * f32(3.7))
    lat_walls = layer_walls | lat_annular | lat_partition
    n_lat_rings = math.ceil(spec.radius_um / spec.lateral_cell_um) + 2
    lat_label = (3 + n_rings * n_sectors
                 + (face.astype(np.int32) * n_lat_rings + np.mod(lat_ring, n_lat_rings)) * n_lateral
                 + lat_sector)
    label = np.where(lateral & ~lat_walls, lat_label, label)
    label = np.where(inside & ~(walls & ~embryon), label, 0).astype(np.int32)
    box_inside = np.zeros(envelope.shape, bool)
    box_inside[envelope] = inside
    box_label = np.zeros(envelope.shape, np.int32)
    box_label[envelope] = label
    outer[box] |= box_inside
    labels[box] = np.where(box_inside, box_label, labels[box])
