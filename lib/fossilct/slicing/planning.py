"""Planning and cutting slices of a prepared volume; quotas and seeds for a dataset.

:func:`plan_slices`: planes are cut one voxel apart; for each normal of the plane set the
fossil area of every plane is estimated from the projection of the analysis-grid silhouette,
and planes estimated to reach ``min_foreground`` of the slice frame are candidates (the
estimate is on the coarse 3-D silhouette, which over-estimates the area by 10-25 %, so the
estimate must exceed the rule by a quarter; the exact rule is applied to each cut slice). Candidates are ordered round-robin over the normals (in a seeded order) and, within
a normal, in bit-reversed order with a seeded cyclic shift, so that any prefix of the order
spreads evenly over planes and positions; each candidate gets its own random tilt
(``jitter_deg``, uniform over the spherical cap).

:func:`iter_slices` cuts the candidates in that order from the prepared volume (square frames
of the fossil's bounding-sphere diameter, centred on the fossil), segments each with
:func:`fossilct.segmentation.segment_slice` (the silhouette gives the exact foreground
fraction: the study's 2 % rule) and yields every outcome, so a consumer takes accepted slices
until its quota is met and counts the skipped ones. :func:`extract_slices` does it all for one
volume in memory.

:func:`allocate_quota` spreads each species' quota evenly over its specimens and then over the
files of each specimen; :func:`file_seed` derives a volume's seed from the run seed and the file
name, so results do not depend on the order or the number of worker processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fossilct import planes as planes_mod
from fossilct.segmentation import DEFAULT_IMAGE_SIZE, NoFossilError, SegmentedSlice, segment_slice
from fossilct.slicing.volume import PreparedVolume, prepare_volume

__all__ = [
    "DEFAULT_MIN_FOREGROUND",
    "DEFAULT_JITTER_DEG",
    "SliceRecord",
    "SliceSet",
    "plan_slices",
    "iter_slices",
    "extract_slices",
    "allocate_quota",
    "file_seed",
]

DEFAULT_MIN_FOREGROUND = 0.02
DEFAULT_JITTER_DEG = 5.0
DEFAULT_OVERSAMPLE = 2.0

_CHUNK = 32  # slices sampled per call in iter_slices
# the coarse 3-D silhouette (closed, filled, block-rounded) over-estimates the area a slice's
# own segmentation finds by 10-25 %: candidates must be estimated that much above the rule
_ESTIMATE_BIAS = 1.25


def _bit_reversed_order(n: int) -> np.ndarray:
    """0..n-1 in bit-reversed order: every prefix is spread evenly over the range."""
    if n <= 1:
        return np.arange(n)
    bits = int(np.ceil(np.log2(n)))
    values = np.arange(2 ** bits)
    reversed_values = np.zeros_like(values)
    for b in range(bits):
        reversed_values |= ((values >> b) & 1) << (bits - 1 - b)
    return reversed_values[reversed_values < n]


def _coverage(prepared: PreparedVolume, normals: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per normal: (offsets one voxel apart, estimated fossil area in pixels of each plane)."""
    f = prepared.masks.factor
    centre_iso = (np.asarray(prepared.source_shape) - 1) / 2.0
    points = (np.argwhere(prepared.masks.silhouette) * f + (f - 1) / 2.0 - centre_iso).astype(np.float32)
    projections = points @ normals.T.astype(np.float32)
    box = np.ones(f) / f  # an analysis voxel spans f one-voxel slabs: spread its mass over them
    out = []
    for k, normal in enumerate(normals):
        offsets = planes_mod.plane_offsets(prepared.source_shape, normal)
        slab = np.rint(projections[:, k] - offsets[0]).astype(np.intp)
        slab = slab[(slab >= 0) & (slab < offsets.size)]
        area = np.bincount(slab, minlength=offsets.size).astype(np.float64) * f ** 3
        out.append((offsets, np.convolve(area, box, mode="same") if f > 1 else area))
    return out


