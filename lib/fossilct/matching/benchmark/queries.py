"""Evaluation queries: sections cut from volumes at known poses, with realistic nuisances.

:func:`cut_query` is deterministic: it samples one plane (:func:`fossilct.planes.sample_plane`)
and applies the nuisances it is given, in the order an image would meet them: scale (pixel size
of the query differs from the voxel size), partial crop (part of the fossil outside the image:
a share of its extent, or a partial view keeping a given share of its area), blur, noise,
background polarity (a white background is an inverted image). It reports the share of the
section's area that stays visible.
:func:`make_queries` draws poses and nuisances from a generator, so the same seed gives the same
queries, and returns them with their true poses for :mod:`fossilct.matching.benchmark.evaluation`.

Pose draws: axis-aligned queries take one of the three axis normals; oblique ones tilt an axis
normal by an angle uniform in ``[min_tilt_deg, max_tilt_deg]`` towards a uniform azimuth. The
offset is uniform over the planes whose section of the fossil is at least
``min_area_fraction`` of the largest section of that normal (caps of the fossil are ambiguous by
nature and are no fair test), the in-plane angle uniform in [0, 360), the mirror flag a coin.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from fossilct import planes, segmentation

__all__ = [
    "Nuisance",
    "CutQuery",
    "EvalQuery",
    "cut_query",
    "make_queries",
    "tilted_normal",
]

MIN_QUERY_SIDE = segmentation.MIN_IMAGE_SIDE
"""Queries are never cropped below this many pixels per side (the segmentation's minimum)."""


@dataclass(frozen=True)
class Nuisance:
    """Nuisances of one query (all neutral by default).

    Attributes
    ----------
    zoom : float
        Query pixels per voxel (the query is resized by this factor).
    crop_fraction : float
        Fraction of the fossil's extent cut away on `crop_side`.
    crop_side : int
        0 top, 1 right, 2 bottom, 3 left.
    visible_fraction : float
        A partial view: the image border on `crop_side` cuts the section so that this share
        of its area stays visible (1.0: no partial view; overrides `crop_fraction`).
    blur_sigma : float
        Gaussian blur, query pixels.
    noise_sigma : float
        Gaussian noise, in units of the intensity range [0, 1].
    white_background : bool
        Invert the image (dark fossil on white, as a photographed thin section).
    """

    zoom: float = 1.0
    crop_fraction: float = 0.0
    crop_side: int = 0
    visible_fraction: float = 1.0
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0
    white_background: bool = False


class CutQuery(NamedTuple):
    """A section cut by :func:`cut_query`.

    Attributes
    ----------
    image : (H, W) ndarray of float32
    placement : (3, 3) ndarray of float64
        Rows: voxel position of pixel (0, 0), voxel step per pixel along rows, along columns.
    visible_fraction : float
        Share of the section's area (fossil mask) inside the image.
    """

    image: np.ndarray
    placement: np.ndarray
    visible_fraction: float


@dataclass(frozen=True, eq=False)
class EvalQuery:
    """A query with its true pose.

    Attributes
    ----------
    query_id : int
    target : int
        Position of the source volume in the list given to :func:`make_queries`.
    image : (H, W) ndarray of float32
    pixel_size_um : float
        Pixel edge of `image`, micrometres.
    normal : (3,) ndarray of float64
        True plane normal (planes convention).
    offset_vox : float
        True offset from the volume centre, voxels.
    angle_deg : float
    mirror : bool
    tilt_deg : float
        Angle between the normal and the nearest coordinate axis (0 for axis-aligned queries).
    kind : str
        ``"axis"`` or ``"oblique"``.
    nuisance : Nuisance
    visible_fraction : float
        Share of the section's area inside the image (1.0 unless cropped).
    placement : (3, 3) ndarray of float64
        Rows: voxel position of pixel (0, 0) of `image`, voxel step per pixel along image rows,
        voxel step per pixel along image columns (see :func:`cut_query`).
    """

    query_id: int
    target: int
    image: np.ndarray = field(repr=False)
    pixel_size_um: float
    normal: np.ndarray
    offset_vox: float
    angle_deg: float
    mirror: bool
    tilt_deg: float
    kind: str
    nuisance: Nuisance
    visible_fraction: float
    placement: np.ndarray = field(repr=False)


def tilted_normal(axis: int, tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    """The axis normal `axis` tilted by `tilt_deg` towards in-plane direction `azimuth_deg`.

    Examples
    --------
    >>> n = tilted_normal(0, 20.0, 0.0)
    >>> round(float(np.degrees(np.arccos(n[0]))), 6)
    20.0
    """
    base = planes.axis_normals()[int(axis)]
    u, v = planes.plane_basis(base)
    t, a = np.deg2rad(float(tilt_deg)), np.deg2rad(float(azimuth_deg))
    normal = np.cos(t) * base + np.sin(t) * (np.cos(a) * u + np.sin(a) * v)
    return normal / np.linalg.norm(normal)


def _crop_extent(section_mask: np.ndarray, nuisance: Nuisance) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) cutting `crop_fraction` of the fossil's extent on one side."""
    rows, cols = np.nonzero(section_mask)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    cut_r = int(round(nuisance.crop_fraction * (r1 - r0)))
    cut_c = int(round(nuisance.crop_fraction * (c1 - c0)))
    top, bottom, left, right = 0, section_mask.shape[0], 0, section_mask.shape[1]
    side = int(nuisance.crop_side) % 4
    if side == 0:
        top = r0 + cut_r
    elif side == 1:
        right = c1 - cut_c
    elif side == 2:
        bottom = r1 - cut_r
    else:
        left = c0 + cut_c
    return top, bottom, left, right


def _crop_visible(section_mask: np.ndarray, nuisance: Nuisance) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) keeping `visible_fraction` of the section's area."""
    side = int(nuisance.crop_side) % 4
    # area per line, ordered from the side that is cut
    profile = section_mask.sum(axis=1 if side in (0, 2) else 0).astype(np.float64)
    if side in (1, 2):
        profile = profile[::-1]
    # hidden share of the area after cutting 0, 1, 2, ... lines: the nearest to the request
    hidden = np.concatenate([[0.0], np.cumsum(profile) / profile.sum()])
    n_cut = int(np.argmin(np.abs(hidden - (1.0 - float(nuisance.visible_fraction)))))
    top, bottom, left, right = 0, section_mask.shape[0], 0, section_mask.shape[1]
    if side == 0:
        top = n_cut
    elif side == 1:
        right = section_mask.shape[1] - n_cut
    elif side == 2:
        bottom = section_mask.shape[0] - n_cut
    else:
        left = n_cut
    return top, bottom, left, right


