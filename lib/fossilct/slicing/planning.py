"""Planning and cutting slices of a prepared volume; quotas and seeds for a dataset.

:func:`plan_slices`: planes are cut one voxel apart; for each normal of the plane set the
fossil area of every plane is estimated from the projection of the analysis-grid silhouette,
and planes estimated to pass the acceptance rule are candidates. Candidates are ordered
round-robin over the normals (in a seeded order) and, within a normal, in bit-reversed order
with a seeded cyclic shift, so that any prefix of the order spreads evenly over planes and
positions; each candidate gets its own random tilt (``jitter_deg``, uniform over the spherical
cap).

Acceptance rules (``acceptance``), applied exactly to each cut slice's segmented silhouette:

- ``"frame_fraction"`` (the study's rule, default): the fossil covers at least
  ``min_foreground`` (default 2 %) of the slice frame, a square as wide as the fossil's
  bounding sphere. It judges shape as much as content: a section across a long, narrow shell
  covers a few percent of that frame wherever it is cut, so elongated species lose most of
  their slices at a strict threshold. At planning, the estimate (on the coarse 3-D silhouette,
  which over-estimates areas by 10-25 %) must exceed the rule by a quarter.
- ``"relative_area"``: the fossil's area is at least ``min_relative_area`` (default 0.5) of
  the area of the fossil's largest section along the same base normal, so it rejects the caps
  at the ends of every direction, whatever the fossil's proportions. The largest section's
  area is the planner's estimate divided by the estimate's typical bias (1.25), so it comes
  from the 3-D silhouette, never from one slice's segmentation (a slice picking up ring
  artefacts cannot lower the bar; a silhouette swollen by artefacts raises it, which rejects
  rather than accepts the slices of a badly segmented scan). At planning, the estimated areas
  are compared with the estimated largest one (their over-estimates mostly cancel).

:func:`iter_slices` cuts the candidates in that order from the prepared volume (square frames
of the fossil's bounding-sphere diameter, centred on the fossil), segments each with
:func:`fossilct.segmentation.segment_slice`, judges it by the rule and yields every outcome, so
a consumer takes accepted slices until its quota is met and counts the skipped ones by reason.
:func:`extract_slices` does it all for one volume in memory.

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
    "ACCEPTANCE_RULES",
    "DEFAULT_ACCEPTANCE",
    "DEFAULT_MIN_FOREGROUND",
    "DEFAULT_MIN_RELATIVE_AREA",
    "REJECTION_STATUS",
    "DEFAULT_JITTER_DEG",
    "SliceRecord",
    "SliceSet",
    "check_acceptance",
    "plan_slices",
    "iter_slices",
    "extract_slices",
    "allocate_quota",
    "file_seed",
]

ACCEPTANCE_RULES = ("frame_fraction", "relative_area")
DEFAULT_ACCEPTANCE = "frame_fraction"
DEFAULT_MIN_FOREGROUND = 0.02
DEFAULT_MIN_RELATIVE_AREA = 0.5
#: Status of a slice that segments but fails the rule, per rule.
REJECTION_STATUS = {"frame_fraction": "below_min_foreground",
                    "relative_area": "below_min_relative_area"}
DEFAULT_JITTER_DEG = 5.0
DEFAULT_OVERSAMPLE = 2.0

_CHUNK = 32  # slices sampled per call in iter_slices
# the coarse 3-D silhouette (closed, filled, block-rounded) over-estimates the area a slice's
# own segmentation finds by 10-25 %: candidates must be estimated that much above the frame
# rule, and the relative rule's largest section is the estimate divided by it
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


def check_acceptance(acceptance: str, *, min_foreground: float = DEFAULT_MIN_FOREGROUND,
                     min_relative_area: float = DEFAULT_MIN_RELATIVE_AREA) -> None:
    """Raise unless the acceptance rule and its thresholds are valid (see the module docstring).

    Raises
    ------
    ValueError
        An unknown rule, `min_foreground` outside [0, 1) or `min_relative_area` outside [0, 1].

    Examples
    --------
    >>> check_acceptance("relative_area", min_relative_area=0.2)
    >>> check_acceptance("area")
    Traceback (most recent call last):
    ...
    ValueError: `acceptance` must be one of ['frame_fraction', 'relative_area']; got 'area'. ...
    """
    if acceptance not in ACCEPTANCE_RULES:
        raise ValueError(f"`acceptance` must be one of {list(ACCEPTANCE_RULES)}; got "
                         f"{acceptance!r}. 'frame_fraction' is the study's rule.")
    if not 0.0 <= float(min_foreground) < 1.0:
        raise ValueError(f"`min_foreground` must be in [0, 1); got {min_foreground}.")
    if not 0.0 <= float(min_relative_area) <= 1.0:
        raise ValueError(f"`min_relative_area` must be in [0, 1]; got {min_relative_area}.")


def plan_slices(prepared: PreparedVolume, plane_set: planes_mod.PlaneSet, *, n_slices: int,
                acceptance: str = DEFAULT_ACCEPTANCE,
                min_foreground: float = DEFAULT_MIN_FOREGROUND,
                min_relative_area: float = DEFAULT_MIN_RELATIVE_AREA,
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
    acceptance : {"frame_fraction", "relative_area"}, keyword-only
        The acceptance rule (module docstring), default ``"frame_fraction"`` (the study's).
    min_foreground : float, keyword-only
        ``"frame_fraction"``: minimum fraction of the slice frame covered by the fossil, in
        [0, 1), default 0.02. Ignored by the other rule.
    min_relative_area : float, keyword-only
        ``"relative_area"``: minimum area relative to the fossil's largest section along the
        same normal, in [0, 1], default 0.5. Ignored by the other rule.
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
        ``normal_r``, ``normal_c`` (tilted normal), ``jitter_deg`` (tilt),
        ``estimated_fraction`` (of the frame), ``estimated_relative_area`` (of the largest
        section along the normal), ``base_p``, ``base_r``, ``base_c`` (base normal) and
        ``peak_area_px`` (estimated area of the largest section along the base normal).

    Raises
    ------
    ValueError
        Invalid options.
    """
    if int(n_slices) < 0:
        raise ValueError(f"`n_slices` must be >= 0; got {n_slices}.")
    check_acceptance(acceptance, min_foreground=min_foreground,
                     min_relative_area=min_relative_area)
    if float(oversample) < 1.0:
        raise ValueError(f"`oversample` must be >= 1; got {oversample}.")
    rng = np.random.default_rng(rng)
    frame_area = float(prepared.frame_size) ** 2
    per_normal = []
    coverage = _coverage(prepared, plane_set.normals)
    normal_order = rng.permutation(len(plane_set))
    for rank_normal, k in enumerate(normal_order):
        offsets, area = coverage[k]
        peak = int(np.argmax(area))
        fraction = area / frame_area
        relative = area / area[peak] if area[peak] > 0 else np.zeros_like(area)
        if acceptance == "frame_fraction":
            passes = fraction >= _ESTIMATE_BIAS * float(min_foreground)
        else:
            passes = (relative >= float(min_relative_area)) & (area > 0)
        candidates = np.flatnonzero(passes)
        order = _bit_reversed_order(candidates.size)
        if candidates.size:
            order = (order + int(rng.integers(candidates.size))) % candidates.size
        chosen = candidates[order]
        per_normal.append(pd.DataFrame({
            "rank": np.arange(chosen.size), "normal_rank": rank_normal, "k": k,
            "index": chosen, "offset_vox": offsets[chosen], "estimated_fraction": fraction[chosen],
            "estimated_relative_area": relative[chosen], "peak_area_px": area[peak]}))
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
        "estimated_relative_area": plan["estimated_relative_area"].to_numpy(),
        "base_p": base[:, 0], "base_r": base[:, 1], "base_c": base[:, 2],
        "peak_area_px": plan["peak_area_px"].to_numpy(),
    })


