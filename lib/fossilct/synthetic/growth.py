"""Growth models: where each chamber goes, for the morphotypes built chamber by chamber.

Every model turns a morphology's ``shape`` parameters into a list of chambers (and solid rods:
pillars) in arbitrary units, in growth order; `assemble` then centres the shell, scales it so its
bounding sphere has the specimen's diameter, sets the wall thickness in micrometres and places the
foramina (one through each septum, on the line between consecutive chamber centres, plus the
aperture of the last chamber). A model's own randomness (small per-chamber size and position
jitter, pillar positions) comes from the generator it is given, which is seeded from the
morphology, so a re-scan rebuilds exactly the same shell.

Models: `planispiral` (evolute logarithmic spiral), `trochospiral` (helicoid spire, optional
umbilical plug with pillars), `serial` (biserial/triserial), `uniserial` (planispiral start, then a
flaring rectilinear stack of chambers divided into chamberlets), `conical` (apical embryon, then
discoidal chambers with a radially partitioned marginal zone and a pillared central zone).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from fossilct.synthetic.chambers import Chamber, Foramen, Rod, surface_points

__all__ = ["planispiral", "trochospiral", "serial", "uniserial", "conical", "assemble",
           "MODELS"]

#: Lengths of the unit-space models are in proloculus radii; the spiral's outer radius at angle
#: 0 (the first whorl around the proloculus).
FIRST_WHORL_RADIUS = 1.9
#: Spiral chambers span from ``RADIAL_START`` whorl heights inside the previous whorl over
#: ``2 * RADIAL_HALF`` whorl heights: they rest on, and slightly overlap, the previous whorl.
RADIAL_START = 0.15
RADIAL_HALF = 0.6
#: Tangential diameter of a spiral chamber in angular steps, before the species' ``overlap``:
#: consecutive chambers overlap, and the overlap becomes the septum.
TANGENTIAL_REACH = 1.6
#: Stacked disc chambers rise by this many half heights each (overlap 0.7 half height).
STACK_PITCH = 1.3
#: Per-chamber size jitter is a normal deviate clipped at this many standard deviations.
JITTER_CLIP = 2.5
#: Foramen radius as a fraction of the smaller inner radius of the two chambers it joins.
FORAMEN_FRACTION = 0.3
#: Superellipsoid exponent of spiral chambers: a little boxy, so neighbours join along wedges.
SPIRAL_EXPONENT = 2.5
#: A chamber's wall never exceeds this fraction of its smallest radius (early chambers stay hollow).
MAX_WALL_FRACTION = 0.35


#: What a growth model returns: chambers and rods (unit space, growth order) and how many
#: leading chambers form the sequence joined by foramina.
Growth = tuple[list[Chamber], list[Rod], int]


def _spiral_axes(theta: float) -> np.ndarray:
    """Local axes (radial, tangential, coiling axis) of a chamber at polar angle `theta`."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _jittered(rng: np.random.Generator, amount: float, size: int = 3) -> np.ndarray:
    return 1.0 + np.clip(rng.normal(0.0, amount, size), -JITTER_CLIP * amount,
                         JITTER_CLIP * amount)


def _sphere(centre, radius: float) -> Chamber:
    return Chamber(np.asarray(centre, float), np.eye(3), np.full(3, radius), 2.0, 0.0)


def planispiral(shape: dict, rng: np.random.Generator) -> Growth:
    """Evolute to partly involute logarithmic spiral in the plane z = 0 (e.g. elphidiids).

    Chamber i sits at polar angle ``i * 2 pi / chambers_per_whorl`` between the previous whorl
    and the spiral ``r = r1 * whorl_ratio ** (theta / 2 pi)``; its axial half-width is
    ``axial_ratio`` times its outer radius, so wide chambers clasp the previous whorl.
    """
    step = 2 * math.pi / shape["chambers_per_whorl"]
    b = math.log(shape["whorl_ratio"]) / (2 * math.pi)
    chambers = [_sphere((0, 0, 0), 1.0)]
    for i in range(1, shape["n_chambers"]):
        theta = i * step
        r_out = FIRST_WHORL_RADIUS * math.exp(b * theta)
        r_in = max(r_out / shape["whorl_ratio"], 1.0 - RADIAL_START)
        height = r_out - r_in
        centre_r = r_in + (RADIAL_HALF - RADIAL_START) * height
        radii = np.array([RADIAL_HALF * height,
                          0.5 * centre_r * step * (TANGENTIAL_REACH + shape["overlap"]),
                          shape["axial_ratio"] * r_out]) * _jittered(rng, shape["jitter"])
        axes = _spiral_axes(theta)
        centre = centre_r * axes[:, 0] + [0.0, 0.0, rng.normal(0, 0.02 * r_out)]
        chambers.append(Chamber(centre, axes, radii, SPIRAL_EXPONENT, 0.0))
    return chambers, [], len(chambers)


