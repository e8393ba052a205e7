"""Where a query section lies in a volume: pose geometry, rendering and pose errors.

A :class:`QueryPose` maps the pixels of a query's gray image
(:class:`~fossilct.matching.Query`) into the volume: pixel ``(r, c)`` lies at
``centre + (r - c_r) * row_axis + (c - c_c) * col_axis``, where ``(c_r, c_c)`` is the query's
silhouette centroid. ``row_axis`` and ``col_axis`` are
orthogonal 3-D steps of equal length, the scale (volume voxels per query pixel).

The same pose in the terms of :mod:`fossilct.planes` (what :class:`~fossilct.matching.Match`
reports): ``normal``, ``offset`` from the volume centre, ``angle_deg`` and ``mirror`` such that
``planes.plane_basis(normal, angle_deg=angle_deg, mirror=mirror)`` gives the directions of
``row_axis`` and ``col_axis``. A plane seen from its other side is its mirror image, so a pose
with ``-normal``, ``-offset`` and the other mirror flag is the same pose; :func:`pose_errors`
compares poses with that in mind.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.ndimage as ndi
from scipy.spatial.transform import Rotation

from fossilct import planes

__all__ = ["QueryPose", "pose_from_turn", "tilted_poses", "sample_at_pose", "PoseErrors",
           "pose_errors", "frame_of"]


@dataclass(frozen=True)
class QueryPose:
    """A query's placement in a volume (see the module docstring).

    Attributes
    ----------
    normal : (3,) ndarray of float64
        Unit plane normal, (plane, row, col).
    centre : (3,) ndarray of float64
        Voxel position of the query's silhouette centroid.
    row_axis, col_axis : (3,) ndarray of float64
        Voxel step per query pixel along image rows and columns.
    """

    normal: np.ndarray
    centre: np.ndarray
    row_axis: np.ndarray
    col_axis: np.ndarray

    @property
    def scale(self) -> float:
        """Volume voxels per query pixel."""
        return float(np.linalg.norm(self.row_axis))

    def offset(self, shape) -> float:
        """Signed distance (voxels) of the plane from the centre of a volume of `shape`."""
        vol_centre = (np.asarray(shape[:3], dtype=np.float64) - 1.0) / 2.0
        return float((self.centre - vol_centre) @ self.normal)

    def facing_up(self) -> QueryPose:
        """The same pose with its normal in the hemisphere ``n_p >= 0`` of the indexed normals.

        Only the normal flips: every query pixel stays where it is, so offset, in-plane angle
        and mirror flag are those of the plane seen from its other side.

        Examples
        --------
        >>> pose = QueryPose(np.array([-0.6, 0.8, 0.0]), np.zeros(3), np.array([0.8, 0.6, 0.0]),
        ...                  np.array([0.0, 0.0, 1.0]))
        >>> up = pose.facing_up()
        >>> up.normal.tolist(), up.row_axis is pose.row_axis
        ([0.6, -0.8, -0.0], True)
        >>> pose.angle_mirror()[1], up.angle_mirror()[1]
        (True, False)
        """
        return self if self.normal[0] >= 0 else replace(self, normal=-self.normal)

    def angle_mirror(self) -> tuple[float, bool]:
        """In-plane angle (degrees, [0, 360)) and mirror flag in the planes convention."""
        u0, v0 = planes.plane_basis(self.normal)
        u = self.row_axis / self.scale
        v = self.col_axis / self.scale
        angle = float(np.degrees(np.arctan2(-(u @ v0), u @ u0))) % 360.0
        turned = planes.plane_basis(self.normal, angle_deg=angle)[1]
        return angle, bool(v @ turned < 0)


def frame_of(normal, angle_deg: float, mirror: bool) -> np.ndarray:
    """Rows and columns direction and normal as a (3, 3) matrix ``[u, v, n]`` (rows).

    Examples
    --------
    >>> (frame_of((1, 0, 0), 0.0, False).round(6) + 0.0).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    u, v = planes.plane_basis(n, angle_deg=float(angle_deg), mirror=bool(mirror))
    return np.stack([u, v, n])