def cut_query(volume: np.ndarray, mask: np.ndarray, *, normal, offset_vox: float,
              angle_deg: float = 0.0, mirror: bool = False, nuisance: Nuisance = Nuisance(),
              rng: int | np.random.Generator = 0) -> CutQuery:
    """Cut one query section from a volume at a given pose and apply nuisances.

    Points of the plane outside the volume read as the volume's background level (the median
    outside the fossil mask), as in a slice of a larger scan.

    Parameters
    ----------
    volume : (P, M, N) ndarray
        Intensity volume (e.g. the normalised volume from :mod:`fossilct.slicing`).
    mask : (P, M, N) ndarray of bool
        Its fossil mask (to place the partial crop and measure the background).
    normal, offset_vox, angle_deg, mirror : keyword-only
        The pose, as :func:`fossilct.planes.sample_plane` takes it.
    nuisance : Nuisance, keyword-only
        Nuisances to apply (default none).
    rng : int or numpy.random.Generator, keyword-only
        Source of the noise.

    Returns
    -------
    CutQuery
        ``image`` (H, W) float32, in [0, 1] when `volume` is (noise is clipped);
        ``placement``: pixel ``(r, c)`` is at voxel position
        ``placement[0] + r * placement[1] + c * placement[2]``; ``visible_fraction``: the share
        of the section's area that the image shows. A crop is skipped (everything visible)
        when it would leave an image side under 16 pixels.

    Raises
    ------
    ValueError
        If the plane misses the fossil or a nuisance is out of range.

    Examples
    --------
    >>> volume = np.zeros((8, 20, 20), np.float32); volume[2:6, 5:15, 4:12] = 1.0
    >>> image, placement, visible = cut_query(volume, volume > 0, normal=(1, 0, 0),
    ...                                       offset_vox=0.5)
    >>> image.shape, float(image.sum()), placement[0].tolist(), visible
    ((20, 20), 80.0, [4.0, 0.0, 0.0], 1.0)
    >>> wide = np.zeros((8, 40, 40), np.float32); wide[2:6, 10:30, 8:24] = 1.0
    >>> half = cut_query(wide, wide > 0, normal=(1, 0, 0), offset_vox=0.5,
    ...                  nuisance=Nuisance(visible_fraction=0.5, crop_side=1))
    >>> half.image.shape, half.visible_fraction
    ((40, 16), 0.5)
    """
    if not nuisance.zoom > 0 or not 0 <= nuisance.crop_fraction < 0.5 \
            or not 0 < nuisance.visible_fraction <= 1 \
            or nuisance.blur_sigma < 0 or nuisance.noise_sigma < 0:
        raise ValueError(f"`nuisance` out of range: {nuisance}. Use zoom > 0, crop_fraction in "
                         f"[0, 0.5), visible_fraction in (0, 1], blur_sigma >= 0, "
                         f"noise_sigma >= 0.")
    rng = np.random.default_rng(rng)
    kwargs = dict(angle_deg=float(angle_deg), mirror=bool(mirror))
    # beyond the scan the section shows more background, as a slice of a larger scan would
    stride = (slice(None, None, 2),) * 3
    outside = ~np.asarray(mask[stride], dtype=bool)
    background = float(np.median(volume[stride][outside])) if outside.any() else 0.0
    image = planes.sample_plane(volume.astype(np.float32, copy=False), normal, float(offset_vox),
                                fill_value=background, **kwargs)
    mask_u8 = mask.view(np.uint8) if mask.dtype == bool else (mask > 0).astype(np.uint8)
    section = planes.sample_plane(mask_u8, normal, float(offset_vox), **kwargs) > 0
    if not section.any():
        raise ValueError(f"The plane (normal {np.round(normal, 3).tolist()}, offset "
                         f"{offset_vox:.2f}) misses the fossil; choose an offset where the "
                         f"mask's section is not empty.")
    u, v = planes.plane_basis(normal, **kwargs)
    n = np.asarray(normal, dtype=np.float64) / np.linalg.norm(normal)
    centre = (np.asarray(volume.shape, dtype=np.float64) - 1.0) / 2.0 + float(offset_vox) * n
    rows, cols = image.shape
    # pixel (r, c) of the current image lies at first + r * row_step + c * col_step
    first = centre - (rows - 1) / 2.0 * u - (cols - 1) / 2.0 * v
    row_step, col_step = u.copy(), v.copy()
    if nuisance.zoom != 1.0:
        size = (max(1, int(round(image.shape[1] * nuisance.zoom))),
                max(1, int(round(image.shape[0] * nuisance.zoom))))
        interp = cv2.INTER_AREA if nuisance.zoom < 1 else cv2.INTER_LINEAR
        # cv2.resize maps output pixel y to input (y + 0.5) * in / out - 0.5
        row_factor, col_factor = rows / size[1], cols / size[0]
        first = first + (0.5 * row_factor - 0.5) * row_step + (0.5 * col_factor - 0.5) * col_step
        row_step, col_step = row_step * row_factor, col_step * col_factor
        image = cv2.resize(image, size, interpolation=interp)
        section = cv2.resize(section.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.5
    visible = 1.0
    if nuisance.visible_fraction < 1 or nuisance.crop_fraction > 0:
        crop = (_crop_visible if nuisance.visible_fraction < 1 else _crop_extent)(section,
                                                                                   nuisance)
        top, bottom, left, right = crop
        if min(bottom - top, right - left) >= MIN_QUERY_SIDE:
            image = image[top:bottom, left:right]
            visible = float(section[top:bottom, left:right].sum() / section.sum())
            first = first + top * row_step + left * col_step
    if nuisance.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), float(nuisance.blur_sigma))
    if nuisance.noise_sigma > 0:
        image = image + rng.normal(0.0, float(nuisance.noise_sigma), image.shape)
    image = np.clip(image, 0.0, 1.0)
    if nuisance.white_background:
        image = 1.0 - image
    return CutQuery(np.ascontiguousarray(image, dtype=np.float32),
                    np.stack([first, row_step, col_step]), visible)


