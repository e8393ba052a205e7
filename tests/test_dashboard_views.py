"""Tests of fossilct.dashboard.views: PNG encoding, overlays, bars, tables, download, messages."""

import base64
import io

import cv2
import numpy as np
import pandas as pd
import pytest

from fossilct import inference
from fossilct.dashboard import views


def test_to_png_round_trips_gray_rgb_and_masks():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (cv2.imdecode(np.frombuffer(views.to_png(gray), np.uint8), -1) == gray).all()
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    decoded = cv2.imdecode(np.frombuffer(views.to_png(rgb), np.uint8), -1)
    assert decoded[0, 0].tolist() == [0, 0, 255]  # OpenCV reads BGR: red stayed red
    mask = np.eye(3, dtype=bool)
    assert cv2.imdecode(np.frombuffer(views.to_png(mask), np.uint8), -1).max() == 255
    with pytest.raises(ValueError, match="must be \\(H, W\\) or \\(H, W, 3\\)"):
        views.to_png(np.zeros((2, 2, 2)))


def test_display_image_keeps_the_aspect_and_pixels():
    image = np.array([[0, 255], [255, 0]], np.uint8)
    big = views.display_image(image, side=8)
    assert big.shape == (8, 8) and set(np.unique(big)) == {0, 255}
    assert views.display_image(np.zeros((400, 200), np.uint8), side=100).shape == (100, 50)


def test_overlay_mask_tints_only_the_mask():
    gray = np.full((3, 3), 100, np.uint8)
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    out = views.overlay_mask(gray, mask)
    assert out[0, 0].tolist() == [100, 100, 100] and out[1, 1, 1] > out[1, 1, 0]
    with pytest.raises(ValueError, match="must have one shape"):
        views.overlay_mask(gray, mask[:2])


def test_overlay_sections_colours_disagreement():
    query = np.array([[200, 0, 200]], np.uint8)
    match = np.array([[0, 200, 200]], np.uint8)
    out = views.overlay_sections(query, match)
    assert out[0].tolist() == [[200, 0, 200], [0, 200, 0], [200, 200, 200]]
    with pytest.raises(ValueError, match="must have one shape"):
        views.overlay_sections(query, match[:, :2])


def test_probability_bars_escape_names_and_cap_rows():
    bars = views.probability_bars_html(["<b>x</b>", "y", "z"], [0.5, 0.3, 0.2], top=2)
    assert "&lt;b&gt;x&lt;/b&gt;" in bars and "<b>x" not in bars
    assert bars.count("<tr>") == 2 and "width:50.0%" in bars


def _prediction(name, probs):
    summary = inference.summarise_probabilities(probs, ["a", "b"], abstention_threshold=0.8)
    return inference.Prediction(name, summary, True, "", 0.25)


def test_batch_table_has_one_row_per_image_refused_included():
    refused = inference.Prediction("bad.png", None, False, "constant", np.nan)
    table = views.batch_table([_prediction("x.png", [0.3, 0.7]), refused])
    assert table["file"].tolist() == ["x.png", "bad.png"]
    assert table["species"].tolist() == ["b", ""] and table.loc[0, "uncertain"]
    assert views.batch_table([]).empty


def test_summary_html_names_the_flag():
    summary = _prediction("x", [0.3, 0.7]).summary
    text = views.summary_html(summary, abstention_threshold=0.8)
    assert "UNCERTAIN" in text and "0.80" in text and "70.0%" in text


def test_table_html_escapes_upload_names():
    html = views.table_html(pd.DataFrame({"file": ["<script>x</script>"], "p": [0.12345]}))
    assert "<script>" not in html and "0.123" in html


def test_csv_download_holds_the_table():
    table = pd.DataFrame({"file": ["a.png"], "probability": [0.5]})
    link = views.csv_download_html(table, filename="out.csv", label="Download")
    payload = link.split("base64,")[1].split('"')[0]
    assert pd.read_csv(io.StringIO(base64.b64decode(payload).decode())).equals(table)


def test_message_html_kinds():
    assert "b91c1c" in views.message_html("x", kind="error")
    with pytest.raises(ValueError, match="`kind` must be one of"):
        views.message_html("x", kind="loud")
