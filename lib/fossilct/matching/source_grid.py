"""Where a match lies in the user's own file: from the prepared volume back to the file's grid.

A library volume is the file's volume resampled to isotropic voxels
(:func:`fossilct.volumes.resample_isotropic`) and cropped to the fossil
(:func:`fossilct.slicing.prepare_volume`), and every pose is found in that prepared volume. A
:class:`SourceGrid` records the way back: along each axis, position ``p`` of the prepared
volume is position ``x = p * step + shift`` of the file's array (as
:func:`fossilct.volumes.load_volume` returns it, (plane, row, col)), with
``step = input_shape / isotropic_shape`` and ``shift = (crop_origin + 0.5) * step - 0.5``
(the voxel-centre convention of ``scipy.ndimage.zoom(..., grid_mode=True)``); micrometres are
``x * spacing_um``.

:meth:`SourceGrid.plane_in_file` turns a pose into a :class:`FilePlane`: centre, unit normal
and the directions of the query's rows and columns, in the file's voxel grid and in µm, plus the
query's pixel size in µm. :func:`section_from_file` re-samples that section from the file
itself (trilinear interpolation in the file's own voxel grid, which may be anisotropic), so a
user can cut the matched section out of their scan without the matcher.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi

from fossilct import volumes
from fossilct.matching.pose import QueryPose

__all__ = ["FILE_PLANE_COLUMNS", "SourceGrid", "FilePlane", "section_from_file"]

FILE_PLANE_COLUMNS = ("file_centre_p", "file_centre_r", "file_centre_c", "file_normal_p",
                      "file_normal_r", "file_normal_c")
"""Table columns of a :class:`FilePlane`: centre in the file's voxels, physical unit normal."""


def _vector(value, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be 3 finite numbers (plane, row, col); got {value!r}.")
    return array


@dataclass(frozen=True)
class FilePlane:
    """A matched section in the original file's voxel grid and in micrometres.

    All vectors are in (plane, row, col) order of the array that
    :func:`fossilct.volumes.load_volume` returns for the file.

    Attributes
    ----------
    centre_vox : (3,) ndarray of float64
        Where the query's fossil centroid lies, in voxel indices of the file.
    normal_vox : (3,) ndarray of float64
        Unit normal of the plane in voxel-index coordinates.
    row_vox, col_vox : (3,) ndarray of float64
        Unit directions, in voxel-index coordinates, along which the query's image rows and
        columns run.
    centre_um : (3,) ndarray of float64
        The centre in micrometres (``centre_vox * spacing_um``).
    normal_um : (3,) ndarray of float64
        Unit normal of the plane in micrometre coordinates (the physical normal).
    row_um, col_um : (3,) ndarray of float64
        Unit directions of the query's rows and columns in micrometre coordinates.
    pixel_um : float
        The query's pixel edge in micrometres (as matched).
    spacing_um : tuple of 3 float
        The file's (plane, row, col) voxel spacing.
    """

    centre_vox: np.ndarray
    normal_vox: np.ndarray
    row_vox: np.ndarray
    col_vox: np.ndarray
    centre_um: np.ndarray
    normal_um: np.ndarray
    row_um: np.ndarray
    col_um: np.ndarray
    pixel_um: float
    spacing_um: tuple[float, float, float]

    def as_row(self) -> dict:
        """Centre (file voxels) and physical normal as flat table columns
        (:data:`FILE_PLANE_COLUMNS`)."""
        values = [*self.centre_vox, *self.normal_um]
        return {name: float(value) for name, value in zip(FILE_PLANE_COLUMNS, values)}


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


@dataclass(frozen=True)
class SourceGrid:
    """The way from a prepared volume's voxels back to its file's voxels (module docstring).

    Attributes
    ----------
    step : (3,) ndarray of float64
        File voxels per prepared voxel along each axis.
    shift : (3,) ndarray of float64
        File position of prepared voxel 0.
    spacing_um : tuple of 3 float
        The file's (plane, row, col) voxel spacing.
    shape : tuple of 3 int
        The file's array shape.

    Examples
    --------
    >>> grid = SourceGrid.identity((4, 5, 6), voxel_size_um=2.0)
    >>> grid.to_file(np.array([[1.0, 2.0, 3.0]])).tolist()
    [[1.0, 2.0, 3.0]]
    """

    step: np.ndarray
    shift: np.ndarray
    spacing_um: tuple[float, float, float]
    shape: tuple[int, int, int]

    def __post_init__(self):
        object.__setattr__(self, "step", _vector(self.step, "step"))
        object.__setattr__(self, "shift", _vector(self.shift, "shift"))
        if not np.all(self.step > 0):
            raise ValueError(f"`step` must be positive; got {self.step.tolist()}.")
        spacing = tuple(float(x) for x in _vector(self.spacing_um, "spacing_um"))
        if min(spacing) <= 0:
            raise ValueError(f"`spacing_um` must be positive; got {spacing}.")
        object.__setattr__(self, "spacing_um", spacing)
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))

    @classmethod
    def identity(cls, shape, *, voxel_size_um: float) -> "SourceGrid":
        """The grid of a volume given as an array: prepared and file voxels coincide."""
        return cls(np.ones(3), np.zeros(3), (float(voxel_size_um),) * 3, tuple(shape))

    @classmethod
    def from_prepared(cls, prepared) -> "SourceGrid":
        """The grid of a :class:`fossilct.slicing.PreparedVolume` (its input's array).

        Examples
        --------
        >>> from fossilct import slicing
        >>> grid = np.indices((20, 40, 40)) - np.array([9.5, 19.5, 19.5])[:, None, None, None]
        >>> ball = (np.sqrt((2 * grid[0]) ** 2 + grid[1] ** 2 + grid[2] ** 2) < 12)
        >>> prepared = slicing.prepare_volume(ball.astype(np.float32), (2.0, 1.0, 1.0))
        >>> source = SourceGrid.from_prepared(prepared)
        >>> source.step.tolist(), source.shape
        ([0.5, 1.0, 1.0], (20, 40, 40))
        """
        step = (np.asarray(prepared.input_shape, np.float64)
                / np.asarray(prepared.source_shape, np.float64))
        shift = (np.asarray(prepared.crop_origin, np.float64) + 0.5) * step - 0.5
        return cls(step, shift, prepared.input_spacing_um, prepared.input_shape)

    def to_file(self, points: np.ndarray) -> np.ndarray:
        """Positions (..., 3) in the prepared volume -> positions in the file's voxel grid."""
        return np.asarray(points, dtype=np.float64) * self.step + self.shift

    def plane_in_file(self, pose: QueryPose) -> FilePlane:
        """A pose of the prepared volume as a plane of the file (module docstring).

        Parameters
        ----------
        pose : QueryPose
            In prepared-volume voxels.

        Returns
        -------
        FilePlane
        """
        spacing = np.asarray(self.spacing_um)
        centre = self.to_file(pose.centre)
        rows_vox, cols_vox = pose.row_axis * self.step, pose.col_axis * self.step
        rows_um, cols_um = rows_vox * spacing, cols_vox * spacing
        # a plane's normal transforms with the inverse of the (diagonal) scaling
        return FilePlane(
            centre_vox=centre, normal_vox=_unit(pose.normal / self.step),
            row_vox=_unit(rows_vox), col_vox=_unit(cols_vox), centre_um=centre * spacing,
            normal_um=_unit(pose.normal / (self.step * spacing)), row_um=_unit(rows_um),
            col_um=_unit(cols_um),
            pixel_um=float((np.linalg.norm(rows_um) + np.linalg.norm(cols_um)) / 2.0),
            spacing_um=self.spacing_um)


