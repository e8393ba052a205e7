"""The six species of the second test source and their intra-species variation.

Each species is a morphotype whose proportions are drawn from uniform ranges
(:func:`sample_specimen`); the result is a form of :mod:`fossilct.testscans.forms` plus the
specimen's physical size, wall thickness and sediment infill, so that re-scans of a specimen
share all of them:

- ``uniserial_straight``: 8-12 slightly elongated chambers in a straight line (length about 4-6
  times the width);
- ``uniserial_arcuate``: 7-10 rounder chambers along an arc bent by 15-40 degrees;
- ``biserial_straight``: 14-18 broad, low chambers alternating in two rows, widening steadily
  (length about twice the width);
- ``biserial_arcuate``: 12-16 such chambers along an arc bent by 15-35 degrees, narrower;
- ``discoidal_cyclic``: a lens of 6-9 annuli of chamberlets (100-400 in all) around a central
  chamber;
- ``globular_coiled``: 9-12 inflated chambers growing fast on a low trochospiral coil.

Walls are 2.5-4 % of the bounding radius thick (1.2-2.2 % for the disc's many chamberlets):
about one voxel at 80-96 voxels per side. ``WALL_FRACTION_RANGES`` states the share of a scan's
voxels that are shell wall for each morphotype (0.1-2.5 % in all); the tests hold the generator
to it.
"""

from __future__ import annotations

import numpy as np

from fossilct.testscans.forms import ChamberChain, ChamberletDisc, chain_from_chambers

__all__ = ["SPECIES", "WALL_FRACTION_RANGES", "sample_specimen"]

SPECIES = ("uniserial_straight", "uniserial_arcuate", "biserial_straight", "biserial_arcuate",
           "discoidal_cyclic", "globular_coiled")

#: Share of a scan's voxels that are shell wall (occupancy >= 0.5), per morphotype, at ``size``
#: 64-96 (measured over 32 scans per morphotype: 16 specimens, half of them anisotropic).
WALL_FRACTION_RANGES = {
    "uniserial_straight": (0.001, 0.008),
    "uniserial_arcuate": (0.001, 0.008),
    "biserial_straight": (0.0015, 0.015),
    "biserial_arcuate": (0.0015, 0.015),
    "discoidal_cyclic": (0.0015, 0.025),
    "globular_coiled": (0.002, 0.025),
}

_RADIUS_UM = {"uniserial_straight": (450, 900), "uniserial_arcuate": (350, 700),
              "biserial_straight": (300, 600), "biserial_arcuate": (250, 500),
              "discoidal_cyclic": (600, 1200), "globular_coiled": (150, 350)}
