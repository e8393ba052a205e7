"""Slice segmentation: one function turns any 2-D section into the model's input image.

The same :func:`segment_slice` runs on CT slices while the dataset is built and on uploaded
images in the dashboard, so training and inference see identically prepared inputs. Images from
outside (photographed thin sections, slices exported by other programs) first go through
:func:`prepare_external_image`, which brings them to the form of a CT slice: one gray channel in
[0, 1], fossil bright on a dark background.

Steps of :func:`segment_slice` (all in OpenCV on 8-bit images, about 0.3 ms for 256 x 256):

1. Gaussian blur (``blur_sigma`` pixels) against noise and ring artefacts.
2. Threshold of the blurred image (:func:`foreground_threshold`: Otsu, or the background's
   noise floor when Otsu would split the background of a slice where the fossil is small),
   shifted by ``threshold_offset`` (the dashboard's sensitivity: negative keeps fainter
   structures). Pixels exactly 0 are left out of Otsu's
   histogram: they are padding (outside the scanned volume, outside a reconstruction's
   circular field of view), and a large padded area would otherwise make Otsu separate
   padding from background instead of background from fossil.
3. Removal of objects smaller than ``min_object_fraction`` of the image (noise specks), before
   the closing so that they cannot be bridged to the fossil.
4. Closing with a disc of radius ``closing_fraction`` of the image side, sealing the small breaks
   (foramina, apertures, thin walls) through which a chamber's lumen would otherwise reach the
   background.
5. The largest 8-connected component is kept, with every component at least
   ``min_component_ratio`` (0.1) of its area: a section through a chain of chambers cuts
   several separate rings, which are all fossil (the study kept the largest only; 1.0 does
   that). Then every background region not connected to the image border is filled, so the
   silhouette covers shell and lumen (small holes and large chambers alike; this is what "the
   fossil covers" means for the 2% rule).
6. The original image is masked (black background), cropped to the silhouette's bounding box
   enlarged by ``margin_fraction`` of its longer side, and resized, aspect ratio kept, into an
   ``image_size`` square padded with black (``cv2.INTER_AREA`` when shrinking, linear when
   enlarging).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "NoFossilError",
    "SegmentedSlice",
    "MIN_IMAGE_SIDE",
    "segment_slice",
    "prepare_external_image",
    "otsu_threshold",
    "foreground_threshold",
    "to_uint8",
    "MIN_CONTRAST",
    "contrast_to_noise",
]

MIN_IMAGE_SIDE = 16
"""Smallest accepted image side in pixels (inputs and ``image_size``)."""

DEFAULT_IMAGE_SIZE = 224
DEFAULT_BLUR_SIGMA = 0.5
DEFAULT_MIN_OBJECT_FRACTION = 5e-4
DEFAULT_CLOSING_FRACTION = 0.01
DEFAULT_MARGIN_FRACTION = 0.05
DEFAULT_MIN_COMPONENT_RATIO = 0.1
DEFAULT_EXTERNAL_MAX_SIDE = 1024
DEFAULT_PERCENTILES = (1.0, 99.0)
DEFAULT_NOISE_FLOOR_SIGMAS = 4.0
CLEAR_SEPARABILITY = 0.8
"""Otsu's separability (between-class over total variance) from which a histogram holds two
distinct classes, so that Otsu's threshold is kept: one noise peak cut in two reaches 0.64
(Gaussian) to 0.75 (uniform)."""
_CLIP_SIGMAS = 3.0  # levels further below the mode than this are not the peak's noise
_MAD_TO_SIGMA = 1.4826  # sigma of Gaussian noise per median absolute deviation

_LEVELS = np.arange(256, dtype=np.float64)


class NoFossilError(ValueError):
    """The image holds no fossil: blank, constant, or nothing left after segmentation.

    Dataset builders catch it per slice and count the slice as skipped.
    """


@dataclass(frozen=True)
class SegmentedSlice:
    """Result of :func:`segment_slice`.

    Attributes
    ----------
    image : (image_size, image_size) ndarray of uint8
        The masked, cropped, padded model input (black background).
    mask : (H, W) ndarray of bool
        The fossil silhouette (shell + lumen) in the input image.
    bbox : tuple of int
        ``(row0, col0, row1, col1)``: half-open bounding box of `mask` in the input image.
    foreground_fraction : float
        Fraction of the input image covered by `mask`.
    threshold : float
        The threshold applied, in [0, 1] intensity units (Otsu + offset).
    """

    image: np.ndarray
    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    foreground_fraction: float
    threshold: float


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a [0, 1] float image (clipped) or a uint8 image to uint8.

    Parameters
    ----------
    image : ndarray of floating or uint8 dtype

    Returns
    -------
    ndarray of uint8, same shape

    Raises
    ------
    TypeError
        For other dtypes (use :func:`prepare_external_image` to scale them).

    Examples
    --------
    >>> to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0]))
    array([  0,   0, 128, 255, 255], dtype=uint8)
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(
            f"`image` must be float in [0, 1] or uint8; got dtype {image.dtype}. Scale it with "
            f"fossilct.segmentation.prepare_external_image(image) first."
        )
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_image(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(
            f"`{name}` must be 2-D (rows, cols); got shape {image.shape}. For colour or "
            f"external images call fossilct.segmentation.prepare_external_image(image) first."
        )
    if min(image.shape) < MIN_IMAGE_SIDE:
        raise ValueError(
            f"`{name}` is too small: shape {image.shape}, both sides must be at least "
            f"{MIN_IMAGE_SIDE} pixels. Pass a larger crop."
        )
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        raise ValueError(
            f"`{name}` holds {int(np.sum(~np.isfinite(image)))} NaN/inf values; replace them "
            f"(e.g. np.nan_to_num) before segmenting."
        )
    return image


def otsu_threshold(hist) -> int:
    """Otsu's threshold of a histogram: the level t maximising the between-class variance.

    Foreground is ``value > t``. Where several levels tie (empty bins between two peaks), the
    middle of the tied levels is returned rather than the first.

    Parameters
    ----------
    hist : (L,) array_like of counts, L >= 2, not all zero

    Returns
    -------
    int

    Examples
    --------
    >>> hist = np.zeros(256); hist[40] = 100; hist[200] = 10
    >>> otsu_threshold(hist)
    120
    """
    hist = np.asarray(hist, dtype=np.float64)
    return _otsu(hist, np.cumsum(hist), np.cumsum(hist * np.arange(hist.size)))


def _otsu(hist: np.ndarray, w0: np.ndarray, mu: np.ndarray) -> int:
    """Otsu from cumulative counts `w0` and cumulative first moments `mu` (unnormalised)."""
    total, mean_total = w0[-1], mu[-1]
    denominator = w0 * (total - w0)
    # levels with an empty class have no between-class variance (avoid 0/0 without errstate)
    between = (mean_total * w0 - total * mu) ** 2 / np.where(denominator > 0, denominator, np.inf)
    # empty bins make a plateau of equal variance: take its middle, not its first level
    best = np.flatnonzero(between >= between.max() * (1 - 1e-12))
    return int(best[len(best) // 2])


def _lower_spread(hist: np.ndarray, levels: np.ndarray, mode: int) -> float:
    """Noise sigma of the peak at `mode`, from the levels below it (which the object does not
    reach): their median distance below the mode (x 1.4826), refined as the root mean square
    distance of the levels within 3 sigma, until that converges.

    The mode's own bin is left out (a flat margin or fill at the mode holds no noise), and so
    are levels far below the peak (the blurred rim of a flat margin, a darker structure): a
    plain root mean square over all lower levels let a few of them put the noise floor above
    the whole fossil.
    """
    below = hist[:mode][::-1]  # distance 1, 2, ... below the mode
    half = below.sum() / 2.0
    if half <= 0:
        return 0.0
    cumulative = np.cumsum(below)
    k = int(np.searchsorted(cumulative, half))
    before = cumulative[k - 1] if k > 0 else 0.0
    spread = _MAD_TO_SIGMA * (k + 0.5 + (half - before) / below[k])  # bin k spans k+0.5..k+1.5
    distance = mode - levels[:mode]
    for _ in range(100):
        inside = distance <= _CLIP_SIGMAS * spread
        weight = hist[:mode][inside].sum()
        if weight <= 0:  # nothing near the mode: the median stands
            break
        refined = float(np.sqrt(np.dot(hist[:mode][inside], distance[inside] ** 2) / weight))
        if abs(refined - spread) <= 1e-6 * spread:
            break
        spread = refined
    return spread


def _separability(hist: np.ndarray, levels: np.ndarray, threshold: int) -> float:
    """Otsu's separability of the split at `threshold`: between-class / total variance."""
    total = hist.sum()
    mean = np.dot(hist, levels) / total
    variance = np.dot(hist, (levels - mean) ** 2) / total
    w0 = hist[:threshold + 1].sum() / total
    if variance <= 0 or not 0.0 < w0 < 1.0:
        return 0.0
    mean0 = np.dot(hist[:threshold + 1], levels[:threshold + 1]) / (w0 * total)
    mean1 = (mean - w0 * mean0) / (1.0 - w0)
    return float(w0 * (1.0 - w0) * (mean0 - mean1) ** 2 / variance)


