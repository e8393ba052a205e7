"""The dashboard's one door to :mod:`fossilct.matching`: library, search, poses, known queries.

Everything the matching panel needs from the matching package goes through here, so a change of
the package's public names touches this module only.

Progress and cancelling. The library is loaded one volume at a time (each through
:func:`fossilct.matching.load_library`), with a progress callback and a cancel check between
volumes. The library search itself is the matching package's cascade (coarse search of every
volume, screening of the best few, refinement of the best of those), which takes no callback;
every stage of it reads each volume's ``refine_target`` once per volume it works on, so the
search runs on watched copies of the volumes whose ``refine_target`` reports progress and raises
:class:`SearchCancelled` once the cancel flag is set: the search stops before its next volume.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from fossilct import matching, planes, slicing
from fossilct.matching import benchmark as match_bench
from fossilct.matching.benchmark import EvalQuery, make_queries
from fossilct.matching.pose import QueryPose, frame_of, pose_errors, sample_at_pose

__all__ = [
    "SearchCancelled",
    "Search",
    "run_library_table",
    "run_search_options",
    "load_library",
    "library_volume_from_upload",
    "search_library",
    "known_pose_queries",
    "pose_lines",
    "pose_error_lines",
    "plane_corners",
    "plane_section",
    "file_section",
]

Progress = Callable[[int, int, str], None]
"""``progress(done, total, what)``."""


class SearchCancelled(Exception):
    """The user cancelled a library load or search."""


@dataclass(frozen=True, eq=False)
class Search:
    """A query searched in a library.

    Attributes
    ----------
    query : fossilct.matching.Query
        The prepared query (its gray image, silhouette centroid and square frame).
    result : fossilct.matching.LibraryResult
    """

    query: object
    result: object


def run_library_table(inventory: pd.DataFrame, parameters: Mapping) -> pd.DataFrame:
    """The matching library of a run: the volumes notebook 07 searched.

    Parameters
    ----------
    inventory : pandas.DataFrame
        ``run.inventory``.
    parameters : mapping
        ``run.parameters("07_matching")`` (its ``library_per_species``).
    """
    return match_bench.library_table(inventory, int(parameters["library_per_species"]))


def run_search_options(parameters: Mapping) -> dict:
    """Keyword arguments of the library search that notebook 07 used (weights, effort).

    Raises
    ------
    ValueError
        An unknown search effort setting.
    """
    return {"weights": dict(parameters["weights"]) if parameters.get("weights") else None,
            "effort": matching.SearchEffort.from_mapping(parameters.get("search_effort"))}


def _check_stop(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise SearchCancelled("cancelled")


def load_library(table: pd.DataFrame, data_dir, *, cache_dir=None,
                 progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None):
    """:func:`fossilct.matching.load_library`, one volume at a time, reporting and cancellable.

    Parameters
    ----------
    table : pandas.DataFrame
        As ``matching.load_library`` takes it (e.g. :func:`run_library_table`).
    data_dir, cache_dir : path-like
        The volumes' folder and the index cache (``run.matching_dir / "index"``).
    progress : callable, optional, keyword-only
        ``progress(done, total, file)`` after each volume.
    cancelled : callable, optional, keyword-only
        Checked before each volume.

    Returns
    -------
    fossilct.matching.Library

    Raises
    ------
    SearchCancelled
        When `cancelled` returns True.
    """
    ready, skipped = [], []
    for k in range(len(table)):
        _check_stop(cancelled)
        part = matching.load_library(table.iloc[[k]], data_dir, cache_dir=cache_dir)
        ready += list(part.volumes)
        skipped.append(part.skipped)
        if progress is not None:
            progress(k + 1, len(table), str(table.iloc[k]["file"]))
    skipped_table = pd.concat(skipped, ignore_index=True) if skipped else \
        pd.DataFrame(columns=["file", "reason"])
    return matching.Library(tuple(ready), skipped_table)


def library_volume_from_upload(volume, *, name: str):
    """A searchable library volume from an uploaded :class:`fossilct.volumes.Volume`.

    Prepared like the run's volumes (isotropic, normalised, mount removed, cropped) and indexed
    in memory (nothing is cached on disk).

    Raises
    ------
    ValueError
        A volume with no fossil or too small to index (the preparation's messages).
    """
    prepared = slicing.prepare_volume(volume.data, volume.spacing_um)
    return matching.library_volume_from_prepared(prepared, file=name, specimen=name,
                                                 species="(uploaded)")


@dataclass(frozen=True, eq=False)
class _WatchedVolume(matching.LibraryVolume):
    """A library volume whose ``refine_target`` (read once per volume and stage) reports."""

    watch: Callable | None = None
    base: object = None

    @property
    def refine_target(self):
        self.watch(self.file)
        return self.base.refine_target


def _watched(volumes: Sequence, watch: Callable) -> list:
    fields = [f.name for f in dataclasses.fields(matching.LibraryVolume)]
    return [_WatchedVolume(**{name: getattr(v, name) for name in fields}, watch=watch, base=v)
            for v in volumes]


def search_library(image: np.ndarray, library, *, pixel_size_um: float | None = None,
                   options: Mapping | None = None, progress: Progress | None = None,
                   cancelled: Callable[[], bool] | None = None) -> Search:
    """Prepare a query image and rank the library's volumes, specimens and species for it.

    Parameters
    ----------
    image : (H, W) or (H, W, 3|4) ndarray
        The section (any background, dtype, size).
    library : fossilct.matching.Library or sequence of LibraryVolume
    pixel_size_um : float, optional, keyword-only
        The section's pixel size, when known.
    options : mapping, optional, keyword-only
        Weights and search effort (:func:`run_search_options`).
    progress : callable, optional, keyword-only
        ``progress(step, total_steps, file)`` as the search reaches each volume of each stage.
    cancelled : callable, optional, keyword-only
        Checked before each volume of each stage.

    Returns
    -------
    Search

    Raises
    ------
    fossilct.matching.MatchingError
        The image shows no fossil (blank, noise, too small, touching every border).
    SearchCancelled
        When `cancelled` returns True.
    """
    _check_stop(cancelled)
    query = matching.prepare_query(image, pixel_size_um=pixel_size_um)
    members = tuple(library.volumes if isinstance(library, matching.Library) else library)
    options = dict(options or {})
    effort = options.get("effort") or matching.SearchEffort()
    total = len(members) + min(len(members), effort.n_screen_volumes) \
        + min(len(members), effort.n_refine_volumes)
    steps = [0]

    def watch(file: str) -> None:
        _check_stop(cancelled)
        steps[0] += 1
        if progress is not None:
            progress(min(steps[0], total), total, file)

    skipped = library.skipped if isinstance(library, matching.Library) else \
        pd.DataFrame(columns=["file", "reason"])
    result = matching.match_slice_to_library(
        query, matching.Library(tuple(_watched(members, watch)), skipped), **options)
    return Search(query=query, result=result)


def known_pose_queries(library, n_queries: int, *, rng: int = 0) -> list[EvalQuery]:
    """Sections cut from the library's volumes at known poses (as notebook 07's benchmark).

    Returns
    -------
    list of fossilct.matching.benchmark.EvalQuery
        ``target`` is the position of the source volume in ``library.volumes``.
    """
    return make_queries([(v.volume, v.mask, v.voxel_size_um) for v in library.volumes],
                        int(n_queries), rng=rng)


def _fmt(vector) -> str:
    return "(" + ", ".join(f"{float(x):.2f}" for x in vector) + ")"


def pose_lines(match, *, voxel_size_um: float) -> list[str]:
    """The matched pose in words: in the scan's own voxel grid and µm, and as searched.

    The search works in the prepared volume (isotropic voxels of `voxel_size_um`, cropped to
    the fossil); ``match.plane_in_file``, when there is one, is the same plane in the voxel
    grid of the file as read ((plane, row, col) order of :func:`fossilct.volumes.load_volume`).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> m = NS(normal=(1, 0, 0), offset_vox=2.0, angle_deg=30.0, mirror=False, scale=1.5,
    ...        centre_vox=(4, 5, 6), file="a.nii", plane_in_file=None)
    >>> pose_lines(m, voxel_size_um=10.0)[0]
    'plane normal (plane, row, col): (1.00, 0.00, 0.00)'
    """
    centre = np.asarray(match.centre_vox, dtype=np.float64)
    lines = []
    plane = match.plane_in_file
    if plane is not None:
        lines += [
            f"in the scan {match.file} (voxels of the file as read, spacing "
            f"{_fmt(plane.spacing_um)} µm):",
            f"centre {_fmt(plane.centre_vox)} voxels = {_fmt(plane.centre_um)} µm",
            f"normal {_fmt(plane.normal_vox)} (voxel axes) = {_fmt(plane.normal_um)} (physical)",
            f"query rows along {_fmt(plane.row_um)}, columns along {_fmt(plane.col_um)} "
            f"(physical); query pixel {plane.pixel_um:.3g} µm",
            "as searched (isotropic, cropped to the fossil):"]
    return lines + [
        f"plane normal (plane, row, col): {_fmt(match.normal)}",
        f"offset from the volume centre: {match.offset_vox:.2f} voxels = "
        f"{match.offset_vox * voxel_size_um:.1f} µm (voxels of {voxel_size_um:.3g} µm)",
        f"section centre: {_fmt(centre)} voxels = {_fmt(centre * voxel_size_um)} µm",
        f"in-plane angle {match.angle_deg:.1f}°, {'mirrored' if match.mirror else 'not mirrored'}"
        f", scale {match.scale:.3f} voxels per query pixel",
    ]


def pose_error_lines(known: EvalQuery, match, *, source_file: str,
                     voxel_size_um: float) -> list[str]:
    """How far a match is from a known-pose query's true pose (or why it cannot be said).

    Parameters
    ----------
    known : EvalQuery
    match : fossilct.matching.Match
    source_file : str
        The library file the query was cut from.
    voxel_size_um : float
        That volume's voxel size.
    """
    if match.file != source_file:
        return [f"the query was cut from {source_file}; the best match is another volume "
                f"({match.file}), so no pose error is defined."]
    errors = pose_errors(frame_of(known.normal, known.angle_deg, known.mirror), known.offset_vox,
                         frame_of(match.normal, match.angle_deg, match.mirror), match.offset_vox)
    success = errors.success(max_offset_vox=match_bench.MAX_OFFSET_VOX,
                             max_normal_deg=match_bench.MAX_NORMAL_DEG,
                             max_angle_deg=match_bench.MAX_ANGLE_DEG)
    return [f"normal error {errors.normal_deg:.1f}°, offset error {errors.offset_vox:.2f} voxels "
            f"({errors.offset_vox * voxel_size_um:.1f} µm), in-plane angle error "
            f"{errors.angle_deg:.1f}°, mirror {'right' if errors.mirror_ok else 'wrong'}",
            f"pose {'found' if success else 'missed'} (thresholds: "
            f"{match_bench.MAX_NORMAL_DEG}°, {match_bench.MAX_OFFSET_VOX} voxels, "
            f"{match_bench.MAX_ANGLE_DEG}°)"]


def _pose(match) -> QueryPose:
    u, v = planes.plane_basis(match.normal, angle_deg=match.angle_deg, mirror=match.mirror)
    return QueryPose(np.asarray(match.normal, dtype=np.float64),
                np.asarray(match.centre_vox, dtype=np.float64), u * match.scale,
                v * match.scale)


def plane_corners(match, query) -> np.ndarray:
    """Voxel positions (plane, row, col) of the query image's four corners under the match.

    Returns
    -------
    (4, 3) ndarray of float64
        Top-left, top-right, bottom-right, bottom-left.
    """
    rows, cols = query.gray.shape
    pose = _pose(match)
    corners = np.array([[0, 0], [0, cols - 1], [rows - 1, cols - 1], [rows - 1, 0]], float)
    rel = corners - np.asarray(query.centroid, dtype=np.float64)
    return pose.centre + rel[:, :1] * pose.row_axis + rel[:, 1:] * pose.col_axis


def plane_section(volume: np.ndarray, match, query, *, side: int = 64) -> np.ndarray:
    """The library volume sampled on the matched plane over the query's extent.

    Returns
    -------
    (side', side'') ndarray of float32
        Zero outside the volume; the longer side is `side`.
    """
    rows, cols = query.gray.shape
    step = max(rows, cols) / float(side)
    r = np.linspace(0, rows - 1, max(2, int(round(rows / step))))
    c = np.linspace(0, cols - 1, max(2, int(round(cols / step))))
    points = np.stack(np.meshgrid(r, c, indexing="ij"), axis=-1)
    return sample_at_pose(volume, _pose(match), points, query.centroid)


def file_section(source, match, query) -> np.ndarray | None:
    """The matched plane re-sliced from the original file, over the query's frame.

    Parameters
    ----------
    source : path-like or fossilct.volumes.Volume
        The scan as a file, or as read (an upload).
    match : fossilct.matching.Match
    query : fossilct.matching.Query

    Returns
    -------
    (H, W) ndarray of float32 or None
        The file's intensities on the query's pixels (:func:`fossilct.matching.
        section_from_file`); None when the match has no plane in a file.

    Raises
    ------
    FileNotFoundError, fossilct.volumes.VolumeError
        The file cannot be read.
    """
    if match.plane_in_file is None:
        return None
    return matching.section_from_file(source, match.plane_in_file, query.gray.shape,
                                      centre_px=tuple(query.centroid))