def plan_slices(prepared: PreparedVolume, plane_set: planes_mod.PlaneSet, *, n_slices: int,
                min_foreground: float = DEFAULT_MIN_FOREGROUND,
                jitter_deg: float = DEFAULT_JITTER_DEG, rng: int | np.random.Generator = 0,
                oversample: float = DEFAULT_OVERSAMPLE) -> pd.DataFrame:
    """Order the candidate planes of a volume for cutting (see the module docstring).

    Parameters
    ----------
    prepared : PreparedVolume
    plane_set : fossilct.planes.PlaneSet
        Base orientations (e.g. :func:`fossilct.planes.standard_planes`).
    n_slices : int, keyword-only
        Slices wanted from this volume; the plan holds up to ``oversample * n_slices`` candidates
        (and at least 32) so that rejected ones can be replaced.
    min_foreground : float, keyword-only
        Minimum fraction of the slice frame covered by the fossil, default 0.02.
    jitter_deg : float, keyword-only
        Maximum random tilt of each slice's normal, degrees, default 5.
    rng : int or numpy.random.Generator, keyword-only
        Seed; the plan is deterministic for it.
    oversample : float, keyword-only
        Candidates kept per wanted slice, default 2.

    Returns
    -------
    pandas.DataFrame
        One row per candidate in cutting order: ``plane``, ``angle_deg``, ``index``,
        ``offset_vox`` (base plane, from the isotropic volume's centre), ``normal_p``,
        ``normal_r``, ``normal_c`` (tilted normal), ``jitter_deg`` (tilt), ``estimated_fraction``.

    Raises
    ------
    ValueError
        Invalid options.
    """
    if int(n_slices) < 0:
        raise ValueError(f"`n_slices` must be >= 0; got {n_slices}.")
    if not 0.0 <= float(min_foreground) < 1.0:
        raise ValueError(f"`min_foreground` must be in [0, 1); got {min_foreground}.")
    if float(oversample) < 1.0:
        raise ValueError(f"`oversample` must be >= 1; got {oversample}.")
    rng = np.random.default_rng(rng)
    frame_area = float(prepared.frame_size) ** 2
    per_normal = []
    coverage = _coverage(prepared, plane_set.normals)
    normal_order = rng.permutation(len(plane_set))
    for rank_normal, k in enumerate(normal_order):
        offsets, area = coverage[k]
        fraction = area / frame_area
        candidates = np.flatnonzero(fraction >= _ESTIMATE_BIAS * float(min_foreground))
        order = _bit_reversed_order(candidates.size)
        if candidates.size:
            order = (order + int(rng.integers(candidates.size))) % candidates.size
        chosen = candidates[order]
        per_normal.append(pd.DataFrame({
            "rank": np.arange(chosen.size), "normal_rank": rank_normal, "k": k,
            "index": chosen, "offset_vox": offsets[chosen], "estimated_fraction": fraction[chosen]}))
    plan = pd.concat(per_normal, ignore_index=True).sort_values(["rank", "normal_rank"],
                                                                kind="mergesort")
    plan = plan.head(max(_CHUNK, int(np.ceil(float(oversample) * int(n_slices))))).reset_index(drop=True)
    base = plane_set.normals[plan["k"].to_numpy()]
    if len(plan):
        tilted, tilt = planes_mod.jitter_normal(base, max_deg=float(jitter_deg), rng=rng)
    else:
        tilted, tilt = np.zeros((0, 3)), np.zeros(0)
    return pd.DataFrame({
        "plane": [plane_set.labels[k] for k in plan["k"]],
        "angle_deg": plane_set.angles_deg[plan["k"].to_numpy()],
        "index": plan["index"].to_numpy(np.int64),
        "offset_vox": plan["offset_vox"].to_numpy(),
        "normal_p": tilted[:, 0], "normal_r": tilted[:, 1], "normal_c": tilted[:, 2],
        "jitter_deg": tilt,
        "estimated_fraction": plan["estimated_fraction"].to_numpy(),
        "base_p": base[:, 0], "base_r": base[:, 1], "base_c": base[:, 2],
    })


# --- cutting -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SliceRecord:
    """One cut candidate.

    Attributes
    ----------
    status : str
        ``"ok"``, ``"no_fossil"`` (segmentation found nothing) or ``"below_min_foreground"``.
    raw : (S, S) ndarray of uint8
        The slice frame as cut from the scaled, mount-free volume (background level outside).
    segmented : SegmentedSlice or None
        Segmentation result (None when ``status == "no_fossil"``).
    provenance : dict
        ``plane, angle_deg, index, normal_zyx (3-tuple), offset_um, jitter_deg,
        foreground_fraction`` (0 when no fossil).
    """

    status: str
    raw: np.ndarray
    segmented: SegmentedSlice | None
    provenance: dict


