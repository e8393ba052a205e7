"""Where a model looked: Grad-CAM of one class on the backbone's last feature map."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fossilct.inference.prediction import Classifier

__all__ = ["ActivationMap", "class_activation_map"]


@dataclass(frozen=True)
class ActivationMap:
    """Where the model looked for one class.

    Attributes
    ----------
    heatmap : (S, S) ndarray of float32
        Grad-CAM in [0, 1], in the frame of the model input.
    overlay : (S, S, 3) ndarray of uint8
        The heatmap coloured (inferno) over the gray model input.
    class_name : str
    """

    heatmap: np.ndarray
    overlay: np.ndarray
    class_name: str


def _feature_head(model):
    """(model from input to the backbone's last feature map and the output, dense kernel)."""
    import keras

    pools = [layer for layer in model.layers
             if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if len(pools) != 1 or len(dense) != 1 or len(pools[0].input.shape) != 4:
        raise ValueError(
            f"model {model.name!r} is not one backbone with a pooled dense head (found "
            f"{len(pools)} pooling and {len(dense)} dense layers at the top level): Grad-CAM "
            "needs a member model of fossilct.models.build_model; for an ensemble, look at the "
            "map of one of its members.")
    features = keras.Model(model.input, [pools[0].input, model.output])
    return features, keras.ops.convert_to_numpy(dense[0].kernel)


def class_activation_map(classifier: Classifier, model_input: np.ndarray, *,
                         class_index: int | None = None, alpha: float = 0.45) -> ActivationMap:
    """Grad-CAM of one class on the backbone's last feature map.

    The head of every model built by :func:`fossilct.models.build_model` is global average
    pooling, dropout (inactive at inference) and one dense layer, so the gradient of a class's
    logit with respect to the feature map is that class's dense weights divided by the number of
    feature-map cells: Grad-CAM's channel weights are known in closed form and no gradient tape
    is needed. The map is ``ReLU(sum_k w_k A_k)``, scaled to [0, 1] and resized to the input.

    Parameters
    ----------
    classifier : Classifier
    model_input : (S, S) ndarray of uint8
        ``Prediction.model_input``.
    class_index : int, optional, keyword-only
        Position in ``classifier.class_names``; default the top class.
    alpha : float, keyword-only
        Opacity of the heatmap in the overlay (default 0.45).

    Returns
    -------
    ActivationMap

    Raises
    ------
    ValueError
        A model without a single backbone and dense head (an ensemble), a class index out of
        range, a non-2-D input, `alpha` outside [0, 1].

    Examples
    --------
    >>> from fossilct import models
    >>> model = models.build_model("small_cnn", n_classes=2, input_size=32)
    >>> disc = np.zeros((32, 32), np.uint8); disc[8:24, 8:24] = 200
    >>> cam = class_activation_map(Classifier(model, ("a", "b"), 32), disc)
    >>> cam.heatmap.shape, cam.overlay.shape, float(cam.heatmap.max()) <= 1.0
    ((32, 32), (32, 32, 3), True)
    """
    image = np.asarray(model_input)
    if image.ndim != 2:
        raise ValueError(f"`model_input` must be the 2-D model input; got shape {image.shape}.")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1]; got {alpha!r}.")
    features_model, kernel = _feature_head(classifier.model)
    from keras import ops

    features, probs = features_model(image[None, :, :, None].astype(np.float32), training=False)
    features = ops.convert_to_numpy(features).astype(np.float64)[0]
    index = (int(np.argmax(ops.convert_to_numpy(probs)[0])) if class_index is None
             else int(class_index))
    if not 0 <= index < kernel.shape[1]:
        raise ValueError(f"`class_index` {class_index} is outside 0..{kernel.shape[1] - 1}.")
    weights = kernel[:, index] / (features.shape[0] * features.shape[1])
    cam = np.maximum(features @ weights, 0.0)
    cam = cam / cam.max() if cam.max() > 0 else cam
    heatmap = cv2.resize(cam.astype(np.float32), (image.shape[1], image.shape[0]),
                         interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.rint(heatmap * 255).astype(np.uint8),
                               cv2.COLORMAP_INFERNO)[:, :, ::-1]
    gray = np.repeat(image[:, :, None], 3, axis=2).astype(np.float32)
    overlay = np.rint((1 - alpha) * gray + alpha * colour).clip(0, 255).astype(np.uint8)
    return ActivationMap(np.clip(heatmap, 0, 1), overlay, classifier.class_names[index])
