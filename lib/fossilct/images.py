"""Reading the 2-D images a user gives: a file path, or the bytes of a web upload.

Formats (``FORMATS``), recognised by their first bytes, never by a name or extension: PNG, JPEG
and BMP (Pillow), 8-, 16-bit and float TIFF (tifffile), and DICOM holding one 2-D frame
(pydicom). Every file is checked from its header before any pixel is decoded:

- its size must not exceed ``MAX_PIXELS`` pixels (40 megapixels: a 6000 x 6000 scan fits; a
  20000 x 20000 image, 400 megapixels, would take gigabytes to decode and is refused at once);
- it must hold one 2-D image (gray or colour), not a stack: a multi-page TIFF, a DICOM with
  several frames or a volume is refused;
- it must be complete: an empty file, a PNG without its end chunk, a TIFF whose strips run past
  the end, or pixel data that does not decode is refused.

Every refusal is an :class:`ImageError` naming the image and saying what to do. The name of an
upload is only ever shown in messages: it is never used as a path, so ``../../x.png`` is
harmless.

A pixel size is returned where the file states a physical one: DICOM ``PixelSpacing``; TIFF
resolution in centimetres, or ImageJ's resolution with its ``unit``, or the ``spacing_um`` that
:func:`fossilct.volumes.save_volume` writes. TIFF resolution in inches, and the density fields of
PNG and JPEG, are ignored: graphics programs write 72 or 96 dpi there whatever the picture shows.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fossilct.volumes.base import UM_PER_UNIT

__all__ = ["MAX_PIXELS", "FORMATS", "ImageError", "Image2D", "read_image", "decode_image"]

MAX_PIXELS = 40_000_000
"""Largest image read (rows x columns), checked from the header before decoding: 40 megapixels,
160 MB as float32. Larger sections should be downsampled before they are given."""
FORMATS = ("png", "jpeg", "bmp", "tiff", "dicom")

_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"BM", "bmp"),
               (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"II+\x00", "tiff"),
               (b"MM\x00+", "tiff"))
_DICOM_MAGIC_OFFSET = 128  # "DICM" follows the 128-byte preamble
_PNG_END = b"IEND\xaeB`\x82"  # type and CRC of the chunk that closes every PNG
_RESOLUTION_CENTIMETER = 3  # TIFF ResolutionUnit (1: none, 2: inch)
_TIFF_IMAGE_AXES = set("YXS")  # rows, columns, colour samples
_PILLOW_COLOUR = {"1": "L", "P": "RGBA", "LA": "RGBA", "PA": "RGBA", "CMYK": "RGB",
                  "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "La": "RGBA", "RGBa": "RGBA"}
_HELP = "Export the section as PNG, JPEG or TIFF (one 2-D image), or as a single-frame DICOM."


class ImageError(ValueError):
    """An image that cannot be read: not an image, corrupt, too large, a stack, empty."""


@dataclass(frozen=True)
class Image2D:
    """A 2-D image as read.

    Attributes
    ----------
    pixels : (H, W) or (H, W, 3|4) ndarray
        Gray, RGB or RGBA (colour order RGB), in the file's type: uint8, uint16, int32 or
        float32 (float32 also for DICOM pixels with a rescale slope or intercept).
    pixel_size_um : (float, float) or None
        (row, col) edge of a pixel in micrometres, when the file states a physical one.
    name : str
        The path or upload name, for messages.
    format : str
        One of ``FORMATS``.
    """

    pixels: np.ndarray
    pixel_size_um: tuple[float, float] | None
    name: str
    format: str


def _said(error: Exception) -> str:
    """A library's error message on one line (some list their causes on several)."""
    return " ".join(str(error).split())


