"""From any 2-D image to the model's input: an 8-bit CT-like slice, segmented and checked."""

from __future__ import annotations

import numpy as np

from fossilct import segmentation

__all__ = ["to_gray_slice", "segment_for_model"]


def to_gray_slice(image: np.ndarray) -> np.ndarray:
    """An image as an 8-bit CT-like slice: one gray channel, fossil bright on a dark background.

    Parameters
    ----------
    image : (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) ndarray
        Any real dtype, both sides >= 16 pixels.

    Returns
    -------
    (H', W') ndarray of uint8
        The input itself when it is 8-bit gray with a dark border (median of the border pixels
        below 128), as the training slices are; otherwise
        :func:`fossilct.segmentation.prepare_external_image` scaled to 8 bits (longer side at
        most 1024 pixels).

    Raises
    ------
    ValueError, TypeError
        As :func:`fossilct.segmentation.prepare_external_image` (wrong shape, constant image,
        non-numeric dtype, sides under 16 pixels).

    Examples
    --------
    >>> slice_ = np.zeros((20, 20), np.uint8); slice_[5:15, 5:15] = 200
    >>> to_gray_slice(slice_) is slice_
    True
    >>> to_gray_slice(255 - slice_)[10, 10], to_gray_slice(255 - slice_)[0, 0]
    (np.uint8(255), np.uint8(0))
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype == np.uint8 and image.ndim == 2 and min(image.shape) >= 2:
        border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
        if np.median(border) < 128:
            return image
    return segmentation.to_uint8(segmentation.prepare_external_image(image))


def _check_crop_box(crop_box, shape) -> tuple[int, int, int, int]:
    try:
        row0, col0, row1, col1 = (int(v) for v in crop_box)
    except (TypeError, ValueError):
        raise ValueError(f"`crop_box` must be (row0, col0, row1, col1); got {crop_box!r}."
                         ) from None
    if not (0 <= row0 < row1 <= shape[0] and 0 <= col0 < col1 <= shape[1]):
        raise ValueError(f"`crop_box` {crop_box!r} is not a box inside the {shape[0]} x "
                         f"{shape[1]} image: need 0 <= row0 < row1 <= {shape[0]} and "
                         f"0 <= col0 < col1 <= {shape[1]}.")
    if min(row1 - row0, col1 - col0) < segmentation.MIN_IMAGE_SIDE:
        raise ValueError(f"`crop_box` {crop_box!r} is smaller than {segmentation.MIN_IMAGE_SIDE} "
                         "pixels on a side; draw a larger box around the fossil.")
    return row0, col0, row1, col1


def _is_silhouette(gray: np.ndarray) -> bool:
    """Whether `gray` is already a model input: a square silhouette whose border is exactly black,
    as the slice step writes them (segmenting such an image again would change it)."""
    return (gray.ndim == 2 and gray.shape[0] == gray.shape[1] and gray.any()
            and not (gray[0].any() or gray[-1].any() or gray[:, 0].any() or gray[:, -1].any()))


def _as_segmented(gray: np.ndarray, image_size: int) -> segmentation.SegmentedSlice:
    """An image that is already a silhouette on black, as a segmented slice of `image_size`."""
    import cv2

    mask = gray > 0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    image = gray if gray.shape[0] == image_size else cv2.resize(
        gray, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return segmentation.SegmentedSlice(image, mask, (int(rows[0]), int(cols[0]),
                                                     int(rows[-1]) + 1, int(cols[-1]) + 1),
                                       float(mask.mean()), 0.0)


def segment_for_model(gray: np.ndarray, *, image_size: int, threshold_offset: float = 0.0,
                      crop_box: tuple[int, int, int, int] | None = None
                      ) -> segmentation.SegmentedSlice:
    """Segment a gray slice, optionally inside a crop box, and check that it shows a fossil.

    A slice that is already a silhouette on a black border (a slice the slice step wrote, e.g.
    picked from a run's test split) is taken as it is, resized to `image_size` when needed: it
    is then exactly the image the evaluation gave the model.

    Parameters
    ----------
    gray : (H, W) ndarray of uint8
        From :func:`to_gray_slice`.
    image_size : int, keyword-only
        Side of the model input.
    threshold_offset : float, keyword-only
        Sensitivity, added to the automatic threshold, in [-1, 1] intensity units (default 0;
        negative keeps fainter structures).
    crop_box : (row0, col0, row1, col1), optional, keyword-only
        Half-open pixel box of `gray` to segment in; the rest of the image is ignored.

    Returns
    -------
    fossilct.segmentation.SegmentedSlice
        ``mask`` and ``bbox`` in the frame of the whole of `gray`.

    Raises
    ------
    ValueError
        A crop box outside the image or under 16 pixels, an offset outside [-1, 1].
    fossilct.segmentation.NoFossilError
        Constant image, nothing above the threshold, an object that does not stand out of the
        noise, or one that touches all four borders.

    Examples
    --------
    >>> gray = np.zeros((40, 40), np.uint8); gray[10:30, 12:28] = 200
    >>> seg = segment_for_model(gray, image_size=16, crop_box=(0, 0, 40, 40))
    >>> seg.image.shape, seg.bbox
    ((16, 16), (10, 12, 30, 28))
    """
    if not -1.0 <= float(threshold_offset) <= 1.0:
        raise ValueError(f"`threshold_offset` must be in [-1, 1] (intensity units); got "
                         f"{threshold_offset!r}.")
    gray = np.asarray(gray)
    if crop_box is None and threshold_offset == 0.0 and _is_silhouette(gray):
        return _as_segmented(gray, int(image_size))
    row0, col0, row1, col1 = (0, 0, *gray.shape[:2]) if crop_box is None \
        else _check_crop_box(crop_box, gray.shape)
    region = gray[row0:row1, col0:col1]
    seg = segmentation.segment_slice(region, image_size=int(image_size),
                                     threshold_offset=float(threshold_offset))
    mask = seg.mask
    if mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any():
        raise segmentation.NoFossilError(
            "the segmented object touches all four borders: a texture, or an image cropped "
            "inside the fossil. Use an image (or crop box) with background around the fossil.")
    contrast = segmentation.contrast_to_noise(region.astype(np.float32) / 255.0, seg.mask)
    if contrast < segmentation.MIN_CONTRAST:
        raise segmentation.NoFossilError(
            f"no fossil: the segmented object does not stand out of the noise (contrast-to-noise "
            f"{contrast:.1f} < {segmentation.MIN_CONTRAST}); the image looks like noise or an "
            "empty field.")
    full = np.zeros(gray.shape[:2], bool)
    full[row0:row1, col0:col1] = mask
    r0, c0, r1, c1 = seg.bbox
    return segmentation.SegmentedSlice(seg.image, full, (r0 + row0, c0 + col0, r1 + row0,
                                                         c1 + col0),
                                       float(full.mean()), seg.threshold)
