"""Architecture registry: Keras classifiers that take a raw 8-bit gray slice.

Every model built here has the same outer shape, so that a saved ``model.keras`` can be fed an
unprocessed slice in a fresh process without importing fossilct::

    slice (H, W, 1), values 0..255, any H and W
      -> Resizing to the architecture's input size, aspect kept, padded with black
      -> gray to three channels (Concatenate of the gray plane with itself)
      -> the backbone's own ImageNet preprocessing
      -> backbone (a nested keras.Model; BatchNorm in inference mode when pretrained)
      -> global average pooling -> dropout -> dense softmax (float32 under mixed precision)

Only built-in Keras layers are used, so ``keras.models.load_model(path)`` needs neither custom
objects nor ``safe_mode=False``.

The study's seven architectures are ``convnext_base``, ``convnext_large``, ``effv2s``, ``effv2l``,
``nasnet_large``, ``mobilenet`` and ``resnet101v2``. The report cites "Searching for MobileNetV3"
for MobileNet, so ``mobilenet`` is MobileNetV3-Large; ``mobilenet_v3_large`` is the same network
under its explicit name. Small CPU-friendly ones for the quick profile: ``mobilenet_v3_small``,
``effv2b0``, ``convnext_tiny`` and ``small_cnn``, a plain from-scratch CNN with no pretrained
weights (the quick profile runs offline).

Input sizes: every Keras backbone used here accepts any square size of at least 32 px with
``include_top=False``, ImageNet weights included (Keras 3 checks only the minimum; NASNetLarge's
weights were trained at 331 px, which is therefore its native size). Native sizes follow the
report: 224 px for base models, 384 px for the large ones (ConvNeXt-Large, EfficientNetV2-L).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras

__all__ = [
    "Architecture",
    "ARCHITECTURES",
    "WeightsUnavailableError",
    "get_architecture",
    "resolve_input_size",
    "imagenet_weights_path",
    "build_model",
    "get_backbone",
    "training_view",
    "model_input_size",
]

DEFAULT_DROPOUT = 0.3
"""Dropout rate before the classifier (the report does not state one)."""

SCRATCH_BN_MOMENTUM = 0.9
"""BatchNorm moving-average momentum when training from scratch (Keras applications use 0.99 or
0.999, which leaves the inference statistics near their initial values for the few hundred steps
of a short CPU run, so validation would see an un-normalised network)."""

MIN_INPUT_SIZE = 32
"""Smallest input edge (px) the Keras applications accept with ``include_top=False``."""

_RESIZE_LAYER = "resize_to_input"


@dataclass(frozen=True)
class Architecture:
    """One registered backbone.

    Attributes
    ----------
    name : str
        Registry name (``"effv2s"``).
    constructor : str
        Name of the factory in ``keras.applications`` (``"EfficientNetV2S"``), or ``"small_cnn"``.
    native_size : int
        Default input edge in px.
    preprocessing : str
        ``"builtin"``: the application's own ``include_preprocessing`` layers take 0..255 input;
        ``"symmetric"``: ``x / 127.5 - 1`` (Keras' "tf" mode, ResNetV2 and NASNet);
        ``"unit"``: ``x / 255`` (the from-scratch CNN).
    imagenet_file : str or None
        File name under which Keras caches the no-top ImageNet weights (``<keras home>/models/``);
        None when there are no pretrained weights.
    description : str
        One line for tables.
    """

    name: str
    constructor: str
    native_size: int
    preprocessing: str
    imagenet_file: str | None
    description: str


def _registry() -> dict[str, Architecture]:
    mnv3 = "weights_mobilenet_v3_{}_224_1.0_float_no_top_v2.h5"
    resnet = "{}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    rows = [
        ("convnext_base", "ConvNeXtBase", 224, "builtin", "convnext_base_notop.h5",
         "ConvNeXt-Base (study)"),
        ("convnext_large", "ConvNeXtLarge", 384, "builtin", "convnext_large_notop.h5",
         "ConvNeXt-Large (study)"),
        ("effv2s", "EfficientNetV2S", 224, "builtin", "efficientnetv2-s_notop.h5",
         "EfficientNetV2-S (study)"),
        ("effv2l", "EfficientNetV2L", 384, "builtin", "efficientnetv2-l_notop.h5",
         "EfficientNetV2-L (study)"),
        ("nasnet_large", "NASNetLarge", 331, "symmetric", "nasnet_large_no_top.h5",
         "NASNet-Large (study)"),
        ("mobilenet", "MobileNetV3Large", 224, "builtin", mnv3.format("large"),
         "MobileNet of the study = MobileNetV3-Large"),
        ("mobilenet_v3_large", "MobileNetV3Large", 224, "builtin", mnv3.format("large"),
         "MobileNetV3-Large"),
        ("resnet101v2", "ResNet101V2", 224, "symmetric", resnet.format("resnet101v2"),
         "ResNet101V2 (study)"),
        ("mobilenet_v3_small", "MobileNetV3Small", 224, "builtin", mnv3.format("small"),
         "MobileNetV3-Small (quick profile)"),
        ("effv2b0", "EfficientNetV2B0", 224, "builtin", "efficientnetv2-b0_notop.h5",
         "EfficientNetV2-B0 (quick profile)"),
        ("convnext_tiny", "ConvNeXtTiny", 224, "builtin", "convnext_tiny_notop.h5",
         "ConvNeXt-Tiny (quick profile)"),
        ("small_cnn", "small_cnn", 64, "unit", None,
         "plain 7-conv CNN trained from scratch (offline quick profile)"),
    ]
    return {row[0]: Architecture(*row) for row in rows}


ARCHITECTURES: dict[str, Architecture] = _registry()
"""Registry name -> :class:`Architecture`."""


class WeightsUnavailableError(FileNotFoundError):
    """ImageNet weights are neither in the Keras cache nor downloadable."""


def get_architecture(arch: str) -> Architecture:
    """Look up a registered architecture.

    Parameters
    ----------
    arch : str
        Registry name.

    Returns
    -------
    Architecture

    Raises
    ------
    ValueError
        If `arch` is not registered; the message lists the valid names.

    Examples
    --------
    >>> get_architecture("effv2s").native_size
    224
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r} (parameter `arch`); valid names: "
                         f"{', '.join(ARCHITECTURES)}. Add it to fossilct.models.ARCHITECTURES "
                         "or fix the spelling.")
    return ARCHITECTURES[arch]


