"""The scanner: field of view, pose, mounting pin and the nuisances of a micro-CT reconstruction.

A scan of a specimen is described by a JSON-serialisable *nuisance* dict (`sample_nuisance`):
random 3-D orientation, how much of the field of view the specimen fills (this sets the voxel
spacing), a shift inside the field of view (the crop), anisotropic plane spacing on some scans,
Gaussian noise, blur (partial-volume effect), ring artefacts (concentric rings about the rotation
axis, i.e. the plane axis, identical in every plane), beam-hardening cupping (dense material
darker towards the middle of the specimen) and, on some scans, a mounting pin of intermediate
attenuation (glue or carbon) glued to the shell and leaving the field of view along the
rotation axis. `place` turns it into a voxel grid and a pose, `mount_mask` rasterises the pin and
`render` produces the float32 intensities.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from fossilct.synthetic.chambers import Grid, Pose
from fossilct.synthetic.shells import ShellDesign, ShellGeometry

__all__ = ["sample_nuisance", "place", "mount_mask", "render", "NUISANCE_RANGES"]

#: Ranges (uniform) of the scalar nuisances; probabilities of the optional ones.
NUISANCE_RANGES = {
    "fill": (0.5, 0.85),              # bounding-sphere diameter / field of view
    "blur_sigma_vox": (0.4, 1.0),     # Gaussian point-spread sigma, in-plane voxels
    "noise_sigma": (0.02, 0.06),      # additive Gaussian noise (calcite ~ 1)
    "cupping": (0.0, 0.3),            # relative darkening at the specimen's centre
    "calcite": (0.85, 1.0),           # calcite intensity
    "background": (0.02, 0.08),       # air intensity
    "ring_amplitude": (0.02, 0.08),   # peak intensity of one ring
    "anisotropy": (1.0, 2.0),         # plane spacing / in-plane spacing, when anisotropic
    "pin_radius_frac": (0.04, 0.09),  # pin radius / specimen diameter
    "pin_tilt_deg": (0.0, 20.0),      # pin direction away from the rotation axis
    "pin_density": (0.3, 0.55),       # glue / carbon intensity relative to calcite
    "glue_ratio": (1.2, 1.8),         # glue blob radius / pin radius
}
P_ANISOTROPIC = 0.3
P_RINGS = 0.7
P_MOUNT = 0.4
#: Relative density variation of agglutinated walls (per unit of the grain field).
GRAIN_CONTRAST = np.float32(0.25)
#: Ring count range and ring width (in-plane voxels, Gaussian sigma).
RING_COUNT = (2, 8)
RING_WIDTH_VOX = 0.6
DECIMALS = 4


def _uniform(rng: np.random.Generator, key: str) -> float:
    low, high = NUISANCE_RANGES[key]
    return round(float(rng.uniform(low, high)), DECIMALS)


def sample_nuisance(*, rng: int | np.random.Generator) -> dict:
    """Draw the scan conditions of one scan (independent of the array size).

    Parameters
    ----------
    rng : int or numpy.random.Generator

    Returns
    -------
    dict
        JSON-serialisable: ``rotation_quaternion`` (w, x, y, z), ``fill``, ``shift`` (three
        fractions of the free margin, -1..1), ``anisotropy`` (1.0 for isotropic scans),
        ``blur_sigma_vox``, ``noise_sigma``, ``cupping``, ``calcite``, ``background``,
        ``ring_count``, ``ring_amplitude``, ``mount`` (None or the pin's parameters) and
        ``noise_seed``.

    Examples
    --------
    >>> nuisance = sample_nuisance(rng=0)
    >>> 0.5 <= nuisance["fill"] <= 0.85, nuisance == sample_nuisance(rng=0)
    (True, True)
    """
    rng = np.random.default_rng(rng)
    quaternion = rng.normal(size=4)
    quaternion /= np.linalg.norm(quaternion)
    nuisance = {
        "rotation_quaternion": [round(float(q), 6) for q in quaternion],
        "fill": _uniform(rng, "fill"),
        "shift": [round(float(s), DECIMALS) for s in rng.uniform(-1, 1, 3)],
        "anisotropy": _uniform(rng, "anisotropy") if rng.random() < P_ANISOTROPIC else 1.0,
    }
    for key in ("blur_sigma_vox", "noise_sigma", "cupping", "calcite", "background"):
        nuisance[key] = _uniform(rng, key)
    rings = rng.random() < P_RINGS
    nuisance["ring_count"] = int(rng.integers(RING_COUNT[0], RING_COUNT[1] + 1)) if rings else 0
    nuisance["ring_amplitude"] = _uniform(rng, "ring_amplitude")
    mount = None
    if rng.random() < P_MOUNT:
        mount = {"radius_frac": _uniform(rng, "pin_radius_frac"),
                 "tilt_deg": _uniform(rng, "pin_tilt_deg"),
                 "azimuth_deg": round(float(rng.uniform(0, 360)), 2),
                 "from_top": bool(rng.random() < 0.5),
                 "density": _uniform(rng, "pin_density"),
                 "glue_ratio": _uniform(rng, "glue_ratio")}
    nuisance["mount"] = mount
    nuisance["noise_seed"] = int(rng.integers(2**31))
    return nuisance


def _rotation(quaternion) -> np.ndarray:
    w, x, y, z = np.asarray(quaternion, float) / np.linalg.norm(quaternion)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def place(bounding_radius_um: float, nuisance: dict, *, size: int) -> tuple[Grid, Pose]:
    """Voxel grid and pose of a scan: the bounding sphere fills ``fill`` of the rows.

    The in-plane spacing is ``2 * radius / (fill * size)``; the plane spacing is ``anisotropy``
    times that, and the plane count shrinks to ``round(size / anisotropy)`` so that the field of
    view stays a cube. The centre moves by ``shift`` times the free margin, so the whole bounding
    sphere always stays inside.

    Examples
    --------
    >>> grid, pose = place(50.0, dict(sample_nuisance(rng=0), anisotropy=2.0), size=64)
    >>> grid.shape
    (32, 64, 64)
    """
    spacing = 2 * bounding_radius_um / (nuisance["fill"] * size)
    n_planes = max(1, round(size / nuisance["anisotropy"]))
    shape = (n_planes, size, size)
    spacing_um = (spacing * nuisance["anisotropy"], spacing, spacing)
    extent = np.array([n * s for n, s in zip(shape, spacing_um)])
    centre = (extent - np.array(spacing_um)) / 2
    margin = np.maximum(extent / 2 - bounding_radius_um - np.array(spacing_um), 0.0)
    centre = centre + np.asarray(nuisance["shift"]) * margin
    return Grid(shape, spacing_um), Pose(_rotation(nuisance["rotation_quaternion"]), centre)


def mount_mask(fossil: np.ndarray, grid: Grid, pose: Pose, mount: dict | None,
               bounding_radius_um: float) -> np.ndarray:
    """The mounting pin and its glue blob (bool, same shape as `fossil`), outside the fossil.

    The pin runs along the rotation (plane) axis, tilted by ``tilt_deg``, from the point where
    that line leaves the fossil to the border of the volume; it never overlaps the fossil and
    touches it at the glue blob.

    Parameters
    ----------
    fossil : (P, M, N) ndarray of bool
    grid, pose : Grid, Pose
    mount : dict or None
        ``nuisance['mount']``: ``radius_frac`` (pin radius / specimen diameter), ``tilt_deg``,
        ``azimuth_deg``, ``from_top``, ``glue_ratio`` (glue blob radius / pin radius).
    bounding_radius_um : float

    Returns
    -------
    (P, M, N) ndarray of bool

    Examples
    --------
    >>> grid, pose = Grid((16, 16, 16), (1.0, 1.0, 1.0)), Pose(np.eye(3), np.full(3, 7.5))
    >>> p, r, c = np.mgrid[:16, :16, :16]
    >>> fossil = (p - 7.5) ** 2 + (r - 7.5) ** 2 + (c - 7.5) ** 2 < 16
    >>> pin = dict(radius_frac=0.1, tilt_deg=0.0, azimuth_deg=0.0, from_top=True, glue_ratio=1.5)
    >>> mount = mount_mask(fossil, grid, pose, pin, 4.0)
    >>> bool(mount[0].any()), bool((mount & fossil).any()), bool(mount[-1].any())
    (True, False, False)
    """
    mask = np.zeros(fossil.shape, bool)
    if mount is None or not fossil.any():
        return mask
    tilt, azimuth = math.radians(mount["tilt_deg"]), math.radians(mount["azimuth_deg"])
    direction = np.array([(-1.0 if mount["from_top"] else 1.0) * math.cos(tilt),
                          math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth)])
    spacing = np.asarray(grid.spacing_um)
    # The pin's axis passes through the fossil voxel nearest to the fossil's centroid (a
    # voxel of the fossil even when the shell is curved or broken) and leaves the fossil at
    # its last fossil voxel along the pin's direction: the contact.
    voxels = np.argwhere(fossil)
    nearest = voxels[np.argmin(np.sum((voxels - voxels.mean(axis=0)) ** 2, axis=1))]
    anchor = nearest * spacing
    steps = np.arange(0.0, 2.5 * bounding_radius_um, spacing.min() / 2)
    points = np.round((anchor + steps[:, None] * direction) / spacing).astype(int)
    inside = np.all((points >= 0) & (points < grid.shape), axis=1)
    hits = np.zeros(len(steps), bool)
    hits[inside] = fossil[tuple(points[inside].T)]
    contact_s = steps[np.nonzero(hits)[0].max()]
    radius = mount["radius_frac"] * 2 * bounding_radius_um
    contact = anchor + contact_s * direction
    far = contact + direction * float(np.linalg.norm(np.array(grid.shape) * spacing))
    glue = mount["glue_ratio"] * radius
    box = grid.box(np.minimum(contact, far) - glue, np.maximum(contact, far) + glue)
    if box is None:
        return mask
    a, b, c = grid.coords(box, contact, np.eye(3))
    d = direction.astype(np.float32)
    along = a * d[0] + b * d[1] + c * d[2]
    across_sq = a * a + b * b + c * c - along * along
    pin = (along >= -np.float32(radius)) & (across_sq <= np.float32(radius ** 2))
    blob = a * a + b * b + c * c <= np.float32(glue ** 2)
    mask[box] = (pin | blob) & ~fossil[box]
    return mask


def _rings(grid: Grid, nuisance: dict, rng: np.random.Generator) -> np.ndarray:
    """(M, N) float32 ring pattern about the rotation axis, added to every plane."""
    rows, cols = grid.shape[1:]
    centre = np.array([rows, cols], float) / 2 + rng.normal(0, 1.5, 2)
    row, col = np.ogrid[:rows, :cols]
    radius = np.hypot(row - centre[0], col - centre[1])
    pattern = np.zeros((rows, cols), np.float32)
    for _ in range(nuisance["ring_count"]):
        ring_radius = rng.uniform(2, 0.7 * max(rows, cols))
        amplitude = nuisance["ring_amplitude"] * rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)
        pattern += np.float32(amplitude) * np.exp(
            -0.5 * ((radius - ring_radius) / RING_WIDTH_VOX) ** 2).astype(np.float32)
    return pattern


def render(geometry: ShellGeometry, mount: np.ndarray, grid: Grid, pose: Pose,
           design: ShellDesign, nuisance: dict, *, infill_density: float) -> np.ndarray:
    """CT intensities (P, M, N) float32 of one scan: densities, cupping, blur, rings, noise.

    Calcite is ``calcite`` (agglutinated walls vary by ``GRAIN_CONTRAST`` with their grains),
    sediment infill (`infill_density`) and the pin are fractions of it, air is ``background``.

    Parameters
    ----------
    geometry : ShellGeometry
    mount : (P, M, N) ndarray of bool
    grid, pose : Grid, Pose
    design : ShellDesign
    nuisance : dict
        From `sample_nuisance`.
    infill_density : float
        Sediment intensity relative to calcite.

    Returns
    -------
    (P, M, N) ndarray of float32

    Examples
    --------
    >>> from fossilct.synthetic.shells import ShellDesign, ShellGeometry
    >>> fossil = np.zeros((8, 8, 8), bool)
    >>> fossil[2:6, 2:6, 2:6] = True
    >>> labels = np.zeros((8, 8, 8), np.int32)
    >>> labels[3:5, 3:5, 3:5] = 1
    >>> geometry = ShellGeometry(fossil, labels, np.zeros_like(fossil))
    >>> grid, pose = Grid((8, 8, 8), (1.0, 1.0, 1.0)), Pose(np.eye(3), np.full(3, 3.5))
    >>> nuisance = dict(sample_nuisance(rng=0), cupping=0.0, noise_sigma=0.0, ring_count=0)
    >>> volume = render(geometry, np.zeros_like(fossil), grid, pose, ShellDesign(4.0),
    ...                 nuisance, infill_density=0.5)
    >>> volume.dtype.name, bool(volume[2, 2, 2] > volume[0, 0, 0])
    ('float32', True)
    """
    calcite = np.float32(nuisance["calcite"])
    density = np.zeros(grid.shape, np.float32)
    shell = geometry.shell
    density[shell] = calcite
    density[geometry.infill] = calcite * np.float32(infill_density)
    if mount.any():
        density[mount] = calcite * np.float32(nuisance["mount"]["density"])
    spacing = np.asarray(grid.spacing_um)
    if design.grain is not None:
        voxels = np.stack(np.nonzero(shell), axis=1) * spacing - pose.centre_um
        x, y, z = (voxels @ pose.rotation).astype(np.float32).T
        density[shell] *= 1 + GRAIN_CONTRAST * np.clip(design.grain.field(x, y, z), -2, 2)
    if nuisance["cupping"] > 0:
        # Beam hardening: the longer the path through the specimen, the lower the apparent
        # attenuation, so material darkens towards the centre of the bounding sphere.
        offsets = [((np.arange(n, dtype=np.float32) * np.float32(s) - np.float32(o))
                    / np.float32(design.bounding_radius_um)) ** 2
                   for n, s, o in zip(grid.shape, spacing, pose.centre_um)]
        radius_sq = (offsets[0][:, None, None] + offsets[1][None, :, None]
                     + offsets[2][None, None, :])
        density *= 1 - np.float32(nuisance["cupping"]) * np.maximum(1 - radius_sq, 0)
    sigma = nuisance["blur_sigma_vox"]
    volume = ndimage.gaussian_filter(density, sigma=sigma * spacing[1] / spacing, mode="nearest")
    rng = np.random.default_rng(nuisance["noise_seed"])
    volume += np.float32(nuisance["background"])
    if nuisance["ring_count"]:
        volume += _rings(grid, nuisance, rng)[None]
    noise = rng.standard_normal(grid.shape, dtype=np.float32)
    volume += noise * np.float32(nuisance["noise_sigma"])
    return volume
