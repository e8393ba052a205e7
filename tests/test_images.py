"""fossilct.images: user images are checked from their header (size, one 2-D image, complete)
before decoding, read from paths or upload bytes, with the pixel size a file states."""

import io
import struct
import zlib

import cv2
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image

from fossilct import images, volumes


def _png_bytes(array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


def _png_header_only(rows: int, cols: int) -> bytes:
    """A PNG whose header announces rows x cols 8-bit gray pixels, with a tiny (wrong) IDAT: a
    reader that decodes before checking the size fails on the data, not on the size."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))
    ihdr = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
            + chunk(b"IEND", b""))


@pytest.fixture
def section():
    image = np.zeros((40, 50), np.uint16)
    image[10:30, 12:40] = 40000
    return image


def test_png_jpeg_bmp_from_path_and_bytes(tmp_path, section):
    gray8 = (section // 256).astype(np.uint8)
    rgb = np.stack([gray8, gray8 // 2, np.zeros_like(gray8)], axis=-1)
    cases = {"g16.png": (section, section), "rgb.png": (rgb[..., ::-1], rgb),
             "g8.bmp": (gray8, gray8)}
    for name, (written, expected) in cases.items():
        cv2.imwrite(str(tmp_path / name), written)
        read = images.read_image(tmp_path / name)
        assert read.pixels.dtype == expected.dtype and read.pixel_size_um is None
        np.testing.assert_array_equal(read.pixels, expected)
        again = images.decode_image((tmp_path / name).read_bytes(), name="upload")
        np.testing.assert_array_equal(again.pixels, expected)
        assert again.name == "upload" and again.format == name.rsplit(".", 1)[1]
    cv2.imwrite(str(tmp_path / "g.jpg"), gray8)
    jpeg = images.read_image(tmp_path / "g.jpg")
    assert jpeg.format == "jpeg" and jpeg.pixels.shape == (40, 50)
    assert np.abs(jpeg.pixels.astype(int) - gray8).mean() < 3


def test_palette_and_gray_alpha_pngs_become_rgba():
    image = Image.new("LA", (20, 16), (200, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    read = images.decode_image(buffer.getvalue(), name="la.png")
    assert read.pixels.shape == (16, 20, 4) and read.pixels[0, 0].tolist() == [200, 200, 200, 255]


def test_tiff_16_bit_float_colour_and_pixel_sizes(tmp_path, section):
    tifffile.imwrite(tmp_path / "cm.tif", section, resolution=(2500.0, 1250.0),
                     resolutionunit="CENTIMETER")
    read = images.read_image(tmp_path / "cm.tif")
    np.testing.assert_array_equal(read.pixels, section)
    assert read.pixel_size_um == (8.0, 4.0)  # (row, col) from (YResolution, XResolution)
    tifffile.imwrite(tmp_path / "ij.tif", section.astype(np.float32), imagej=True,
                     resolution=(0.5, 0.5), metadata={"unit": "micron"})
    read = images.read_image(tmp_path / "ij.tif")
    assert read.pixels.dtype == np.float32 and read.pixel_size_um == (2.0, 2.0)
    tifffile.imwrite(tmp_path / "dpi.tif", section, resolution=(72.0, 72.0),
                     resolutionunit="INCH")
    assert images.read_image(tmp_path / "dpi.tif").pixel_size_um is None  # screen dpi
    rgb = np.zeros((12, 14, 3), np.uint8)
    rgb[..., 0] = 9
    for planar in ("CONTIG", "SEPARATE"):
        data = rgb if planar == "CONTIG" else np.moveaxis(rgb, -1, 0)
        tifffile.imwrite(tmp_path / "rgb.tif", data, photometric="rgb", planarconfig=planar)
        np.testing.assert_array_equal(images.read_image(tmp_path / "rgb.tif").pixels, rgb)


def test_single_frame_dicom_with_its_pixel_spacing(tmp_path, section):
    folder = volumes.save_volume(tmp_path / "series", section[None], (5.0, 2.5, 2.0),
                                 format="dicom")
    read = images.read_image(next(folder.iterdir()))
    assert read.format == "dicom" and read.pixels.shape == (40, 50)
    np.testing.assert_array_equal(read.pixels, section)
    assert read.pixel_size_um == pytest.approx((2.5, 2.0))
    ct = images.read_image(pydicom.data.get_testdata_file("CT_small.dcm"))
    assert ct.pixels.shape == (128, 128) and ct.pixel_size_um == pytest.approx((661.468, 661.468))


def test_a_huge_image_is_refused_from_its_header_before_decoding():
    with pytest.raises(images.ImageError,
                       match=r"'huge.png' has 20000 x 20000 = 400.0 megapixels, more than the 40 "
                             r"megapixels read \(it is refused before decoding\)\. Downsample "
                             r"it, e.g. to at most 6324 x 6324 pixels"):
        images.decode_image(_png_header_only(20000, 20000), name="huge.png")
    with pytest.raises(images.ImageError, match=r"6 x 7 = 0.0 megapixels, more than the "
                                                r"4e-05 megapixels"):
        images.decode_image(_png_header_only(6, 7), name="small.png", max_pixels=40)


def test_huge_tiff_and_dicom_are_refused_before_decoding(tmp_path):
    # a TIFF header claiming 30000 x 30000 pixels over 1 byte of data: only the header is read
    with tifffile.TiffWriter(tmp_path / "huge.tif") as writer:
        writer.write(shape=(30000, 30000), dtype=np.uint8)
    with pytest.raises(images.ImageError, match=r"huge.tif' has 30000 x 30000 = 900.0 "
                                                r"megapixels"):
        images.read_image(tmp_path / "huge.tif")
    dataset = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    dataset.Rows = dataset.Columns = 9000
    dataset.save_as(tmp_path / "huge.dcm")
    with pytest.raises(images.ImageError, match=r"9000 x 9000 = 81.0 megapixels"):
        images.read_image(tmp_path / "huge.dcm")


def test_stacks_are_refused(tmp_path, section):
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([section] * 5))
    with pytest.raises(images.ImageError, match=r"stack.tif' is a TIFF with 5 pages in 1 series; "
                                                r"give one 2-D image"):
        images.read_image(tmp_path / "stack.tif")
    with pytest.raises(images.ImageError, match=r"rtdose.dcm' is a DICOM with 15 frames \(a "
                                                r"volume\); give one 2-D image"):
        images.read_image(pydicom.data.get_testdata_file("rtdose.dcm"))
    tifffile.imwrite(tmp_path / "channels.tif", np.zeros((20, 20, 2), np.uint8),
                     photometric="minisblack", planarconfig="contig")
    with pytest.raises(images.ImageError, match=r"channels.tif' holds a TIFF of shape "
                                                r"\(20, 20, 2\) \(axes 'YXS'\), not one 2-D gray "
                                                r"or colour image"):
        images.read_image(tmp_path / "channels.tif")


def test_non_images_empty_and_truncated_files_are_refused(tmp_path, section):
    png = _png_bytes(section)
    tiff = io.BytesIO()
    tifffile.imwrite(tiff, section)
    cases = [
        (b"", r"'x' is empty \(0 bytes\): not an image"),
        (b"name,species\na,b\n", r"'x' is not an image that can be read: its first bytes "
                                 r"\(b'name,spe'\) match none of png, jpeg, bmp, tiff, dicom"),
        (png[:-30], r"the PNG is truncated \(no end chunk\)"),
        (png[:60] + png[-12:], r"the PNG data is corrupt or truncated"),
        (tiff.getvalue()[:-100], r"the TIFF is truncated \(its pixel data runs to byte 4\d+, "
                                 r"the file has 4\d+\)"),
        (b"II*\x00garbage", r"its TIFF header is damaged"),
        (b"II*\x00\0\0\0\0", r"its TIFF header is damaged \(no image in it\)"),
        (png[:8] + b"\0" * 40 + png[-12:], r"its PNG header is damaged"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 50, r"JPEG"),
        (b"\0" * 128 + b"DICM" + b"\1" * 20, r"its DICOM header is damaged"),
    ]
    for data, message in cases:
        with pytest.raises(images.ImageError, match=message):
            images.decode_image(data, name="x")
    with pytest.raises(FileNotFoundError, match=r"missing.png' does not exist"):
        images.read_image(tmp_path / "missing.png")
    with pytest.raises(images.ImageError, match=r"is a folder, not an image file"):
        images.read_image(tmp_path)


def test_dicom_pixel_data_that_does_not_decode_is_named(tmp_path):
    dataset = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless
    dataset.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8" + b"\0" * 100])
    dataset["PixelData"].VR = "OB"
    dataset.save_as(tmp_path / "broken.dcm")
    with pytest.raises(images.ImageError, match=r"broken.dcm': the DICOM pixel data does not "
                                                r"decode \(transfer syntax 1.2.840.10008.1.2.4.80"
                                                r"; .*Export it uncompressed"):
        images.read_image(tmp_path / "broken.dcm")


def test_upload_names_are_never_paths(tmp_path, monkeypatch, section):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.png").write_bytes(b"not the upload")
    read = images.decode_image(_png_bytes(section), name="../../x.png")
    np.testing.assert_array_equal(read.pixels, section)
    with pytest.raises(images.ImageError, match=r"'x.png' is not an image"):
        images.decode_image(b"junk", name="x.png")  # the file of that name is not opened


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"`data` must be the bytes of an image file; got str"):
        images.decode_image("image.png", name="image.png")
    with pytest.raises(ValueError, match=r"`max_pixels` must be a positive int; got 0"):
        images.decode_image(b"", name="x", max_pixels=0)