_WALL_FRACTION_OF_RADIUS = {"discoidal_cyclic": (0.012, 0.022)}  # others: _WALL_DEFAULT
_WALL_DEFAULT = (0.025, 0.04)
_P_INFILL = 0.8
_INFILL_SHARE = (0.2, 0.7)     # share of the lumen filled, from the bottom
_LEVEL_GRID = 32               # grid points per axis on which the fill level is found
_INFILL_DENSITY = (0.3, 0.6)   # relative to calcite


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _centreline(arc_lengths: np.ndarray, bend_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Points and unit tangents along a straight line (bend 0) or a circular arc, in the
    plane of the first two body axes."""
    if bend_deg == 0:
        zeros = np.zeros_like(arc_lengths)
        points = np.column_stack([arc_lengths, zeros, zeros])
        return points, np.tile([1.0, 0.0, 0.0], (arc_lengths.size, 1))
    radius = (arc_lengths[-1] - arc_lengths[0]) / np.radians(bend_deg)
    angle = arc_lengths / radius
    points = np.column_stack([radius * np.sin(angle), radius * (1 - np.cos(angle)),
                              np.zeros_like(angle)])
    return points, np.column_stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)])


def _uniserial(rng: np.random.Generator, *, n_range, growth, elongation, bend) -> ChamberChain:
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    radii = _u(rng, *growth) ** np.arange(n)
    lengths = radii * _u(rng, *elongation)        # semi-axis along the chain
    overlap = _u(rng, 0.7, 0.85)                   # centre distance / sum of semi-axes
    steps = overlap * (lengths[:-1] + lengths[1:])
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    points, tangents = _centreline(arc, _u(rng, *bend) if bend else 0.0)
    semi_axes = np.column_stack([lengths, radii, radii * _u(rng, 0.9, 1.0)])
    return chain_from_chambers(points, semi_axes, tangents, aperture=_u(rng, 0.2, 0.35))


def _biserial(rng: np.random.Generator, *, n_range, growth, breadth, bend) -> ChamberChain:
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    radii = _u(rng, *growth) ** np.arange(n)
    heights = radii * _u(rng, 0.55, 0.75)          # along the chain
    breadths = radii * _u(rng, *breadth)           # across, in the plane of the two rows
    depths = radii * _u(rng, 0.8, 1.0)
    arc = np.concatenate([[0.0], np.cumsum(heights[:-1] * _u(rng, 0.9, 1.2))])
    points, tangents = _centreline(arc, _u(rng, *bend) if bend else 0.0)
    lateral = np.column_stack([-tangents[:, 1], tangents[:, 0], np.zeros(n)])
    side = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    centres = points + (side * 0.55 * breadths)[:, None] * lateral
    semi_axes = np.column_stack([heights, breadths, depths])
    return chain_from_chambers(centres, semi_axes, tangents, aperture=_u(rng, 0.2, 0.3))


def _coiled(rng: np.random.Generator) -> ChamberChain:
    n = int(rng.integers(9, 13))
    radii = _u(rng, 1.25, 1.4) ** np.arange(n)
    step = np.radians(_u(rng, 75, 95))
    spiral = radii * _u(rng, 1.0, 1.3)
    angle = step * np.arange(n)
    centres = np.column_stack([spiral * np.cos(angle), spiral * np.sin(angle),
                               -_u(rng, 0.2, 0.5) * spiral])
    radial = np.column_stack([np.cos(angle), np.sin(angle), np.zeros(n)])
    semi_axes = radii[:, None] * np.array([_u(rng, 0.85, 1.0), 1.0, _u(rng, 0.85, 1.0)])
    return chain_from_chambers(centres, semi_axes, radial, aperture=_u(rng, 0.25, 0.4))


def _disc(rng: np.random.Generator) -> ChamberletDisc:
    n_rings = int(rng.integers(4, 7))
    centre_radius = _u(rng, 0.12, 0.2)
    widths = rng.uniform(0.85, 1.15, n_rings)
    widths *= (1.0 - centre_radius) / widths.sum()
    ring_radii = np.concatenate([[centre_radius], centre_radius + np.cumsum(widths)])
    ring_radii[-1] = 1.0
    aspect = _u(rng, 1.4, 2.0)                     # chamberlet length along the ring / width
    middles = (ring_radii[:-1] + ring_radii[1:]) / 2
    counts = np.maximum(6, np.rint(2 * np.pi * middles / (widths * aspect))).astype(np.int64)
    phases = (np.arange(n_rings + 1) % 2) * 0.5 + rng.uniform(-0.1, 0.1, n_rings + 1)
    return ChamberletDisc((_u(rng, 0.16, 0.24), _u(rng, 0.05, 0.09)), ring_radii,
                          np.concatenate([[1], counts]), phases)


_BUILDERS = {
    "uniserial_straight": lambda rng: _uniserial(rng, n_range=(6, 8), growth=(1.1, 1.18),
                                                 elongation=(0.95, 1.15), bend=None),
    "uniserial_arcuate": lambda rng: _uniserial(rng, n_range=(6, 9), growth=(1.08, 1.16),
                                                elongation=(0.8, 1.0), bend=(15, 40)),
    "biserial_straight": lambda rng: _biserial(rng, n_range=(14, 18), growth=(1.03, 1.07),
                                               breadth=(1.0, 1.3), bend=None),
    "biserial_arcuate": lambda rng: _biserial(rng, n_range=(12, 16), growth=(1.03, 1.06),
                                              breadth=(0.9, 1.1), bend=(15, 35)),
    "discoidal_cyclic": _disc,
    "globular_coiled": _coiled,
}


def _infill_level(form, direction: np.ndarray, share: float, *, wall: float) -> float:
    """Height along `direction` below which `share` of the lumen lies (on a regular grid)."""
    axis = np.linspace(-1.0, 1.0, _LEVEL_GRID)
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    _, chamber = form.sample(points, wall=wall)
    heights = points[chamber >= 0] @ direction
    return float(np.quantile(heights, share)) if heights.size else -1.0


def sample_specimen(species: str, *, rng: int | np.random.Generator) -> dict:
    """Draw one specimen of a species: its form, size, wall and sediment infill.

    Parameters
    ----------
    species : str
        One of `SPECIES`.
    rng : int or numpy.random.Generator, keyword-only

    Returns
    -------
    dict
        ``species``; ``form`` (a ChamberChain or ChamberletDisc, bounding radius 1);
        ``radius_um`` (physical bounding radius); ``wall`` (thickness, body units);
        ``infill`` (None, or ``direction`` (3 floats, body frame), ``share`` of the lumen
        filled, ``level`` (body units: the lumen below this height along `direction` is
        filled) and ``density`` (relative to calcite)); ``n_chambers``.

    Raises
    ------
    ValueError
        Unknown species.

    Examples
    --------
    >>> specimen = sample_specimen("discoidal_cyclic", rng=0)
    >>> again = sample_specimen("discoidal_cyclic", rng=0)
    >>> specimen["n_chambers"] > 40, again["infill"] == specimen["infill"]
    (True, True)
    """
    if species not in _BUILDERS:
        raise ValueError(f"Unknown species {species!r}; choose from {', '.join(SPECIES)}.")
    rng = np.random.default_rng(rng)
    form = _BUILDERS[species](rng)
    wall = round(_u(rng, *_WALL_FRACTION_OF_RADIUS.get(species, _WALL_DEFAULT)), 4)
    infill = None
    if rng.uniform() < _P_INFILL:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        fraction = _u(rng, *_INFILL_SHARE)
        infill = {"direction": direction.round(4).tolist(),
                  "level": round(_infill_level(form, direction, fraction, wall=wall), 4),
                  "share": round(fraction, 4), "density": round(_u(rng, *_INFILL_DENSITY), 4)}
    return {"species": species, "form": form, "radius_um": round(_u(rng, *_RADIUS_UM[species]), 2),
            "wall": wall, "infill": infill, "n_chambers": form.n_chambers}
