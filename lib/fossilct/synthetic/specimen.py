"""One synthetic micro-CT scan of one specimen: `make_specimen` and `SyntheticSpecimen`."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from fossilct.synthetic import scan
from fossilct.synthetic.morphotypes import check_species, sample_morphology
from fossilct.synthetic.shells import design_shell, rasterise_shell

__all__ = ["SyntheticSpecimen", "make_specimen", "check_size", "MIN_SIZE"]

#: Smallest row/column count: below it, walls are far thinner than a voxel.
MIN_SIZE = 16


@dataclass(frozen=True)
class SyntheticSpecimen:
    """A synthetic scan with its ground truth.

    Attributes
    ----------
    volume : (P, M, N) ndarray of float32
        CT intensities (arbitrary units: air ~0.05, calcite ~1, plus noise and artefacts).
    shell_mask : (P, M, N) ndarray of bool
        Calcite of the shell: walls, septa, partitions, pillars, spines.
    fossil_mask : (P, M, N) ndarray of bool
        Shell plus everything it encloses (lumen, sediment infill): one connected component.
    mount_mask : (P, M, N) ndarray of bool
        Mounting pin and glue; disjoint from `fossil_mask`; all False without a mount.
    spacing_um : tuple of 3 floats
        Voxel spacing (plane, row, col) in µm; the plane spacing may be larger.
    species : str
    params : dict
        JSON-serialisable: ``species``, ``size``, ``seed`` (the int given as `rng`, else None),
        ``morphology`` and ``nuisance``; ``make_specimen(species, size=size, rng=0,
        morph=params['morphology'], nuisance=params['nuisance'])`` rebuilds the same scan.
    """

    volume: np.ndarray
    shell_mask: np.ndarray
    fossil_mask: np.ndarray
    mount_mask: np.ndarray
    spacing_um: tuple[float, float, float]
    species: str
    params: dict


def check_size(size: object) -> int:
    """Return `size` if it is an int >= `MIN_SIZE`; raise TypeError / ValueError otherwise.

    Examples
    --------
    >>> check_size(64)
    64
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(f"`size` must be an int (voxels along rows and columns); got "
                        f"{type(size).__name__} {size!r}.")
    if size < MIN_SIZE:
        raise ValueError(f"`size` must be at least {MIN_SIZE} voxels so that shell walls are "
                         f"resolved; got {size}. Pass size={MIN_SIZE} or more.")
    return int(size)


def _check_rng(rng: object) -> np.random.Generator:
    if isinstance(rng, bool) or not isinstance(rng, (numbers.Integral, np.random.Generator)):
        raise TypeError(f"`rng` must be an int seed or a numpy.random.Generator; got "
                        f"{type(rng).__name__} {rng!r}.")
    return np.random.default_rng(rng)


def _check_morph(morph: object, species: str) -> dict:
    if not isinstance(morph, dict):
        raise TypeError(f"`morph` must be a dict from sample_morphology(); got "
                        f"{type(morph).__name__}.")
    missing = {"species", "morphotype", "size_um", "detail_seed", "shape", "taphonomy"} - set(morph)
    if missing:
        raise ValueError(f"`morph` lacks the keys {sorted(missing)}; pass a dict returned by "
                         f"sample_morphology() (or a specimen's params['morphology']).")
    if morph["species"] != species:
        raise ValueError(f"`morph` describes a {morph['species']!r} specimen but `species` is "
                         f"{species!r}; pass the same species as the morphology.")
    return morph


def _check_nuisance(nuisance: object) -> dict:
    if not isinstance(nuisance, dict):
        raise TypeError(f"`nuisance` must be a dict from sample_nuisance(); got "
                        f"{type(nuisance).__name__}.")
    missing = set(scan.sample_nuisance(rng=0)) - set(nuisance)
    if missing:
        raise ValueError(f"`nuisance` lacks the keys {sorted(missing)}; pass a dict returned "
                         f"by sample_nuisance() (or a specimen's params['nuisance']).")
    if not nuisance["anisotropy"] >= 1.0:
        raise ValueError(f"`nuisance['anisotropy']` (plane spacing / in-plane spacing) must be "
                         f">= 1; got {nuisance['anisotropy']}.")
    return nuisance


def make_specimen(species: str, *, size: int = 128, rng: int | np.random.Generator,
                  morph: dict | None = None, nuisance: dict | None = None) -> SyntheticSpecimen:
    """Generate one micro-CT scan of a foraminifera-like specimen of `species`.

    Parameters
    ----------
    species : str
        One of `SPECIES`.
    size : int, default 128
        Voxels along rows and columns (at least `MIN_SIZE`); the plane count is
        ``round(size / anisotropy)``.
    rng : int or numpy.random.Generator
        Draws the morphology (unless given) and the scan nuisances (unless given).
    morph : dict, optional
        A fixed morphology (from `sample_morphology`): pass it again with a new `rng` to
        re-scan the same physical shell in a new orientation, crop, spacing and noise.
    nuisance : dict, optional
        Fixed scan conditions (from `sample_nuisance`).

    Returns
    -------
    SyntheticSpecimen

    Raises
    ------
    ValueError
        Unknown species (with suggestions), `size` below `MIN_SIZE`, a `morph` of another
        species or missing keys, a `nuisance` missing keys or with anisotropy below 1.
    TypeError
        Wrong argument types.

    Examples
    --------
    >>> specimen = make_specimen("lockhartia_like", size=24, rng=0)
    >>> specimen.volume.shape[1:], specimen.volume.dtype.name
    ((24, 24), 'float32')
    >>> bool((specimen.shell_mask <= specimen.fossil_mask).all())
    True
    """
    check_species(species)
    size = check_size(size)
    seed = int(rng) if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) else None
    rng = _check_rng(rng)
    morph = sample_morphology(species, rng=rng) if morph is None else _check_morph(morph, species)
    nuisance = scan.sample_nuisance(rng=rng) if nuisance is None else _check_nuisance(nuisance)
    design = design_shell(morph)
    grid, pose = scan.place(design.bounding_radius_um, nuisance, size=size)
    geometry = rasterise_shell(design, morph["taphonomy"], grid, pose)
    mount = scan.mount_mask(geometry.fossil, grid, pose, nuisance["mount"],
                            design.bounding_radius_um)
    volume = scan.render(geometry, mount, grid, pose, design, nuisance,
                         infill_density=morph["taphonomy"]["infill_density"])
    params = {"species": species, "size": size, "seed": seed, "morphology": morph,
              "nuisance": nuisance}
    return SyntheticSpecimen(volume, geometry.shell, geometry.fossil, mount,
                             tuple(float(s) for s in grid.spacing_um), species, params)
