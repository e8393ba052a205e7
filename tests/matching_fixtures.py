"""Tiny indexed synthetic volumes for the matching tests (not a test module).

Volumes are 40 to 48 voxels wide and indexed with few normals, so a test searches one in a
fraction of a second; each is built once per process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fossilct import slicing, synthetic
from fossilct.matching import SearchEffort, library_volume_from_prepared

SMALL_INDEX = dict(n_normals=60, working_radius=16.0)
"""Index parameters of the test volumes (the library's defaults are 150 and 24)."""
QUICK_EFFORT = SearchEffort(n_screen=8)
"""A lighter search for tests that do not measure the search itself."""


@lru_cache(maxsize=None)
def library_volume(species: str, seed: int, size: int = 48):
    """A prepared, indexed synthetic specimen (cached: treat it as read-only)."""
    specimen = synthetic.make_specimen(species, size=size, rng=seed)
    prepared = slicing.prepare_volume(specimen.volume, specimen.spacing_um)
    return library_volume_from_prepared(prepared, file=f"{species}-{seed}.npz",
                                        specimen=f"{species}-{seed}", species=species,
                                        **SMALL_INDEX)


def true_pose(query, placement):
    """The QueryPose of a prepared query cut by ``cut_query`` (gray image = the cut image).

    ``placement`` rows: voxel position of pixel (0, 0), voxel step along rows, along columns.
    """
    from fossilct.matching.pose import QueryPose

    first, row_step, col_step = np.asarray(placement, dtype=np.float64)
    centre = first + query.centroid[0] * row_step + query.centroid[1] * col_step
    normal = np.cross(row_step, col_step)
    return QueryPose(normal / np.linalg.norm(normal), centre, row_step, col_step)
