"""Tests of the matching tab, driven by setting widget values (no browser)."""

import datetime
import io
import threading

import cv2
import numpy as np
import pandas as pd
import pytest

from fossilct import synthetic, volumes
from fossilct.dashboard import match_panel
from fossilct.dashboard import matching_adapter as adapter

SPECIES = ("elphidiella_like", "alveolina_like")


def _files(name, data):
    return ({"name": name, "type": "", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now()},)


@pytest.fixture(scope="module")
def library_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("volumes")
    rows = []
    for k, species in enumerate(SPECIES):
        specimen = synthetic.make_specimen(species, size=40, rng=k)
        volumes.save_volume(folder / f"{species}.npy", specimen.volume, specimen.spacing_um)
        rows.append({"file": f"{species}.npy", "specimen_id": f"{species}_0", "species": species})
    return pd.DataFrame(rows), folder


@pytest.fixture
def panel(library_files):
    table, folder = library_files
    panel = match_panel.MatchingPanel(table=table, data_dir=folder, cache_dir=folder / "index",
                                      options={}, seed=0)
    panel.start_library().join(120)
    return panel


def _wait(panel):
    panel._job.join(120)


def test_a_known_query_is_ranked_posed_and_drawn_in_3d(panel):
    assert len(panel.known) == match_panel.N_KNOWN_QUERIES and "2 volumes" in \
        panel.library_choice.options[0][0]
    shown_when_announced = []
    panel.message.observe(lambda change: shown_when_announced.append(len(panel.figure.data))
                          if "Best match" in change.new else None, names="value")
    panel.known_pick.value = 1
    _wait(panel)
    best = panel.search.result.best
    assert shown_when_announced == [3]  # the 3-D view, drawn last, is there when announced
    assert "Best match" in panel.message.value and best.species in panel.rankings.value
    assert "reliable" in panel.message.value  # whether to trust the pose, and why not
    assert "plane normal" in panel.pose.value and "Pose error" in panel.errors.value
    assert [t.type for t in panel.figure.data] == ["mesh3d", "surface", "scatter3d"]
    assert panel.scene_box.layout.display is None and len(panel.overlay.value) > 100
    assert len(panel.file_image.value) > 100 and "in the scan" in panel.pose.value
    assert panel.progress.value == panel.progress.max


def test_an_uploaded_slice_is_searched(panel):
    known = panel.known[0]
    png = cv2.imencode(".png", np.rint(known.image * 255).astype(np.uint8))[1].tobytes()
    panel.query_upload.value = _files("../query.png", png)
    _wait(panel)
    assert "Searching query.png" not in panel.message.value and panel.search is not None
    assert panel.errors.value == ""  # an upload has no known pose


@pytest.mark.parametrize("name,data,match", [
    ("notes.txt", b"hello", "not an image that can be read"),
    ("blank.png", cv2.imencode(".png", np.zeros((40, 40), np.uint8))[1].tobytes(), "blank"),
])
def test_bad_query_uploads_give_messages(panel, name, data, match):
    panel.query_upload.value = _files(name, data)
    if panel._job is not None:
        _wait(panel)
    assert match in panel.message.value and "error" in panel.message.value


def test_an_uploaded_volume_becomes_the_library(panel, library_files):
    table, folder = library_files
    buffer = io.BytesIO()
    np.save(buffer, volumes.load_volume(folder / table.loc[1, "file"]).data)
    panel.volume_upload.value = _files("mine.npy", buffer.getvalue())
    _wait(panel)
    assert panel.library_choice.value == "upload" and panel.uploaded.file == "mine.npy"
    panel.known_pick.value = 0
    _wait(panel)
    assert panel.library_choice.value == "run"  # a known query belongs to the run library


def test_a_volume_of_the_wrong_dimension_is_refused(panel):
    buffer = io.BytesIO()
    np.save(buffer, np.ones((30, 30), np.uint8))
    panel.volume_upload.value = _files("flat.npy", buffer.getvalue())
    _wait(panel)
    assert "2-D" in panel.message.value and panel.uploaded is None


def test_cancel_really_stops_a_search(panel, monkeypatch):
    clicked, reached = threading.Event(), []
    real = adapter.search_library

    def slow(*args, cancelled, **kwargs):
        clicked.wait(30)
        return real(*args, cancelled=cancelled,
                    progress=lambda *a: reached.append(a), **{k: v for k, v in kwargs.items()
                                                              if k != "progress"})

    monkeypatch.setattr(adapter, "search_library", slow)
    panel.known_pick.value = 2
    panel.cancel.click()
    clicked.set()
    _wait(panel)
    assert "Cancelled" in panel.message.value and reached == [] and panel.cancel.disabled
