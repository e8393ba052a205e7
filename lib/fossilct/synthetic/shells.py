"""From a morphology to a rasterised shell: design (µm, shell frame), voxels, preservation.

`design_shell` turns a morphology (see `morphotypes.sample_morphology`) into a `ShellDesign`, the
geometry in micrometres, built either by a growth model (chambers, foramina, rods) or by one of the
analytic shells (involute spiral, annular disc). `rasterise_shell` evaluates a design on a voxel
grid in a given pose and applies the specimen's preservation (a lost cap or an abraded chunk,
sediment in some chambers), returning ground-truth masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from fossilct.synthetic import growth
from fossilct.synthetic.chambers import (Chamber, Foramen, Grain, Grid, Pose, Rod,
                                         carve_foramina, rasterise_chambers, rasterise_rods,
                                         surface_points)
from fossilct.synthetic.disc import DiscSpec, rasterise_disc
from fossilct.synthetic.spiral import SpiralSpec, rasterise_spiral

__all__ = ["ShellDesign", "ShellGeometry", "design_shell", "rasterise_shell"]

#: Growth model used by each chamber-built morphotype.
GROWTH_MODELS = {"planispiral": "planispiral", "trochospiral": "trochospiral",
                 "agglutinated": "trochospiral", "triserial": "serial",
                 "uniserial": "uniserial", "conical": "conical"}
#: Partitions (chamberlet walls, septula) are this fraction of the outer wall's thickness.
PARTITION_FRACTION = 0.7
#: Waves summed in the agglutinated grain field; grains stand where it exceeds the threshold.
GRAIN_WAVES = 12
GRAIN_THRESHOLD = 0.6


@dataclass(frozen=True)
class ShellDesign:
    """A shell's geometry in µm (shell frame, centred on its bounding sphere)."""

    bounding_radius_um: float
    chambers: tuple[Chamber, ...] = ()
    foramina: tuple[Foramen, ...] = ()
    rods: tuple[Rod, ...] = ()
    spiral: SpiralSpec | None = None
    disc: DiscSpec | None = None
    grain: Grain | None = None
    n_labels: int = field(default=1)

    def support_um(self, direction: np.ndarray) -> float:
        """How far the shell reaches from its centre along unit `direction` (shell frame)."""
        reach = 0.0
        if self.chambers:
            reach = max(float(np.max(surface_points(c) @ direction)) for c in self.chambers)
        for rod in self.rods:
            tip = max(rod.start @ direction, rod.end @ direction)
            reach = max(reach, float(tip) + max(rod.radius_start_um, rod.radius_end_um))
        if self.spiral is not None:
            e = self.spiral.elongation
            reach = max(reach, self.spiral.outer_radius_um
                        * math.hypot(direction[0], direction[1], e * direction[2]))
        if self.disc is not None:
            reach = max(reach, math.hypot(self.disc.radius_um * math.hypot(*direction[:2]),
                                          self.disc.half_thickness_um * direction[2]))
        return reach


@dataclass(frozen=True)
class ShellGeometry:
    """Rasterised shell: `fossil` (P, M, N) bool, `labels` (P, M, N) int32 lumen labels
    (0 = calcite or outside) and `infill` (P, M, N) bool, sediment-filled lumen."""

    fossil: np.ndarray
    labels: np.ndarray
    infill: np.ndarray

    @property
    def shell(self) -> np.ndarray:
        """Calcite: inside the fossil and not lumen."""
        return self.fossil & (self.labels == 0)


