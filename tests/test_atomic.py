import json

import numpy as np
import pandas as pd
import pytest

from fossilct import atomic


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    atomic.write_text(target, "old\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_atomic_path_keeps_double_suffix_for_format_sniffing(tmp_path):
    with atomic.atomic_path(tmp_path / "scan.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")


def test_atomic_dir_keeps_previous_folder_when_interrupted(tmp_path):
    folder = tmp_path / "stack"
    with atomic.atomic_dir(folder) as tmp:
        (tmp / "a.png").write_bytes(b"1")
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_dir(folder) as tmp:
            (tmp / "b.png").write_bytes(b"2")
            raise KeyboardInterrupt
    assert [p.name for p in folder.iterdir()] == ["a.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["stack"]
    with atomic.atomic_dir(folder) as tmp:
        (tmp / "c.png").write_bytes(b"3")
    assert [p.name for p in folder.iterdir()] == ["c.png"]


def test_json_is_key_sorted_and_rejects_nan(tmp_path):
    path = atomic.write_json(tmp_path / "m.json", {"b": 1, "a": [1.5]})
    assert path.read_text().index('"a"') < path.read_text().index('"b"')
    assert json.loads(path.read_text()) == {"a": [1.5], "b": 1}
    with pytest.raises(ValueError):
        atomic.write_json(tmp_path / "bad.json", {"x": float("nan")})
    assert not (tmp_path / "bad.json").exists()


def test_csv_and_yaml_round_trip(tmp_path):
    frame = pd.DataFrame({"file": ["a.nii", "b.nii"], "n": [1, 2]})
    path = atomic.write_csv(tmp_path / "t.csv", frame)
    pd.testing.assert_frame_equal(pd.read_csv(path), frame)
    assert b"\r\n" not in path.read_bytes()
    yaml_path = atomic.write_yaml(tmp_path / "p.yaml", {"z": 1, "a": [1, 2]})
    assert yaml_path.read_text().splitlines()[0] == "z: 1"


def test_save_figure_is_byte_reproducible(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.imshow(np.arange(16).reshape(4, 4))
    first = atomic.save_figure(fig, tmp_path / "a.png").read_bytes()
    second = atomic.save_figure(fig, tmp_path / "b.png").read_bytes()
    plt.close(fig)
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert first == second


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "table.csv"
    stale_file = tmp_path / ".table.csv.abc123.tmp.csv"
    stale_dir = tmp_path / ".images.xyz.tmp"
    stale_old = tmp_path / ".images.q.old"
    other = tmp_path / ".other.csv.abc.tmp.csv"
    for path in (stale_file, other):
        path.write_text("half")
    for folder in (stale_dir, stale_old):
        folder.mkdir()
        (folder / "a.png").write_bytes(b"x")
    atomic.write_text(target, "complete")
    assert not stale_file.exists() and other.exists()  # only this destination's leftovers
    with atomic.atomic_dir(tmp_path / "images") as folder:
        (folder / "b.png").write_bytes(b"y")
    assert not stale_dir.exists() and not stale_old.exists()


def test_finished_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        path = atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.atomic_dir(tmp_path / "d") as folder:
            (folder / "f").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_save_figures_names_each_file_after_its_figure(tmp_path):
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    paths = atomic.save_figures({"curves": fig}, tmp_path, prefix="tta_")
    assert paths == {"curves.png": tmp_path / "tta_curves.png"}
    assert paths["curves.png"].read_bytes().startswith(b"\x89PNG")
    assert atomic.save_figures(None, tmp_path) == {}
