"""The second test source's scanner: a form evaluated on a voxel grid, plus scan artefacts.

:func:`sample_scan` draws the conditions of one scan (a JSON-serialisable dict);
:func:`render_scan` evaluates the specimen's form at the centres of the voxels of that scan's
grid (no volume is resampled or rotated: the grid's sample points are mapped into the body
frame), so orientation and anisotropy cost nothing in accuracy. Along the plane axis of an
anisotropic scan each voxel averages ``ceil(2 * anisotropy)`` sub-planes (the partial-volume
effect of thick planes). Then, in this order: intensities (air, calcite, sediment), Gaussian
blur (the point-spread function, thinner along the plane axis in voxels when planes are far
apart), ring artefacts (concentric rings about the rotation axis, identical in every plane)
and Gaussian noise. Intensities are relative (calcite about 1); the dataset writer encodes
them for each file format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi

__all__ = ["SCAN_RANGES", "RenderedScan", "sample_scan", "render_scan"]

#: Uniform ranges of the scan conditions.
SCAN_RANGES = {
    "fill": (0.6, 0.85),             # bounding-sphere diameter / field of view
    "anisotropy": (1.4, 2.5),        # plane spacing / in-plane spacing (anisotropic scans)
    "blur_sigma_vox": (0.4, 0.8),    # in-plane voxels
    "noise_sigma": (0.02, 0.06),     # calcite about 1
    "calcite": (0.8, 1.0),
    "background": (0.0, 0.1),
    "ring_amplitude": (0.03, 0.1),   # peak of one ring, either sign
    "ring_count": (3, 10),
    "ring_width_vox": (0.5, 1.0),    # Gaussian sigma of one ring
}
_DECIMALS = 4
_CHUNK_POINTS = 2 ** 18  # points classified per call: bounds the memory of the form's arrays


def _u(rng: np.random.Generator, key: str) -> float:
    low, high = SCAN_RANGES[key]
    return round(float(rng.uniform(low, high)), _DECIMALS)


def sample_scan(*, anisotropic: bool, rng: int | np.random.Generator) -> dict:
    """Draw the conditions of one scan.

    Parameters
    ----------
    anisotropic : bool, keyword-only
        Planes farther apart than the in-plane spacing (by ``SCAN_RANGES["anisotropy"]``).
    rng : int or numpy.random.Generator, keyword-only

    Returns
    -------
    dict
        ``rotation_quaternion`` (w, x, y, z), ``fill``, ``shift`` (3 fractions of the free
        margin, -1..1), ``anisotropy`` (1.0 when isotropic), ``blur_sigma_vox``,
        ``noise_sigma``, ``calcite``, ``background``, ``rings`` (list of ``[radius_fraction,
        amplitude, width_vox]``; radius as a fraction of the half diagonal), ``ring_centre``
        (offset of the rotation axis from the grid centre, in-plane voxels) and ``noise_seed``.

    Examples
    --------
    >>> scan = sample_scan(anisotropic=True, rng=0)
    >>> scan["anisotropy"] > 1, scan == sample_scan(anisotropic=True, rng=0)
    (True, True)
    """
    rng = np.random.default_rng(rng)
    quaternion = rng.normal(size=4)
    quaternion /= np.linalg.norm(quaternion)
    n_rings = int(rng.integers(SCAN_RANGES["ring_count"][0], SCAN_RANGES["ring_count"][1] + 1))
    rings = [[round(float(rng.uniform(0.02, 1.0)), _DECIMALS),
              round(float(rng.choice([-1.0, 1.0]) * rng.uniform(*SCAN_RANGES["ring_amplitude"])),
                    _DECIMALS),
              _u(rng, "ring_width_vox")] for _ in range(n_rings)]
    return {
        "rotation_quaternion": quaternion.round(6).tolist(),
        "fill": _u(rng, "fill"),
        "shift": rng.uniform(-1, 1, 3).round(_DECIMALS).tolist(),
        "anisotropy": _u(rng, "anisotropy") if anisotropic else 1.0,
        "blur_sigma_vox": _u(rng, "blur_sigma_vox"),
        "noise_sigma": _u(rng, "noise_sigma"),
        "calcite": _u(rng, "calcite"),
        "background": _u(rng, "background"),
        "rings": rings,
        "ring_centre": rng.uniform(-2, 2, 2).round(_DECIMALS).tolist(),
        "noise_seed": int(rng.integers(2 ** 31)),
    }


def _rotation_matrix(quaternion) -> np.ndarray:
    """Body -> scan rotation of a unit quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in quaternion)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


@dataclass(frozen=True)
class RenderedScan:
    """One rendered scan.

    Attributes
    ----------
    volume : (P, M, N) ndarray of float32
        Relative intensities (calcite about 1, air about 0) with blur, rings and noise.
    spacing_um : (float, float, float)
        (plane, row, col) voxel spacing.
    wall : (P, M, N) ndarray of bool
        Voxels at least half filled by shell wall (before blur).
    infill : (P, M, N) ndarray of bool
        Voxels at least half filled by sediment.
    """

    volume: np.ndarray
    spacing_um: tuple[float, float, float]
    wall: np.ndarray
    infill: np.ndarray