def pose_from_turn(normal, section_centroid, *, u0: np.ndarray, v0: np.ndarray,
                   turn_deg: float, mirror: bool, scale: float) -> QueryPose:
    """The pose of a query that matches a section turned by `turn_deg` (and mirrored).

    Parameters
    ----------
    normal : (3,) array_like
        The section's unit normal.
    section_centroid : (3,) array_like
        Voxel position of the section's centroid (where the query's centroid goes).
    u0, v0 : (3,) ndarray, keyword-only
        Row and column directions of the section's image.
    turn_deg : float, keyword-only
        The turn found by :func:`fossilct.matching.descriptors.rotation_search`: the query at
        polar angle ``phi`` shows the section at ``phi + turn`` (``turn - phi`` if mirrored).
    mirror : bool, keyword-only
    scale : float, keyword-only
        Volume voxels per query pixel.

    Returns
    -------
    QueryPose

    Examples
    --------
    >>> u0, v0 = planes.plane_basis((1, 0, 0))
    >>> pose = pose_from_turn((1, 0, 0), (5, 5, 5), u0=u0, v0=v0, turn_deg=0, mirror=False,
    ...                       scale=2.0)
    >>> pose.row_axis.tolist(), pose.angle_mirror()
    ([0.0, 2.0, 0.0], (0.0, False))
    """
    alpha = np.deg2rad(float(turn_deg))
    turn = np.array([[np.cos(alpha), -np.sin(alpha)], [np.sin(alpha), np.cos(alpha)]])
    if mirror:
        turn = turn @ np.diag([1.0, -1.0])
    # query offset x (row, col) lands at section offset turn @ x (scaled), i.e. at
    # (turn @ x)[0] * u0 + (turn @ x)[1] * v0 in the volume
    row_axis = float(scale) * (turn[0, 0] * u0 + turn[1, 0] * v0)
    col_axis = float(scale) * (turn[0, 1] * u0 + turn[1, 1] * v0)
    return QueryPose(np.asarray(normal, dtype=np.float64), np.asarray(section_centroid, np.float64),
                row_axis, col_axis)


def tilted_poses(pose: QueryPose, tilt_deg: float) -> list[QueryPose]:
    """The pose with its plane tilted by `tilt_deg` about its row, then its column axis, each
    way (four poses), about the query's centroid.

    Parameters
    ----------
    pose : QueryPose
    tilt_deg : float

    Returns
    -------
    list of QueryPose
        Tilted forwards and backwards about the row axis, then about the column axis, each
        :meth:`QueryPose.facing_up`.

    Examples
    --------
    >>> u0, v0 = planes.plane_basis((1, 0, 0))
    >>> pose = pose_from_turn((1, 0, 0), (5, 5, 5), u0=u0, v0=v0, turn_deg=0, mirror=False,
    ...                       scale=2.0)
    >>> [round(float(np.degrees(np.arccos(t.normal @ pose.normal))), 6)
    ...  for t in tilted_poses(pose, 14.0)]
    [14.0, 14.0, 14.0, 14.0]
    """
    poses = []
    for axis in (pose.row_axis, pose.col_axis):
        for sign in (1.0, -1.0):
            turn = Rotation.from_rotvec(sign * np.deg2rad(float(tilt_deg)) * axis
                                        / np.linalg.norm(axis))
            poses.append(QueryPose(turn.apply(pose.normal), pose.centre,
                                   turn.apply(pose.row_axis),
                                   turn.apply(pose.col_axis)).facing_up())
    return poses


