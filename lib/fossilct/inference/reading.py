"""Reading one 2-D image from a file or an upload: PNG, JPEG, 8/16-bit TIFF, single 2-D DICOM."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np

__all__ = ["MAX_IMAGE_PIXELS", "MAX_IMAGE_FILE_BYTES", "ImageReadError", "read_image"]

MAX_IMAGE_PIXELS = 40_000_000
"""Largest image :func:`read_image` decodes (rows x cols x frames), checked from the header
before decoding: 40 megapixels, e.g. 6300 x 6300 (the model input is at most a few hundred
pixels; a larger image only costs memory)."""
MAX_IMAGE_FILE_BYTES = 256 * 2 ** 20
"""Largest image file :func:`read_image` reads (256 MiB)."""


class ImageReadError(ValueError):
    """A file or upload that is not a readable 2-D image, or one too large to decode."""


def _image_kind(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[128:132] == b"DICM":
        return "DICOM"
    return None


def _header_shape(data: bytes, kind: str) -> tuple[int, ...]:
    """(frames, rows, cols) from the header alone, before any pixel is decoded."""
    if kind in ("PNG", "JPEG"):
        from PIL import Image

        with Image.open(io.BytesIO(data)) as header:
            return 1, header.size[1], header.size[0]
    if kind == "TIFF":
        import tifffile

        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            return len(tif.pages), int(page.imagelength), int(page.imagewidth)
    import pydicom

    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return int(getattr(meta, "NumberOfFrames", 1) or 1), int(meta.Rows), int(meta.Columns)


def _decode(data: bytes, kind: str) -> np.ndarray:
    if kind in ("PNG", "JPEG"):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError("the decoder found no image data")
        if image.ndim == 3:  # OpenCV gives BGR(A)
            image = image[:, :, [2, 1, 0, 3][:image.shape[2]]]
        return image
    if kind == "TIFF":
        import tifffile

        return tifffile.imread(io.BytesIO(data), key=0)
    import pydicom

    return pydicom.dcmread(io.BytesIO(data)).pixel_array


def read_image(source, *, name: str | None = None) -> np.ndarray:
    """Read a 2-D image from a file or from bytes: PNG, JPEG, 8/16-bit TIFF, single 2-D DICOM.

    The format is recognised from the content, never from the name, and the image's size is
    read from its header and checked against :data:`MAX_IMAGE_PIXELS` before decoding.

    Parameters
    ----------
    source : path-like or bytes-like
        A file, or its content (an upload).
    name : str, optional, keyword-only
        How the image is named in error messages (default: the path, or ``"upload"``).

    Returns
    -------
    (H, W), (H, W, 3) or (H, W, 4) ndarray
        The file's dtype; colour in RGB(A) order.

    Raises
    ------
    FileNotFoundError
        A path that does not exist.
    ImageReadError
        Not one of the formats, corrupt or truncated, more than one frame or page, empty, or
        larger than :data:`MAX_IMAGE_PIXELS` / :data:`MAX_IMAGE_FILE_BYTES`.

    Examples
    --------
    >>> ok, png = cv2.imencode(".png", np.full((20, 30), 7, np.uint8))
    >>> read_image(png.tobytes()).shape
    (20, 30)
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or str(path)
        if not path.is_file():
            raise FileNotFoundError(f"Image {name!r} does not exist; check the path.")
        if path.stat().st_size > MAX_IMAGE_FILE_BYTES:
            raise ImageReadError(f"{name!r} is {path.stat().st_size / 2 ** 20:.0f} MiB, over "
                                 f"the {MAX_IMAGE_FILE_BYTES // 2 ** 20} MiB limit for one "
                                 "image; export the slice at a lower resolution.")
        data = path.read_bytes()
    else:
        data = bytes(source)
        name = name or "upload"
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise ImageReadError(f"{name!r} is {len(data) / 2 ** 20:.0f} MiB, over the "
                             f"{MAX_IMAGE_FILE_BYTES // 2 ** 20} MiB limit for one image.")
    kind = _image_kind(data)
    if kind is None:
        raise ImageReadError(f"{name!r} is not a PNG, JPEG, TIFF or DICOM image (its first "
                             f"bytes are {data[:8]!r}); export the slice in one of those "
                             "formats.")
    try:
        frames, rows, cols = _header_shape(data, kind)
    except Exception as error:  # each library has its own exception types for a bad header
        raise ImageReadError(f"{name!r} is a damaged {kind} file (its header cannot be read: "
                             f"{type(error).__name__}: {error}). Export it again.") from None
    if frames != 1:
        raise ImageReadError(f"{name!r} holds {frames} frames/pages: a stack, not one slice. "
                             "Upload a single 2-D slice (a volume goes to the matching tab).")
    if rows * cols > MAX_IMAGE_PIXELS:
        raise ImageReadError(f"{name!r} is {rows} x {cols} pixels, over the limit of "
                             f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; shrink it first.")
    try:
        image = np.asarray(_decode(data, kind))
    except Exception as error:  # corrupt pixel data: decoders raise many types
        raise ImageReadError(f"{name!r} is a damaged {kind} file (its pixels cannot be "
                             f"decoded: {type(error).__name__}: {error}). Export it again."
                             ) from None
    if image.size == 0 or image.ndim not in (2, 3):
        raise ImageReadError(f"{name!r} decodes to an array of shape {image.shape}, not a 2-D "
                             "image.")
    return image