def resolve_input_size(arch: str, input_size: int | None = None) -> int:
    """The input edge (px) a model of `arch` will be built with.

    Parameters
    ----------
    arch : str
        Registry name.
    input_size : int, optional
        Requested edge; None means the architecture's native size.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If `arch` is unknown or `input_size` is below ``MIN_INPUT_SIZE`` (32 px).
    TypeError
        If `input_size` is not an integer.

    Examples
    --------
    >>> resolve_input_size("convnext_large"), resolve_input_size("effv2s", 96)
    (384, 96)
    """
    spec = get_architecture(arch)
    if input_size is None:
        return spec.native_size
    if isinstance(input_size, bool) or not isinstance(input_size, int):
        raise TypeError(f"`input_size` must be an int (pixels) or None for the native size of "
                        f"{arch!r}; got {input_size!r} of type {type(input_size).__name__}.")
    if input_size < MIN_INPUT_SIZE:
        raise ValueError(f"`input_size`={input_size} is refused by {arch!r}: the Keras backbones "
                         f"accept square inputs of at least {MIN_INPUT_SIZE} px (native size "
                         f"{spec.native_size}). Use an `image_size` >= {MIN_INPUT_SIZE}.")
    return input_size


def imagenet_weights_path(arch: str) -> Path:
    """Where Keras caches the no-top ImageNet weights of `arch` (whether or not the file exists).

    The folder is ``$KERAS_HOME/models`` (default ``~/.keras/models``).

    Raises
    ------
    ValueError
        If `arch` is unknown or has no ImageNet weights (``small_cnn``).

    Examples
    --------
    >>> imagenet_weights_path("effv2s").name
    'efficientnetv2-s_notop.h5'
    """
    spec = get_architecture(arch)
    if spec.imagenet_file is None:
        raise ValueError(f"architecture {arch!r} has no ImageNet weights; build it with "
                         "`weights=None` (random init) or a path to your own weights file.")
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(home) / "models" / spec.imagenet_file