def foreground_threshold(hist, *, noise_floor_sigmas: float = DEFAULT_NOISE_FLOOR_SIGMAS) -> tuple[int, str, float]:
    """Otsu's threshold, but never inside the background's noise peak.

    When the object is a small fraction of the pixels (a fossil cut near its tip, a thin-walled
    shell in a wide field of view) the histogram is one background peak with a faint tail and
    Otsu splits the background itself. The noise floor, ``mode + noise_floor_sigmas * sigma``
    of the background peak (the mode below Otsu's threshold; sigma measured robustly on the
    peak's lower half, which the object does not touch), is then used instead.

    The floor replaces only a cut through one peak: when Otsu's cut separates two distinct
    classes (separability at least ``CLEAR_SEPARABILITY``), Otsu's threshold stands. A fossil
    on a flat background needs this: its background is exact zeros, left out as padding, so
    the histogram holds the fossil alone, and its darker class (a chamber's infill) would be
    taken for the background.

    Parameters
    ----------
    hist : (L,) array_like of counts
        With at least two non-empty bins.
    noise_floor_sigmas : float, keyword-only
        Default 4.

    Returns
    -------
    threshold : int
        Foreground is ``value > threshold``.
    method : {"otsu", "noise_floor"}
    floor : float
        The noise floor.

    Examples
    --------
    >>> hist = np.exp(-0.5 * ((np.arange(256) - 40) / 5.0) ** 2) * 1000
    >>> foreground_threshold(hist)[:2]   # one Gaussian peak: Otsu would cut it at 40
    (61, 'noise_floor')
    """
    hist = np.asarray(hist, dtype=np.float64)
    levels = _LEVELS if hist.size == 256 else np.arange(hist.size, dtype=np.float64)
    w0 = np.cumsum(hist)
    otsu = _otsu(hist, w0, np.cumsum(hist * levels))
    mode = int(np.argmax(hist[:otsu + 1]))
    floor = mode + float(noise_floor_sigmas) * max(_lower_spread(hist, levels, mode), 0.5)
    if otsu >= floor or _separability(hist, levels, otsu) >= CLEAR_SEPARABILITY:
        return otsu, "otsu", floor
    return int(np.ceil(floor)), "noise_floor", floor


