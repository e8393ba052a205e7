"""Similarity of two aligned 2-D images: Dice, NCC, SSIM, Hu-moment similarity, ORB inlier score.

Every function is pure, takes two images of the same shape (``(M, N)``, any real dtype) and
returns a Python float; higher means more similar. They are the per-metric scores of a
:class:`~fossilct.matching.Match` and the terms of the study's reference score (its coarse
and fine slice-to-volume matching). Each agrees with a reference library within floating-point
tolerance: :func:`ssim` with scikit-image's ``structural_similarity`` (its default 7x7 uniform
window, sample covariance), :func:`ncc` with OpenCV's ``matchTemplate(..., TM_CCOEFF_NORMED)`` on
same-size images and :func:`hu_distance` with OpenCV's ``matchShapes(..., CONTOURS_MATCH_I2)``.
"""

from __future__ import annotations

from typing import Mapping

import cv2
import numpy as np

from fossilct.matching.descriptors import hu_moments

__all__ = [
    "dice",
    "ncc",
    "ssim",
    "hu_distance",
    "hu_similarity",
    "orb_score",
    "combine_scores",
]

SSIM_WIN_SIZE = 7
"""Side of SSIM's uniform window (scikit-image's default)."""
SSIM_K1, SSIM_K2 = 0.01, 0.03
"""SSIM's stabilising constants (Wang et al. 2004; scikit-image's defaults)."""
HU_EPS = 1e-5
"""Hu invariants smaller than this in magnitude are skipped, as OpenCV's ``matchShapes`` does."""


def _check_pair(image_a: np.ndarray, image_b: np.ndarray, names: tuple[str, str]) -> tuple:
    a, b = np.asarray(image_a), np.asarray(image_b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"`{names[0]}` and `{names[1]}` must be 2-D (row, col); got shapes "
                         f"{a.shape} and {b.shape}. Convert colour images to gray first.")
    if a.shape != b.shape:
        raise ValueError(f"`{names[0]}` and `{names[1]}` must have the same shape; got {a.shape} "
                         f"and {b.shape}. Resample one onto the other's grid first.")
    for name, arr in zip(names, (a, b)):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"`{name}` must hold numbers; got dtype {arr.dtype}.")
    return a, b


