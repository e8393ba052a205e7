"""Training-time augmentation of batches of gray slices, built from Keras 3 core layers.

Order: flips, rotation and zoom (geometric, CONSTANT BLACK fill: reflecting would mirror fossil
into the empty corners), then brightness and contrast, then, per sample, MixUp or CutMix. Input
and output images are float32 with values 0..255 and shape (batch, rows, cols, 1); labels are
one-hot (or already soft) float32 (batch, n_classes) and are mixed with the images. Label
smoothing is not done here: it belongs to the loss.

Randomness comes from the seed (``rng``) given at construction: two :class:`Augmentation` objects
built with the same seed transform the same sequence of batches identically. One object keeps
drawing new values on every call, so every epoch sees new transforms.
"""

from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf

__all__ = ["Augmentation", "seed_from_rng"]

DEFAULT_ROTATION_DEG = 45.0
"""Rotation range +-degrees (report: +-45)."""
DEFAULT_SCALE_RANGE = (0.8, 1.2)
"""Range of the zoom factor applied to the fossil (report: 0.8-1.2x)."""
DEFAULT_BRIGHTNESS = 0.1
"""Brightness shift, fraction of the 0..255 range."""
DEFAULT_CONTRAST = 0.1
"""Contrast factor range, 1 +- this."""
DEFAULT_MIXUP_PROB = 0.2
"""Share of samples replaced by a MixUp blend."""
DEFAULT_CUTMIX_PROB = 0.2
"""Share of samples replaced by a CutMix collage (exclusive with MixUp)."""
DEFAULT_MIXUP_ALPHA = 0.2
"""Beta(alpha, alpha) of the MixUp weight (Keras' and the MixUp paper's ImageNet value)."""
DEFAULT_CUTMIX_ALPHA = 1.0
"""Upper bound of the Beta parameter of the CutMix area (Keras' ``factor``)."""

_FLIPS = ("horizontal", "vertical", "horizontal_and_vertical", "none")


