"""The species catalogue: twelve foraminifera-like species, their morphotypes and distributions.

Each synthetic species is modelled on one genus of the study and mapped to a morphotype, i.e. a
way of building the shell:

===================  ============  ===========================================================
species              morphotype    shell
===================  ============  ===========================================================
alveolina_like       fusiform      involute spiral elongated along the coiling axis,
                                   streptospiral nucleus, chamberlets (septula)
fallotia_like        fusiform      as alveolina_like but globular and with denser chamberlets
chrysalidina_like    triserial     three series of low chambers around a rising axis, pillars
ataxophragmium_like  agglutinated  high trochospire of few globular chambers, coarse grainy wall
baculogypsina_like   spined        thick lens with annular and lateral chamberlets, pillars,
                                   4-6 radial spines in the equatorial plane
minoxia_like         conical       wide cone of discoidal chambers, radial chamberlets
coskinolina_like     conical       narrower cone, marginal chamberlets split by rafters, more
                                   central pillars
elphidiella_like     planispiral   evolute logarithmic spiral of clasping chambers
lockhartia_like      trochospiral  low helicoid spire with umbilical plug and pillars
orbitoides_like      annular       flat lens: embryon, annuli of chamberlets, lateral layers
rhapydionina_like    uniserial     small planispiral coil, then a flaring uniserial stack of
                                   chambers divided into chamberlets
arumella_like        involute      keeled, involute lenticular spiral
===================  ============  ===========================================================

Confusable pairs (`CONFUSABLE_PAIRS`), deliberate so that no classifier is trivially perfect:

- **alveolina_like / fallotia_like**: both fusiform alveolinids; they differ mainly in elongation
  (1.9-2.8 versus 1.25-2.0, overlapping near 2) and chamberlet density, which many oblique or
  equatorial sections do not show.
- **minoxia_like / coskinolina_like**: both conical with chamberlets; they differ in apical angle
  (75-100 versus 60-85 degrees, overlapping), rafters in the marginal zone and pillar count.

baculogypsina_like and orbitoides_like (the report's two hardest genera) share the lens of
annular and lateral chamberlets, but baculogypsina is thicker and carries spines; sections away
from the equatorial plane miss the spines and broken specimens lose them, so they are related
but not as close as the two pairs above.

A morphology (`sample_morphology`) is the physical specimen: species, morphotype, size, the
shape parameters drawn from the species' distributions, a seed for its fine detail, and its
preservation (breakage, sediment infill). Re-scanning a specimen reuses its morphology.
"""

from __future__ import annotations

import difflib

import numpy as np

__all__ = ["SPECIES", "CONFUSABLE_PAIRS", "MORPHOTYPES", "sample_morphology", "check_species"]

_FUSIFORM = dict(exponent=2.0, foramen_span=1.0, nucleus_whorls=1)
_DISC = dict(lens_exponent=(1.0, 1.5))

