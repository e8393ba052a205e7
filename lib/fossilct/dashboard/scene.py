"""The 3-D view of a match: the fossil's surface with the matched plane at its true pose.

:func:`fossil_surface` turns the volume's fossil mask into a triangle mesh (marching cubes, on a
coarser grid when the mask is large, so the browser gets a few tens of thousands of triangles at
most); :func:`scene_traces` gives plotly trace dicts (plain data, no plotly import): the
half-transparent surface, the matched section drawn on its plane (the volume's intensities
sampled there) and the plane's outline. Coordinates are voxels of the library volume; plotly's
x, y, z are its (col, row, plane) axes, labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Surface", "fossil_surface", "plane_grid", "scene_traces", "scene_layout"]

MAX_FACES = 40_000
"""Largest number of triangles sent to the browser."""


@dataclass(frozen=True)
class Surface:
    """A triangle mesh.

    Attributes
    ----------
    vertices : (V, 3) ndarray of float32
        (plane, row, col) voxel positions.
    faces : (F, 3) ndarray of int32
    """

    vertices: np.ndarray
    faces: np.ndarray


def fossil_surface(mask: np.ndarray, *, max_faces: int = MAX_FACES) -> Surface:
    """The surface of a fossil mask (marching cubes), coarsened to at most `max_faces` triangles.

    Parameters
    ----------
    mask : (P, M, N) ndarray of bool
    max_faces : int, keyword-only

    Returns
    -------
    Surface

    Raises
    ------
    ValueError
        A mask that is not 3-D, or empty.

    Examples
    --------
    >>> grid = np.indices((12, 12, 12)) - 5.5
    >>> surface = fossil_surface((grid ** 2).sum(0) < 16)
    >>> surface.vertices.shape[1], bool(np.abs(surface.vertices - 5.5).max() <= 5)
    (3, True)
    """
    from skimage import measure

    mask = np.asarray(mask, bool)
    if mask.ndim != 3 or not mask.any():
        raise ValueError(f"`mask` must be a non-empty 3-D mask; got shape {mask.shape} with "
                         f"{int(mask.sum())} voxels set.")
    padded = np.pad(mask, 1).astype(np.float32)
    # faces grow with the surface area, i.e. with the square of the grid step's inverse
    estimate = 2.0 * float(np.count_nonzero(padded[1:] != padded[:-1])) * 3
    step = max(1, int(np.ceil(np.sqrt(estimate / max(int(max_faces), 1)))))
    while True:
        vertices, faces, _, _ = measure.marching_cubes(padded, 0.5, step_size=step)
        if len(faces) <= max_faces or step > min(mask.shape):
            break
        step += 1
    return Surface((vertices - 1.0).astype(np.float32), faces.astype(np.int32))


def plane_grid(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Voxel positions of a (rows, cols) grid spanning a plane's four corners.

    Parameters
    ----------
    corners : (4, 3) array_like
        Top-left, top-right, bottom-right, bottom-left (as
        :func:`fossilct.dashboard.matching_adapter.plane_corners`).
    shape : (rows, cols)

    Returns
    -------
    (rows, cols, 3) ndarray of float64

    Examples
    --------
    >>> corners = np.array([[0, 0, 0], [0, 0, 2], [0, 2, 2], [0, 2, 0]], float)
    >>> plane_grid(corners, (3, 3))[1, 2].tolist()
    [0.0, 1.0, 2.0]
    """
    top_left, top_right, _, bottom_left = np.asarray(corners, dtype=np.float64)
    r = np.linspace(0.0, 1.0, int(shape[0]))[:, None, None]
    c = np.linspace(0.0, 1.0, int(shape[1]))[None, :, None]
    return top_left + r * (bottom_left - top_left) + c * (top_right - top_left)


def scene_traces(surface: Surface, corners: np.ndarray, section: np.ndarray) -> list[dict]:
    """Plotly traces: the fossil surface, the section on its plane, the plane's outline.

    Parameters
    ----------
    surface : Surface
    corners : (4, 3) array_like
        The plane's corners in voxels.
    section : (R, C) ndarray of float
        The volume sampled on the plane (:func:`~fossilct.dashboard.matching_adapter.
        plane_section`), row 0 at the top-left/top-right edge.

    Returns
    -------
    list of dict
        ``mesh3d``, ``surface`` and ``scatter3d`` trace dicts (x = col, y = row, z = plane).
    """
    v, f = surface.vertices, surface.faces
    grid = plane_grid(corners, section.shape)
    outline = np.asarray(corners, dtype=np.float64)[[0, 1, 2, 3, 0]]
    return [
        {"type": "mesh3d", "name": "fossil", "x": v[:, 2], "y": v[:, 1], "z": v[:, 0],
         "i": f[:, 0], "j": f[:, 1], "k": f[:, 2], "color": "#c8b68e", "opacity": 0.5,
         "flatshading": False, "hoverinfo": "skip"},
        {"type": "surface", "name": "matched section", "x": grid[..., 2], "y": grid[..., 1],
         "z": grid[..., 0], "surfacecolor": np.asarray(section, dtype=np.float32),
         "colorscale": "gray", "showscale": False, "cmin": 0.0,
         "cmax": max(float(np.max(section)), 1e-6), "opacity": 0.75, "hoverinfo": "skip"},
        {"type": "scatter3d", "name": "plane", "mode": "lines", "x": outline[:, 2],
         "y": outline[:, 1], "z": outline[:, 0], "line": {"color": "#d946ef", "width": 6},
         "hoverinfo": "skip"},
    ]


def scene_layout(*, title: str = "") -> dict:
    """Plotly layout of the scene: equal axis scales, axes named after the volume's axes."""
    axis = {"showbackground": False, "showspikes": False}
    return {"title": {"text": title, "font": {"size": 12}}, "height": 380,
            "margin": {"l": 0, "r": 0, "t": 30, "b": 0}, "showlegend": False,
            "scene": {"aspectmode": "data", "xaxis": {**axis, "title": {"text": "col"}},
                      "yaxis": {**axis, "title": {"text": "row"}},
                      "zaxis": {**axis, "title": {"text": "plane"}}}}
