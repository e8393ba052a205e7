"""Comparison of evaluated models and ensembles on the same test slices (notebook 08).

Typical use::

    from fossilct import comparison, predictions
    folders = comparison.prediction_folders({"small_cnn": "outputs/quick/eval/small_cnn"},
                                            "outputs/quick/ensemble")
    test = predictions.read_aligned(folders, splits=("test",))["test"]
    result = comparison.compare_models(test, n_bootstrap=1000, rng=seed)
    comparison.save_comparison_outputs(out_dir, result,
                                       report=comparison.comparison_report_markdown(result))

Modules: :mod:`~fossilct.comparison.leaderboard` (metrics with intervals),
:mod:`~.paired` (McNemar, paired specimen bootstrap, Holm), :mod:`~.species` (per-species
best and worst, shared confusions), :mod:`~.leakage` (specimen- against slice-level split),
:mod:`~.report` (the record, its Markdown and its folder), :mod:`~.inputs` (what it reads from a
run).
"""

from fossilct.comparison import inputs, leaderboard, leakage, paired, report, species
from fossilct.comparison.inputs import (ENSEMBLE_PREFIX, leakage_from_folders, prediction_folders,
                                        read_resources)
from fossilct.comparison.leaderboard import (LEADERBOARD_METRICS, LOWER_IS_BETTER,
                                             evaluate_models, leaderboard_table)
from fossilct.comparison.leakage import LEAKAGE_METRICS, leakage_table
from fossilct.comparison.paired import (accuracy_replicates, bootstrap_p_value, holm_adjust,
                                        mcnemar_exact, paired_tests, pairwise_tests)
from fossilct.comparison.report import (Comparison, compare_models,
                                        comparison_report_markdown, leaderboard_markdown,
                                        save_comparison_outputs)
from fossilct.comparison.species import (common_confusions, per_species_f1_table,
                                         species_extremes)

# the modules' __all__ lists are the package's
__all__ = [*inputs.__all__, *leaderboard.__all__, *leakage.__all__, *paired.__all__,
           *report.__all__, *species.__all__]