def iter_slices(prepared: PreparedVolume, plan: pd.DataFrame, *,
                min_foreground: float = DEFAULT_MIN_FOREGROUND, segment_options: dict | None = None):
    """Cut, segment and judge the planned slices in order, yielding a record for each.

    Parameters
    ----------
    prepared : PreparedVolume
    plan : pandas.DataFrame
        From :func:`plan_slices`.
    min_foreground : float, keyword-only
        A slice is ``"ok"`` when its segmented silhouette covers at least this fraction of the
        frame (default 0.02).
    segment_options : dict, keyword-only
        Keyword arguments for :func:`fossilct.segmentation.segment_slice` (e.g. ``image_size``).

    Yields
    ------
    SliceRecord
    """
    options = dict(segment_options or {})
    min_foreground = float(min_foreground)
    size = prepared.frame_size
    centre_iso = (np.asarray(prepared.source_shape) - 1) / 2.0
    fossil_iso = prepared.centre + prepared.crop_origin
    # plain arrays and lists: pandas indexing per slice would cost more than the cutting
    base_all = plan[["base_p", "base_r", "base_c"]].to_numpy()
    tilted_all = plan[["normal_p", "normal_r", "normal_c"]].to_numpy()
    offset_all = plan["offset_vox"].to_numpy()
    labels, angles = plan["plane"].tolist(), plan["angle_deg"].tolist()
    indices, jitters = plan["index"].tolist(), plan["jitter_deg"].tolist()
    for start in range(0, len(plan), _CHUNK):
        stop = min(start + _CHUNK, len(plan))
        base, tilted = base_all[start:stop], tilted_all[start:stop]
        # the tilted plane turns about the base plane's point nearest the fossil centre
        along = offset_all[start:stop] - base @ (fossil_iso - centre_iso)
        offsets_local = along * np.sum(base * tilted, axis=1)
        images = planes_mod.sample_planes(prepared.views, tilted, offsets_local, size=size,
                                          centre=prepared.centre, dtype=np.uint8,
                                          fill_value=prepared.background)
        points = fossil_iso + (along[:, None] * base)
        offsets_um = (np.sum((points - centre_iso) * tilted, axis=1) * prepared.spacing_um).tolist()
        for k, row in enumerate(range(start, stop)):
            provenance = {
                "plane": labels[row], "angle_deg": float(angles[row]), "index": int(indices[row]),
                "normal_zyx": tuple(tilted[k].tolist()), "offset_um": offsets_um[k],
                "jitter_deg": float(jitters[row]), "foreground_fraction": 0.0,
            }
            try:
                segmented = segment_slice(images[k], **options)
            except NoFossilError:
                yield SliceRecord("no_fossil", images[k], None, provenance)
                continue
            provenance["foreground_fraction"] = segmented.foreground_fraction
            status = "ok" if segmented.foreground_fraction >= min_foreground else "below_min_foreground"
            yield SliceRecord(status, images[k], segmented, provenance)


@dataclass(frozen=True)
class SliceSet:
    """Accepted slices of one volume (see :func:`extract_slices`).

    Attributes
    ----------
    raw : (K, S, S) ndarray of uint8
        Slice frames cut from the normalised, mount-free volume.
    masks : (K, S, S) ndarray of bool
        Segmented fossil silhouettes.
    images : (K, image_size, image_size) ndarray of uint8
        Model inputs.
    table : pandas.DataFrame
        Provenance per slice (``plane, angle_deg, index, normal_zyx, offset_um, jitter_deg,
        foreground_fraction, bbox``).
    counts : dict of str to int
        Records per status (``ok``, ``no_fossil``, ``below_min_foreground``).
    prepared : PreparedVolume
    """

    raw: np.ndarray
    masks: np.ndarray
    images: np.ndarray
    table: pd.DataFrame
    counts: dict
    prepared: PreparedVolume