def _file_array(source) -> np.ndarray:
    if isinstance(source, (str, os.PathLike)):
        return volumes.load_volume(source).data
    array = np.asarray(source.data if isinstance(source, volumes.Volume) else source)
    if array.ndim != 3:
        raise ValueError(f"`source` must be a file, a fossilct.volumes.Volume or a 3-D array "
                         f"(plane, row, col); got an array of shape {array.shape}.")
    return array


def section_from_file(source, plane: FilePlane, size_px, *, pixel_um: float | None = None,
                      centre_px=None) -> np.ndarray:
    """Re-sample a matched section from the original file, in its own voxel grid.

    Pixel ``(i, j)`` of the image lies at
    ``centre_um + (i - centre_px[0]) * pixel_um * row_um + (j - centre_px[1]) * pixel_um *
    col_um`` (µm), i.e. at that position divided by ``plane.spacing_um`` in the file's voxel
    indices, read by trilinear interpolation of the file's voxels (0 outside).

    Parameters
    ----------
    source : path-like, fossilct.volumes.Volume or (P, M, N) ndarray
        The file (read with :func:`fossilct.volumes.load_volume`), or its voxels.
    plane : FilePlane
        From ``Match.plane_in_file``.
    size_px : int or (int, int)
        Image size (rows, cols).
    pixel_um : float, optional, keyword-only
        Pixel edge of the image in µm (default ``plane.pixel_um``: the query's own).
    centre_px : (float, float), optional, keyword-only
        Where the plane's centre lands in the image (default its middle); the query's
        silhouette centroid puts the section exactly over the query.

    Returns
    -------
    (rows, cols) ndarray of float32
        In the file's intensity units.

    Raises
    ------
    FileNotFoundError, fossilct.volumes.VolumeError
        An unreadable file.
    ValueError
        A bad size, pixel size or array.

    Examples
    --------
    >>> volume = np.zeros((4, 6, 6), np.float32); volume[2] = 1.0
    >>> plane = SourceGrid.identity(volume.shape, voxel_size_um=1.0).plane_in_file(
    ...     QueryPose(np.array([1.0, 0, 0]), np.array([2.0, 2.5, 2.5]),
    ...               np.array([0, 1.0, 0]), np.array([0, 0, 1.0])))
    >>> section_from_file(volume, plane, 4).tolist()[0]
    [1.0, 1.0, 1.0, 1.0]
    """
    data = _file_array(source)
    size = np.broadcast_to(np.asarray(size_px), (2,)) if np.ndim(size_px) == 0 \
        else np.asarray(size_px)
    if size.shape != (2,) or not np.all(size >= 1):
        raise ValueError(f"`size_px` must be one side or (rows, cols), at least 1 pixel; got "
                         f"{size_px!r}.")
    rows, cols = (int(n) for n in size)
    step_um = plane.pixel_um if pixel_um is None else float(pixel_um)
    if not step_um > 0:
        raise ValueError(f"`pixel_um` must be positive; got {pixel_um}.")
    centre = ((rows - 1) / 2.0, (cols - 1) / 2.0) if centre_px is None else centre_px
    i = (np.arange(rows) - float(centre[0]))[:, None, None]
    j = (np.arange(cols) - float(centre[1]))[None, :, None]
    points_um = plane.centre_um + step_um * (i * plane.row_um + j * plane.col_um)
    coords = (points_um / np.asarray(plane.spacing_um)).reshape(-1, 3).T
    out = ndi.map_coordinates(np.asarray(data, dtype=np.float32), coords, order=1,
                              mode="constant", cval=0.0, prefilter=False)
    return out.reshape(rows, cols).astype(np.float32)