def _occupancy(specimen: dict, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall and sediment indicators (bool) of body-frame points, in chunks."""
    wall = np.zeros(len(points), bool)
    infill = np.zeros(len(points), bool)
    sediment = specimen["infill"]
    # only points inside the form's bounding sphere can be shell or lumen
    reach = specimen["form"].bounding_radius
    within = np.flatnonzero(np.einsum("ij,ij->i", points, points) < reach ** 2)
    for start in range(0, within.size, _CHUNK_POINTS):
        rows = within[start:start + _CHUNK_POINTS]
        is_wall, chamber = specimen["form"].sample(points[rows], wall=specimen["wall"])
        wall[rows] = is_wall
        if sediment is not None:
            below = points[rows] @ np.asarray(sediment["direction"]) < sediment["level"]
            infill[rows] = (chamber >= 0) & below
    return wall, infill


def render_scan(specimen: dict, scan: dict, *, size: int) -> RenderedScan:
    """Render a specimen (:func:`~fossilct.testscans.morphotypes.sample_specimen`) as scanned.

    Parameters
    ----------
    specimen : dict
        From :func:`fossilct.testscans.morphotypes.sample_specimen`.
    scan : dict
        From :func:`sample_scan`.
    size : int, keyword-only
        Voxels along rows and columns (>= 16); planes: ``round(size / anisotropy)``.

    Returns
    -------
    RenderedScan

    Raises
    ------
    ValueError
        `size` < 16.

    Examples
    --------
    >>> from fossilct.testscans.morphotypes import sample_specimen
    >>> rendered = render_scan(sample_specimen("globular_coiled", rng=1),
    ...                        sample_scan(anisotropic=True, rng=2), size=24)
    >>> plane_um, row_um, _ = rendered.spacing_um
    >>> rendered.volume.shape[1:], rendered.volume.dtype.name, plane_um > row_um
    ((24, 24), 'float32', True)
    """
    if int(size) < 16:
        raise ValueError(f"`size` must be at least 16 voxels; got {size}.")
    size = int(size)
    anisotropy = float(scan["anisotropy"])
    n_planes = max(8, int(round(size / anisotropy)))
    spacing = 2.0 * float(specimen["radius_um"]) / (float(scan["fill"]) * size)
    plane_spacing = spacing * size / n_planes  # the field of view is a cube
    extent = np.array([n_planes * plane_spacing, size * spacing, size * spacing])
    margin = np.maximum(extent / 2 - float(specimen["radius_um"]), 0.0)
    centre = np.asarray(scan["shift"]) * margin
    to_body = _rotation_matrix(scan["rotation_quaternion"]) / float(specimen["radius_um"])
    rows = (np.arange(size) - (size - 1) / 2) * spacing
    plane_grid = np.stack(np.meshgrid(rows, rows, indexing="ij"), axis=-1).reshape(-1, 2)
    n_sub = 1 if anisotropy == 1.0 else math.ceil(2 * anisotropy)
    sub_offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * plane_spacing
    wall = np.zeros((n_planes, size * size), np.float32)
    infill = np.zeros((n_planes, size * size), np.float32)
    heights = (np.arange(n_planes) - (n_planes - 1) / 2) * plane_spacing
    for offset in sub_offsets:
        points = np.concatenate([np.repeat(heights + offset, len(plane_grid))[:, None],
                                 np.tile(plane_grid, (n_planes, 1))], axis=1) - centre
        # rows of `points` are scan-frame vectors; the body frame is R^T x
        sub_wall, sub_infill = _occupancy(specimen, points @ to_body)
        wall += sub_wall.reshape(n_planes, -1) / np.float32(n_sub)
        infill += sub_infill.reshape(n_planes, -1) / np.float32(n_sub)
    wall = wall.reshape(n_planes, size, size)
    infill = infill.reshape(n_planes, size, size)
    calcite, air = float(scan["calcite"]), float(scan["background"])
    density = 0.0 if specimen["infill"] is None else float(specimen["infill"]["density"])
    volume = air + (calcite - air) * wall + (density * calcite - air) * infill
    sigma = float(scan["blur_sigma_vox"])
    volume = ndi.gaussian_filter(volume, (sigma / anisotropy, sigma, sigma))
    volume += _rings(scan, size)[None]
    noise = np.random.default_rng(int(scan["noise_seed"])).normal(0.0, float(scan["noise_sigma"]),
                                                                   volume.shape)
    volume = (volume + noise).astype(np.float32)
    return RenderedScan(volume, (float(plane_spacing), float(spacing), float(spacing)),
                        wall >= 0.5, infill >= 0.5)


def _rings(scan: dict, size: int) -> np.ndarray:
    """(size, size) float32 ring pattern about the rotation axis."""
    centre = (size - 1) / 2 + np.asarray(scan["ring_centre"], np.float64)
    rows, cols = np.indices((size, size), dtype=np.float64)
    radius = np.hypot(rows - centre[0], cols - centre[1])
    half_diagonal = size / math.sqrt(2)
    pattern = np.zeros((size, size))
    for radius_fraction, amplitude, width in scan["rings"]:
        pattern += amplitude * np.exp(-(radius - radius_fraction * half_diagonal) ** 2
                                      / (2 * width ** 2))
    return pattern.astype(np.float32)
