"""Scores of a match: the matched section in the query's frame, compared metric by metric.

Both methods report the same scores, computed the same way, so they can be compared: the
volume is rendered where the posed query's pixels lie (:func:`section_in_query_frame`), its
intensities are mapped onto the query's by a least-squares gain (>= 0) and offset inside the
query's silhouette (the two were normalised independently), and its silhouette is built by the
query's own rule from the query's own threshold (:mod:`fossilct.matching.silhouette`). Then
(:func:`match_scores`):

- Dice of the two silhouettes;
- NCC of the query and the rendered section inside the query's silhouette dilated by
  ``NCC_DILATION`` of the image side (the render is not cut by its own silhouette, whose
  segmentation errors would otherwise count twice);
- SSIM of the query's model input and the rendered section masked by the query's silhouette;
- ORB inlier score of the two masked model inputs.

The combined score is ``sum_k weights[k] * s_k`` with ``s_ncc = (NCC + 1) / 2`` (NCC lies in
[-1, 1], the others in [0, 1]). ``DEFAULT_WEIGHTS`` is the library's one default: every public
function that takes ``weights`` reads None as it. The reference method's internal fine score
keeps the study's weights (``fossilct.matching.reference``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import cv2
import numpy as np

from fossilct import segmentation
from fossilct.matching import similarity
from fossilct.matching.pose import QueryPose, sample_at_pose
from fossilct.matching.preprocess import Query, to_square
from fossilct.matching.silhouette import outline_silhouette, shell_mask

__all__ = ["DEFAULT_WEIGHTS", "METRICS", "RenderedSection", "section_in_query_frame",
           "match_scores", "alignment_scores", "check_weights", "combined_score"]

METRICS = ("dice", "ncc", "ssim", "orb")
"""The per-metric scores of every match."""
DEFAULT_WEIGHTS = MappingProxyType({"dice": 0.0, "ncc": 0.6, "ssim": 0.4, "orb": 0.0})
"""Default weights of the combined score. On sections of known origin searched in a library of
24 synthetic volumes, ranking by NCC and SSIM found the right specimen most often (92 % top-1);
giving Dice or ORB any weight lowered that (Dice suffers from segmenting two independently
normalised images, ORB from the few keypoints of small sections), so they are reported but not
weighted by default."""
NCC_DILATION = 0.03
"""Dilation of the query's silhouette for the NCC region, as a fraction of the image side."""


@dataclass(frozen=True, eq=False)
class RenderedSection:
    """A volume's section in the frame of a query's square model input.

    Attributes
    ----------
    image : (S, S) ndarray of uint8
        Masked by its own silhouette, black background (what a model input of it looks like).
    mask : (S, S) ndarray of bool
        Its silhouette (all False when the pose shows no fossil).
    values : (S, S) ndarray of float32
        The section, intensities mapped onto the query's, in [0, 1], not masked.
    """

    image: np.ndarray
    mask: np.ndarray
    values: np.ndarray


def _gray_in_square(query: Query) -> np.ndarray:
    """The query's gray image (unmasked) in the frame of its square model input."""
    return query.memo("gray_square", lambda: to_square(query.gray, query.crop,
                                                       query.image.shape[0]))


def section_in_query_frame(query: Query, volume: np.ndarray, pose: QueryPose
                           ) -> RenderedSection:
    """The volume's section under a pose, as the query's square model input shows it.

    Its silhouette follows the query's rule (:mod:`fossilct.matching.silhouette`): the filled
    outer outline of the pixels above the query's threshold, once the section's intensities are
    mapped onto the query's.

    Parameters
    ----------
    query : Query
    volume : (P, M, N) ndarray of float32
        The volume the pose refers to.
    pose : QueryPose

    Returns
    -------
    RenderedSection
    """
    valid = query.square_valid()
    points = query.square_to_gray()
    values = sample_at_pose(volume, pose, points, query.centroid)
    values[~valid] = 0.0
    inside = query.mask & valid
    target = _gray_in_square(query)[inside].astype(np.float64)
    gain, offset = 1.0, 0.0
    if inside.sum() >= 2 and np.ptp(values[inside]) > 0:
        gain, offset = np.polyfit(values[inside].astype(np.float64), target, 1)
        if gain < 0:  # anti-correlated: no intensity mapping makes this section look alike
            gain, offset = 0.0, float(target.mean())
    fitted = np.clip(gain * values + offset, 0.0, 1.0).astype(np.float32)
    fitted[~valid] = 0.0
    # the segmentation's blur, in square pixels
    row0, col0, row1, col1 = query.crop
    blur = segmentation.DEFAULT_BLUR_SIGMA * query.image.shape[0] / max(row1 - row0, col1 - col0)
    mask = outline_silhouette(shell_mask(fitted, query.threshold, blur_sigma=blur) & valid)
    return RenderedSection(segmentation.to_uint8(fitted) * mask, mask, fitted)


