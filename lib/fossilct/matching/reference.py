"""The study's matching algorithm, exactly as the study describes it, for comparison.

Every axis-aligned slice of the chosen axes is segmented like the query
(:func:`fossilct.segmentation.segment_slice`: masked, cropped to its silhouette, resized into the
square model input).

Coarse
    Each slice is scored ``0.4 * Dice(masks) + 0.6 * HuSimilarity(masks)``
    (:func:`~fossilct.matching.similarity.hu_similarity`) against the query; the top
    ``REFERENCE_TOP`` (5) slices are kept.
Fine
    Around each kept slice, the slices ``-5 .. +5`` along the same axis are compared with the
    query turned by 0, 30, ..., 330 degrees (``cv2.warpAffine`` about the image centre, black
    border), each pair scored ``0.30 * Dice + 0.25 * (NCC + 1) / 2 + 0.25 * SSIM + 0.20 * ORB``.
    The best pair is the match.

As in the study: no mirror images, no scale search (each image is scaled to its own
silhouette's bounding box), no oblique planes. Unlike the study's code, each slice is segmented
once and reused, and the axes follow :mod:`fossilct.planes` (no axis mix-ups).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fossilct import planes, segmentation
from fossilct.matching import similarity
from fossilct.matching.pose import QueryPose
from fossilct.matching.preprocess import Query, gray_to_square, square_crop, to_square
from fossilct.matching.scoring import alignment_scores, combined_score

__all__ = [
    "REFERENCE_COARSE_WEIGHTS",
    "REFERENCE_FINE_WEIGHTS",
    "REFERENCE_TOP",
    "REFERENCE_SLICE_RADIUS",
    "REFERENCE_ANGLES_DEG",
    "ReferenceResult",
    "reference_search",
]

REFERENCE_COARSE_WEIGHTS = {"dice": 0.4, "hu": 0.6}
"""The study's coarse score: Dice of the masks and Hu-moment similarity."""
REFERENCE_FINE_WEIGHTS = {"dice": 0.30, "ncc": 0.25, "ssim": 0.25, "orb": 0.20}
"""The study's fine score (NCC enters as (NCC + 1) / 2)."""
REFERENCE_TOP = 5
"""Coarse candidates kept."""
REFERENCE_SLICE_RADIUS = 5
"""Slices searched on either side of each coarse candidate."""
REFERENCE_ANGLES_DEG = tuple(range(0, 360, 30))
"""In-plane turns tried."""


@dataclass(frozen=True)
class ReferenceResult:
    """The reference algorithm's best match.

    Attributes
    ----------
    pose : QueryPose
        The query's pose (axis normal, no mirror, scale from the bounding boxes).
    fit : float
        The fine score of the best pair.
    axis : int
        Axis of the matched slice.
    index : int
        Position of the slice along the axis.
    turn_deg : float
        Turn applied to the query.
    """

    pose: QueryPose
    fit: float
    axis: int
    index: int
    turn_deg: float


@dataclass(frozen=True)
class _Slice:
    image: np.ndarray        # (S, S) uint8 model input
    mask: np.ndarray         # (S, S) bool silhouette in the square
    crop: tuple              # region of the slice image shown in the square
    shape: tuple             # shape of the slice image


def _segmented(volume: np.ndarray, axis: int, index: int, size: int) -> _Slice | None:
    normal = planes.axis_normals()[axis]
    offset = index - (volume.shape[axis] - 1) / 2.0
    image = planes.sample_plane(volume, normal, offset)
    try:
        seg = segmentation.segment_slice(image, image_size=size)
    except (segmentation.NoFossilError, ValueError):
        return None
    crop = square_crop(seg.bbox, image.shape)
    mask = to_square(seg.mask.astype(np.float32), crop, size) > 0.5
    return _Slice(seg.image, mask, crop, image.shape)