def _detect(head: bytes, name: str) -> str:
    if len(head) >= _DICOM_MAGIC_OFFSET + 4 and \
            head[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return "dicom"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    raise ImageError(f"{name!r} is not an image that can be read: its first bytes "
                     f"({head[:8]!r}) match none of {', '.join(FORMATS)}. {_HELP}")


def _check_size(rows: int, cols: int, name: str, max_pixels: int) -> None:
    if rows < 1 or cols < 1:
        raise ImageError(f"{name!r} holds an empty image ({rows} x {cols} pixels). {_HELP}")
    if rows * cols > max_pixels:
        side = int(np.sqrt(max_pixels))
        raise ImageError(
            f"{name!r} has {rows} x {cols} = {rows * cols / 1e6:.1f} megapixels, more than the "
            f"{max_pixels / 1e6:g} megapixels read (it is refused before decoding). Downsample "
            f"it, e.g. to at most {side} x {side} pixels, or crop it to the fossil.")


def _read_pillow(handle: BinaryIO, size: int, name: str, kind: str,
                 max_pixels: int) -> tuple[np.ndarray, None]:
    from PIL import BmpImagePlugin, JpegImagePlugin, PngImagePlugin

    if kind == "png":
        handle.seek(max(0, size - len(_PNG_END)))
        if handle.read() != _PNG_END:
            raise ImageError(f"{name!r} is not an image that can be read: the PNG is truncated "
                             f"(no end chunk). Re-copy or re-export it.")
        handle.seek(0)
    # the format's own class parses the header only; Image.open would first apply Pillow's
    # decompression-bomb limit, whose message does not give the size
    plugin = {"png": PngImagePlugin.PngImageFile, "jpeg": JpegImagePlugin.JpegImageFile,
              "bmp": BmpImagePlugin.BmpImageFile}[kind]
    try:
        image = plugin(handle)
    except (OSError, SyntaxError, ValueError, struct.error) as error:
        raise ImageError(f"{name!r} is not an image that can be read: its {kind.upper()} header "
                         f"is damaged ({_said(error)}). {_HELP}") from None
    with image:
        _check_size(image.height, image.width, name, max_pixels)
        if getattr(image, "n_frames", 1) > 1:
            raise ImageError(f"{name!r} holds {image.n_frames} frames; give one 2-D image.")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as error:
            raise ImageError(f"{name!r} is not an image that can be read: the {kind.upper()} "
                             f"data is corrupt or truncated ({_said(error)}). Re-copy or re-export "
                             "it.") from None
        if image.mode in _PILLOW_COLOUR:
            image = image.convert(_PILLOW_COLOUR[image.mode])
        return np.array(image), None


def _tiff_pixel_size(tif) -> tuple[float, float] | None:
    page = tif.pages.first
    if tif.shaped_metadata and "spacing_um" in tif.shaped_metadata[0]:
        spacing = [float(v) for v in tif.shaped_metadata[0]["spacing_um"]]
        return (spacing[-2], spacing[-1]) if len(spacing) >= 2 else None
    if "XResolution" not in page.tags or "YResolution" not in page.tags:
        return None
    unit = str((tif.imagej_metadata or {}).get("unit", "")).replace("\\u00B5", "µ").lower()
    um_per_unit = UM_PER_UNIT.get(unit)
    unit_tag = page.tags.get("ResolutionUnit")
    if um_per_unit is None and unit_tag is not None and \
            int(unit_tag.value) == _RESOLUTION_CENTIMETER:
        um_per_unit = UM_PER_UNIT["cm"]
    if um_per_unit is None:
        return None
    sizes = []
    for tag in ("YResolution", "XResolution"):
        numerator, denominator = page.tags[tag].value
        if not numerator or not denominator:
            return None
        sizes.append(denominator / numerator * um_per_unit)
    return sizes[0], sizes[1]


def _read_tiff(handle: BinaryIO, size: int, name: str,
               max_pixels: int) -> tuple[np.ndarray, tuple[float, float] | None]:
    import tifffile

    try:
        tif = tifffile.TiffFile(handle)
    except (tifffile.TiffFileError, ValueError, OSError, struct.error) as error:
        raise ImageError(f"{name!r} is not an image that can be read: its TIFF header is "
                         f"damaged ({_said(error)}). {_HELP}") from None
    with tif:
        if not len(tif.pages) or not tif.series:
            raise ImageError(f"{name!r} is not an image that can be read: its TIFF header is "
                             f"damaged (no image in it). {_HELP}")
        if len(tif.series) != 1 or len(tif.pages) != 1:
            raise ImageError(f"{name!r} is a TIFF with {len(tif.pages)} pages in "
                             f"{len(tif.series)} series; give one 2-D image (a single page), "
                             "not a stack. Save one slice of it.")
        series = tif.series[0]
        axes = dict(zip(series.axes, series.shape))
        if ("Y" not in axes or "X" not in axes or axes.get("S", 1) not in (1, 3, 4)
                or any(length > 1 for axis, length in axes.items()
                       if axis not in _TIFF_IMAGE_AXES)):
            raise ImageError(f"{name!r} holds a TIFF of shape {series.shape} (axes "
                             f"{series.axes!r}), not one 2-D gray or colour image. Save a single "
                             "2-D slice.")
        _check_size(axes["Y"], axes["X"], name, max_pixels)
        page = tif.pages.first
        end = max((o + c for o, c in zip(page.dataoffsets, page.databytecounts)), default=0)
        if end > size:
            raise ImageError(f"{name!r} is not an image that can be read: the TIFF is truncated "
                             f"(its pixel data runs to byte {end}, the file has {size}). Re-copy "
                             "or re-export it.")
        try:
            pixels = series.asarray().reshape(series.shape)
        except (ValueError, OSError, RuntimeError) as error:
            raise ImageError(f"{name!r} is not an image that can be read: the TIFF data does "
                             f"not decode ({_said(error)}). Re-export it uncompressed.") from None
        kept = [axis for axis in series.axes if axis in _TIFF_IMAGE_AXES]
        pixels = pixels[tuple(slice(None) if axis in _TIFF_IMAGE_AXES else 0
                              for axis in series.axes)]
        pixels = np.transpose(pixels, [kept.index(axis) for axis in "YXS" if axis in kept])
        return (pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels,
                _tiff_pixel_size(tif))


def _read_dicom(handle: BinaryIO, name: str,
                max_pixels: int) -> tuple[np.ndarray, tuple[float, float] | None]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(handle, stop_before_pixels=True)
        rows, cols = int(header.Rows), int(header.Columns)
    except (InvalidDicomError, AttributeError, ValueError, OSError, EOFError) as error:
        raise ImageError(f"{name!r} is not an image that can be read: its DICOM header is "
                         f"damaged or lacks Rows/Columns ({_said(error)}). {_HELP}") from None
    frames = int(header.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageError(f"{name!r} is a DICOM with {frames} frames (a volume); give one 2-D "
                         "image. Load volumes with fossilct.volumes.load_volume.")
    _check_size(rows, cols, name, max_pixels)
    handle.seek(0)
    try:
        dataset = pydicom.dcmread(handle)
        pixels = dataset.pixel_array
    except (AttributeError, ValueError, OSError, EOFError, NotImplementedError,
            RuntimeError) as error:
        syntax = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise ImageError(f"{name!r}: the DICOM pixel data does not decode (transfer syntax "
                         f"{syntax}; {_said(error)}). Export it uncompressed, or as PNG or TIFF."
                         ) from None
    slope, intercept = (float(dataset.get(key, default) or default)
                        for key, default in (("RescaleSlope", 1.0), ("RescaleIntercept", 0.0)))
    if (slope, intercept) != (1.0, 0.0):
        pixels = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    spacing = dataset.get("PixelSpacing")
    pixel_size = (float(spacing[0]) * 1e3, float(spacing[1]) * 1e3) \
        if spacing is not None and len(spacing) == 2 else None
    return pixels, pixel_size


def _check_max_pixels(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or \
            max_pixels < 1:
        raise ValueError(f"`max_pixels` must be a positive int; got {max_pixels!r}.")


def _read(handle: BinaryIO, size: int, name: str, max_pixels: int) -> Image2D:
    if size == 0:
        raise ImageError(f"{name!r} is empty (0 bytes): not an image. Re-copy or re-export it.")
    kind = _detect(handle.read(_DICOM_MAGIC_OFFSET + 4), name)
    handle.seek(0)
    if kind == "tiff":
        pixels, pixel_size = _read_tiff(handle, size, name, max_pixels)
    elif kind == "dicom":
        pixels, pixel_size = _read_dicom(handle, name, max_pixels)
    else:
        pixels, pixel_size = _read_pillow(handle, size, name, kind, max_pixels)
    if pixel_size is not None and not all(np.isfinite(v) and v > 0 for v in pixel_size):
        pixel_size = None  # a zero or broken resolution states nothing
    pixels = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("="))
    return Image2D(pixels, pixel_size, name, kind)


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> Image2D:
    """Read a 2-D image file, checking its header before decoding (see the module docstring).

    Parameters
    ----------
    path : path-like
    max_pixels : int
        Refuse images with more pixels (rows x columns). Default ``MAX_PIXELS``.

    Returns
    -------
    Image2D

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ImageError
        Not an image of ``FORMATS``, empty, too large, a stack, truncated or corrupt.
    ValueError
        If `max_pixels` is not a positive int.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "section.tif"
    >>> tifffile.imwrite(path, np.zeros((20, 30), np.uint16), resolution=(1e3, 1e3),
    ...                  resolutionunit="CENTIMETER")
    >>> image = read_image(path)
    >>> image.pixels.shape, image.pixels.dtype, image.pixel_size_um, image.format
    ((20, 30), dtype('uint16'), (10.0, 10.0), 'tiff')
    """
    _check_max_pixels(max_pixels)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Image {str(path)!r} does not exist. Check the path.")
    if not path.is_file():
        raise ImageError(f"{str(path)!r} is a folder, not an image file. Give one image file.")
    with open(path, "rb") as handle:
        return _read(handle, path.stat().st_size, str(path), max_pixels)


def decode_image(data: bytes, *, name: str, max_pixels: int = MAX_PIXELS) -> Image2D:
    """Read a 2-D image from bytes, e.g. a web upload; `name` is only shown in messages.

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        How to call the image in messages (the upload's file name). It is never used as a
        path.
    max_pixels : int
        As :func:`read_image`.

    Returns
    -------
    Image2D
        With ``name`` as given.

    Raises
    ------
    TypeError
        If `data` is not bytes-like.
    ImageError, ValueError
        As :func:`read_image`.

    Examples
    --------
    >>> decode_image(b"hello", name="../../notes.png")
    Traceback (most recent call last):
    ...
    fossilct.images.ImageError: '../../notes.png' is not an image that can be read: its first \
bytes (b'hello') match none of png, jpeg, bmp, tiff, dicom. Export the section as PNG, JPEG or \
TIFF (one 2-D image), or as a single-frame DICOM.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"`data` must be the bytes of an image file; got {type(data).__name__} "
                        f"for {name!r}. For a path use read_image.")
    _check_max_pixels(max_pixels)
    data = bytes(data)
    return _read(io.BytesIO(data), len(data), str(name), max_pixels)
