"""Query preparation: any 2-D section becomes a segmented, measured :class:`Query`.

A query goes through exactly the preprocessing of the training slices and of the dashboard's
uploads: :func:`fossilct.segmentation.prepare_external_image` (gray, [0, 1], fossil bright on
black, whatever the input's colour, dtype or background) and
:func:`fossilct.segmentation.segment_slice` (threshold, masked and cropped model input). The
silhouette that matching compares is the filled outer outline of the query's shell (its pixels
above the segmentation's threshold; :func:`fossilct.matching.silhouette.outline_silhouette`),
the rule every matched section's silhouette follows too. On top,
the query is checked for a fossil at all, because an image of noise or an empty field segments
into *something*: the silhouette must stand out of the noise (contrast-to-noise ratio at least
``min_contrast``: the difference of the mean intensities inside and outside the silhouette over
the noise level, estimated robustly from differences of neighbouring pixels). A silhouette that
touches the image's border is a *partial view* (part of the section lies outside the image, or
outside the scan it was cut from): it is matched on its visible part and flagged
(``Query.partial``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from fossilct import images, segmentation
from fossilct.matching.errors import MatchingError
from fossilct.matching.silhouette import outline_silhouette, shell_mask

__all__ = [
    "MATCH_IMAGE_SIZE",
    "Query",
    "prepare_query",
    "read_query_image",
    "to_square",
    "square_crop",
    "gray_to_square",
]

MATCH_IMAGE_SIZE = 128
"""Side of the square images in which query and match are compared (and shown)."""


@dataclass(frozen=True, eq=False)
class Query:
    """A prepared query section.

    Attributes
    ----------
    gray : (H, W) ndarray of float32
        The input as a CT-like slice: [0, 1], fossil bright on black.
    silhouette : (H, W) ndarray of bool
        The fossil's silhouette in `gray`: the filled outer outline of its shell
        (:mod:`fossilct.matching.silhouette`).
    image : (S, S) ndarray of uint8
        The masked, cropped, padded section (:func:`fossilct.segmentation.segment_slice`).
    mask : (S, S) ndarray of bool
        The silhouette in the frame of `image`.
    crop : tuple of int
        ``(row0, col0, row1, col1)`` region of `gray` that `image` shows.
    pixel_size_um : float or None
        Pixel edge of `gray` in micrometres, if known.
    centroid : (2,) ndarray of float64
        Silhouette centroid in `gray`, (row, col).
    radius : float
        Equivalent radius ``sqrt(area / pi)`` of the silhouette, pixels of `gray`.
    source_shape : tuple of int
        Shape of the image as given.
    partial : bool
        The silhouette touches the border of `gray`: part of the section is not visible.
    threshold : float
        The segmentation's threshold in `gray`'s units: shell pixels lie above it.
    model_mask : (S, S) ndarray of bool
        The slice segmentation's own silhouette in the frame of `image` (what the model input
        shows; the study's reference method compares these).
    """

    gray: np.ndarray
    silhouette: np.ndarray
    image: np.ndarray
    mask: np.ndarray
    crop: tuple[int, int, int, int]
    pixel_size_um: float | None
    centroid: np.ndarray
    radius: float
    source_shape: tuple[int, ...]
    partial: bool = False
    threshold: float = 0.5
    model_mask: np.ndarray | None = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, init=False, repr=False)

    def memo(self, key, make: Callable):
        """The value stored under `key`, made by ``make()`` on first use.

        Derived data that a search needs for every candidate and volume (the query's
        lattices and signatures) is computed once per query.
        """
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def square_to_gray(self) -> np.ndarray:
        """(S, S, 2) array: the (row, col) position in `gray` of each pixel of `image`."""
        size = self.image.shape[0]
        row0, col0, row1, col1 = self.crop
        rows, cols = row1 - row0, col1 - col0
        new_rows, new_cols, top, left = _square_layout(rows, cols, size)
        r = row0 + (np.arange(size) - top + 0.5) * rows / new_rows - 0.5
        c = col0 + (np.arange(size) - left + 0.5) * cols / new_cols - 0.5
        return np.stack(np.meshgrid(r, c, indexing="ij"), axis=-1)

    def square_valid(self) -> np.ndarray:
        """(S, S) bool: the pixels of `image` that show the crop (False on the padding)."""
        size = self.image.shape[0]
        row0, col0, row1, col1 = self.crop
        new_rows, new_cols, top, left = _square_layout(row1 - row0, col1 - col0, size)
        valid = np.zeros((size, size), bool)
        valid[top:top + new_rows, left:left + new_cols] = True
        return valid


def _square_layout(rows: int, cols: int, size: int) -> tuple[int, int, int, int]:
    """Resized size and placement of a crop in the square, as in fossilct.segmentation."""
    scale = size / max(rows, cols)
    new_rows = min(size, max(1, int(round(rows * scale))))
    new_cols = min(size, max(1, int(round(cols * scale))))
    return new_rows, new_cols, (size - new_rows) // 2, (size - new_cols) // 2


def square_crop(bbox: tuple[int, int, int, int], shape: tuple[int, int], *,
                margin_fraction: float = segmentation.DEFAULT_MARGIN_FRACTION
                ) -> tuple[int, int, int, int]:
    """The region that :func:`fossilct.segmentation.segment_slice` crops around a bounding box.

    Parameters
    ----------
    bbox : (row0, col0, row1, col1)
        Half-open bounding box of the silhouette.
    shape : (H, W)
        Shape of the segmented image.
    margin_fraction : float, keyword-only
        As in segmentation (default 0.05).

    Returns
    -------
    (row0, col0, row1, col1)
        The bounding box enlarged by the margin, clipped to the image.

    Examples
    --------
    >>> square_crop((10, 10, 30, 50), (100, 100), margin_fraction=0.05)
    (8, 8, 32, 52)
    """
    row0, col0, row1, col1 = bbox
    margin = int(round(float(margin_fraction) * max(row1 - row0, col1 - col0)))
    return (max(0, row0 - margin), max(0, col0 - margin), min(shape[0], row1 + margin),
            min(shape[1], col1 + margin))


def gray_to_square(points: np.ndarray, crop: tuple[int, int, int, int], size: int
                   ) -> np.ndarray:
    """Map (row, col) positions in a segmented image to its square model input.

    The inverse of ``Query.square_to_gray``: ``crop`` is the cropped region and ``size`` the
    square's side.

    Examples
    --------
    >>> gray_to_square(np.array([[8.0, 8.0]]), (8, 8, 32, 52), 22).round(3).tolist()
    [[4.75, -0.25]]
    """
    row0, col0, row1, col1 = crop
    rows, cols = row1 - row0, col1 - col0
    new_rows, new_cols, top, left = _square_layout(rows, cols, size)
    points = np.asarray(points, dtype=np.float64)
    r = (points[..., 0] - row0 + 0.5) * new_rows / rows - 0.5 + top
    c = (points[..., 1] - col0 + 0.5) * new_cols / cols - 0.5 + left
    return np.stack([r, c], axis=-1)


def to_square(array: np.ndarray, crop: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Crop `array` and resize it, aspect ratio kept and padded with 0, into a square.

    The crop-and-resize of :func:`fossilct.segmentation.segment_slice`, so that any image in a
    query's frame (its mask, a rendered match) lands exactly on the query's model input.

    Parameters
    ----------
    array : (H, W) ndarray of uint8 or float32
    crop : (row0, col0, row1, col1)
        Half-open region of `array`.
    size : int
        Side of the square.

    Returns
    -------
    (size, size) ndarray of `array`'s dtype

    Examples
    --------
    >>> to_square(np.ones((4, 8), np.float32), (0, 0, 4, 8), 4)[:, 0].tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    row0, col0, row1, col1 = crop
    part = array[row0:row1, col0:col1]
    new_rows, new_cols, top, left = _square_layout(part.shape[0], part.shape[1], size)
    interp = cv2.INTER_AREA if size < max(part.shape) else cv2.INTER_LINEAR
    resized = cv2.resize(part, (new_cols, new_rows), interpolation=interp)
    canvas = np.zeros((size, size), array.dtype)
    canvas[top:top + new_rows, left:left + new_cols] = resized
    return canvas


def prepare_query(image: np.ndarray, *, pixel_size_um: float | None = None,
                  image_size: int = MATCH_IMAGE_SIZE, background: str = "auto",
                  threshold_offset: float = 0.0,
                  min_contrast: float = segmentation.MIN_CONTRAST,
                  margin_fraction: float = segmentation.DEFAULT_MARGIN_FRACTION) -> Query:
    """Prepare a 2-D section for matching: normalise, check, segment, measure.

    Parameters
    ----------
    image : (H, W), (H, W, 3) or (H, W, 4) ndarray
        Gray, RGB or RGBA section of any real dtype, black or white background, both sides
        >= 16 pixels: a CT slice or a photographed thin section.
    pixel_size_um : float, optional, keyword-only
        Pixel edge of `image` in micrometres; when given the search uses the physical scale,
        otherwise it normalises by the fossil's extent.
    image_size : int, keyword-only
        Side of the compared images (default ``MATCH_IMAGE_SIZE``).
    background : {"auto", "black", "white"}, keyword-only
        Background colour (see :func:`fossilct.segmentation.prepare_external_image`).
    threshold_offset : float, keyword-only
        Segmentation sensitivity (see :func:`fossilct.segmentation.segment_slice`).
    min_contrast : float, keyword-only
        Smallest contrast-to-noise ratio of the silhouette (default
        ``fossilct.segmentation.MIN_CONTRAST``); lower it only for very faint sections.
    margin_fraction : float, keyword-only
        Margin of the crop around the fossil, as in segmentation (default 0.05).

    Returns
    -------
    Query

    Raises
    ------
    TypeError
        A non-numeric image.
    MatchingError
        A blank (constant) image, an image under 16 pixels, an image with no fossil, a
        non-positive pixel size or an image of the wrong dimensions.

    Examples
    --------
    >>> section = np.zeros((40, 40), np.float32)
    >>> section[10:30, 12:26] = 0.9; section[15:25, 16:22] = 0.3
    >>> query = prepare_query(section, image_size=32)
    >>> query.image.shape, query.centroid.tolist(), round(query.radius, 2)
    ((32, 32), [19.5, 18.5], 9.44)
    """
    image = np.asarray(image)
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool) \
            or np.iscomplexobj(image):
        raise TypeError(f"`query` must be a numeric image; got dtype {image.dtype}.")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise MatchingError(f"`query` must be a 2-D gray, RGB or RGBA image; got shape "
                            f"{image.shape}. Pass one section, not a volume or a stack.")
    if min(image.shape[:2]) < segmentation.MIN_IMAGE_SIDE:
        raise MatchingError(f"`query` is too small: {image.shape[0]} x {image.shape[1]} pixels; "
                            f"both sides must be at least {segmentation.MIN_IMAGE_SIDE}. Pass "
                            f"a larger crop or a higher-resolution image.")
    if pixel_size_um is not None and not float(pixel_size_um) > 0:
        raise MatchingError(f"`pixel_size_um` must be positive or None; got {pixel_size_um}.")
    if not np.all(np.isfinite(image)):
        raise MatchingError(f"`query` holds {int(np.sum(~np.isfinite(image)))} NaN/inf values; "
                            f"replace them before matching.")
    if np.ptp(image) == 0:
        raise MatchingError(f"`query` is blank: every pixel is {image.flat[0]}. There is no "
                            f"section to match; check the file or the crop.")
    gray = segmentation.prepare_external_image(image, background=background)
    if pixel_size_um is not None:
        pixel_size_um = float(pixel_size_um) * image.shape[0] / gray.shape[0]
    try:
        seg = segmentation.segment_slice(gray, image_size=image_size,
                                         threshold_offset=threshold_offset,
                                         margin_fraction=margin_fraction)
    except segmentation.NoFossilError as error:
        raise MatchingError(f"`query` shows no fossil: {error}") from error
    silhouette = outline_silhouette(shell_mask(gray, seg.threshold))
    if not silhouette.any():
        silhouette = seg.mask
    contrast = segmentation.contrast_to_noise(gray, silhouette)
    if contrast < float(min_contrast):
        raise MatchingError(f"`query` shows no fossil: the segmented object does not stand out "
                            f"of the noise (contrast-to-noise {contrast:.1f} < {min_contrast}); "
                            f"the image looks like noise or an empty field. Check the image, or "
                            f"lower `min_contrast` for a very faint section.")
    partial = bool(silhouette[0].any() or silhouette[-1].any() or silhouette[:, 0].any()
                   or silhouette[:, -1].any())
    rows, cols = np.nonzero(silhouette)
    area = float(rows.size)
    crop = square_crop(seg.bbox, gray.shape, margin_fraction=margin_fraction)
    mask = to_square(silhouette.astype(np.float32), crop, int(image_size)) > 0.5
    model_mask = to_square(seg.mask.astype(np.float32), crop, int(image_size)) > 0.5
    return Query(gray=gray, silhouette=silhouette, image=seg.image, mask=mask, crop=crop,
                 pixel_size_um=pixel_size_um,
                 centroid=np.array([rows.mean(), cols.mean()]), radius=float(np.sqrt(area / np.pi)),
                 source_shape=tuple(image.shape), partial=partial, threshold=seg.threshold,
                 model_mask=model_mask)


def read_query_image(path: str | os.PathLike) -> np.ndarray:
    """Read a query image file (PNG, JPEG, BMP, TIFF, single-frame DICOM; RGB order for colour).

    Read with :func:`fossilct.images.read_image`: the header is checked first, so an image of
    more than ``fossilct.images.MAX_PIXELS`` pixels, a stack or a truncated file is refused
    before its pixels are decoded.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    (H, W) or (H, W, 3|4) ndarray, the file's dtype

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    MatchingError
        If the file is not a readable 2-D image, or is too large (the message says why).
    """
    try:
        return images.read_image(path).pixels
    except images.ImageError as error:
        raise MatchingError(f"Query image: {error}") from None
