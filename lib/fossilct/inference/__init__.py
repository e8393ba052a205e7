"""Classify 2-D images with a trained model folder: segment, build the model input, predict.

Three lines for a user::

    from fossilct.inference import classify
    table = classify(["slice_0042.png", "thin_section.jpg"], "outputs/quick/models/small_cnn")
    table[table["rank"] == 1]            # the top species of each image

Every image goes the way the training slices went (:func:`fossilct.segmentation.segment_slice`):

1. :func:`to_gray_slice`: an 8-bit gray image with a dark background (an exported CT slice, or a
   slice of the run itself) is used as it is; anything else (16-bit, float, colour, a light
   background) is brought to a CT-like 8-bit slice by
   :func:`fossilct.segmentation.prepare_external_image`.
2. :func:`segment_for_model`: an optional manual crop box, then ``segment_slice`` at the size the
   model was trained with. ``threshold_offset`` is the segmentation's sensitivity: it is added
   to the automatic (Otsu) threshold, in units of the [0, 1] intensity range; negative values
   keep fainter structures, positive ones drop faint debris. The slice is refused (not
   segmentable) when nothing stands out of the noise (contrast-to-noise ratio under
   ``fossilct.segmentation.MIN_CONTRAST``) or when the object touches all four borders (a
   texture, or a crop inside the fossil).
3. The model (a ``model.keras`` that takes raw 8-bit slices) gives class probabilities;
   :func:`summarise_probabilities` ranks them and measures the top-1 margin, the normalised
   entropy and, given an abstention threshold, whether the answer is uncertain.

:func:`class_activation_map` shows where the model looked: Grad-CAM on the backbone's last
feature map. Image files are read with :func:`fossilct.images.read_image`.

Modules: :mod:`~fossilct.inference.preparation`, :mod:`~.prediction`, :mod:`~.activation`.
"""

from fossilct.inference.activation import ActivationMap, class_activation_map
from fossilct.inference.prediction import (RESULT_COLUMNS, Classifier, Prediction,
                                           ProbabilitySummary, classify, load_classifier,
                                           predict_images, read_abstention_threshold,
                                           summarise_probabilities)
from fossilct.inference.preparation import segment_for_model, to_gray_slice

__all__ = [
    "to_gray_slice",
    "segment_for_model",
    "RESULT_COLUMNS",
    "Classifier",
    "read_abstention_threshold",
    "load_classifier",
    "ProbabilitySummary",
    "summarise_probabilities",
    "Prediction",
    "predict_images",
    "classify",
    "ActivationMap",
    "class_activation_map",
]
