"""A second, independently built source of test scans: shells the embedded generator never makes.

Used only to test and benchmark the pipeline on data its defaults were not chosen on (the quick
profile's settings come from :mod:`fossilct.synthetic`). It shares no code with that generator:
shells are implicit functions evaluated on each scan's own voxel grid (no growth model, no
rasterise-then-rotate), with their own morphotypes, scanner and encodings. Six species
(`SPECIES`): long uniserial and biserial chains, straight and slightly curved, a discoidal form
with many chamberlets and a globular coil; thin, sparse walls (0.1-2.5 % of the voxels,
`WALL_FRACTION_RANGES`), partial sediment infill, ring artefacts, anisotropic NIfTI and NRRD,
16-bit TIFF folders and stacks, float ``.npy`` with negative values, and re-scanned specimens.

>>> from fossilct import testscans
>>> testscans.SPECIES[:2]
('uniserial_straight', 'uniserial_arcuate')

Modules: `forms` (implicit chamber chains and chamberlet discs), `morphotypes` (the species and
their variation), `scanner` (grid sampling and artefacts), `dataset` (a folder of scans).
Command line: ``python -m fossilct.testscans --help``.
"""

from fossilct.testscans.dataset import DEFAULT_FORMATS, TABLE_COLUMNS, write_dataset
from fossilct.testscans.forms import ChamberChain, ChamberletDisc, chain_from_chambers
from fossilct.testscans.morphotypes import SPECIES, WALL_FRACTION_RANGES, sample_specimen
from fossilct.testscans.scanner import SCAN_RANGES, RenderedScan, render_scan, sample_scan

__all__ = ["SPECIES", "WALL_FRACTION_RANGES", "SCAN_RANGES", "DEFAULT_FORMATS", "TABLE_COLUMNS",
           "ChamberChain", "ChamberletDisc", "RenderedScan", "chain_from_chambers",
           "sample_specimen", "sample_scan", "render_scan", "write_dataset"]