#: Per species: morphotype, size range (µm, bounding-sphere diameter) and shape distributions.
#: A (low, high) pair of floats is drawn uniformly, a pair of ints uniformly inclusive, and a
#: scalar is fixed. ``wall_frac`` is the wall thickness as a fraction of the size.
_CATALOGUE: dict[str, tuple[str, tuple[float, float], dict]] = {
    "alveolina_like": ("fusiform", (1200.0, 3000.0), dict(
        _FUSIFORM, elongation=(1.9, 2.8), whorls=(3.0, 4.0), whorl_ratio=(1.55, 1.8),
        chambers_per_whorl=(10, 14), septulum_frac=(0.05, 0.07), wall_frac=(0.013, 0.017),
        nucleus_tilt_deg=(40.0, 90.0))),
    "fallotia_like": ("fusiform", (900.0, 2000.0), dict(
        _FUSIFORM, elongation=(1.25, 2.0), whorls=(3.5, 4.5), whorl_ratio=(1.45, 1.65),
        chambers_per_whorl=(12, 17), septulum_frac=(0.035, 0.05), wall_frac=(0.016, 0.021),
        nucleus_tilt_deg=(30.0, 80.0))),
    "chrysalidina_like": ("triserial", (500.0, 1300.0), dict(
        n_chambers=(18, 26), n_series=3, growth=(1.06, 1.09), twist_deg=(3.0, 12.0),
        spread=(0.6, 0.75), height_ratio=(0.3, 0.4), n_pillars=(5, 9), jitter=(0.03, 0.06),
        wall_frac=(0.02, 0.027))),
    "ataxophragmium_like": ("agglutinated", (600.0, 1500.0), dict(
        n_chambers=(9, 13), chambers_per_whorl=(3.3, 4.2), whorl_ratio=(1.6, 2.0),
        spire_ratio=(0.5, 0.7), axial_ratio=(0.9, 1.1), reach=(0.6, 0.8), overlap=(0.2, 0.35),
        umbilical_pillars=0, grain_frac=(0.05, 0.07), grain_bump=(0.8, 1.2),
        jitter=(0.06, 0.1), wall_frac=(0.03, 0.04))),
    "baculogypsina_like": ("spined", (800.0, 2000.0), dict(
        _DISC, spine_length_ratio=(1.4, 1.9), thickness_ratio=(0.5, 0.7),
        embryon_ratio=(0.13, 0.17), ring_ratio=(0.14, 0.18), equatorial_ratio=(0.06, 0.08),
        chamberlet_ratio=(0.14, 0.18), lateral_layers=(2, 4), lateral_cell_ratio=(0.2, 0.28),
        n_pillars=(6, 12), n_spines=(4, 6), spine_base_ratio=(0.4, 0.6),
        wall_frac=(0.012, 0.016))),
    "minoxia_like": ("conical", (500.0, 1200.0), dict(
        n_chambers=(8, 11), apical_angle_deg=(75.0, 100.0), height_ratio=(0.55, 0.75),
        n_radial=(14, 20), n_layers=1, zone=(0.55, 0.7), n_pillars=(3, 6), jitter=(0.02, 0.05),
        wall_frac=(0.016, 0.022))),
    "coskinolina_like": ("conical", (500.0, 1300.0), dict(
        n_chambers=(9, 12), apical_angle_deg=(60.0, 85.0), height_ratio=(0.6, 0.8),
        n_radial=(11, 16), n_layers=2, zone=(0.5, 0.65), n_pillars=(6, 11), jitter=(0.02, 0.05),
        wall_frac=(0.016, 0.022))),
    "elphidiella_like": ("planispiral", (400.0, 1000.0), dict(
        n_chambers=(22, 32), chambers_per_whorl=(11, 15), whorl_ratio=(1.8, 2.3),
        axial_ratio=(0.5, 0.65), overlap=(0.15, 0.3), jitter=(0.03, 0.06),
        wall_frac=(0.02, 0.028))),
    "lockhartia_like": ("trochospiral", (500.0, 1400.0), dict(
        n_chambers=(14, 20), chambers_per_whorl=(5.0, 7.0), whorl_ratio=(1.8, 2.3),
        spire_ratio=(0.35, 0.5), axial_ratio=(0.6, 0.8), reach=(0.7, 0.9), overlap=(0.15, 0.3),
        umbilical_pillars=(10, 18), jitter=(0.03, 0.06), wall_frac=(0.026, 0.034))),
    "orbitoides_like": ("annular", (1200.0, 3500.0), dict(
        _DISC, thickness_ratio=(0.2, 0.32), embryon_ratio=(0.09, 0.13), ring_ratio=(0.09, 0.12),
        equatorial_ratio=(0.05, 0.065), chamberlet_ratio=(0.09, 0.12), lateral_layers=(2, 3),
        lateral_cell_ratio=(0.13, 0.18), n_pillars=(0, 3), wall_frac=(0.011, 0.014))),
    "rhapydionina_like": ("uniserial", (700.0, 1800.0), dict(
        n_coil=(5, 8), n_uniserial=(5, 8), flare=(0.03, 0.1), height_ratio=(0.28, 0.38),
        n_radial=(10, 16), zone=(0.45, 0.6), bend=(0.0, 0.6), jitter=(0.02, 0.05),
        wall_frac=(0.016, 0.022))),
    "arumella_like": ("involute", (400.0, 900.0), dict(
        elongation=(0.34, 0.48), exponent=(1.35, 1.6), whorls=(2.3, 3.2), whorl_ratio=(1.9, 2.5),
        chambers_per_whorl=(7, 11), septulum_frac=0.0, foramen_span=0.3, nucleus_whorls=0,
        nucleus_tilt_deg=0.0, wall_frac=(0.022, 0.03))),
}