def match_scores(query: Query, section: RenderedSection) -> dict[str, float]:
    """Dice, NCC, SSIM and ORB of a rendered section against the query (module docstring).

    Parameters
    ----------
    query : Query
    section : RenderedSection
        From :func:`section_in_query_frame`.

    Returns
    -------
    dict
        ``{"dice", "ncc", "ssim", "orb"}`` as floats.
    """
    size = query.image.shape[0]
    radius = max(1, int(round(NCC_DILATION * size)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    region = cv2.dilate(query.mask.astype(np.uint8), disc).astype(bool) & query.square_valid()
    query_values = query.image.astype(np.float64) / 255.0
    masked = segmentation.to_uint8(section.values) * query.mask
    return {"dice": similarity.dice(query.mask, section.mask),
            "ncc": similarity.ncc(query_values[region][None], section.values[region][None]),
            "ssim": similarity.ssim(query.image, masked, data_range=255.0),
            "orb": similarity.orb_score(query.image, section.image)}


def alignment_scores(query_image: np.ndarray, query_mask: np.ndarray, image: np.ndarray,
                     mask: np.ndarray) -> dict[str, float]:
    """Dice of the silhouettes, NCC, SSIM and ORB score of two aligned model inputs.

    The study's fine-stage comparison of two segmented, masked square images (used by the
    reference method); :func:`match_scores` scores matches.

    Parameters
    ----------
    query_image, image : (S, S) ndarray of uint8
    query_mask, mask : (S, S) ndarray of bool

    Returns
    -------
    dict
        ``{"dice", "ncc", "ssim", "orb"}`` as floats.

    Examples
    --------
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 10:20] = 200
    >>> scores = alignment_scores(image, image > 0, image, image > 0)
    >>> scores["dice"], scores["ncc"], scores["ssim"]
    (1.0, 1.0, 1.0)
    """
    return {"dice": similarity.dice(query_mask, mask),
            "ncc": similarity.ncc(query_image, image),
            "ssim": similarity.ssim(query_image, image, data_range=255.0),
            "orb": similarity.orb_score(query_image, image)}


def check_weights(weights: Mapping[str, float] | None) -> Mapping[str, float]:
    """Weights of the combined score, validated; None gives ``DEFAULT_WEIGHTS``.

    Parameters
    ----------
    weights : mapping of str to float, optional
        Non-negative weights of metrics in ``METRICS``.

    Returns
    -------
    mapping of str to float

    Raises
    ------
    TypeError
        If `weights` is not a mapping.
    ValueError
        A weight for an unknown metric, or a weight that is negative or not finite.

    Examples
    --------
    >>> check_weights(None) == DEFAULT_WEIGHTS, check_weights({"ncc": 1.0})
    (True, {'ncc': 1.0})
    """
    if weights is None:
        return DEFAULT_WEIGHTS
    if not isinstance(weights, Mapping):
        raise TypeError(f"`weights` must be a mapping of metric to weight, or None for the "
                        f"library default; got {type(weights).__name__}.")
    unknown = sorted(set(weights) - set(METRICS))
    if unknown:
        raise ValueError(f"`weights` names unknown metrics {unknown}; use {list(METRICS)}.")
    bad = {k: w for k, w in weights.items() if not (np.isfinite(float(w)) and float(w) >= 0)}
    if bad:
        raise ValueError(f"`weights` must be finite and >= 0; got {bad}.")
    return {k: float(w) for k, w in weights.items()}


def combined_score(scores: Mapping[str, float], weights: Mapping[str, float] | None = None
                   ) -> float:
    """Weighted sum of the per-metric scores, NCC mapped to [0, 1] as ``(NCC + 1) / 2``.

    Parameters
    ----------
    scores : mapping
        At least the metrics named in `weights`.
    weights : mapping of str to float, optional
        Non-negative weights; None: ``DEFAULT_WEIGHTS``.

    Returns
    -------
    float

    Raises
    ------
    ValueError, TypeError
        As :func:`check_weights`, or a weighted metric missing from `scores`.

    Examples
    --------
    >>> round(combined_score({"dice": 1.0, "ncc": 1.0, "ssim": 1.0, "orb": 1.0}), 12)
    1.0
    >>> combined_score({"dice": 0.5, "ncc": -1.0}, {"dice": 1.0, "ncc": 1.0})
    0.5
    """
    weights = check_weights(weights)
    mapped = dict(scores)
    if "ncc" in mapped:
        mapped["ncc"] = (float(mapped["ncc"]) + 1.0) / 2.0
    return similarity.combine_scores(mapped, weights)
