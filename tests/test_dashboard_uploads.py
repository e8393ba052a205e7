"""Tests of fossilct.dashboard.uploads: names, limits, images and volumes from bytes."""

import datetime
import io
import os

import cv2
import numpy as np
import pytest

from fossilct import images, volumes
from fossilct.dashboard import uploads


def _widget_value(name, content):
    return ({"name": name, "type": "", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.datetime.now()},)


@pytest.mark.parametrize("name,shown", [("../../x.png", "x.png"), ("a\\b\\c.tif", "c.tif"),
                                        ("..", "upload"), ("<img onerror=1>.png", "_img onerror=1_.png"),
                                        ("bad\x00name.png", "bad_name.png"), ("", "upload")])
def test_display_name_drops_path_parts(name, shown):
    assert uploads.display_name(name) == shown


def test_uploads_from_widget_copies_bytes_and_cleans_names():
    [upload] = uploads.uploads_from_widget(_widget_value("../../etc/x.png", b"abc"))
    assert upload == uploads.Upload("x.png", b"abc")


def test_read_upload_image_and_its_limit(monkeypatch):
    png = cv2.imencode(".png", np.full((20, 20), 9, np.uint8))[1].tobytes()
    assert uploads.read_upload_image(uploads.Upload("a.png", png)).pixels.shape == (20, 20)
    monkeypatch.setattr(uploads, "MAX_IMAGE_UPLOAD_BYTES", 10)
    with pytest.raises(images.ImageError, match="limit for an image upload"):
        uploads.read_upload_image(uploads.Upload("a.png", png))


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_read_upload_volume_reads_and_writes_nothing_that_stays(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = np.random.default_rng(0).integers(0, 200, (6, 8, 10)).astype(np.uint8)
    volume = uploads.read_upload_volume(uploads.Upload("../scan.npy", _npy_bytes(data)))
    assert (volume.data == data).all() and volume.source == "../scan.npy"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name,content,match", [
    ("scan.xyz", b"123", "must be one file ending in"),
    ("slice.npy", None, "2-D"),
    ("broken.npy", b"\x93NUMPY garbage", "scan.npy|broken.npy|corrupt|truncated"),
])
def test_read_upload_volume_refuses_bad_volumes(name, content, match):
    content = _npy_bytes(np.ones((8, 8), np.uint8)) if content is None else content
    with pytest.raises(volumes.VolumeError, match=match):
        uploads.read_upload_volume(uploads.Upload(name, content))


def test_read_upload_volume_limit(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_VOLUME_UPLOAD_BYTES", 10)
    with pytest.raises(volumes.VolumeError, match="limit for a volume upload"):
        uploads.read_upload_volume(uploads.Upload("scan.npy", b"x" * 11))