def sample_at_pose(volume: np.ndarray, pose: QueryPose, points: np.ndarray,
                   query_centroid: np.ndarray, *, order: int = 1) -> np.ndarray:
    """Sample a volume where a posed query's pixels lie.

    Parameters
    ----------
    volume : (P, M, N) ndarray
        Image, or a boolean mask (sampled as 0/1).
    pose : QueryPose
    points : (..., 2) ndarray
        (row, col) positions in the query's gray image, e.g. ``Query.square_to_gray()``.
    query_centroid : (2,) ndarray
        The query's silhouette centroid (the pose's reference point).
    order : int, keyword-only
        Interpolation order (default 1, linear).

    Returns
    -------
    (...) ndarray of float32
        Zero outside the volume.

    Examples
    --------
    >>> volume = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    >>> pose = QueryPose(np.array([1.0, 0, 0]), np.array([1.0, 1, 1]), np.array([0, 1.0, 0]),
    ...             np.array([0, 0, 1.0]))
    >>> points = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> sample_at_pose(volume, pose, points, np.array([1.0, 1.0])).tolist()
    [9.0, 13.0]
    """
    rel = np.asarray(points, dtype=np.float64) - np.asarray(query_centroid, dtype=np.float64)
    coords = (pose.centre + rel[..., :1] * pose.row_axis + rel[..., 1:] * pose.col_axis)
    flat = coords.reshape(-1, 3).T
    data = np.asarray(volume)
    if data.dtype == bool:  # a mask: read as 0/1 bytes, without a float copy of the volume
        data = data.view(np.uint8)
    out = ndi.map_coordinates(data, flat, order=order, mode="constant", cval=0.0,
                              prefilter=order > 1, output=np.float32)
    return out.reshape(rel.shape[:-1])


@dataclass(frozen=True)
class PoseErrors:
    """How far an estimated pose is from the true one.

    Attributes
    ----------
    normal_deg : float
        Angle between the plane normals, with the estimate's normal turned into the true one's
        hemisphere (a plane seen from its other side is the same plane, mirrored).
    offset_vox : float
        Difference of the offsets (after that turn), voxels.
    angle_deg : float
        In-plane angle between the true row direction and the estimated one projected into the
        true plane, in [0, 180].
    mirror_ok : bool
        Whether the handedness (mirror) agrees after that turn.
    """

    normal_deg: float
    offset_vox: float
    angle_deg: float
    mirror_ok: bool

    def success(self, *, max_offset_vox: float, max_normal_deg: float,
                max_angle_deg: float) -> bool:
        """All errors within the thresholds and the mirror right."""
        return bool(self.mirror_ok and self.offset_vox <= max_offset_vox
                    and self.normal_deg <= max_normal_deg and self.angle_deg <= max_angle_deg)


def pose_errors(true_frame: np.ndarray, true_offset: float, est_frame: np.ndarray,
                est_offset: float) -> PoseErrors:
    """Errors of an estimated pose against the true one.

    Parameters
    ----------
    true_frame, est_frame : (3, 3) ndarray
        ``[u, v, n]`` rows (:func:`frame_of`): row direction, column direction, normal.
    true_offset, est_offset : float
        Plane offsets (voxels) along the respective normals.

    Returns
    -------
    PoseErrors

    Examples
    --------
    >>> true = frame_of((1, 0, 0), 30.0, False)
    >>> seen_from_behind = frame_of((-1, 0, 0), 0.0, False)
    >>> seen_from_behind[:2] = true[:2]          # same pixels, opposite normal
    >>> errors = pose_errors(true, 4.0, seen_from_behind, -4.0)
    >>> errors.normal_deg, errors.offset_vox, round(errors.angle_deg, 6), errors.mirror_ok
    (0.0, 0.0, 0.0, True)
    """
    u_t, v_t, n_t = (np.asarray(x, dtype=np.float64) for x in true_frame)
    u_e, v_e, n_e = (np.asarray(x, dtype=np.float64) for x in est_frame)
    handed_t = np.linalg.det(np.stack([u_t, v_t, n_t])) > 0
    handed_e = np.linalg.det(np.stack([u_e, v_e, n_e])) > 0
    if n_e @ n_t < 0:
        n_e, est_offset, handed_e = -n_e, -est_offset, not handed_e
    normal_deg = float(np.degrees(np.arccos(np.clip(n_e @ n_t, -1.0, 1.0))))
    projected = u_e - (u_e @ n_t) * n_t
    projected /= max(np.linalg.norm(projected), 1e-12)
    angle = np.degrees(np.arctan2(np.cross(u_t, projected) @ n_t, u_t @ projected))
    return PoseErrors(normal_deg=normal_deg, offset_vox=float(abs(est_offset - true_offset)),
                      angle_deg=float(abs(angle)), mirror_ok=bool(handed_t == handed_e))
