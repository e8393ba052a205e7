"""Tests of fossilct.dashboard.matching_adapter on a two-volume synthetic library."""

import numpy as np
import pandas as pd
import pytest

from fossilct import matching, synthetic, volumes
from fossilct.dashboard import matching_adapter as adapter

SPECIES = ("elphidiella_like", "alveolina_like")


@pytest.fixture(scope="module")
def library_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("volumes")
    rows = []
    for k, species in enumerate(SPECIES):
        specimen = synthetic.make_specimen(species, size=40, rng=k)
        volumes.save_volume(folder / f"{species}.npy", specimen.volume, specimen.spacing_um)
        rows.append({"file": f"{species}.npy", "specimen_id": f"{species}_0", "species": species})
    return pd.DataFrame(rows), folder


@pytest.fixture(scope="module")
def library(library_files):
    table, folder = library_files
    return adapter.load_library(table, folder, cache_dir=folder / "index")


def test_load_library_reports_each_volume_and_caches_indexes(library_files):
    table, folder = library_files
    seen = []
    library = adapter.load_library(table, folder, cache_dir=folder / "index",
                                   progress=lambda *args: seen.append(args))
    assert [v.file for v in library.volumes] == list(table["file"])
    assert seen == [(1, 2, "elphidiella_like.npy"), (2, 2, "alveolina_like.npy")]
    assert len(list((folder / "index").glob("*.npz"))) == 2


def test_load_library_cancels_between_volumes(library_files):
    table, folder = library_files
    seen = []
    with pytest.raises(adapter.SearchCancelled):
        adapter.load_library(table, folder, cache_dir=folder / "index",
                             progress=lambda *args: seen.append(args),
                             cancelled=lambda: len(seen) >= 1)
    assert len(seen) == 1


def test_load_library_lists_an_unreadable_file(library_files, tmp_path):
    table, folder = library_files
    broken = pd.concat([table, pd.DataFrame([{"file": "missing.npy", "specimen_id": "m",
                                              "species": "m"}])], ignore_index=True)
    library = adapter.load_library(broken, folder, cache_dir=folder / "index")
    assert len(library) == 2 and library.skipped["file"].tolist() == ["missing.npy"]


def test_search_finds_a_known_section_and_reports_progress(library):
    known = adapter.known_pose_queries(library, 2, rng=0)
    steps = []
    search = adapter.search_library(known[1].image, library, pixel_size_um=known[1].pixel_size_um,
                                    progress=lambda *args: steps.append(args))
    source = library.volumes[known[1].target]
    assert search.result.best.file == source.file
    assert steps and steps[-1][0] == steps[-1][1] and {s[2] for s in steps} <= {
        v.file for v in library.volumes}
    lines = adapter.pose_error_lines(known[1], search.result.best, source_file=source.file,
                                     voxel_size_um=source.voxel_size_um)
    assert lines[0].startswith("normal error") and "pose" in lines[1]


def test_search_gives_the_same_result_as_the_matching_package(library):
    known = adapter.known_pose_queries(library, 1, rng=3)[0]
    ours = adapter.search_library(known.image, library, pixel_size_um=known.pixel_size_um)
    theirs = matching.match_slice_to_library(known.image, library,
                                             pixel_size_um=known.pixel_size_um)
    assert ours.result.volumes["score"].tolist() == pytest.approx(
        theirs.volumes["score"].tolist())


def test_cancel_stops_the_search_before_its_next_volume(library):
    known = adapter.known_pose_queries(library, 1, rng=0)[0]
    steps = []
    with pytest.raises(adapter.SearchCancelled):
        adapter.search_library(known.image, library, progress=lambda *args: steps.append(args),
                               cancelled=lambda: len(steps) >= 1)
    assert len(steps) == 1


def test_search_refuses_a_blank_query(library):
    with pytest.raises(matching.MatchingError, match="blank"):
        adapter.search_library(np.zeros((40, 40)), library)


def test_plane_corners_lie_on_the_matched_plane(library):
    known = adapter.known_pose_queries(library, 1, rng=1)[0]
    search = adapter.search_library(known.image, library, pixel_size_um=known.pixel_size_um)
    best = search.result.best
    corners = adapter.plane_corners(best, search.query)
    normal = np.asarray(best.normal)
    assert np.allclose((corners - np.asarray(best.centre_vox)) @ normal, 0.0, atol=1e-9)
    width = np.linalg.norm(corners[1] - corners[0])
    assert width == pytest.approx((search.query.gray.shape[1] - 1) * best.scale)
    target = next(v for v in library.volumes if v.file == best.file)
    section = adapter.plane_section(target.volume, best, search.query, side=32)
    assert max(section.shape) == 32 and section.max() > 0.3


def test_pose_lines_name_the_file_grid_and_micrometres(library):
    known = adapter.known_pose_queries(library, 1, rng=1)[0]
    best = adapter.search_library(known.image, library).result.best
    lines = adapter.pose_lines(best, voxel_size_um=2.0)
    assert lines[0].startswith(f"in the scan {best.file}") and "µm" in lines[1]
    assert any(line.startswith("plane normal (plane, row, col)") for line in lines)


def test_the_file_section_is_the_query_cut_from_the_file(library, library_files):
    table, folder = library_files
    known = adapter.known_pose_queries(library, 2, rng=5)[0]
    search = adapter.search_library(known.image, library, pixel_size_um=known.pixel_size_um)
    best = search.result.best
    section = adapter.file_section(folder / best.file, best, search.query)
    assert section.shape == search.query.gray.shape
    inside = search.query.silhouette
    correlation = np.corrcoef(section[inside], search.query.gray[inside])[0, 1]
    assert correlation > 0.5


def test_run_search_options_and_library_table():
    options = adapter.run_search_options({"search_effort": {"n_screen": 8},
                                          "weights": {"ncc": 1.0}})
    assert options == {"weights": {"ncc": 1.0}, "effort": matching.SearchEffort(n_screen=8)}
    with pytest.raises(ValueError, match="Unknown search effort settings"):
        adapter.run_search_options({"search_effort": {"n_screeen": 8}})
    inventory = pd.DataFrame({"file": ["a0", "a1", "b0"], "species": list("aab"),
                              "specimen_id": ["a0", "a1", "b0"]})
    assert adapter.run_library_table(inventory, {"library_per_species": 1})["file"].tolist() \
        == ["a0", "b0"]


def test_library_volume_from_upload_is_searchable(library_files):
    table, folder = library_files
    volume = volumes.load_volume(folder / table.loc[0, "file"])
    target = adapter.library_volume_from_upload(volume, name="mine.npy")
    assert target.index is not None and target.species == "(uploaded)"