def dice(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Dice overlap 2|A∩B| / (|A| + |B|) of two masks.

    Parameters
    ----------
    mask_a, mask_b : (M, N) ndarray of bool (or numbers: nonzero = inside)

    Returns
    -------
    float
        In [0, 1]; 1.0 when both masks are empty (two empty masks agree everywhere).

    Raises
    ------
    ValueError
        If the masks are not 2-D or differ in shape.

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> dice(a, b)
    0.5
    """
    a, b = _check_pair(mask_a, mask_b, ("mask_a", "mask_b"))
    a, b = a.astype(bool), b.astype(bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def ncc(image_a: np.ndarray, image_b: np.ndarray) -> float:
    """Zero-mean normalised cross-correlation of two images, in [-1, 1].

    Invariant to a linear change of intensity (gain and offset) of either image.

    Parameters
    ----------
    image_a, image_b : (M, N) ndarray of numbers

    Returns
    -------
    float
        0.0 when either image is constant (the correlation is undefined there).

    Raises
    ------
    ValueError
        If the images are not 2-D or differ in shape.

    Examples
    --------
    >>> a = np.arange(16.0).reshape(4, 4)
    >>> round(ncc(a, 3 * a + 7), 6), round(ncc(a, -a), 6)
    (1.0, -1.0)
    """
    a, b = _check_pair(image_a, image_b, ("image_a", "image_b"))
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    denom = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return 0.0 if denom <= 0 else float(np.clip(np.sum(a * b) / denom, -1.0, 1.0))


def ssim(image_a: np.ndarray, image_b: np.ndarray, *, data_range: float | None = None) -> float:
    """Mean structural similarity (Wang et al. 2004) of two gray images.

    Same definition as scikit-image's ``structural_similarity`` with its defaults: a
    ``SSIM_WIN_SIZE`` x ``SSIM_WIN_SIZE`` uniform window, sample covariance, constants
    ``SSIM_K1``, ``SSIM_K2``, mean over the pixels at least half a window from the border.
    Implemented with OpenCV box filters, several times faster.

    Parameters
    ----------
    image_a, image_b : (M, N) ndarray of numbers, M, N >= 7
    data_range : float, optional
        Intensity range of the images; defaults to 255 for uint8 images and to the joint
        max - min of both images otherwise (1.0 if both are constant).

    Returns
    -------
    float
        In [-1, 1]; 1.0 for identical images.

    Raises
    ------
    ValueError
        If the images are not 2-D, differ in shape, are smaller than the window, or
        `data_range` is not positive.

    Examples
    --------
    >>> a = np.tile(np.arange(8.0), (8, 1))
    >>> ssim(a, a)
    1.0
    """
    a, b = _check_pair(image_a, image_b, ("image_a", "image_b"))
    if min(a.shape) < SSIM_WIN_SIZE:
        raise ValueError(f"`image_a` and `image_b` must be at least {SSIM_WIN_SIZE} px on each "
                         f"side for SSIM; got shape {a.shape}. Upsample the images first.")
    if data_range is None:
        if a.dtype == np.uint8 and b.dtype == np.uint8:
            data_range = 255.0
        else:
            data_range = float(max(a.max(), b.max()) - min(a.min(), b.min())) or 1.0
    if not data_range > 0:
        raise ValueError(f"`data_range` must be positive; got {data_range}.")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    win, n = (SSIM_WIN_SIZE, SSIM_WIN_SIZE), SSIM_WIN_SIZE ** 2

    def mean(x):
        return cv2.blur(x, win, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = mean(a), mean(b)
    cov_norm = n / (n - 1.0)
    var_a = cov_norm * (mean(a * a) - mu_a * mu_a)
    var_b = cov_norm * (mean(b * b) - mu_b * mu_b)
    cov = cov_norm * (mean(a * b) - mu_a * mu_b)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1)
                                                     * (var_a + var_b + c2))
    pad = (SSIM_WIN_SIZE - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def hu_distance(image_a: np.ndarray, image_b: np.ndarray) -> float:
    """Distance between the log-scaled Hu invariants of two images (OpenCV's I2 measure).

    ``sum_i |m_a,i - m_b,i|`` with ``m = sign(h) * log10|h|`` over the seven Hu invariants ``h``
    of each image's raster moments, skipping invariants below ``HU_EPS`` in either image, as
    ``cv2.matchShapes(a, b, cv2.CONTOURS_MATCH_I2, 0)`` does.

    Parameters
    ----------
    image_a, image_b : (M, N) ndarray of numbers (masks or gray images)

    Returns
    -------
    float
        >= 0; 0.0 for shapes equal up to translation, scale, rotation (and, except for the
        seventh invariant's sign, reflection).

    Raises
    ------
    ValueError
        If the images are not 2-D or differ in shape.

    Examples
    --------
    >>> a = np.zeros((9, 9)); a[2:7, 3:6] = 1
    >>> hu_distance(a, a.T)
    0.0
    """
    a, b = _check_pair(image_a, image_b, ("image_a", "image_b"))
    ha, hb = hu_moments(a), hu_moments(b)
    keep = (np.abs(ha) > HU_EPS) & (np.abs(hb) > HU_EPS)
    ma = np.sign(ha[keep]) * np.log10(np.abs(ha[keep]))
    mb = np.sign(hb[keep]) * np.log10(np.abs(hb[keep]))
    return float(np.abs(ma - mb).sum())


def hu_similarity(image_a: np.ndarray, image_b: np.ndarray) -> float:
    """Hu-moment similarity ``1 / (1 + hu_distance(a, b))``, in (0, 1].

    The "HuSimilarity" term of the study's coarse score.

    Examples
    --------
    >>> a = np.zeros((9, 9)); a[2:7, 3:6] = 1
    >>> hu_similarity(a, a)
    1.0
    """
    return 1.0 / (1.0 + hu_distance(image_a, image_b))


ORB_N_FEATURES = 500
"""Keypoints ORB keeps per image."""
ORB_RATIO = 0.75
"""Lowe's ratio test: a match is kept when its Hamming distance is below this fraction of the
second-best match's."""
ORB_RANSAC_PX = 3.0
"""Reprojection tolerance (pixels) of the RANSAC similarity fit that counts inliers."""
ORB_MIN_MATCHES = 4
"""Fewer ratio-test matches than this give a score of 0 (no transform can be fitted)."""


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float64)
    low, high = float(image.min()), float(image.max())
    if high <= low:
        return np.zeros(image.shape, np.uint8)
    return np.round(255.0 * (image - low) / (high - low)).astype(np.uint8)


def orb_score(image_a: np.ndarray, image_b: np.ndarray, *, n_features: int = ORB_N_FEATURES,
              ratio: float = ORB_RATIO, ransac_px: float = ORB_RANSAC_PX,
              min_matches: int = ORB_MIN_MATCHES) -> float:
    """ORB inlier score: share of keypoints consistent with one similarity transform.

    ORB keypoints (FAST + rotated BRIEF) are detected in both images, matched by Hamming
    distance with Lowe's ratio test (keeping the best match per keypoint of `image_b`), and a
    rotation + scale + translation is fitted by RANSAC.
    The score is ``n_inliers / min(n_keypoints_a, n_keypoints_b)``. Images that are not uint8
    are min-max scaled to 0..255 first.

    Parameters
    ----------
    image_a, image_b : (M, N) ndarray of numbers
    n_features : int
        Keypoints kept per image (default ``ORB_N_FEATURES``).
    ratio : float
        Ratio-test threshold in (0, 1] (default ``ORB_RATIO``).
    ransac_px : float
        RANSAC inlier tolerance in pixels (default ``ORB_RANSAC_PX``).
    min_matches : int
        Fewer matches give 0.0 (default ``ORB_MIN_MATCHES``).

    Returns
    -------
    float
        In [0, 1]; 0.0 when either image has too few keypoints (e.g. a flat image).

    Raises
    ------
    ValueError
        If the images are not 2-D or differ in shape, or an option is out of range.

    Examples
    --------
    >>> orb_score(np.zeros((32, 32)), np.zeros((32, 32)))
    0.0
    """
    a, b = _check_pair(image_a, image_b, ("image_a", "image_b"))
    if n_features < 1 or not 0 < ratio <= 1 or ransac_px <= 0 or min_matches < 3:
        raise ValueError(f"ORB options out of range: n_features={n_features} (>= 1), "
                         f"ratio={ratio} (in (0, 1]), ransac_px={ransac_px} (> 0), "
                         f"min_matches={min_matches} (>= 3).")
    # Patch size 31 is ORB's default; small images need a smaller border to yield keypoints.
    edge = int(max(5, min(31, min(a.shape) // 4)))
    orb = cv2.ORB_create(nfeatures=int(n_features), edgeThreshold=edge, patchSize=edge)
    kp_a, des_a = orb.detectAndCompute(_to_uint8(a), None)
    kp_b, des_b = orb.detectAndCompute(_to_uint8(b), None)
    if des_a is None or des_b is None or len(kp_a) < min_matches or len(kp_b) < min_matches:
        return 0.0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(des_a, des_b, k=2)
    best_per_target: dict[int, cv2.DMatch] = {}
    for pair in pairs:
        if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance:
            match = pair[0]
            known = best_per_target.get(match.trainIdx)
            if known is None or match.distance < known.distance:
                best_per_target[match.trainIdx] = match
    # one match per keypoint of each image, so the inliers never outnumber either image's keypoints
    good = list(best_per_target.values())
    if len(good) < min_matches:
        return 0.0
    src = np.float32([kp_a[m.queryIdx].pt for m in good])
    dst = np.float32([kp_b[m.trainIdx].pt for m in good])
    _, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                             ransacReprojThreshold=float(ransac_px))
    n_inliers = 0 if inliers is None else int(inliers.sum())
    return n_inliers / min(len(kp_a), len(kp_b))


def combine_scores(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Weighted sum of per-metric scores: ``sum_k weights[k] * scores[k]``.

    Parameters
    ----------
    scores : mapping of str to float
        Per-metric scores, e.g. ``{"dice": 0.9, "ncc": 0.8}``.
    weights : mapping of str to float
        Weight per metric; every key must be in `scores`. Weights need not sum to 1.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If a weighted metric is missing from `scores` or a weight is negative.

    Examples
    --------
    >>> combine_scores({"dice": 0.5, "ncc": 1.0}, {"dice": 0.4, "ncc": 0.6})
    0.8
    """
    missing = sorted(set(weights) - set(scores))
    if missing:
        raise ValueError(f"`weights` names metrics {missing} that `scores` lacks (scores has "
                         f"{sorted(scores)}). Drop those weights or compute the metrics.")
    negative = {k: w for k, w in weights.items() if w < 0}
    if negative:
        raise ValueError(f"`weights` must be >= 0; got {negative}.")
    return float(sum(float(w) * float(scores[k]) for k, w in weights.items()))
