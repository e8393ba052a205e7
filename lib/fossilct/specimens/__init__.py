"""The dataset table (``specimens.csv``), the inventory of the volumes it lists, and species
selection.

A data folder holds volumes (files, or folders of slices) and ``specimens.csv`` with at least the
columns ``file`` (relative to the folder), ``species`` and ``specimen_id``; an optional
``voxel_size_um`` overrides the spacing stored in the file, and any other column (the synthetic
generator writes ``format``, ``seed``, ``generator_params``) is kept. A specimen may have several
files (re-scans, cropped exports): the specimen, never the file, is the unit that is counted.

>>> from fossilct import specimens
>>> specimens.REQUIRED_COLUMNS
('file', 'species', 'specimen_id')
"""

from . import inventory, outputs, selection, table
from .inventory import (INVENTORY_COLUMNS, build_inventory, check_inventory, load_example_volumes,
                        load_inventory_volume)
from .outputs import (DATASET_FILES, read_inventory, read_min_specimens, read_species_report,
                      save_dataset_outputs)
from .selection import select_species
from .table import (COLUMN_MATCH_CUTOFF, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SPECIMEN_TABLE,
                    SpecimenTableError, read_specimen_table)

# Tracebacks and reprs name the public path, not the defining module.
SpecimenTableError.__module__ = __name__

__all__ = [*table.__all__, *inventory.__all__, *selection.__all__, *outputs.__all__]
