"""Synthetic micro-CT scans of foraminifera-like fossils: the compendium's embedded dataset.

Twelve species (`SPECIES`), each modelled on a genus of the study and built as a hollow
chambered calcite shell (walls, septa, foramina, chamberlets, pillars, spines) by a growth model
or an analytic shell, with real intra-species variation and deliberately confusable pairs
(`CONFUSABLE_PAIRS`; see `fossilct.synthetic.morphotypes` for the catalogue). Each scan adds the
nuisances of real micro-CT: random orientation, field-of-view fill and crop, anisotropic spacing,
blur, noise, ring artefacts, beam-hardening cupping, sediment infill, breakage and mounting pins,
and comes with ground-truth masks.

>>> from fossilct import synthetic
>>> specimen = synthetic.make_specimen("orbitoides_like", size=24, rng=0)
>>> specimen.volume.dtype.name, specimen.species
('float32', 'orbitoides_like')

Modules: `morphotypes` (catalogue and distributions), `growth` and `chambers` (chamber-by-chamber
shells), `spiral` and `disc` (analytic shells), `shells` (design, rasterisation, preservation),
`scan` (scanner nuisances), `specimen` (one scan), `dataset` (a folder of scans). Command line:
``python -m fossilct.synthetic --help``.
"""

from fossilct.synthetic.dataset import ensure_dataset, write_dataset
from fossilct.synthetic.morphotypes import CONFUSABLE_PAIRS, MORPHOTYPES, SPECIES, sample_morphology
from fossilct.synthetic.scan import sample_nuisance
from fossilct.synthetic.specimen import SyntheticSpecimen, make_specimen

__all__ = ["SPECIES", "CONFUSABLE_PAIRS", "MORPHOTYPES", "SyntheticSpecimen", "make_specimen",
           "sample_morphology", "sample_nuisance", "write_dataset", "ensure_dataset"]