def _check_weights(arch: str, weights: str | os.PathLike | None) -> str | None:
    if weights is None:
        return None
    if weights == "imagenet":
        imagenet_weights_path(arch)  # raises for architectures without ImageNet weights
        return "imagenet"
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"`weights` must be 'imagenet', None or a path to a weights file; got "
                        f"{weights!r} of type {type(weights).__name__}.")
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"`weights` file {str(path)!r} does not exist. Pass the path of "
                                f"an .h5 / .weights.h5 file of the {arch!r} backbone, "
                                "'imagenet', or None for random initialisation.")
    return str(path)


def _small_cnn(size: int, *, weights: str | None) -> keras.Model:
    """Plain conv stack for from-scratch training: 7 conv-BN-ReLU layers, 32 to 256 filters."""
    layers = keras.layers
    inputs = keras.Input((size, size, 3))
    x = inputs
    for i, (filters, stride, pool) in enumerate([(32, 2, False), (32, 1, True), (64, 1, False),
                                                 (64, 1, True), (128, 1, False), (128, 1, True),
                                                 (256, 1, False)]):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                          name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if pool:
            x = layers.MaxPooling2D(name=f"pool{i}")(x)
    model = keras.Model(inputs, x, name="small_cnn")
    if weights is not None:
        model.load_weights(weights)
    return model


def _backbone(spec: Architecture, size: int, weights: str | None) -> keras.Model:
    if spec.constructor == "small_cnn":
        return _small_cnn(size, weights=weights)
    factory = getattr(keras.applications, spec.constructor)
    kwargs = dict(include_top=False, weights=weights, input_shape=(size, size, 3))
    if spec.preprocessing == "builtin":
        kwargs["include_preprocessing"] = True
    if weights != "imagenet":
        return factory(**kwargs)
    cached = imagenet_weights_path(spec.name)
    try:
        return factory(**kwargs)
    except Exception as exc:  # Keras raises a bare Exception when the download fails
        if cached.is_file():
            raise
        raise WeightsUnavailableError(
            f"ImageNet weights for {spec.name!r} are missing: {cached.name!r} is not in the Keras "
            f"cache {str(cached.parent)!r} and could not be downloaded ({exc}). Either place "
            f"that file at {str(cached)!r} (copy it from a machine with internet access), or "
            "pass `weights=<path to the backbone's .h5 file>`; `weights=None` trains from "
            "random initialisation instead."
        ) from exc


def _preprocessing_layers(spec: Architecture) -> list[keras.layers.Layer]:
    if spec.preprocessing == "symmetric":
        return [keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="backbone_preprocess")]
    if spec.preprocessing == "unit":
        return [keras.layers.Rescaling(1 / 255, name="backbone_preprocess")]
    return []