def trochospiral(shape: dict, rng: np.random.Generator) -> Growth:
    """Helicoid spire (e.g. lockhartiids): a logarithmic spiral descending along z, apex up.

    The spire is ``spire_ratio`` times the final diameter high; each chamber reaches inwards
    over ``reach`` of its outer radius (radial half-axis ``0.55 * reach * r``) and is
    ``axial_ratio`` times as high as that. With ``umbilical_pillars > 0`` an umbilical plug
    (half-axes 0.6 of the last whorl's radius and 0.8 of the last chamber's height, set 0.3 of
    that height lower) closes the umbilicus, crossed by that many vertical pillars scattered
    within 0.45 of the last radius (radius 0.07 of the last whorl's, tapering to 0.05).
    """
    step = 2 * math.pi / shape["chambers_per_whorl"]
    b = math.log(shape["whorl_ratio"]) / (2 * math.pi)
    n = shape["n_chambers"]
    theta_end = (n - 1) * step
    r_last = FIRST_WHORL_RADIUS * math.exp(b * theta_end)
    spire = shape["spire_ratio"] * 2 * r_last
    chambers = [_sphere((0, 0, spire), 1.0)]
    for i in range(1, n):
        theta = i * step
        r_out = FIRST_WHORL_RADIUS * math.exp(b * theta)
        radial = 0.55 * shape["reach"] * r_out
        centre_r = r_out - radial
        radii = np.array([radial, 0.5 * centre_r * step * (TANGENTIAL_REACH + shape["overlap"]),
                          shape["axial_ratio"] * radial]) * _jittered(rng, shape["jitter"])
        axes = _spiral_axes(theta)
        centre = centre_r * axes[:, 0] + [0.0, 0.0, spire * (1 - theta / theta_end)]
        chambers.append(Chamber(centre, axes, radii, SPIRAL_EXPONENT, 0.0))
    rods, n_sequence = [], len(chambers)
    if shape["umbilical_pillars"]:
        last = chambers[-1]
        depth = 0.8 * last.radii[2]
        plug_centre = np.array([0.0, 0.0, last.centre[2] - 0.3 * depth])
        plug = np.array([0.6 * r_last, 0.6 * r_last, depth])
        chambers.append(Chamber(plug_centre, np.eye(3), plug, 2.0, 0.0))
        for _ in range(shape["umbilical_pillars"]):
            r, a = 0.45 * r_last * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            foot = plug_centre + [r * math.cos(a), r * math.sin(a), 0.0]
            rods.append(Rod(foot - [0, 0, depth], foot + [0, 0, depth], 0.07 * r_last,
                            0.05 * r_last))
    return chambers, rods, n_sequence


def serial(shape: dict, rng: np.random.Generator) -> Growth:
    """Biserial or triserial growth (`n_series`; e.g. chrysalinids).

    Chamber i has size ``growth ** i``: half-axes 0.8 (radial), 0.9 (tangential) and
    ``height_ratio`` times the size, centred ``spread`` sizes off the axis at polar angle
    ``i * (360 / n_series + twist_deg)`` degrees; each rises by ``1.7 / n_series`` half heights,
    so chambers of one series overlap the one below. ``n_pillars`` vertical pillars cross the
    last two rounds of chambers within half the final spread of the axis.
    """
    n_series = shape["n_series"]
    chambers = [_sphere((0, 0, 0), 1.0)]
    z = 0.6
    for i in range(1, shape["n_chambers"]):
        size = shape["growth"] ** i
        theta = i * (2 * math.pi / n_series + math.radians(shape["twist_deg"]))
        half_height = shape["height_ratio"] * size
        z += 1.7 * half_height / n_series
        axes = _spiral_axes(theta)
        radii = np.array([0.8 * size, 0.9 * size, half_height]) * _jittered(rng, shape["jitter"])
        chambers.append(Chamber(shape["spread"] * size * axes[:, 0] + [0.0, 0.0, z], axes,
                                radii, 2.0, 0.0))
    rods = []
    top = chambers[-1].centre[2]
    base = chambers[max(1, len(chambers) - 2 * n_series)].centre[2]
    reach = shape["spread"] * shape["growth"] ** shape["n_chambers"] * 0.5
    for _ in range(shape["n_pillars"]):
        r, a = reach * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        foot = np.array([r * math.cos(a), r * math.sin(a), 0.0])
        rods.append(Rod(foot + [0, 0, base], foot + [0, 0, top], 0.12 * reach, 0.12 * reach))
    return chambers, rods, len(chambers)