def _turned(image: np.ndarray, turn_deg: float, interpolation: int) -> np.ndarray:
    size = image.shape[0]
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, float(turn_deg), 1.0)
    return cv2.warpAffine(image, matrix, (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _pose(query: Query, volume_shape, axis: int, index: int, turn_deg: float,
          matched: _Slice) -> QueryPose:
    """Compose gray -> square -> turned square -> slice square -> slice image -> volume."""
    size = query.image.shape[0]
    points = query.centroid + np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    square = gray_to_square(points, query.crop, size)
    centre = (size - 1) / 2.0
    matrix = cv2.getRotationMatrix2D((centre, centre), float(turn_deg), 1.0)
    turned = np.stack([square[:, 1], square[:, 0], np.ones(3)], axis=1) @ matrix.T  # (x, y)
    row0, col0, row1, col1 = matched.crop
    rows, cols = row1 - row0, col1 - col0
    scale = size / max(rows, cols)
    new_rows = min(size, max(1, int(round(rows * scale))))
    new_cols = min(size, max(1, int(round(cols * scale))))
    top, left = (size - new_rows) // 2, (size - new_cols) // 2
    slice_r = row0 + (turned[:, 1] - top + 0.5) * rows / new_rows - 0.5
    slice_c = col0 + (turned[:, 0] - left + 0.5) * cols / new_cols - 0.5
    normal = planes.axis_normals()[axis]
    u, v = planes.plane_basis(normal)
    height, width = matched.shape
    origin = ((np.asarray(volume_shape, dtype=np.float64) - 1.0) / 2.0
              + (index - (volume_shape[axis] - 1) / 2.0) * normal)
    positions = (origin + (slice_r[:, None] - (height - 1) / 2.0) * u
                 + (slice_c[:, None] - (width - 1) / 2.0) * v)
    return QueryPose(normal, positions[0], positions[1] - positions[0], positions[2] - positions[0])


def reference_search(query: Query, volume: np.ndarray, *, axes=(0, 1, 2)) -> ReferenceResult:
    """Match a query to a volume with the study's two-stage algorithm (module docstring).

    Parameters
    ----------
    query : Query
        From :func:`fossilct.matching.prepare_query`; its square image size is used for the
        slices too.
    volume : (P, M, N) ndarray of float32
        Intensity-normalised volume.
    axes : sequence of int, keyword-only
        Axes whose slices are searched (default all three).

    Returns
    -------
    ReferenceResult

    Raises
    ------
    ValueError
        If `axes` is empty or names an axis outside 0, 1, 2.
    MatchingError
        If no slice of the volume shows a fossil.
    """
    from fossilct.matching.errors import MatchingError

    axes = tuple(int(a) for a in axes)
    if not axes or any(a not in (0, 1, 2) for a in axes):
        raise ValueError(f"`axes` must be a non-empty subset of (0, 1, 2); got {axes}.")
    size = query.image.shape[0]
    cache: dict[tuple[int, int], _Slice | None] = {}

    def get(axis: int, index: int) -> _Slice | None:
        if (axis, index) not in cache:
            cache[(axis, index)] = _segmented(volume, axis, index, size)
        return cache[(axis, index)]

    query_mask = query.model_mask  # the study compares the slice segmentation's silhouettes
    coarse = []
    for axis in axes:
        for index in range(volume.shape[axis]):
            section = get(axis, index)
            if section is None:
                continue
            score = (REFERENCE_COARSE_WEIGHTS["dice"] * similarity.dice(query_mask, section.mask)
                     + REFERENCE_COARSE_WEIGHTS["hu"]
                     * similarity.hu_similarity(query_mask, section.mask))
            coarse.append((score, axis, index))
    if not coarse:
        raise MatchingError("`volume` has no slice along the searched axes that shows a "
                            "fossil; check its fossil segmentation.")
    coarse.sort(key=lambda item: -item[0])
    turned = [(turn, _turned(query.image, turn, cv2.INTER_LINEAR),
               _turned(query_mask.astype(np.uint8), turn, cv2.INTER_NEAREST).astype(bool))
              for turn in REFERENCE_ANGLES_DEG]
    best = (-np.inf, 0, 0, 0.0)
    seen = set()
    for _, axis, centre in coarse[:REFERENCE_TOP]:
        for index in range(centre - REFERENCE_SLICE_RADIUS, centre + REFERENCE_SLICE_RADIUS + 1):
            if not 0 <= index < volume.shape[axis] or (axis, index) in seen:
                continue
            seen.add((axis, index))
            section = get(axis, index)
            if section is None:
                continue
            for turn, image, mask in turned:
                fit = combined_score(alignment_scores(image, mask, section.image, section.mask),
                                     REFERENCE_FINE_WEIGHTS)
                if fit > best[0]:
                    best = (fit, axis, index, float(turn))
    fit, axis, index, turn = best
    pose = _pose(query, volume.shape, axis, index, turn, get(axis, index))
    return ReferenceResult(pose, float(fit), axis, index, turn)