def build_model(arch: str, *, n_classes: int, input_size: int | None = None,
                weights: str | os.PathLike | None = None, dropout: float = DEFAULT_DROPOUT,
                freeze_batchnorm: bool | None = None) -> keras.Model:
    """Build a classifier that maps a raw 8-bit gray slice to class probabilities.

    Parameters
    ----------
    arch : str
        Registry name, one of ``ARCHITECTURES``.
    n_classes : int
        Number of species (>= 2).
    input_size : int, optional
        Edge (px) of the backbone input; None = the architecture's native size.
    weights : {"imagenet", None} or path-like
        ``"imagenet"``: Keras' pretrained weights, from its cache (``$KERAS_HOME/models``, default
        ``~/.keras/models``) or downloaded; never silently replaced by random weights.
        None: random initialisation. A path: a weights file of the backbone (.h5 / .weights.h5).
    dropout : float
        Dropout rate before the classifier, in [0, 1). Default ``DEFAULT_DROPOUT`` (0.3).
    freeze_batchnorm : bool, optional
        Keep the backbone's BatchNorm layers in inference mode for good (not trainable, backbone
        called with ``training=False``), as transfer learning requires. None (default) = True for
        pretrained weights, False for ``weights=None``, where there are no statistics to protect
        (their moving-average momentum is then lowered to ``SCRATCH_BN_MOMENTUM``).

    Returns
    -------
    keras.Model
        Input ``slice``: (batch, H, W, 1) float32 with values 0..255, any H and W. Output:
        (batch, n_classes) float32 probabilities. The backbone is the one nested ``keras.Model``
        (see :func:`get_backbone`).

    Raises
    ------
    ValueError
        Unknown `arch`, refused `input_size`, `n_classes` < 2, `dropout` outside [0, 1).
    TypeError
        Non-integer `input_size` / `n_classes`, `weights` of another type.
    FileNotFoundError
        A `weights` path that does not exist.
    WeightsUnavailableError
        ImageNet weights neither cached nor downloadable; says which file and where to put it.

    Examples
    --------
    >>> import numpy as np
    >>> model = build_model("small_cnn", n_classes=3, input_size=32)
    >>> model.predict(np.zeros((2, 40, 50, 1), np.uint8), verbose=0).shape
    (2, 3)
    """
    spec = get_architecture(arch)
    size = resolve_input_size(arch, input_size)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int):
        raise TypeError(f"`n_classes` must be an int; got {n_classes!r}.")
    if n_classes < 2:
        raise ValueError(f"`n_classes`={n_classes}: a classifier needs at least 2 classes; check "
                         "the class names read from the manifest.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout`={dropout} must lie in [0, 1).")
    weights = _check_weights(arch, weights)
    if freeze_batchnorm is None:
        freeze_batchnorm = weights is not None

    backbone = _backbone(spec, size, weights)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            if freeze_batchnorm:
                layer.trainable = False
            elif weights is None:
                layer.momentum = SCRATCH_BN_MOMENTUM
    inputs = keras.Input((None, None, 1), name="slice")
    # antialiased like fossilct.data, so that a raw slice is resized as the training images were
    x = keras.layers.Resizing(size, size, pad_to_aspect_ratio=True, fill_value=0.0,
                              antialias=True, name=_RESIZE_LAYER)(inputs)
    x = keras.layers.Concatenate(axis=-1, name="gray_to_rgb")([x, x, x])
    for layer in _preprocessing_layers(spec):
        x = layer(x)
    x = backbone(x, training=False) if freeze_batchnorm else backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32",
                                 name="classifier")(x)
    return keras.Model(inputs, outputs, name=arch)


def get_backbone(model: keras.Model) -> keras.Model:
    """The nested backbone of a model built by :func:`build_model`.

    Raises
    ------
    ValueError
        If `model` does not hold exactly one nested ``keras.Model``.
    """
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError(f"model {model.name!r} holds {len(nested)} nested models; expected the "
                         "one backbone of a fossilct.models.build_model model.")
    return nested[0]


def training_view(model: keras.Model) -> keras.Model:
    """The model without its resize layer, sharing its layers and weights: what is trained.

    The training pipeline already delivers images at the input size, so the resize is an identity
    there, and its antialiased kernel (``ScaleAndTranslate``) has no XLA implementation: training
    this view lets ``jit_compile`` work and skips a needless resize per step. Training it trains
    `model`.

    Examples
    --------
    >>> model = build_model("small_cnn", n_classes=2, input_size=32)
    >>> view = training_view(model)
    >>> view.input_shape, all(a is b for a, b in zip(view.weights, model.weights))
    ((None, 32, 32, 1), True)
    """
    try:
        resize = model.get_layer(_RESIZE_LAYER)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no {_RESIZE_LAYER!r} layer; pass a model "
                         "built by fossilct.models.build_model.") from None
    with model.distribute_strategy.scope():
        return keras.Model(resize.output, model.output, name=f"{model.name}_training")


def model_input_size(model: keras.Model) -> int:
    """Edge (px) to which `model` resizes its input slices.

    Raises
    ------
    ValueError
        If `model` was not built by :func:`build_model` (no ``resize_to_input`` layer).

    Examples
    --------
    >>> model_input_size(build_model("small_cnn", n_classes=2, input_size=48))
    48
    """
    try:
        layer = model.get_layer(_RESIZE_LAYER)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no {_RESIZE_LAYER!r} layer; load a model "
                         "built by fossilct.models.build_model.") from None
    return int(layer.get_config()["height"])
