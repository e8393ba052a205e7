"""Ensembles of trained classifiers, built from their saved predictions tables only.

Everything is chosen on the validation split and the test split is touched once, to report::

    from fossilct import ensemble, predictions
    splits = predictions.read_aligned({"convnext_large": "outputs/paper/eval/convnext_large", ...})
    selection = ensemble.fit_ensembles(splits["val"], target_accuracy=0.95)
    results = ensemble.evaluate_ensembles(selection, splits, n_bootstrap=1000, rng=seed)

Modules: :mod:`~fossilct.ensemble.calibration` (temperature scaling), :mod:`~.voting`
(weighted and top-k soft voting), :mod:`~.switching` (general model and specialist),
:mod:`~.abstention` (confidence threshold for a target accuracy), :mod:`~.specimens`
(specimen-level aggregation), :mod:`~.spec` (the fitted record and its application),
:mod:`~.fit` (fitting all kinds and choosing one), :mod:`~.keras_model` (the ensemble as one
loadable Keras model), :mod:`~.outputs` (test evaluation, report, output folder).
"""

from fossilct.ensemble import (abstention, calibration, errors, fit, outputs, scores, spec,
                               specimens, switching, voting)
from fossilct.ensemble.abstention import (DEFAULT_TARGET_ACCURACY, AbstentionChoice,
                                          abstention_summary, choose_abstention_threshold,
                                          coverage_accuracy_curve)
from fossilct.ensemble.calibration import (TEMPERATURE_BOUNDS, apply_temperature,
                                           fit_temperature, log_probabilities,
                                           negative_log_likelihood)
from fossilct.ensemble.errors import NothingToCombineError
from fossilct.ensemble.fit import VALIDATION_COLUMNS, EnsembleSelection, fit_ensembles
from fossilct.ensemble.outputs import (EnsembleResult, MemberResult, ensemble_report_markdown,
                                       evaluate_ensembles, evaluate_members,
                                       save_ensemble_outputs)
from fossilct.ensemble.scores import SCORES, per_species_f1, validation_score
from fossilct.ensemble.spec import KINDS, EnsembleSpec, apply_ensemble
from fossilct.ensemble.specimens import (aggregate_by_specimen, specimen_evaluation,
                                         specimen_table)
from fossilct.ensemble.switching import (DEFAULT_THRESHOLDS, Switching, SwitchingChoice,
                                         choose_general_and_specialist, fit_switching,
                                         specialist_species, switch_probabilities)
from fossilct.ensemble.voting import (WEIGHT_FLOOR, TopK, average_probabilities, fit_top_k,
                                      fit_weights, fit_weights_and_temperature)

# the modules' __all__ lists are the package's; the Keras module is loaded on first use of one
# of its names, so that importing the package does not load TensorFlow
_KERAS_NAMES = ("CLASSIFIER_LAYER", "load_member_models", "build_ensemble_model",
                "save_ensemble_model")
__all__ = [*abstention.__all__, *calibration.__all__, *errors.__all__, *fit.__all__,
           *outputs.__all__, *scores.__all__, *spec.__all__, *specimens.__all__,
           *switching.__all__, *voting.__all__, *_KERAS_NAMES]


def __getattr__(name: str):
    if name in _KERAS_NAMES:
        from fossilct.ensemble import keras_model

        return getattr(keras_model, name)
    raise AttributeError(f"module 'fossilct.ensemble' has no attribute {name!r}")