def _slice_threshold(image: np.ndarray) -> float:
    """Foreground threshold of a uint8 slice, leaving exact zeros (padding) out."""
    hist = cv2.calcHist([image], [0], None, [256], [0, 256]).ravel()
    hist[0] = 0
    if np.count_nonzero(hist) < 2:
        return 0.0
    return float(foreground_threshold(hist)[0])


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every background region of a uint8 {0, 1} mask that does not touch the border."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 2)
    return (padded[1:-1, 1:-1] != 2).astype(np.uint8)


def _resize_into_square(image: np.ndarray, size: int) -> np.ndarray:
    rows, cols = image.shape
    scale = size / max(rows, cols)
    new_rows = min(size, max(1, int(round(rows * scale))))
    new_cols = min(size, max(1, int(round(cols * scale))))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_cols, new_rows), interpolation=interp)
    canvas = np.zeros((size, size), np.uint8)
    top, left = (size - new_rows) // 2, (size - new_cols) // 2
    canvas[top:top + new_rows, left:left + new_cols] = resized
    return canvas


def segment_slice(image: np.ndarray, *, image_size: int = DEFAULT_IMAGE_SIZE,
                  blur_sigma: float = DEFAULT_BLUR_SIGMA, threshold_offset: float = 0.0,
                  min_object_fraction: float = DEFAULT_MIN_OBJECT_FRACTION,
                  closing_fraction: float = DEFAULT_CLOSING_FRACTION,
                  min_component_ratio: float = DEFAULT_MIN_COMPONENT_RATIO,
                  margin_fraction: float = DEFAULT_MARGIN_FRACTION) -> SegmentedSlice:
    """Segment the fossil in a 2-D slice and make the model's input image from it.

    Parameters
    ----------
    image : (H, W) ndarray of float (in [0, 1], clipped) or uint8
        A slice with the fossil bright on a dark background, both sides >= 16 pixels. Other
        images go through :func:`prepare_external_image` first.
    image_size : int, keyword-only
        Side of the square output, default 224.
    blur_sigma : float, keyword-only
        Gaussian blur before thresholding, pixels; default 0.5. 0 disables it.
    threshold_offset : float, keyword-only
        Added to the Otsu threshold, in [0, 1] intensity units; default 0. Negative values keep
        fainter structures (the dashboard's sensitivity).
    min_object_fraction : float, keyword-only
        Objects smaller than this fraction of the image are removed before the closing;
        default 5e-4 (33 pixels of a 256 x 256 slice).
    closing_fraction : float, keyword-only
        Radius of the closing disc as a fraction of the longer image side (at least 1 pixel);
        default 0.01.
    min_component_ratio : float, keyword-only
        Components at least this fraction of the largest one's area are kept too, in (0, 1];
        default 0.1 (1 keeps the largest only).
    margin_fraction : float, keyword-only
        Margin around the bounding box, as a fraction of its longer side; default 0.05.

    Returns
    -------
    SegmentedSlice

    Raises
    ------
    ValueError
        Wrong dimensions, a side < 16 pixels, NaN/inf values, or invalid options.
    TypeError
        Integer image other than uint8.
    NoFossilError
        Constant image, or no object left after thresholding and small-object removal.

    Examples
    --------
    >>> image = np.zeros((32, 48), np.float32)
    >>> image[8:20, 10:30] = 0.8
    >>> image[12:16, 15:25] = 0.1  # a dark chamber, filled into the silhouette
    >>> result = segment_slice(image, image_size=16, blur_sigma=0)
    >>> result.bbox, round(result.foreground_fraction, 4), result.image.shape
    ((8, 10, 20, 30), 0.1562, (16, 16))
    """
    image = _check_image(image)
    if int(image_size) < MIN_IMAGE_SIDE:
        raise ValueError(f"`image_size` must be at least {MIN_IMAGE_SIDE}; got {image_size}.")
    for name, value, upper in (("min_object_fraction", min_object_fraction, 1.0),
                               ("closing_fraction", closing_fraction, 0.5),
                               ("margin_fraction", margin_fraction, 1.0)):
        if not 0.0 <= float(value) < upper:
            raise ValueError(f"`{name}` must be in [0, {upper}); got {value}.")
    if not 0.0 < float(min_component_ratio) <= 1.0:
        raise ValueError(f"`min_component_ratio` must be in (0, 1]; got {min_component_ratio}.")
    if float(blur_sigma) < 0:
        raise ValueError(f"`blur_sigma` must be >= 0 pixels; got {blur_sigma}.")
    gray = to_uint8(image)
    low, high, _, _ = cv2.minMaxLoc(gray)
    if low == high:
        raise NoFossilError(
            f"`image` is constant (every pixel {low / 255:.3f}): no fossil to segment. "
            f"Check the slice position or the upload."
        )
    blurred = cv2.GaussianBlur(gray, (0, 0), float(blur_sigma)) if blur_sigma > 0 else gray
    otsu = _slice_threshold(blurred)
    threshold = float(np.clip(otsu + 255.0 * float(threshold_offset), 0.0, 255.0))
    _, mask = cv2.threshold(blurred, threshold, 1, cv2.THRESH_BINARY)
    area = image.shape[0] * image.shape[1]
    # cv2.connectedComponents + bincount: connectedComponentsWithStats is 15x slower here
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    sizes = np.bincount(labels.ravel(), minlength=count)
    keep = sizes >= max(1.0, float(min_object_fraction) * area)
    keep[0] = False
    if not keep.any():
        raise NoFossilError(
            f"No object above the threshold {threshold / 255:.3f} (Otsu {otsu / 255:.3f} + "
            f"offset {threshold_offset}) is at least {min_object_fraction} of the image: the "
            f"slice is background. Lower `threshold_offset` if the fossil is faint."
        )
    if not keep[1:].all():
        mask = keep.astype(np.uint8)[labels]
    radius = max(1, int(round(float(closing_fraction) * max(image.shape))))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    # pad so that the closing does not glue the mask to the image border
    padded = cv2.copyMakeBorder(mask, radius, radius, radius, radius, cv2.BORDER_CONSTANT, value=0)
    mask = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc)[radius:-radius, radius:-radius]
    # a closing only merges objects: with one object before it there is one after it
    count, labels = cv2.connectedComponents(mask, connectivity=8) if keep.sum() > 1 else (2, None)
    if count > 2:
        sizes = np.bincount(labels.ravel(), minlength=count)
        sizes[0] = 0
        keep = sizes >= float(min_component_ratio) * sizes.max()
        mask = keep.astype(np.uint8)[labels]
    mask = _fill_holes(mask)
    col0, row0, w, h = cv2.boundingRect(mask)
    row1, col1 = row0 + h, col0 + w
    margin = int(round(float(margin_fraction) * max(h, w)))
    window = (slice(max(0, row0 - margin), row1 + margin), slice(max(0, col0 - margin), col1 + margin))
    square = _resize_into_square(gray[window] * mask[window], int(image_size))
    fraction = cv2.countNonZero(mask) / area
    return SegmentedSlice(square, mask.view(bool), (row0, col0, row1, col1), fraction,
                          threshold / 255.0)


