"""A model folder as a :class:`Classifier`; images to ranked, flagged predictions."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from fossilct import images as image_files
from fossilct import segmentation
from fossilct.inference.preparation import segment_for_model, to_gray_slice

__all__ = ["RESULT_COLUMNS", "Classifier", "read_abstention_threshold", "load_classifier",
           "ProbabilitySummary", "summarise_probabilities", "Prediction", "predict_images",
           "classify"]

RESULT_COLUMNS = ("file", "rank", "species", "probability", "margin", "entropy", "uncertain",
                  "foreground_fraction", "segmentable", "message")
"""Columns of :func:`classify` and :meth:`Prediction.table`."""
_BATCH = 32


@dataclass(frozen=True, eq=False)
class Classifier:
    """A trained model ready to classify slices.

    Attributes
    ----------
    model : keras.Model
        Takes (batch, H, W, 1) raw 8-bit slices, gives (batch, K) probabilities.
    class_names : tuple of str
        Output order of `model`.
    image_size : int
        Side of the square slices the model was trained on (``segment_slice``'s `image_size`).
    abstention_threshold : float or None
        A prediction whose top probability is below it is flagged uncertain; None: no flag.
    name : str
        How the model is shown (its folder's name).
    """

    model: object
    class_names: tuple
    image_size: int
    abstention_threshold: float | None = None
    name: str = ""


def read_abstention_threshold(path: str | os.PathLike) -> float | None:
    """The abstention threshold of the chosen ensemble in an ``ensemble.json``.

    Parameters
    ----------
    path : path-like
        ``ensemble.json`` as the ensemble step writes it: ``{"chosen": name, "specs": {name:
        {"abstention_threshold": float or null, ...}}}``.

    Returns
    -------
    float or None
        None when the ensemble chose no threshold (its target accuracy was not reached).

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If the file does not have that layout.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run the ensemble step first or "
                                "give the abstention threshold yourself.")
    try:
        record = json.loads(path.read_text())
        value = record["specs"][record["chosen"]]["abstention_threshold"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{str(path)!r} is not an ensemble record (expected 'chosen' and "
                         f"'specs'/<chosen>/'abstention_threshold'): {error!r}. Re-run the "
                         "ensemble step.") from None
    return None if value is None else float(value)


def _check_threshold(value, name: str) -> float | None:
    if value is None:
        return None
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1] or None; got {value!r}.")
    return float(value)


def load_classifier(model_dir: str | os.PathLike, *, class_names: Sequence[str] | None = None,
                    image_size: int | None = None,
                    abstention_threshold: float | None = None) -> Classifier:
    """Load a model folder (``model.keras``, ``class_names.json``, ``params.yaml``).

    Parameters
    ----------
    model_dir : path-like
        A folder written by the training step (``models/<arch>``) or the ensemble
        (``models/ensemble``).
    class_names : sequence of str, optional, keyword-only
        The output order, when the folder has no ``class_names.json``.
    image_size : int, optional, keyword-only
        Side of the slices the model was trained on (the slicing step's ``image_size``), at
        which a new image is segmented before the model resizes it to its input, exactly as the
        training slices were; default the ``slice_size`` of ``params.yaml`` (recorded by the
        training and ensemble steps), else the model's own input size.
    abstention_threshold : float, optional, keyword-only
        Top probability under which a prediction is flagged uncertain.

    Returns
    -------
    Classifier

    Raises
    ------
    FileNotFoundError
        No ``model.keras``, or neither ``class_names.json`` nor `class_names`.
    ValueError
        Class names that do not match the model's outputs, a threshold outside [0, 1], no
        known slice size.
    """
    import keras
    import yaml

    from fossilct import models

    model_dir = Path(model_dir)
    threshold = _check_threshold(abstention_threshold, "abstention_threshold")
    if not (model_dir / "model.keras").is_file():
        raise FileNotFoundError(f"{str(model_dir / 'model.keras')!r} does not exist; train the "
                                "model first (notebook 04) or fix the model folder.")
    names_file = model_dir / "class_names.json"
    if names_file.is_file():
        class_names = json.loads(names_file.read_text())
    elif class_names is None:
        raise FileNotFoundError(f"{str(names_file)!r} does not exist and no `class_names` were "
                                "given; pass the run's class names (run.class_names).")
    model = keras.models.load_model(model_dir / "model.keras")
    if len(class_names) != int(model.output_shape[-1]):
        raise ValueError(f"{model_dir}: {len(class_names)} class names for a model with "
                         f"{model.output_shape[-1]} outputs; give the names it was trained with.")
    params_file = model_dir / "params.yaml"
    params = yaml.safe_load(params_file.read_text()) if params_file.is_file() else {}
    image_size = image_size or (params or {}).get("slice_size")
    if not image_size:
        try:
            image_size = models.model_input_size(model)
        except ValueError:
            raise ValueError(f"{model_dir}: neither params.yaml (slice_size) nor the model says "
                             "which slice size it was trained on; pass `image_size` (the slicing "
                             "step's image_size).") from None
    return Classifier(model=model, class_names=tuple(str(c) for c in class_names),
                      image_size=int(image_size), abstention_threshold=threshold,
                      name=model_dir.name)


@dataclass(frozen=True)
class ProbabilitySummary:
    """Ranked class probabilities of one image (see :func:`summarise_probabilities`)."""

    species: tuple
    probabilities: np.ndarray
    margin: float
    entropy: float
    uncertain: bool | None


def summarise_probabilities(probabilities, class_names: Sequence[str], *,
                            abstention_threshold: float | None = None) -> ProbabilitySummary:
    """Rank a probability vector and measure how sure it is.

    Parameters
    ----------
    probabilities : (K,) array_like of float
        One model output (non-negative, summing to 1 up to rounding).
    class_names : sequence of K str
    abstention_threshold : float, optional, keyword-only
        Uncertain when the top probability is below it.

    Returns
    -------
    ProbabilitySummary
        ``species`` and ``probabilities`` best first; ``margin`` top-1 minus top-2 probability;
        ``entropy`` Shannon entropy divided by log(K), in [0, 1] (0: certain, 1: uniform);
        ``uncertain`` None without a threshold.

    Raises
    ------
    ValueError
        Lengths that differ, fewer than 2 classes, negative or non-finite values, a threshold
        outside [0, 1].

    Examples
    --------
    >>> s = summarise_probabilities([0.2, 0.7, 0.1], ["a", "b", "c"], abstention_threshold=0.8)
    >>> s.species, round(s.margin, 3), round(s.entropy, 3), s.uncertain
    (('b', 'a', 'c'), 0.5, 0.73, True)
    """
    probs = np.asarray(probabilities, dtype=np.float64).ravel()
    threshold = _check_threshold(abstention_threshold, "abstention_threshold")
    if probs.size != len(class_names) or probs.size < 2:
        raise ValueError(f"`probabilities` has {probs.size} values for {len(class_names)} "
                         "`class_names`; both need the same length, at least 2.")
    if not np.all(np.isfinite(probs)) or probs.min() < 0:
        raise ValueError(f"`probabilities` must be finite and non-negative; got {probs}.")
    order = np.argsort(-probs, kind="stable")
    ranked = probs[order]
    positive = ranked[ranked > 0]
    entropy = float(-(positive * np.log(positive)).sum() / np.log(probs.size))
    return ProbabilitySummary(species=tuple(str(class_names[i]) for i in order),
                              probabilities=ranked, margin=float(ranked[0] - ranked[1]),
                              entropy=min(max(entropy, 0.0), 1.0),
                              uncertain=None if threshold is None else bool(ranked[0] < threshold))


@dataclass(frozen=True, eq=False)
class Prediction:
    """One image classified (or refused), with the arrays to show.

    Attributes
    ----------
    name : str
    summary : ProbabilitySummary or None
        None when the image could not be segmented.
    segmentable : bool
    message : str
        Why the image was refused ("" when it was classified).
    foreground_fraction : float
        Share of the slice covered by the fossil's silhouette (NaN when refused).
    original : (H, W) ndarray of uint8 or None
        The gray slice (None when the image could not even be read as one).
    silhouette : (H, W) ndarray of bool or None
    model_input : (S, S) ndarray of uint8 or None
        Exactly what the model was given.
    crop_box : tuple of int or None
    """

    name: str
    summary: ProbabilitySummary | None
    segmentable: bool
    message: str
    foreground_fraction: float
    original: np.ndarray | None = None
    silhouette: np.ndarray | None = None
    model_input: np.ndarray | None = None
    crop_box: tuple | None = None

    def table(self) -> pd.DataFrame:
        """One row per species, best first (:data:`RESULT_COLUMNS`); one row when refused."""
        base = {"file": self.name, "foreground_fraction": self.foreground_fraction,
                "segmentable": self.segmentable, "message": self.message}
        if self.summary is None:
            rows = [{**base, "rank": 0, "species": "", "probability": np.nan,
                     "margin": np.nan, "entropy": np.nan, "uncertain": None}]
        else:
            s = self.summary
            rows = [{**base, "rank": k + 1, "species": name, "probability": float(p),
                     "margin": s.margin, "entropy": s.entropy, "uncertain": s.uncertain}
                    for k, (name, p) in enumerate(zip(s.species, s.probabilities))]
        return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def _predict(model, batch: np.ndarray) -> np.ndarray:
    """Probabilities of (N, S, S) uint8 slices, in chunks (an eager call: no tracing)."""
    from keras import ops

    out = [ops.convert_to_numpy(model(batch[k:k + _BATCH, :, :, None].astype(np.float32),
                                      training=False))
           for k in range(0, len(batch), _BATCH)]
    return np.concatenate(out).astype(np.float64)


def predict_images(classifier: Classifier, images: Sequence[np.ndarray], *,
                   names: Sequence[str] | None = None, threshold_offset: float = 0.0,
                   crop_boxes: Sequence | None = None) -> list[Prediction]:
    """Classify images; an image that cannot be segmented is refused with a message.

    Parameters
    ----------
    classifier : Classifier
    images : sequence of ndarray
        2-D images (see :func:`to_gray_slice`).
    names : sequence of str, optional, keyword-only
        One per image (default ``image_0``, ``image_1``, ...).
    threshold_offset : float, keyword-only
        Segmentation sensitivity (see :func:`segment_for_model`).
    crop_boxes : sequence of (row0, col0, row1, col1) or None, optional, keyword-only
        One per image, in the coordinates of its gray slice (``Prediction.original``).

    Returns
    -------
    list of Prediction
        In input order. An image that is not a usable 2-D image (wrong shape, constant, no
        fossil, fossil touching every border) gets ``segmentable=False`` and the reason.

    Raises
    ------
    ValueError
        `names` or `crop_boxes` of another length than `images`, an offset outside [-1, 1], a
        crop box outside its image.
    """
    n = len(images)
    names = [f"image_{k}" for k in range(n)] if names is None else [str(x) for x in names]
    crop_boxes = [None] * n if crop_boxes is None else list(crop_boxes)
    if len(names) != n or len(crop_boxes) != n:
        raise ValueError(f"{n} `images` but {len(names)} `names` and {len(crop_boxes)} "
                         "`crop_boxes`; give one of each per image.")
    if not -1.0 <= float(threshold_offset) <= 1.0:
        raise ValueError(f"`threshold_offset` must be in [-1, 1]; got {threshold_offset!r}.")
    results: list = []
    for name, image, box in zip(names, images, crop_boxes):
        try:
            gray = to_gray_slice(image)
        except (ValueError, TypeError) as error:
            results.append(Prediction(name, None, False, f"not a usable image: {error}", np.nan))
            continue
        try:
            seg = segment_for_model(gray, image_size=classifier.image_size,
                                    threshold_offset=threshold_offset, crop_box=box)
        except segmentation.NoFossilError as error:
            results.append(Prediction(name, None, False, str(error), np.nan, original=gray,
                                      crop_box=box))
            continue
        results.append((name, gray, seg, box))
    pending = [k for k, item in enumerate(results) if isinstance(item, tuple)]
    if pending:
        probs = _predict(classifier.model, np.stack([results[k][2].image for k in pending]))
        for k, row in zip(pending, probs):
            name, gray, seg, box = results[k]
            summary = summarise_probabilities(
                row, classifier.class_names, abstention_threshold=classifier.abstention_threshold)
            results[k] = Prediction(name, summary, True, "", seg.foreground_fraction,
                                    original=gray, silhouette=seg.mask, model_input=seg.image,
                                    crop_box=box)
    return results


def classify(images, model_dir: str | os.PathLike, *, threshold_offset: float = 0.0,
             abstention_threshold: float | None = None) -> pd.DataFrame:
    """Classify image files or arrays with a model folder; one table row per image and species.

    Parameters
    ----------
    images : path-like, ndarray, or a sequence of them
        Image files (PNG, JPEG, 8/16-bit TIFF, single 2-D DICOM) or 2-D arrays.
    model_dir : path-like
        ``outputs/<run>/models/<arch>``.
    threshold_offset : float, keyword-only
        Segmentation sensitivity (see :func:`segment_for_model`).
    abstention_threshold : float, optional, keyword-only
        Flag predictions whose top probability is below it.

    Returns
    -------
    pandas.DataFrame
        :data:`RESULT_COLUMNS`: ``rank`` 1..K per image (0 for a refused image, with the reason
        in ``message``); ``file`` is the path, or ``image_<k>`` for an array.

    Raises
    ------
    FileNotFoundError
        A missing image file or model folder.
    ValueError
        An unreadable or oversized image file (:class:`fossilct.images.ImageError`).

    Examples
    --------
    >>> import tempfile, keras
    >>> from fossilct import models, training
    >>> folder = Path(tempfile.mkdtemp())
    >>> model = models.build_model("small_cnn", n_classes=2, input_size=32)
    >>> _ = training.save_training_outputs(folder, model, {"epoch": [0]}, ["a", "b"], {})
    >>> disc = np.zeros((48, 48), np.uint8); disc[12:36, 14:34] = 220
    >>> table = classify(disc, folder)
    >>> table[["file", "rank", "segmentable"]].values.tolist()
    [['image_0', 1, True], ['image_0', 2, True]]
    """
    if isinstance(images, (str, os.PathLike, np.ndarray)):
        images = [images]
    arrays, names = [], []
    for k, item in enumerate(images):
        if isinstance(item, (str, os.PathLike)):
            arrays.append(image_files.read_image(item).pixels)
            names.append(str(item))
        else:
            arrays.append(np.asarray(item))
            names.append(f"image_{k}")
    classifier = load_classifier(model_dir, abstention_threshold=abstention_threshold)
    predictions = predict_images(classifier, arrays, names=names,
                                 threshold_offset=threshold_offset)
    return pd.concat([p.table() for p in predictions], ignore_index=True)
