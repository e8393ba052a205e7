"""Tests of fossilct.dashboard.scene: the fossil surface and the plane at its pose."""

import numpy as np
import pytest

from fossilct.dashboard import scene


def _ball(size=24, radius=8.0):
    grid = np.indices((size,) * 3) - (size - 1) / 2
    return np.sqrt((grid ** 2).sum(0)) <= radius


def test_fossil_surface_lies_on_the_mask_boundary():
    surface = scene.fossil_surface(_ball())
    radii = np.linalg.norm(surface.vertices - 11.5, axis=1)
    assert surface.faces.max() < len(surface.vertices)
    assert 7.0 < radii.min() and radii.max() < 9.5


def test_fossil_surface_is_coarsened_to_the_face_limit():
    fine = scene.fossil_surface(_ball(48, 20.0))
    coarse = scene.fossil_surface(_ball(48, 20.0), max_faces=500)
    assert len(coarse.faces) <= 500 < len(fine.faces)


def test_fossil_surface_refuses_an_empty_or_flat_mask():
    with pytest.raises(ValueError, match="non-empty 3-D mask"):
        scene.fossil_surface(np.zeros((4, 4, 4), bool))
    with pytest.raises(ValueError, match="non-empty 3-D mask"):
        scene.fossil_surface(np.ones((4, 4), bool))


def test_plane_grid_spans_the_corners():
    corners = np.array([[1, 0, 0], [1, 0, 4], [1, 2, 4], [1, 2, 0]], float)
    grid = scene.plane_grid(corners, (3, 5))
    assert grid.shape == (3, 5, 3)
    assert grid[0, 0].tolist() == [1, 0, 0] and grid[-1, -1].tolist() == [1, 2, 4]
    assert np.allclose(grid[..., 0], 1.0)


def test_scene_traces_put_the_plane_where_the_corners_are():
    corners = np.array([[5, 0, 0], [5, 0, 9], [5, 9, 9], [5, 9, 0]], float)
    traces = scene.scene_traces(scene.fossil_surface(_ball()), corners, np.ones((4, 4)))
    mesh, section, outline = traces
    assert [t["type"] for t in traces] == ["mesh3d", "surface", "scatter3d"]
    assert np.allclose(section["z"], 5.0) and section["x"].max() == 9.0  # x = col, z = plane
    assert outline["x"].tolist() == [0, 9, 9, 0, 0] and outline["y"].tolist() == [0, 0, 9, 9, 0]
    assert len(mesh["i"]) == len(mesh["j"]) == len(mesh["k"])
    assert scene.scene_layout(title="t")["scene"]["aspectmode"] == "data"
