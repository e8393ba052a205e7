"""Uploads: safe display names, size limits, and reading images and volumes from their bytes.

An upload's name is only ever shown, never used as a path (``../../x.png`` is shown as
``x.png``). Images are decoded from memory (:func:`fossilct.images.decode_image`: the format
from the content, the size from the header before decoding). The volume readers of
:mod:`fossilct.volumes` take paths, so an uploaded volume is written under a fixed name into a
private temporary folder, read, and the folder is deleted at once; nothing else is written.

Limits: an image upload holds at most :data:`MAX_IMAGE_UPLOAD_BYTES`, a volume at most
:data:`MAX_VOLUME_UPLOAD_BYTES`. The web server must let uploads that large through its websocket
(the repository's ``voila.json`` raises tornado's ``websocket_max_message_size`` from 10 MiB to
100 MiB, the size of tornado's stream buffer, which Voilà does not let one raise).
"""

from __future__ import annotations

import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path


from fossilct import images, volumes

__all__ = [
    "MAX_IMAGE_UPLOAD_BYTES",
    "MAX_VOLUME_UPLOAD_BYTES",
    "VOLUME_SUFFIXES",
    "Upload",
    "display_name",
    "uploads_from_widget",
    "read_upload_image",
    "read_upload_volume",
]

MAX_IMAGE_UPLOAD_BYTES = 64 * 2 ** 20
"""Largest image upload (64 MiB); its pixel count is limited by
:data:`fossilct.images.MAX_PIXELS`."""
MAX_VOLUME_UPLOAD_BYTES = 96 * 2 ** 20
"""Largest volume upload (96 MiB, e.g. a 460^3 8-bit or 365^3 16-bit scan): under the 100 MiB
that the web server reads in one message (tornado's default stream buffer)."""
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".tif", ".tiff", ".nrrd", ".dcm", ".npy", ".npz")
"""Single-file volume formats an upload can hold (folders of slices cannot be uploaded)."""
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")


@dataclass(frozen=True)
class Upload:
    """One uploaded file: a display name and its bytes."""

    name: str
    content: bytes


def display_name(name: str, *, max_chars: int = 80) -> str:
    """A file name fit to show: the last path part, without control or shell characters.

    Examples
    --------
    >>> display_name("../../etc/passwd"), display_name("C:\\\\x\\\\slice 1.png"), display_name("")
    ('passwd', 'slice 1.png', 'upload')
    """
    last = re.split(r"[\\/]", str(name))[-1]
    cleaned = _UNSAFE.sub("_", last).strip().lstrip(".") or "upload"
    return cleaned[:max_chars]


def uploads_from_widget(value) -> list[Upload]:
    """The files of an ``ipywidgets.FileUpload`` value, with safe names.

    Parameters
    ----------
    value : sequence of dict
        ``FileUpload.value``: dicts with ``name`` and ``content`` (a memoryview).

    Returns
    -------
    list of Upload
    """
    return [Upload(display_name(item.get("name", "")), bytes(item["content"])) for item in value]


def read_upload_image(upload: Upload) -> images.Image2D:
    """Decode an uploaded image (PNG, JPEG, BMP, 8/16-bit TIFF, single 2-D DICOM).

    Returns
    -------
    fossilct.images.Image2D
        Pixels and, where the file states one, the pixel size.

    Raises
    ------
    fossilct.images.ImageError
        Too large, not an image, corrupt, a stack (see :func:`fossilct.images.decode_image`).
    """
    if len(upload.content) > MAX_IMAGE_UPLOAD_BYTES:
        raise images.ImageError(
            f"{upload.name!r} is {len(upload.content) / 2 ** 20:.0f} MiB, over the "
            f"{MAX_IMAGE_UPLOAD_BYTES // 2 ** 20} MiB limit for an image upload.")
    return images.decode_image(upload.content, name=upload.name)


def _volume_suffix(name: str) -> str | None:
    lower = name.lower()
    return next((s for s in sorted(VOLUME_SUFFIXES, key=len, reverse=True)
                 if lower.endswith(s)), None)


def read_upload_volume(upload: Upload) -> volumes.Volume:
    """Read an uploaded volume file (NIfTI, multi-page TIFF, NRRD, DICOM, .npy, .npz).

    Returns
    -------
    fossilct.volumes.Volume
        ``source`` is the upload's display name. A file without spacing gets the 1 µm default
        (the warning is not raised: the panel reports the spacing it used).

    Raises
    ------
    fossilct.volumes.VolumeError
        Too large, an unknown suffix, a corrupt file, a 2-D image or a 4-D array (the volume
        readers' messages).
    """
    if len(upload.content) > MAX_VOLUME_UPLOAD_BYTES:
        raise volumes.VolumeError(
            f"{upload.name!r} is {len(upload.content) / 2 ** 20:.0f} MiB, over the "
            f"{MAX_VOLUME_UPLOAD_BYTES // 2 ** 20} MiB limit for a volume upload.")
    suffix = _volume_suffix(upload.name)
    if suffix is None:
        raise volumes.VolumeError(
            f"{upload.name!r}: a volume upload must be one file ending in "
            f"{', '.join(VOLUME_SUFFIXES)}; a folder of slices cannot be uploaded (pack it as a "
            "multi-page TIFF or NIfTI).")
    with tempfile.TemporaryDirectory(prefix="fossilct-upload-") as folder:
        path = Path(folder) / f"volume{suffix}"
        path.write_bytes(upload.content)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", volumes.MissingSpacingWarning)
            try:
                loaded = volumes.load_volume(path)
            except FileNotFoundError as error:  # a reader that found the file incomplete
                raise volumes.VolumeError(f"{upload.name!r}: {error}") from None
            except volumes.VolumeError as error:
                raise volumes.VolumeError(str(error).replace(str(path), upload.name)) from None
    return volumes.Volume(loaded.data, loaded.spacing_um, upload.name, loaded.format)
