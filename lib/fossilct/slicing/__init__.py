"""From a CT volume to candidate slices (pure: arrays in, arrays and tables out).

Five modules:

- :mod:`fossilct.slicing.volume`: per volume, isotropic resampling, intensity scaling and the
  crop (:func:`prepare_volume`), using
- :mod:`fossilct.slicing.masks`: thresholds (Otsu with a noise-floor fallback), the 3-D fossil
  silhouette and mount removal (:func:`threshold_volume`, :func:`fossil_masks`);
- :mod:`fossilct.slicing.rings`: bright ring artefacts about the rotation axis, so that the
  fossil mask drops material that rings make on their own (:func:`estimate_rings`);
- :mod:`fossilct.slicing.planning`: per plane set, candidate planes ordered for an even spread,
  cutting, segmenting and the acceptance rule (the study's 2 % of the frame, or a share of the
  fossil's largest section) (:func:`plan_slices`, :func:`iter_slices`,
  :func:`extract_slices`), and the dataset-level quota and seeds (:func:`allocate_quota`,
  :func:`file_seed`);
- :mod:`fossilct.slicing.yields`: slices written against the quota per species, and why not
  (:func:`summarise_yield`).

>>> import numpy as np
>>> from fossilct import slicing
>>> grid = np.indices((40, 40, 40)) - 19.5
>>> radius = np.sqrt(np.sum(grid ** 2, axis=0))
>>> shell = ((np.abs(radius - 12) < 2) | (np.abs(grid[0]) < 1) & (radius < 12)).astype(np.float32)
>>> result = slicing.extract_slices(shell, n_slices=5, segment_options={"image_size": 32})
>>> result.images.shape, result.counts["ok"]
((5, 32, 32), 5)
"""

from fossilct.slicing.planning import (ACCEPTANCE_RULES, DEFAULT_ACCEPTANCE, DEFAULT_JITTER_DEG,
                                       DEFAULT_MIN_FOREGROUND, DEFAULT_MIN_RELATIVE_AREA,
                                       REJECTION_STATUS, SliceRecord, SliceSet, allocate_quota,
                                       check_acceptance, extract_slices, file_seed, iter_slices, plan_slices)
from fossilct.slicing.masks import (FossilMasks, VolumeThresholds, fossil_masks, threshold_volume,
                                    upsample_mask)
from fossilct.slicing.rings import RingArtefacts, estimate_rings
from fossilct.slicing.volume import DEFAULT_PERCENTILES, PreparedVolume, blur_volume, prepare_volume
from fossilct.slicing.yields import DEFAULT_MIN_YIELD, summarise_yield

__all__ = [
    "ACCEPTANCE_RULES",
    "DEFAULT_ACCEPTANCE",
    "DEFAULT_JITTER_DEG",
    "DEFAULT_MIN_FOREGROUND",
    "DEFAULT_MIN_RELATIVE_AREA",
    "DEFAULT_MIN_YIELD",
    "DEFAULT_PERCENTILES",
    "REJECTION_STATUS",
    "FossilMasks",
    "PreparedVolume",
    "RingArtefacts",
    "SliceRecord",
    "SliceSet",
    "VolumeThresholds",
    "allocate_quota",
    "blur_volume",
    "check_acceptance",
    "estimate_rings",
    "extract_slices",
    "file_seed",
    "fossil_masks",
    "iter_slices",
    "plan_slices",
    "prepare_volume",
    "summarise_yield",
    "threshold_volume",
    "upsample_mask",
]
