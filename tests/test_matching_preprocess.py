"""Tests of fossilct.matching.preprocess: query preparation and its errors."""

import cv2
import numpy as np
import pytest
import tifffile

from fossilct import segmentation
from fossilct.matching import MatchingError, prepare_query, read_query_image
from fossilct.matching.preprocess import gray_to_square, to_square
from fossilct.matching.silhouette import outline_silhouette, shell_mask
from fossilct.matching.similarity import dice


@pytest.fixture
def ct_slice(rng):
    """A 64 x 80 CT-like section: a bright wall, a darker lumen, noise."""
    image = np.full((64, 80), 0.05, np.float32)
    cv2.ellipse(image, (42, 30), (24, 14), 15, 0, 360, 0.9, -1)
    cv2.ellipse(image, (44, 31), (15, 8), 15, 0, 360, 0.3, -1)
    cv2.circle(image, (28, 26), 4, 0.3, -1)
    return np.clip(image + rng.normal(0, 0.02, image.shape), 0, 1).astype(np.float32)


def test_query_is_the_segmentation_of_the_slice(ct_slice):
    query = prepare_query(ct_slice, image_size=48)
    seg = segmentation.segment_slice(segmentation.prepare_external_image(ct_slice),
                                     image_size=48)
    assert np.array_equal(query.image, seg.image)
    assert query.image.shape == (48, 48) and query.image.dtype == np.uint8
    assert query.mask.shape == (48, 48) and query.mask.dtype == bool
    # the silhouette is the outline rule on the segmentation's shell, close to its mask
    shell = shell_mask(query.gray, seg.threshold)
    assert np.array_equal(query.silhouette, outline_silhouette(shell))
    assert query.threshold == seg.threshold
    assert dice(query.silhouette, seg.mask) > 0.95
    rows, cols = np.nonzero(query.silhouette)
    assert query.centroid == pytest.approx([rows.mean(), cols.mean()])
    assert query.radius == pytest.approx(np.sqrt(rows.size / np.pi))
    # the square mask is the silhouette cropped and resized like the image
    assert np.array_equal(query.mask, query.image > 0) or \
        (query.mask ^ (query.image > 0)).mean() < 0.05


def test_square_mapping_round_trips(ct_slice):
    query = prepare_query(ct_slice, image_size=48)
    points = query.square_to_gray()
    back = gray_to_square(points, query.crop, 48)
    grid = np.stack(np.meshgrid(np.arange(48), np.arange(48), indexing="ij"), axis=-1)
    assert np.allclose(back, grid)
    assert query.square_valid().sum() < 48 * 48  # the non-square crop is padded


def test_to_square_reproduces_the_model_input(ct_slice):
    query = prepare_query(ct_slice, image_size=40)
    gray_u8 = segmentation.to_uint8(query.gray)
    seg = segmentation.segment_slice(query.gray, image_size=40)
    assert np.array_equal(to_square(gray_u8 * seg.mask, query.crop, 40), query.image)


def test_white_background_rgb_photo_gives_the_same_silhouette(ct_slice):
    photo = np.repeat((255 * (1.0 - ct_slice))[..., None], 3, axis=2).astype(np.uint8)
    gray_query = prepare_query(ct_slice, image_size=48)
    photo_query = prepare_query(photo, image_size=48)
    overlap = (gray_query.silhouette & photo_query.silhouette).sum()
    assert overlap / gray_query.silhouette.sum() > 0.95


def test_pixel_size_follows_the_shrinking_of_large_images(ct_slice):
    big = cv2.resize(ct_slice, (80 * 16, 64 * 16), interpolation=cv2.INTER_LINEAR)
    query = prepare_query(big, pixel_size_um=1.0)
    assert query.gray.shape[1] == segmentation.DEFAULT_EXTERNAL_MAX_SIDE
    assert query.pixel_size_um == pytest.approx(big.shape[0] / query.gray.shape[0])
    assert prepare_query(ct_slice).pixel_size_um is None


def test_blank_query_is_refused():
    with pytest.raises(MatchingError, match="is blank"):
        prepare_query(np.full((32, 32), 0.3, np.float32))


def test_query_under_16_pixels_is_refused():
    with pytest.raises(MatchingError, match="too small: 12 x 40 pixels"):
        prepare_query(np.random.default_rng(0).random((12, 40)))


def test_query_of_noise_has_no_fossil(rng):
    with pytest.raises(MatchingError, match="shows no fossil"):
        prepare_query(rng.normal(0.5, 0.1, (64, 64)).astype(np.float32))


def test_query_of_a_texture_filling_the_frame_has_no_isolated_fossil(rng):
    texture = cv2.GaussianBlur(rng.normal(0.5, 0.1, (96, 96)).astype(np.float32), (0, 0), 3)
    with pytest.raises(MatchingError, match="no isolated fossil|shows no fossil"):
        prepare_query(texture)


def test_query_of_the_wrong_shape_or_type_is_refused():
    with pytest.raises(MatchingError, match="must be a 2-D gray, RGB or RGBA image"):
        prepare_query(np.zeros((4, 32, 32)))
    with pytest.raises(TypeError, match="must be a numeric image"):
        prepare_query(np.full((32, 32), "x"))


def test_query_with_nan_or_bad_pixel_size_is_refused(ct_slice):
    broken = ct_slice.copy()
    broken[0, 0] = np.nan
    with pytest.raises(MatchingError, match="1 NaN/inf"):
        prepare_query(broken)
    with pytest.raises(MatchingError, match="`pixel_size_um` must be positive"):
        prepare_query(ct_slice, pixel_size_um=0.0)


def test_read_query_image_reads_png_and_float_tiff(tmp_path, ct_slice):
    rgb = np.zeros((20, 24, 3), np.uint8)
    rgb[..., 0] = 200  # red
    cv2.imwrite(str(tmp_path / "q.png"), rgb[..., ::-1])
    assert read_query_image(tmp_path / "q.png")[0, 0].tolist() == [200, 0, 0]
    tifffile.imwrite(tmp_path / "q.tif", ct_slice)
    assert np.array_equal(read_query_image(tmp_path / "q.tif"), ct_slice)


def test_read_query_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_query_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(MatchingError, match="is not an image"):
        read_query_image(tmp_path / "notes.png")
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(MatchingError, match="is not an image"):
        read_query_image(tmp_path / "broken.tif")


def test_a_section_cut_by_the_image_border_is_a_partial_view(ct_slice):
    whole = prepare_query(ct_slice)
    assert not whole.partial
    cut = prepare_query(ct_slice[:, 30:])  # the border cuts the fossil's left end
    assert cut.partial and cut.radius < whole.radius


def test_read_query_image_refuses_a_huge_image_or_a_stack_before_decoding(tmp_path):
    with tifffile.TiffWriter(tmp_path / "huge.tif") as writer:
        writer.write(shape=(20000, 20000), dtype=np.uint8)  # a header, no pixel data
    with pytest.raises(MatchingError, match=r"Query image: .*huge.tif' has 20000 x 20000 = 400.0 "
                                            r"megapixels, more than the 40 megapixels read"):
        read_query_image(tmp_path / "huge.tif")
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((6, 20, 20), np.uint8))
    with pytest.raises(MatchingError, match=r"TIFF with 6 pages .*not a stack"):
        read_query_image(tmp_path / "stack.tif")