def seed_from_rng(rng: int | np.random.Generator) -> int:
    """An int seed for TensorFlow / Keras from an int or a NumPy generator.

    Parameters
    ----------
    rng : int or numpy.random.Generator
        A non-negative int is returned as is; a generator yields a fresh draw.

    Returns
    -------
    int
        In [0, 2**31 - 1).

    Raises
    ------
    TypeError
        If `rng` is neither.
    ValueError
        If `rng` is a negative int.

    Examples
    --------
    >>> seed_from_rng(7)
    7
    >>> seed_from_rng(np.random.default_rng(0)) == seed_from_rng(np.random.default_rng(0))
    True
    """
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**31 - 1))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"`rng`={rng}: a seed must be >= 0.")
        return int(rng) % (2**31 - 1)
    raise TypeError(f"`rng` must be an int seed or a numpy.random.Generator; got "
                    f"{type(rng).__name__}.")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}`={value} must lie in [0, 1).")


class Augmentation:
    """Random geometric, photometric and mixing augmentation of image batches.

    Parameters
    ----------
    rotation_deg : float
        Rotations drawn uniformly in [-rotation_deg, +rotation_deg]; 0 disables.
        Default ``DEFAULT_ROTATION_DEG`` (45).
    scale_range : (float, float)
        Zoom factors of the fossil, drawn uniformly; (1, 1) disables. Default (0.8, 1.2).
    flip : {"horizontal_and_vertical", "horizontal", "vertical", "none"}
        Random mirror flips. Default both (a CT section has no preferred handedness).
    brightness : float
        Shift in [-b, b] x 255, in [0, 1); 0 disables. Default 0.1.
    contrast : float
        Contrast factor in [1 - c, 1 + c], in [0, 1); 0 disables. Default 0.1.
    mixup_prob, cutmix_prob : float
        Probability that a sample is replaced by a MixUp blend / a CutMix collage with another
        sample of the batch (labels mixed accordingly); exclusive, so their sum must be <= 1.
        Defaults 0.2 each.
    mixup_alpha : float
        MixUp weight ~ Beta(alpha, alpha). Default 0.2.
    cutmix_alpha : float
        CutMix Beta parameter drawn in (0, alpha]. Default 1.0.
    rng : int or numpy.random.Generator
        Seed of every random layer.

    Raises
    ------
    ValueError
        For a value outside its range (the message names the parameter).

    Examples
    --------
    >>> import numpy as np
    >>> aug = Augmentation(rotation_deg=90, rng=0, mixup_prob=0.0, cutmix_prob=0.0,
    ...                    brightness=0.0, contrast=0.0)
    >>> images = np.full((2, 16, 16, 1), 200, np.float32)
    >>> labels = np.eye(2, dtype=np.float32)
    >>> out, mixed = aug(images, labels)
    >>> out.shape, float(np.asarray(out).max()) <= 255.0, np.allclose(mixed, labels)
    (TensorShape([2, 16, 16, 1]), True, True)
    """

    def __init__(self, *, rotation_deg: float = DEFAULT_ROTATION_DEG,
                 scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
                 flip: str = "horizontal_and_vertical", brightness: float = DEFAULT_BRIGHTNESS,
                 contrast: float = DEFAULT_CONTRAST, mixup_prob: float = DEFAULT_MIXUP_PROB,
                 cutmix_prob: float = DEFAULT_CUTMIX_PROB,
                 mixup_alpha: float = DEFAULT_MIXUP_ALPHA,
                 cutmix_alpha: float = DEFAULT_CUTMIX_ALPHA,
                 rng: int | np.random.Generator = 0):
        if not 0.0 <= rotation_deg <= 180.0:
            raise ValueError(f"`rotation_deg`={rotation_deg} must lie in [0, 180].")
        low, high = (float(v) for v in scale_range)
        if not 0.0 < low <= high:
            raise ValueError(f"`scale_range`={tuple(scale_range)} must be (low, high) with "
                             "0 < low <= high, e.g. (0.8, 1.2).")
        if flip not in _FLIPS:
            raise ValueError(f"`flip`={flip!r}; choose one of {', '.join(_FLIPS)}.")
        _check_fraction("brightness", brightness)
        _check_fraction("contrast", contrast)
        for name, value in (("mixup_prob", mixup_prob), ("cutmix_prob", cutmix_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}`={value} must be a probability in [0, 1].")
        if mixup_prob + cutmix_prob > 1.0:
            raise ValueError(f"`mixup_prob` + `cutmix_prob` = {mixup_prob + cutmix_prob} > 1; "
                             "a sample gets at most one of the two, so lower one of them.")
        if mixup_alpha <= 0 or cutmix_alpha <= 0:
            raise ValueError(f"`mixup_alpha`={mixup_alpha} and `cutmix_alpha`={cutmix_alpha} "
                             "must be > 0.")
        self.config = dict(rotation_deg=float(rotation_deg), scale_range=[low, high], flip=flip,
                           brightness=float(brightness), contrast=float(contrast),
                           mixup_prob=float(mixup_prob), cutmix_prob=float(cutmix_prob),
                           mixup_alpha=float(mixup_alpha), cutmix_alpha=float(cutmix_alpha))
        seed = seed_from_rng(rng)
        self.config["seed"] = seed
        layers = keras.layers
        self._layers = []
        if flip != "none":
            self._layers.append(layers.RandomFlip(flip, seed=seed + 1))
        if rotation_deg > 0:
            self._layers.append(layers.RandomRotation(
                rotation_deg / 360.0, fill_mode="constant", fill_value=0.0, seed=seed + 2))
        if (low, high) != (1.0, 1.0):
            # Keras' zoom factor z samples the input at z-times the output distance from the
            # centre, so the fossil appears scaled by 1 / (1 + factor).
            self._layers.append(layers.RandomZoom(
                (1.0 / high - 1.0, 1.0 / low - 1.0), fill_mode="constant", fill_value=0.0,
                seed=seed + 3))
        if brightness > 0:
            self._layers.append(layers.RandomBrightness(brightness, value_range=(0, 255),
                                                        seed=seed + 4))
        if contrast > 0:
            self._layers.append(layers.RandomContrast(contrast, value_range=(0, 255),
                                                      seed=seed + 5))
        self._mixup = layers.MixUp(alpha=mixup_alpha, seed=seed + 6) if mixup_prob > 0 else None
        self._cutmix = (layers.CutMix(factor=(0.0, cutmix_alpha), seed=seed + 7)
                        if cutmix_prob > 0 else None)
        self._choice = tf.random.Generator.from_seed(seed + 8)

    def __repr__(self) -> str:
        return f"Augmentation({', '.join(f'{k}={v!r}' for k, v in self.config.items())})"

    def __call__(self, images, labels):
        """Augment one batch.

        Parameters
        ----------
        images : (B, M, N, 1) tensor or ndarray, float32 in 0..255
        labels : (B, K) tensor or ndarray, float32 (one-hot or soft)

        Returns
        -------
        images : (B, M, N, 1) float32 tensor, values clipped to 0..255
        labels : (B, K) float32 tensor; rows still sum to 1
        """
        images = tf.convert_to_tensor(images, tf.float32)
        labels = tf.convert_to_tensor(labels, tf.float32)
        for layer in self._layers:
            images = layer(images, training=True)
        images = tf.clip_by_value(images, 0.0, 255.0)
        if self._mixup is None and self._cutmix is None:
            return images, labels
        draw = self._choice.uniform([tf.shape(images)[0]])
        mixup_p, cutmix_p = self.config["mixup_prob"], self.config["cutmix_prob"]
        batch = {"images": images, "labels": labels}
        out_images, out_labels = images, labels
        for layer, chosen in ((self._mixup, draw < mixup_p),
                              (self._cutmix, (draw >= mixup_p) & (draw < mixup_p + cutmix_p))):
            if layer is None:
                continue
            mixed = layer(batch, training=True)
            out_images = tf.where(chosen[:, None, None, None],
                                  tf.cast(mixed["images"], tf.float32), out_images)
            out_labels = tf.where(chosen[:, None], tf.cast(mixed["labels"], tf.float32),
                                  out_labels)
        return out_images, out_labels