# --- cutting -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SliceRecord:
    """One cut candidate.

    Attributes
    ----------
    status : str
        ``"ok"``, ``"no_fossil"`` (segmentation found nothing), or the rule's rejection
        (``REJECTION_STATUS``: ``"below_min_foreground"``, ``"below_min_relative_area"``).
    raw : (S, S) ndarray of uint8
        The slice frame as cut from the scaled, mount-free volume (background level outside).
    segmented : SegmentedSlice or None
        Segmentation result (None when ``status == "no_fossil"``).
    provenance : dict
        ``plane, angle_deg, index, normal_zyx (3-tuple), offset_um, jitter_deg,
        foreground_fraction`` (0 when no fossil), ``relative_area`` (area over the largest
        section's along the base normal, as the rule measures it, so it may exceed 1; NaN
        under ``"frame_fraction"``, 0 when no fossil).
    """

    status: str
    raw: np.ndarray
    segmented: SegmentedSlice | None
    provenance: dict


def iter_slices(prepared: PreparedVolume, plan: pd.DataFrame, *,
                acceptance: str = DEFAULT_ACCEPTANCE,
                min_foreground: float = DEFAULT_MIN_FOREGROUND,
                min_relative_area: float = DEFAULT_MIN_RELATIVE_AREA,
                segment_options: dict | None = None):
    """Cut, segment and judge the planned slices in order, yielding a record for each.

    Parameters
    ----------
    prepared : PreparedVolume
    plan : pandas.DataFrame
        From :func:`plan_slices` (made with the same rule).
    acceptance, min_foreground, min_relative_area : keyword-only
        The acceptance rule and its threshold, as for :func:`plan_slices`; a slice is ``"ok"``
        when its segmented silhouette passes it.
    segment_options : dict, keyword-only
        Keyword arguments for :func:`fossilct.segmentation.segment_slice` (e.g. ``image_size``).

    Yields
    ------
    SliceRecord

    Raises
    ------
    ValueError
        Invalid rule options.
    """
    check_acceptance(acceptance, min_foreground=min_foreground,
                     min_relative_area=min_relative_area)
    options = dict(segment_options or {})
    min_foreground, min_relative_area = float(min_foreground), float(min_relative_area)
    rejected = REJECTION_STATUS[acceptance]
    relative_rule = acceptance == "relative_area"
    # the largest section's area, estimated on the 3-D silhouette, corrected for its bias
    references = plan["peak_area_px"].to_numpy() / _ESTIMATE_BIAS
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
                "relative_area": 0.0 if relative_rule else float("nan"),
            }
            try:
                segmented = segment_slice(images[k], **options)
            except NoFossilError:
                yield SliceRecord("no_fossil", images[k], None, provenance)
                continue
            provenance["foreground_fraction"] = segmented.foreground_fraction
            if relative_rule:
                area = np.count_nonzero(segmented.mask)
                provenance["relative_area"] = area / references[row]
                passes = provenance["relative_area"] >= min_relative_area
            else:
                passes = segmented.foreground_fraction >= min_foreground
            yield SliceRecord("ok" if passes else rejected, images[k], segmented, provenance)


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
        foreground_fraction, relative_area, bbox``).
    counts : dict of str to int
        Records per status (``ok``, ``no_fossil`` and every ``REJECTION_STATUS``).
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
                   acceptance: str = DEFAULT_ACCEPTANCE,
                   min_foreground: float = DEFAULT_MIN_FOREGROUND,
                   min_relative_area: float = DEFAULT_MIN_RELATIVE_AREA,
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
    acceptance, min_foreground, min_relative_area, jitter_deg, rng
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
    rule = {"acceptance": acceptance, "min_foreground": min_foreground,
            "min_relative_area": min_relative_area}
    plan = plan_slices(prepared, plane_set, n_slices=n_slices, jitter_deg=jitter_deg, rng=rng,
                       **rule)
    counts = dict.fromkeys(["ok", "no_fossil", *REJECTION_STATUS.values()], 0)
    raw, masks, images, rows = [], [], [], []
    for record in iter_slices(prepared, plan, segment_options=segment_options, **rule):
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
                                    "jitter_deg", "foreground_fraction", "relative_area", "bbox"]),
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
