"""Benchmark of slice-to-volume matching on sections of known pose (notebook 07).

Separate from the matching engine, which never imports it:

- :mod:`~fossilct.matching.benchmark.queries`: sections cut from volumes at known poses, with
  nuisances (scale, blur, noise, crop, white background);
- :mod:`~fossilct.matching.benchmark.evaluation`: pose and identification experiments, one
  method at a time (:func:`evaluate_method`), joined by :func:`combine_evaluations`, the
  benchmark dict (:func:`summarise`) and per-group counts (:func:`count_successes`);
- :mod:`~fossilct.matching.benchmark.outputs`: the evaluation library, the gallery, and the
  notebook's output folder, written and checked (:func:`save_matching_outputs`).
"""

from fossilct.matching.benchmark import evaluation, outputs, queries
from fossilct.matching.benchmark.evaluation import (BENCHMARK_KEYS, IDENTIFICATION_COLUMNS,
                                                    MAX_ANGLE_DEG, MAX_NORMAL_DEG,
                                                    MAX_OFFSET_VOX, POSE_COLUMNS,
                                                    MethodEvaluation, combine_evaluations,
                                                    count_successes,
                                                    evaluate_identification, evaluate_method,
                                                    evaluate_poses, summarise)
from fossilct.matching.benchmark.outputs import (MATCHING_OUTPUTS, GalleryEntry,
                                                 check_matching_outputs, gallery_entries,
                                                 index_build_seconds, library_table,
                                                 save_matching_outputs)
from fossilct.matching.benchmark.queries import (EvalQuery, Nuisance, cut_query, make_queries,
                                                 tilted_normal)

__all__ = [*queries.__all__, *evaluation.__all__, *outputs.__all__]