def _draw_offset(mask, normal, min_area_fraction, rng) -> float:
    offsets, area = planes.mask_offsets(mask, normal, stride=2 if mask.size > 128 ** 3 else 1)
    eligible = offsets[area >= float(min_area_fraction) * area.max()]
    return float(rng.choice(eligible) + rng.uniform(-0.5, 0.5))


def _source(item) -> tuple[np.ndarray, np.ndarray, float]:
    """(volume, mask, voxel size) of a library volume, or such a tuple as it is."""
    if hasattr(item, "voxel_size_um"):
        return item.volume, item.mask, item.voxel_size_um
    return item


def make_queries(volumes: Sequence, n_queries: int, *,
                 rng: int | np.random.Generator, oblique_fraction: float = 0.5,
                 min_tilt_deg: float = 2.0, max_tilt_deg: float = 25.0,
                 min_area_fraction: float = 0.3, zoom_range=(0.8, 1.6),
                 crop_range=(0.0, 0.12), crop_probability: float = 0.3,
                 blur_range=(0.0, 1.2), noise_range=(0.0, 0.08),
                 white_fraction: float = 0.5, partial_fraction: float = 0.0,
                 visible_range=(0.6, 0.9)) -> list[EvalQuery]:
    """Draw evaluation queries with known poses from a list of volumes.

    Queries cycle through the volumes (query ``k`` comes from volume ``k % len(volumes)``), so
    every volume gets its share; half of them (`oblique_fraction`) are oblique.

    Parameters
    ----------
    volumes : sequence of LibraryVolume, or of (volume, mask, voxel_size_um)
        The source volumes: intensities in [0, 1], fossil masks, voxel edges in µm (a
        library's ``volumes``).
    n_queries : int
        Number of queries (>= 1).
    rng : int or numpy.random.Generator, keyword-only
        Seed or generator; the same seed gives the same queries.
    oblique_fraction : float, keyword-only
        Share of oblique queries (default 0.5).
    min_tilt_deg, max_tilt_deg : float, keyword-only
        Tilt range of oblique queries (default 2..25 degrees).
    min_area_fraction : float, keyword-only
        Offsets are drawn where the section is at least this fraction of the largest one of the
        normal (default 0.3).
    zoom_range : (float, float), keyword-only
        Query pixels per voxel, log-uniform (default 0.8..1.6).
    crop_range : (float, float), keyword-only
        Fraction of the fossil cut away when a query is cropped (default 0..0.12).
    crop_probability : float, keyword-only
        Share of queries partially cropped (default 0.3).
    blur_range, noise_range : (float, float), keyword-only
        Uniform ranges of blur sigma (pixels; default 0..1.2) and noise sigma (intensity;
        default 0..0.08).
    white_fraction : float, keyword-only
        Share of queries with a white background (default 0.5).
    partial_fraction : float, keyword-only
        Share of queries that are partial views (default 0: the draws of the other queries are
        then those of earlier versions, so benchmarks stay comparable).
    visible_range : (float, float), keyword-only
        Share of the section's area a partial view shows, uniform (default 0.6..0.9).

    Returns
    -------
    list of EvalQuery

    Raises
    ------
    ValueError
        If `volumes` is empty, `n_queries` < 1 or a fraction or range is invalid.

    Examples
    --------
    >>> grid = np.indices((24, 24, 24)) - 11.5
    >>> mask = (grid[0] / 9) ** 2 + (grid[1] / 6) ** 2 + (grid[2] / 4) ** 2 <= 1
    >>> queries = make_queries([(mask.astype(np.float32), mask, 2.0)], 4, rng=0)
    >>> [q.kind for q in queries], queries[0].image.dtype
    (['axis', 'oblique', 'axis', 'oblique'], dtype('float32'))
    """
    if len(volumes) == 0:
        raise ValueError("`volumes` is empty: give at least one (volume, mask, voxel_size_um).")
    if int(n_queries) < 1:
        raise ValueError(f"`n_queries` must be at least 1; got {n_queries}.")
    for name, value in (("oblique_fraction", oblique_fraction), ("crop_probability",
                        crop_probability), ("white_fraction", white_fraction),
                        ("min_area_fraction", min_area_fraction),
                        ("partial_fraction", partial_fraction)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"`{name}` must be in [0, 1]; got {value}.")
    if not 0.0 <= float(min_tilt_deg) <= float(max_tilt_deg) <= 90.0:
        raise ValueError(f"Tilts must satisfy 0 <= min_tilt_deg <= max_tilt_deg <= 90; got "
                         f"{min_tilt_deg} and {max_tilt_deg}.")
    for name, (low, high) in (("zoom_range", zoom_range), ("crop_range", crop_range),
                              ("blur_range", blur_range), ("noise_range", noise_range)):
        if not 0.0 <= float(low) <= float(high) or (name == "zoom_range" and low <= 0):
            raise ValueError(f"`{name}` must be (low, high) with 0 <= low <= high (zoom > 0); "
                             f"got {(low, high)}.")
    if not 0.0 < float(visible_range[0]) <= float(visible_range[1]) <= 1.0:
        raise ValueError(f"`visible_range` must be (low, high) with 0 < low <= high <= 1; got "
                         f"{tuple(visible_range)}.")
    rng = np.random.default_rng(rng)
    n_oblique = int(round(float(oblique_fraction) * int(n_queries)))
    # interleave the kinds so that any prefix of the list is balanced
    kinds = ["oblique" if (k + 1) * n_oblique // int(n_queries) > k * n_oblique // int(n_queries)
             else "axis" for k in range(int(n_queries))]
    queries = []
    for k, kind in enumerate(kinds):
        target = k % len(volumes)
        volume, mask, voxel_um = _source(volumes[target])
        axis = int(rng.integers(3))
        tilt = float(rng.uniform(min_tilt_deg, max_tilt_deg)) if kind == "oblique" else 0.0
        normal = tilted_normal(axis, tilt, float(rng.uniform(0.0, 360.0)))
        offset = _draw_offset(mask, normal, min_area_fraction, rng)
        angle = float(rng.uniform(0.0, 360.0))
        mirror = bool(rng.random() < 0.5)
        cropped = rng.random() < float(crop_probability)
        nuisance = Nuisance(
            zoom=float(np.exp(rng.uniform(np.log(zoom_range[0]), np.log(zoom_range[1])))),
            crop_fraction=float(rng.uniform(*crop_range)) if cropped else 0.0,
            crop_side=int(rng.integers(4)),
            blur_sigma=float(rng.uniform(*blur_range)),
            noise_sigma=float(rng.uniform(*noise_range)),
            white_background=bool(rng.random() < float(white_fraction)))
        if float(partial_fraction) > 0 and rng.random() < float(partial_fraction):
            nuisance = replace(nuisance, visible_fraction=float(rng.uniform(*visible_range)))
        cut = cut_query(volume, mask, normal=normal, offset_vox=offset, angle_deg=angle,
                        mirror=mirror, nuisance=nuisance, rng=rng)
        queries.append(EvalQuery(query_id=k, target=target, image=cut.image,
                                 pixel_size_um=float(voxel_um) / nuisance.zoom, normal=normal,
                                 offset_vox=offset, angle_deg=angle, mirror=mirror,
                                 tilt_deg=tilt, kind=kind, nuisance=nuisance,
                                 visible_fraction=cut.visible_fraction,
                                 placement=cut.placement))
    return queries