def extract_slices(volume: np.ndarray, spacing_um=1.0, *, n_slices: int,
                   plane_set: planes_mod.PlaneSet | None = None,
                   min_foreground: float = DEFAULT_MIN_FOREGROUND,
                   jitter_deg: float = DEFAULT_JITTER_DEG, rng: int | np.random.Generator = 0,
                   segment_options: dict | None = None, prepare_options: dict | None = None) -> SliceSet:
    """Cut up to `n_slices` accepted slices from one volume (all steps, kept in memory).

    For notebooks, galleries and tests; :func:`fossilct.slice_dataset.build_slice_dataset`
    streams the same records to disk instead.

    Parameters
    ----------
    volume : (P, M, N) ndarray
    spacing_um : float or (float, float, float)
    n_slices : int, keyword-only
    plane_set : PlaneSet, keyword-only
        Default :func:`fossilct.planes.standard_planes`.
    min_foreground, jitter_deg, rng
        As for :func:`plan_slices`.
    segment_options, prepare_options : dict, keyword-only
        Keyword arguments for :func:`fossilct.segmentation.segment_slice` and
        :func:`prepare_volume`.

    Returns
    -------
    SliceSet

    Raises
    ------
    ValueError, NoFossilError
        As :func:`prepare_volume` and :func:`plan_slices`.

    Examples
    --------
    >>> grid = np.indices((40, 40, 40)) - 19.5
    >>> radius = np.sqrt(np.sum(grid ** 2, axis=0))
    >>> shell = ((np.abs(radius - 12) < 2) | (np.abs(grid[0]) < 1) & (radius < 12)).astype(np.float32)
    >>> result = extract_slices(shell, n_slices=5, segment_options={"image_size": 32})
    >>> result.images.shape, result.counts["ok"]
    ((5, 32, 32), 5)
    """
    prepared = prepare_volume(volume, spacing_um, **dict(prepare_options or {}))
    plane_set = planes_mod.standard_planes() if plane_set is None else plane_set
    plan = plan_slices(prepared, plane_set, n_slices=n_slices, min_foreground=min_foreground,
                       jitter_deg=jitter_deg, rng=rng)
    counts = {"ok": 0, "no_fossil": 0, "below_min_foreground": 0}
    raw, masks, images, rows = [], [], [], []
    for record in iter_slices(prepared, plan, min_foreground=min_foreground,
                              segment_options=segment_options):
        if counts["ok"] >= int(n_slices):
            break
        counts[record.status] += 1
        if record.status != "ok":
            continue
        raw.append(record.raw)
        masks.append(record.segmented.mask)
        images.append(record.segmented.image)
        rows.append({**record.provenance, "bbox": record.segmented.bbox})
    size = prepared.frame_size
    image_size = int((segment_options or {}).get("image_size", DEFAULT_IMAGE_SIZE))
    return SliceSet(
        np.asarray(raw, np.uint8).reshape(-1, size, size),
        np.asarray(masks, bool).reshape(-1, size, size),
        np.asarray(images, np.uint8).reshape(-1, image_size, image_size),
        pd.DataFrame(rows, columns=["plane", "angle_deg", "index", "normal_zyx", "offset_um",
                                    "jitter_deg", "foreground_fraction", "bbox"]),
        counts, prepared)


# --- dataset-level helpers ----------------------------------------------------------------------

def allocate_quota(inventory: pd.DataFrame, quota_per_species: int) -> pd.Series:
    """Spread each species' slice quota evenly over its specimens, then over their files.

    Parameters
    ----------
    inventory : pandas.DataFrame
        One row per file with ``file``, ``species``, ``specimen_id``.
    quota_per_species : int
        Slices wanted per species.

    Returns
    -------
    pandas.Series of int
        Slices wanted per file (index ``file``). Remainders go to the first specimens and files
        in sorted order, so the totals per species equal the quota exactly.

    Raises
    ------
    ValueError
        Missing columns, duplicate files or a quota < 1.

    Examples
    --------
    >>> inventory = pd.DataFrame({"file": ["a1.nii", "a1b.nii", "a2.nii", "b1.nii"],
    ...                           "species": ["a", "a", "a", "b"],
    ...                           "specimen_id": ["a1", "a1", "a2", "b1"]})
    >>> allocate_quota(inventory, 11).to_dict()
    {'a1.nii': 3, 'a1b.nii': 3, 'a2.nii': 5, 'b1.nii': 11}
    """
    missing = [c for c in ("file", "species", "specimen_id") if c not in inventory.columns]
    if missing:
        raise ValueError(f"`inventory` lacks columns {missing}; pass notebook 01's inventory table.")
    if int(quota_per_species) < 1:
        raise ValueError(f"`quota_per_species` must be >= 1; got {quota_per_species}.")
    if inventory["file"].duplicated().any():
        dup = inventory.loc[inventory["file"].duplicated(), "file"].tolist()
        raise ValueError(f"`inventory` lists files twice: {dup[:10]}. One row per file.")
    quota = {}
    for _, group in inventory.groupby("species", sort=True):
        specimens = sorted(group["specimen_id"].astype(str).unique())
        share, extra = divmod(int(quota_per_species), len(specimens))
        for rank, specimen in enumerate(specimens):
            specimen_quota = share + (1 if rank < extra else 0)
            files = sorted(group.loc[group["specimen_id"].astype(str) == specimen, "file"])
            per_file, file_extra = divmod(specimen_quota, len(files))
            for f_rank, file in enumerate(files):
                quota[file] = per_file + (1 if f_rank < file_extra else 0)
    return pd.Series(quota, name="n_slices", dtype=np.int64).reindex(inventory["file"])


def file_seed(seed: int, file: str) -> int:
    """Derive a volume's seed from the run seed and its file name (independent of order).

    Examples
    --------
    >>> file_seed(0, "a.nii") == file_seed(0, "a.nii") != file_seed(1, "a.nii")
    True
    """
    digest = hashlib.sha256(f"{int(seed)}:{file}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % (2 ** 63)