SPECIES: tuple[str, ...] = tuple(_CATALOGUE)
MORPHOTYPES: dict[str, str] = {name: entry[0] for name, entry in _CATALOGUE.items()}
CONFUSABLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("alveolina_like", "fallotia_like"),
    ("minoxia_like", "coskinolina_like"),
)

#: Preservation: probabilities of no breakage, a lost cap and an abraded chunk.
BREAKAGE_PROBABILITIES = {"none": 0.7, "cap": 0.15, "chunk": 0.15}
#: Share of the extent along the break direction removed as a cap, or the chunk radius.
BREAK_FRACTION = (0.15, 0.4)
#: Probability that some chambers hold sediment, the share of chambers filled, and the
#: sediment's density relative to calcite.
INFILL_PROBABILITY = 0.5
INFILL_FRACTION = (0.15, 0.6)
INFILL_DENSITY = (0.35, 0.6)
#: Decimals kept for sampled floats (readable, exactly reproducible parameters).
DECIMALS = 4


def check_species(species: object) -> str:
    """Return `species` if it is in `SPECIES`; otherwise raise with close-match suggestions.

    Raises
    ------
    TypeError
        When `species` is not a string.
    ValueError
        When it is not a known species name.

    Examples
    --------
    >>> check_species("fallotia_like")
    'fallotia_like'
    """
    if not isinstance(species, str):
        raise TypeError(f"`species` must be a string such as 'alveolina_like'; got "
                        f"{type(species).__name__} {species!r}.")
    if species not in _CATALOGUE:
        close = difflib.get_close_matches(species, SPECIES, n=3, cutoff=0.4)
        hint = f"Did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise ValueError(f"Unknown `species` {species!r}. {hint}Choose one of: "
                         f"{', '.join(SPECIES)}.")
    return species


def _draw(spec, rng: np.random.Generator):
    if isinstance(spec, tuple):
        low, high = spec
        if isinstance(low, int) and isinstance(high, int):
            return int(rng.integers(low, high + 1))
        return round(float(rng.uniform(low, high)), DECIMALS)
    return spec


def _unit_vector(rng: np.random.Generator) -> list[float]:
    vector = rng.normal(size=3)
    return [round(float(v), DECIMALS) for v in vector / np.linalg.norm(vector)]


def sample_morphology(species: str, *, rng: int | np.random.Generator) -> dict:
    """Draw one physical specimen of `species`: shape, size, fine-detail seed and preservation.

    Parameters
    ----------
    species : str
        One of `SPECIES`.
    rng : int or numpy.random.Generator
        Seed or generator; the same seed gives the same morphology.

    Returns
    -------
    dict
        JSON-serialisable: ``species``, ``morphotype``, ``size_um`` (bounding-sphere diameter),
        ``detail_seed``, ``shape`` (morphotype parameters) and ``taphonomy`` (``breakage`` in
        {'none', 'cap', 'chunk'}, ``break_direction``, ``break_fraction``, ``infill_fraction``,
        ``infill_density``, ``infill_seed``).

    Raises
    ------
    ValueError, TypeError
        Unknown species (with suggestions).

    Examples
    --------
    >>> morph = sample_morphology("alveolina_like", rng=0)
    >>> morph["morphotype"], 2.0 <= morph["shape"]["elongation"] <= 3.0
    ('fusiform', True)
    """
    check_species(species)
    rng = np.random.default_rng(rng)
    morphotype, size_range, distributions = _CATALOGUE[species]
    shape = {key: _draw(spec, rng) for key, spec in distributions.items()}
    breakage = str(rng.choice(list(BREAKAGE_PROBABILITIES),
                              p=list(BREAKAGE_PROBABILITIES.values())))
    infilled = bool(rng.random() < INFILL_PROBABILITY)
    taphonomy = {
        "breakage": breakage,
        "break_direction": _unit_vector(rng),
        "break_fraction": _draw(BREAK_FRACTION, rng),
        "infill_fraction": _draw(INFILL_FRACTION, rng) if infilled else 0.0,
        "infill_density": _draw(INFILL_DENSITY, rng),
        "infill_seed": int(rng.integers(2**31)),
    }
    return {"species": species, "morphotype": morphotype, "size_um": _draw(size_range, rng),
            "detail_seed": int(rng.integers(2**31)), "shape": shape, "taphonomy": taphonomy}