def _stack(z0: float, levels: list[tuple[float, float]], shape: dict,
           rng: np.random.Generator, *, exponent: float, bend: float = 0.0,
           n_layers: int = 1) -> list[Chamber]:
    """Discoidal chambers (radius, half height per level) stacked along z from `z0`, split into
    chamberlets; the stack's axis drifts sideways by ``bend`` first radii at its top."""
    chambers = []
    z = z0
    for k, (radius, half_height) in enumerate(levels):
        z += STACK_PITCH * half_height
        radii = np.array([radius, radius, half_height]) * _jittered(rng, shape["jitter"])
        sideways = bend * levels[0][0] * (k / len(levels)) ** 2
        chambers.append(Chamber(np.array([sideways, 0.0, z]), np.eye(3), radii, exponent, 0.0,
                                n_radial=shape["n_radial"], n_layers=n_layers,
                                partition_zone=shape["zone"],
                                phase_rad=rng.uniform(0, 2 * math.pi)))
    return chambers


def uniserial(shape: dict, rng: np.random.Generator) -> Growth:
    """A planispiral coil, then a flaring uniserial stack (e.g. rhapydioninids).

    The coil (``n_coil`` chambers, 5 per whorl, whorl ratio 2.2) lies in the x-z plane with its
    last chamber on top; above it, ``n_uniserial`` rounded discs (exponent 2.5) start at 1.1
    times the last coil chamber, widen by ``flare`` and heighten by half that per chamber, are
    ``height_ratio`` times as high as wide, and are split into ``n_radial`` chamberlets outside
    the central ``zone``.
    """
    coil_shape = dict(n_chambers=shape["n_coil"], chambers_per_whorl=5, whorl_ratio=2.2,
                      overlap=0.3, axial_ratio=0.45, jitter=shape["jitter"])
    coil, _, _ = planispiral(coil_shape, rng)
    # Rotate the coil into the x-z plane with its last chamber at the top.
    last_angle = (shape["n_coil"] - 1) * 2 * math.pi / 5
    turn = math.pi / 2 - last_angle
    spin = np.array([[math.cos(turn), -math.sin(turn), 0], [math.sin(turn), math.cos(turn), 0],
                     [0, 0, 1.0]])
    to_xz = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    frame = to_xz @ spin
    coil = [dataclasses.replace(c, centre=frame @ c.centre, axes=frame @ c.axes) for c in coil]
    top = coil[-1].centre[2]
    first = 1.1 * float(np.max(coil[-1].radii))
    levels = [(first * (1 + shape["flare"]) ** k, shape["height_ratio"] * first
               * (1 + 0.5 * shape["flare"]) ** k) for k in range(shape["n_uniserial"])]
    stack = _stack(top - levels[0][1], levels, shape, rng, exponent=2.5, bend=shape["bend"])
    return coil + stack, [], len(coil) + len(stack)


def conical(shape: dict, rng: np.random.Generator) -> Growth:
    """Apical embryon, then a cone of discoidal chambers (e.g. orbitolinids).

    Three small embryonic chambers sit at the apex; disc k has half height ``height_ratio``
    (growing 3% per chamber) and radius ``1.2 + h_k * tan(apical_angle / 2)`` at its height
    h_k. Outside the central ``zone`` each disc is split by ``n_radial`` radial plates and,
    with ``n_layers > 1``, by rafters; ``n_pillars`` vertical pillars (radius a quarter of the
    half height) cross the central zone from the third disc to the last.
    """
    chambers = [_sphere((0, 0, 0), 1.0), _sphere((0.9, 0.3, 0.5), 0.9),
                _sphere((-0.2, 0.9, 0.9), 1.0)]
    half_angle = math.radians(shape["apical_angle_deg"]) / 2
    n = shape["n_chambers"]
    half_height = shape["height_ratio"]
    levels = []
    for k in range(n):
        height = STACK_PITCH * half_height * (k + 1)
        levels.append((1.2 + height * math.tan(half_angle), half_height * (1 + 0.03 * k)))
    stack = _stack(0.2, levels, shape, rng, exponent=2.0, n_layers=shape["n_layers"])
    rods = []
    first, last = stack[min(2, n - 1)], stack[-1]
    for _ in range(shape["n_pillars"]):
        r = shape["zone"] * 0.8 * first.radii[0] * math.sqrt(rng.random())
        a = rng.uniform(0, 2 * math.pi)
        foot = np.array([r * math.cos(a), r * math.sin(a), 0.0])
        rods.append(Rod(foot + [0, 0, first.centre[2]], foot + [0, 0, last.centre[2]],
                        0.25 * half_height, 0.25 * half_height))
    return chambers + stack, rods, len(chambers) + len(stack)