def _chamber_design(morph: dict, rng: np.random.Generator) -> ShellDesign:
    shape, size = morph["shape"], morph["size_um"]
    model = growth.MODELS[GROWTH_MODELS[morph["morphotype"]]]
    chambers, rods, n_sequence = model(shape, rng)
    wall = shape["wall_frac"] * size
    chambers, foramina, rods = growth.assemble(
        chambers, rods, size_um=size, wall_um=wall, partition_um=PARTITION_FRACTION * wall,
        n_sequence=n_sequence)
    grain = None
    if "grain_frac" in shape:
        directions = rng.normal(size=(GRAIN_WAVES, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        grain = Grain(directions * (2 * math.pi / (shape["grain_frac"] * size)),
                      rng.uniform(0, 2 * math.pi, GRAIN_WAVES), shape["grain_bump"] * wall,
                      GRAIN_THRESHOLD)
    return ShellDesign(size / 2, tuple(chambers), tuple(foramina), tuple(rods), grain=grain,
                       n_labels=len(chambers) + 1)


def _spiral_design(morph: dict) -> ShellDesign:
    shape, size = morph["shape"], morph["size_um"]
    elongation = shape["elongation"]
    n_chambers = max(1, round(shape["whorls"] * shape["chambers_per_whorl"]))
    phi_max = n_chambers * 2 * math.pi / shape["chambers_per_whorl"]
    growth_per_rad = math.log(shape["whorl_ratio"]) / (2 * math.pi)
    outer_radius = size / (2 * max(1.0, elongation))
    wall = shape["wall_frac"] * size
    spec = SpiralSpec(
        r0_um=outer_radius * math.exp(-growth_per_rad * phi_max), growth_per_rad=growth_per_rad,
        phi_max=phi_max, elongation=elongation, exponent=shape["exponent"],
        chambers_per_whorl=shape["chambers_per_whorl"], wall_um=wall,
        septum_um=PARTITION_FRACTION * wall, septulum_step_um=shape["septulum_frac"] * size,
        septulum_um=PARTITION_FRACTION * wall, foramen_span=shape["foramen_span"],
        nucleus_whorls=shape["nucleus_whorls"],
        nucleus_tilt_rad=math.radians(shape["nucleus_tilt_deg"]))
    return ShellDesign(spec.bounding_radius_um, spiral=spec, n_labels=spec.n_labels)


def _disc_design(morph: dict, rng: np.random.Generator) -> ShellDesign:
    shape, size = morph["shape"], morph["size_um"]
    reach = shape.get("spine_length_ratio", 1.0)
    radius = size / (2 * reach)
    wall = shape["wall_frac"] * size
    spec = DiscSpec(
        radius_um=radius, half_thickness_um=shape["thickness_ratio"] * radius,
        equatorial_half_um=shape["equatorial_ratio"] * radius,
        lens_exponent=shape["lens_exponent"], embryon_um=shape["embryon_ratio"] * radius,
        ring_um=shape["ring_ratio"] * radius, chamberlet_um=shape["chamberlet_ratio"] * radius,
        lateral_layers=shape["lateral_layers"],
        lateral_cell_um=shape["lateral_cell_ratio"] * radius, wall_um=wall,
        phase_seed=float(rng.random()))
    rods = []
    for _ in range(shape["n_pillars"]):
        r, a = 0.7 * radius * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        top = spec.equatorial_half_um + (spec.half_thickness_um - spec.equatorial_half_um) * (
            1 - (r / radius) ** 2) ** spec.lens_exponent + 0.5 * wall
        foot = np.array([r * math.cos(a), r * math.sin(a), 0.0])
        rods.append(Rod(foot - [0, 0, top], foot + [0, 0, top], wall, wall))
    n_spines = shape.get("n_spines", 0)
    base_radius = shape.get("spine_base_ratio", 0.0) * spec.half_thickness_um
    for k in range(n_spines):
        angle = 2 * math.pi * k / n_spines + rng.normal(0, 0.12)
        tilt = rng.normal(0, 0.05)
        direction = np.array([math.cos(angle), math.sin(angle), tilt])
        direction /= np.linalg.norm(direction)
        tip_radius = 0.25 * base_radius
        rods.append(Rod(np.zeros(3), direction * (size / 2 - tip_radius), base_radius,
                        tip_radius))
    return ShellDesign(size / 2, rods=tuple(rods), disc=spec, n_labels=spec.n_labels)


def design_shell(morph: dict) -> ShellDesign:
    """The geometry (µm, shell frame) of the specimen described by `morph`.

    Deterministic: the fine detail is drawn from ``morph['detail_seed']``.

    Examples
    --------
    >>> from fossilct.synthetic.morphotypes import sample_morphology
    >>> morph = sample_morphology("elphidiella_like", rng=1)
    >>> design = design_shell(morph)
    >>> radius_ok = abs(design.bounding_radius_um - morph["size_um"] / 2) < 1e-6
    >>> bool(radius_ok), len(design.chambers) > 10
    (True, True)
    """
    rng = np.random.default_rng(morph["detail_seed"])
    morphotype = morph["morphotype"]
    if morphotype in GROWTH_MODELS:
        return _chamber_design(morph, rng)
    if morphotype in ("fusiform", "involute"):
        return _spiral_design(morph)
    return _disc_design(morph, rng)


def _break(fossil: np.ndarray, design: ShellDesign, taphonomy: dict, grid: Grid,
           pose: Pose) -> None:
    """Remove a cap (half-space) or an abraded chunk (ball) from `fossil`, in place."""
    direction = np.asarray(taphonomy["break_direction"], float)
    reach = design.support_um(direction)
    direction_v = pose.rotation @ direction
    a, b, c = grid.coords(tuple(slice(0, n) for n in grid.shape), pose.centre_um, np.eye(3))
    if taphonomy["breakage"] == "cap":
        depth = np.float32((1 - taphonomy["break_fraction"]) * reach)
        d = direction_v.astype(np.float32)
        fossil &= (a * d[0] + b * d[1] + c * d[2]) <= depth
    else:
        centre = (direction_v * reach).astype(np.float32)
        radius_sq = np.float32((taphonomy["break_fraction"] * reach * 2) ** 2)
        fossil &= ((a - centre[0]) ** 2 + (b - centre[1]) ** 2 + (c - centre[2]) ** 2) > radius_sq


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 26-connected component of `mask` (searched inside its bounding box)."""
    boxes = ndimage.find_objects(mask.astype(np.uint8))
    if not boxes or boxes[0] is None:
        return mask
    box = boxes[0]
    labelled, n = ndimage.label(mask[box], structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return mask
    sizes = np.bincount(labelled.ravel())
    sizes[0] = 0
    kept = np.zeros_like(mask)
    kept[box] = labelled == np.argmax(sizes)
    return kept


def rasterise_shell(design: ShellDesign, taphonomy: dict, grid: Grid, pose: Pose) -> ShellGeometry:
    """Evaluate `design` on `grid` in `pose`, then apply the preservation in `taphonomy`.

    Parameters
    ----------
    design : ShellDesign
    taphonomy : dict
        As in ``sample_morphology(...)['taphonomy']``.
    grid, pose : Grid, Pose

    Returns
    -------
    ShellGeometry
        ``fossil`` is a single connected component (fragments cut off by breakage are dropped).

    Examples
    --------
    >>> from fossilct.synthetic.morphotypes import sample_morphology
    >>> morph = sample_morphology("minoxia_like", rng=3)
    >>> design = design_shell(morph)
    >>> spacing = morph["size_um"] / 24
    >>> grid = Grid((32, 32, 32), (spacing,) * 3)
    >>> geometry = rasterise_shell(design, morph["taphonomy"], grid,
    ...                            Pose(np.eye(3), np.full(3, 16 * spacing)))
    >>> geometry.fossil.shape, bool(geometry.shell.any()), bool((geometry.labels > 0).any())
    ((32, 32, 32), True, True)
    """
    fossil = np.zeros(grid.shape, bool)
    labels = np.zeros(grid.shape, np.int32)
    if design.spiral is not None:
        rasterise_spiral(design.spiral, grid, pose, fossil, labels)
    if design.disc is not None:
        rasterise_disc(design.disc, grid, pose, fossil, labels)
    if design.chambers:
        rasterise_chambers(list(design.chambers), grid, pose, fossil, labels, grain=design.grain)
        carve_foramina(list(design.foramina), list(design.chambers), grid, pose, fossil, labels)
    rasterise_rods(list(design.rods), grid, pose, fossil, labels)
    if taphonomy["breakage"] != "none":
        _break(fossil, design, taphonomy, grid, pose)
    fossil = _largest_component(fossil)
    labels[~fossil] = 0
    filled = np.random.default_rng(taphonomy["infill_seed"]).random(design.n_labels)
    filled = filled < taphonomy["infill_fraction"]
    filled[0] = False
    infill = filled[np.minimum(labels, design.n_labels - 1)]
    return ShellGeometry(fossil, labels, infill)