def _to_gray(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (gray float32 image, alpha in [0, 1] or None)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return image.astype(np.float32), None
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[:, :, :3].astype(np.float32)
        # ITU-R BT.601 luma, as cv2.cvtColor(..., COLOR_RGB2GRAY)
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if image.shape[2] == 4:
            alpha = image[:, :, 3].astype(np.float32)
            alpha /= max(float(alpha.max()), 1e-12)
            return gray, alpha
        return gray, None
    raise ValueError(
        f"`image` must be gray (H, W), (H, W, 1), RGB (H, W, 3) or RGBA (H, W, 4); got shape "
        f"{image.shape}."
    )


def _ring(image: np.ndarray) -> np.ndarray:
    """The outermost pixels of a 2-D array, as one 1-D array."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def _frame_width(gray: np.ndarray) -> int:
    """Width of a constant frame around `gray`: how many outer rings hold only the corner's
    value (exactly: a scanned or photographed background is never that flat)."""
    rows, cols = gray.shape
    width = 0
    while 2 * (width + 1) < min(rows, cols) - MIN_IMAGE_SIDE:
        if not np.all(_ring(gray[width:rows - width, width:cols - width]) == gray[0, 0]):
            break
        width += 1
    return width


def prepare_external_image(image: np.ndarray, *, background: str = "auto",
                           max_side: int = DEFAULT_EXTERNAL_MAX_SIDE,
                           percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> np.ndarray:
    """Bring an image from outside to the form of a CT slice: gray, [0, 1], dark background.

    Parameters
    ----------
    image : (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) ndarray
        Gray, RGB or RGBA image of any real dtype (uint8, uint16, float, bool), any size with
        both sides >= 16 pixels. Transparent pixels of an RGBA image are background (black);
        percentiles and the background colour are taken from opaque pixels, and a cut-out of
        one flat colour becomes its white silhouette.
    background : {"auto", "black", "white"}, keyword-only
        Background colour. ``"auto"`` (default) compares the median of the border pixels with
        the middle of the intensity range and inverts a light background. A constant frame
        around an opaque image (a margin added by an export, a figure, a screenshot) is looked
        through: the border inside it decides, the percentiles are taken inside it, and the
        frame becomes that border's median, the background of the section itself.
    max_side : int, keyword-only
        Larger images are shrunk (``cv2.INTER_AREA``) so that their longer side is `max_side`;
        default 1024 (the model input is 224 pixels).
    percentiles : (float, float), keyword-only
        Intensities are clipped to these percentiles and scaled to [0, 1], as the CT volumes are;
        default (1, 99).

    Returns
    -------
    (H', W') ndarray of float32
        In [0, 1], fossil bright on black; ready for :func:`segment_slice`.

    Raises
    ------
    ValueError
        Wrong shape or channel count, a side < 16 pixels, NaN/inf, constant image, bad options.
    TypeError
        Non-numeric dtype.

    Examples
    --------
    >>> photo = np.full((40, 40, 3), 250, np.uint8)   # white paper
    >>> photo[10:30, 12:28] = (60, 50, 40)           # a dark fossil
    >>> gray = prepare_external_image(photo)
    >>> float(gray[0, 0]), float(gray[20, 20])
    (0.0, 1.0)
    """
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8)
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise TypeError(f"`image` must be real numeric; got dtype {image.dtype}.")
    if background not in ("auto", "black", "white"):
        raise ValueError(f"`background` must be 'auto', 'black' or 'white'; got {background!r}.")
    low_pct, high_pct = (float(p) for p in percentiles)
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"`percentiles` must satisfy 0 <= low < high <= 100; got {percentiles!r}.")
    if int(max_side) < MIN_IMAGE_SIDE:
        raise ValueError(f"`max_side` must be at least {MIN_IMAGE_SIDE}; got {max_side}.")
    gray, alpha = _to_gray(image)
    _check_image(gray)
    scale = int(max_side) / max(gray.shape)
    if scale < 1.0:
        new_size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, new_size, interpolation=cv2.INTER_AREA)
        alpha = None if alpha is None else cv2.resize(alpha, new_size, interpolation=cv2.INTER_AREA)
    opaque = np.ones(gray.shape, bool) if alpha is None else alpha > 0.5
    # a constant frame (a margin added around the section) decides neither the contrast nor
    # the background colour, and becomes the background found inside it
    frame = _frame_width(gray) if background == "auto" and alpha is None else 0
    inner = (slice(frame, gray.shape[0] - frame), slice(frame, gray.shape[1] - frame))
    values = gray[inner][opaque[inner]] if opaque.any() else gray.ravel()
    low, high = np.percentile(values, [low_pct, high_pct])
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high > low:
        gray = np.clip((gray - low) / (high - low), 0.0, 1.0)
    elif alpha is not None and opaque.any() and not opaque.all():
        gray = np.ones_like(gray)  # a flat cut-out on a transparent background: its silhouette
    else:
        raise ValueError(
            f"`image` is constant (every pixel {low}); there is nothing to segment. Check the upload."
        )
    if background == "auto":
        border = _ring(gray[inner])
        # a transparent border is background whatever its colour: only opaque pixels vote
        border = border[_ring(opaque[inner])]
        light = border.size > 0 and float(np.median(border)) > 0.5
    else:
        light = background == "white"
    if light:
        gray = 1.0 - gray
    if frame:
        filled = np.full(gray.shape, np.median(_ring(gray[inner])), gray.dtype)
        filled[inner] = gray[inner]
        gray = filled
    if alpha is not None:
        gray = gray * alpha
    return gray.astype(np.float32)


MIN_CONTRAST = 2.0
"""Smallest contrast-to-noise ratio of a silhouette taken for a fossil: segmented noise gives
0.2 to 0.8, fossil sections (even noisy, blurred, cropped) above 3."""


def contrast_to_noise(gray: np.ndarray, silhouette: np.ndarray) -> float:
    """(mean inside - mean outside) / noise sigma (MAD of neighbour differences).

    Parameters
    ----------
    gray : (H, W) ndarray of float
    silhouette : (H, W) ndarray of bool

    Returns
    -------
    float
        0 when the silhouette covers everything.

    Examples
    --------
    >>> gray = np.zeros((8, 8)); gray[2:6, 2:6] = 1.0
    >>> contrast_to_noise(gray + np.random.default_rng(0).normal(0, 0.1, gray.shape),
    ...                   gray > 0.5) > 5
    True
    """
    if silhouette.all():
        return 0.0
    diffs = np.concatenate([np.diff(gray, axis=0).ravel(), np.diff(gray, axis=1).ravel()])
    noise = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / np.sqrt(2.0)
    signal = float(gray[silhouette].mean() - gray[~silhouette].mean())
    return float(signal / max(noise, 1e-6))