MODELS = {"planispiral": planispiral, "trochospiral": trochospiral, "serial": serial,
          "uniserial": uniserial, "conical": conical}


def _septum_point(before: Chamber, after: Chamber, wall_um: float) -> np.ndarray:
    """Centre of the septum between two chambers, on the line joining their centres."""
    direction = after.centre - before.centre
    local = before.axes.T @ direction
    level = np.sum(np.abs(local / before.radii) ** before.exponent) ** (1 / before.exponent)
    reach = min(1.0 / max(level, 1e-9), 1.0)
    unit = direction / max(np.linalg.norm(direction), 1e-9)
    return before.centre + reach * direction - 0.5 * wall_um * unit


def assemble(chambers: list[Chamber], rods: list[Rod], *, size_um: float, wall_um: float,
             partition_um: float, n_sequence: int | None = None):
    """Centre and scale a unit-space shell to `size_um`; set walls; place foramina.

    Parameters
    ----------
    chambers, rods : list
        Chambers and rods of a growth model (arbitrary units, growth order).
    size_um : float
        Diameter of the shell's bounding sphere after scaling.
    wall_um, partition_um : float
        Wall and partition thickness (µm); a chamber's wall is capped at
        ``MAX_WALL_FRACTION`` of its smallest radius.
    n_sequence : int, optional
        How many leading chambers form the growth sequence joined by foramina (default all;
        an umbilical plug appended after the spiral is not part of it).

    Returns
    -------
    chambers : list of Chamber
    foramina : list of Foramen
    rods : list of Rod

    Examples
    --------
    >>> shape = dict(n_chambers=12, chambers_per_whorl=8, whorl_ratio=2.2, axial_ratio=0.5,
    ...              overlap=0.2, jitter=0.0)
    >>> chambers, rods, n = planispiral(shape, np.random.default_rng(0))
    >>> chambers, foramina, rods = assemble(chambers, rods, size_um=500.0, wall_um=10.0,
    ...                                     partition_um=7.0, n_sequence=n)
    >>> reach = max(np.linalg.norm(surface_points(c), axis=1).max() for c in chambers)
    >>> round(float(reach)), len(foramina)
    (250, 12)
    """
    points = [surface_points(c) for c in chambers]
    for rod in rods:
        radius = max(rod.radius_start_um, rod.radius_end_um)
        points.append(np.array([rod.start, rod.end]) + radius)
        points.append(np.array([rod.start, rod.end]) - radius)
    cloud = np.concatenate(points)
    centre = (cloud.min(axis=0) + cloud.max(axis=0)) / 2
    scale = (size_um / 2) / float(np.max(np.linalg.norm(cloud - centre, axis=1)))
    scaled = []
    for c in chambers:
        radii = c.radii * scale
        scaled.append(dataclasses.replace(
            c, centre=(c.centre - centre) * scale, radii=radii,
            wall_um=float(min(wall_um, MAX_WALL_FRACTION * radii.min())),
            partition_um=float(min(partition_um, MAX_WALL_FRACTION * radii.min()))))
    rods = [Rod((r.start - centre) * scale, (r.end - centre) * scale,
                float(r.radius_start_um * scale), float(r.radius_end_um * scale)) for r in rods]
    n_sequence = len(scaled) if n_sequence is None else n_sequence
    foramina = []
    for i in range(1, n_sequence):
        before, after = scaled[i - 1], scaled[i]
        inner = min((before.radii - before.wall_um).min(), (after.radii - after.wall_um).min())
        foramina.append(Foramen(_septum_point(before, after, before.wall_um),
                                float(FORAMEN_FRACTION * max(inner, 0.0)), i))
    last = scaled[n_sequence - 1]
    if n_sequence > 1:
        heading = last.centre - scaled[n_sequence - 2].centre
        heading = heading / max(np.linalg.norm(heading), 1e-9)
        local = last.axes.T @ heading
        level = np.sum(np.abs(local / last.radii) ** last.exponent) ** (1 / last.exponent)
        aperture = last.centre + heading / level
        radius = float(FORAMEN_FRACTION * (last.radii - last.wall_um).min())
        foramina.append(Foramen(aperture, radius, n_sequence - 1))
    return scaled, foramina, rods
