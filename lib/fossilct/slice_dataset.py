"""The on-disk slice dataset: PNG images, the manifest, per-file counts and gallery examples.

:func:`build_slice_dataset` is the I/O edge of :mod:`fossilct.slicing`: for every selected file
of the inventory it loads the volume (:func:`fossilct.volumes.load_volume`), prepares it,
plans and cuts slices until the file's share of its species' quota is met, and writes each
accepted slice as an 8-bit grayscale PNG. Files are processed in parallel, one volume per
worker task, so memory is bounded by the largest volume (plus the small per-file tables sent
back), never by the dataset. Each volume's seed comes from the run seed and the file name
(:func:`fossilct.slicing.file_seed`), so the output does not depend on ``n_workers``.

Layout of ``out_dir``::

    images/<species>/<slice_id>.png   the model inputs (written into a temporary folder that
                                      replaces ``images/`` when the build succeeds)
    manifest.csv                      fossilct.manifest (split column empty)
    counts.csv                        one row per file: requested, written, skipped, errors
    examples.npz                      raw frame, silhouette and model input of a few slices
                                      per species, for the notebook's gallery

A file that cannot be read or holds no fossil is recorded in ``counts.csv`` (``error``) and the
build goes on; a slice whose segmentation finds nothing or that fails the acceptance rule
(:mod:`fossilct.slicing.planning`) is counted by reason and replaced by the next candidate;
``candidates`` is the number of planes the file's plan offered, so a shortfall is explained
(:func:`fossilct.slicing.summarise_yield`).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fossilct import atomic, manifest, planes, slicing, volumes
from fossilct.segmentation import DEFAULT_IMAGE_SIZE, NoFossilError
from fossilct.specimens import parse_triplet

__all__ = [
    "COUNT_COLUMNS",
    "BuildResult",
    "build_slice_dataset",
    "load_examples",
]

COUNT_COLUMNS = ("file", "species", "specimen_id", "requested", "written", "candidates",
                 "no_fossil", "below_min_foreground", "below_min_relative_area", "shortfall",
                 "threshold_method", "mount_voxels", "touches_border", "error", "seconds")
DEFAULT_EXAMPLES_PER_SPECIES = 4


@dataclass(frozen=True)
class BuildResult:
    """Result of :func:`build_slice_dataset`.

    Attributes
    ----------
    manifest : pandas.DataFrame
        ``fossilct.manifest.MANIFEST_COLUMNS``, as written.
    counts : pandas.DataFrame
        ``COUNT_COLUMNS``, one row per selected file (sorted by file).
    seconds : float
        Wall time of the build.
    """

    manifest: pd.DataFrame
    counts: pd.DataFrame
    seconds: float


def _spacing_of(row: dict):
    """The spacing to load a file with: the inventory's, else the table's override, else None."""
    text = row.get("spacing_zyx_um")
    if isinstance(text, str) and text:
        return parse_triplet(text)
    override = row.get("voxel_size_um")
    if override is not None and not pd.isna(override):
        return float(override)
    return None


def _target(images_dir: Path, relative: str) -> Path:
    return images_dir / Path(relative).relative_to("images")


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"OpenCV could not encode {path.name} as PNG.")
    with open(path, "wb") as handle:  # inside the temporary images folder (see module docstring)
        handle.write(encoded)


def _process_file(task: dict) -> tuple[list[dict], dict, list[dict]]:
    """Worker: one volume -> manifest rows, a counts row and gallery examples (PNGs written)."""
    start = time.perf_counter()
    counts = {"file": task["file"], "species": task["species"], "specimen_id": task["specimen_id"],
              "requested": task["n_slices"], "written": 0, "candidates": 0, "no_fossil": 0,
              "below_min_foreground": 0, "below_min_relative_area": 0,
              "shortfall": task["n_slices"], "threshold_method": "",
              "mount_voxels": 0, "touches_border": False, "error": ""}
    rows, examples = [], []
    if task["n_slices"] == 0:
        counts["seconds"] = time.perf_counter() - start
        return rows, counts, examples
    try:
        volume = volumes.load_volume(task["path"], spacing_um=task["spacing"])
        prepared = slicing.prepare_volume(volume.data, volume.spacing_um, **task["prepare_options"])
    except (volumes.VolumeError, NoFossilError, ValueError, OSError) as error:
        counts["error"] = f"{type(error).__name__}: {error}"
        counts["seconds"] = time.perf_counter() - start
        return rows, counts, examples
    del volume
    counts.update(threshold_method=prepared.thresholds.method,
                  mount_voxels=prepared.mount_voxels,
                  touches_border=prepared.masks.touches_border)
    plan = slicing.plan_slices(prepared, task["plane_set"], n_slices=task["n_slices"],
                               jitter_deg=task["jitter_deg"], rng=task["seed"], **task["rule"])
    counts["candidates"] = len(plan)
    images_dir = Path(task["images_dir"])
    # manifest paths start with "images/": the worker writes into the temporary images folder
    _target(images_dir, manifest.image_path_for(task["species"], "_")).parent.mkdir(
        parents=True, exist_ok=True)
    shape_text = "x".join(str(s) for s in prepared.source_shape)
    example_planes = set()
    for record in slicing.iter_slices(prepared, plan, segment_options=task["segment_options"],
                                      **task["rule"]):
        if counts["written"] >= task["n_slices"]:
            break
        if record.status != "ok":
            counts[record.status] += 1
            continue
        p = record.provenance
        slice_id = manifest.slice_id_for(task["file"], p["plane"], p["index"])
        relative = manifest.image_path_for(task["species"], slice_id)
        _write_png(_target(images_dir, relative), record.segmented.image)
        counts["written"] += 1
        rows.append({
            "path": relative, "slice_id": slice_id, "file": task["file"],
            "specimen_id": task["specimen_id"], "species": task["species"], "split": "",
            "plane": p["plane"], "normal_zyx": manifest.format_vector(p["normal_zyx"]),
            "angle_deg": p["angle_deg"], "index": p["index"], "offset_um": p["offset_um"],
            "foreground_fraction": p["foreground_fraction"],
            "bbox": manifest.format_vector(record.segmented.bbox, decimals=None),
            "source_shape": shape_text, "seed": task["seed"]})
        family = p["plane"].rsplit("_", 1)[0] if p["plane"].startswith("rot_") else p["plane"]
        if len(examples) < task["examples"] and family not in example_planes:
            example_planes.add(family)
            examples.append({"slice_id": slice_id, "species": task["species"], "plane": p["plane"],
                             "raw": record.raw, "mask": record.segmented.mask,
                             "image": record.segmented.image})
    counts["shortfall"] = task["n_slices"] - counts["written"]
    counts["seconds"] = time.perf_counter() - start
    return rows, counts, examples


def _init_worker() -> None:
    # one process per core: OpenCV's own threads would only compete with the other workers
    cv2.setNumThreads(1)


def _tasks(inventory: pd.DataFrame, data_dir: Path, images_dir: Path, quota: pd.Series, *,
           plane_set, seed, rule, jitter_deg, segment_options, prepare_options,
           examples_per_species) -> list[dict]:
    tasks, first_of_species = [], set()
    for row in inventory.sort_values("file").to_dict("records"):
        species = str(row["species"])
        examples = examples_per_species if species not in first_of_species else 0
        first_of_species.add(species)
        tasks.append({
            "file": str(row["file"]), "species": species, "specimen_id": str(row["specimen_id"]),
            "path": str(data_dir / str(row["file"])), "spacing": _spacing_of(row),
            "n_slices": int(quota[row["file"]]), "seed": slicing.file_seed(seed, str(row["file"])),
            "images_dir": str(images_dir), "plane_set": plane_set,
            "rule": rule, "jitter_deg": float(jitter_deg),
            "segment_options": segment_options, "prepare_options": prepare_options,
            "examples": examples})
    return tasks


def _check_inventory(inventory: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(inventory, pd.DataFrame):
        raise TypeError(f"`inventory` must be a pandas DataFrame; got {type(inventory).__name__}.")
    missing = [c for c in ("file", "species", "specimen_id") if c not in inventory.columns]
    if missing:
        raise ValueError(
            f"`inventory` lacks columns {missing}; pass notebook 01's inventory "
            f"(fossilct.specimens.build_inventory + select_species)."
        )
    if "selected" in inventory.columns:
        inventory = inventory[inventory["selected"].astype(bool)]
    if inventory.empty:
        raise ValueError(
            "No file is selected in `inventory` (column `selected`): nothing to slice. Lower "
            "min_specimens in notebook 01 or add specimens."
        )
    return inventory


def build_slice_dataset(inventory: pd.DataFrame, data_dir: str | os.PathLike,
                        out_dir: str | os.PathLike, *, quota_per_species: int,
                        image_size: int = DEFAULT_IMAGE_SIZE,
                        plane_set: planes.PlaneSet | None = None,
                        acceptance: str = slicing.DEFAULT_ACCEPTANCE,
                        min_foreground: float = slicing.DEFAULT_MIN_FOREGROUND,
                        min_relative_area: float = slicing.DEFAULT_MIN_RELATIVE_AREA,
                        jitter_deg: float = slicing.DEFAULT_JITTER_DEG, seed: int = 0,
                        n_workers: int = 1, progress: bool = True,
                        segment_options: dict | None = None, prepare_options: dict | None = None,
                        examples_per_species: int = DEFAULT_EXAMPLES_PER_SPECIES) -> BuildResult:
    """Cut, segment and write the slice dataset of every selected file (see the module docstring).

    Parameters
    ----------
    inventory : pandas.DataFrame
        One row per file with ``file`` (relative to `data_dir`), ``species``, ``specimen_id``;
        optional ``selected`` (only True rows are sliced), ``spacing_zyx_um`` (``"PxMxN"`` µm,
        as written by fossilct.specimens.build_inventory) or ``voxel_size_um``.
    data_dir : path-like
        Folder of the volumes.
    out_dir : path-like
        Output folder (created); ``images/`` inside it is replaced as a whole.
    quota_per_species : int, keyword-only
        Slices wanted per species, spread by :func:`fossilct.slicing.allocate_quota`.
    image_size : int, keyword-only
        Side of the PNG images, default 224.
    plane_set : fossilct.planes.PlaneSet, keyword-only
        Default :func:`fossilct.planes.standard_planes` (3 axes + 24 oblique planes).
    acceptance : {"frame_fraction", "relative_area"}, keyword-only
        Slice acceptance rule (:mod:`fossilct.slicing.planning`), default ``"frame_fraction"``
        (the study's).
    min_foreground : float, keyword-only
        ``"frame_fraction"``: minimum fraction of the slice frame covered by the fossil,
        default 0.02.
    min_relative_area : float, keyword-only
        ``"relative_area"``: minimum area relative to the fossil's largest section along the
        same normal, default 0.5.
    jitter_deg : float, keyword-only
        Maximum random tilt of each slice's normal, default 5 degrees.
    seed : int, keyword-only
        Run seed; each file's seed derives from it and the file name.
    n_workers : int, keyword-only
        Worker processes (1: in this process).
    progress : bool, keyword-only
        Show a tqdm progress bar over files.
    segment_options, prepare_options : dict, keyword-only
        Extra keyword arguments for :func:`fossilct.segmentation.segment_slice` and
        :func:`fossilct.slicing.prepare_volume`.
    examples_per_species : int, keyword-only
        Gallery examples kept from each species' first file (one per plane family), default 4.

    Returns
    -------
    BuildResult

    Raises
    ------
    TypeError
        If `inventory` is not a DataFrame.
    ValueError
        Missing columns, nothing selected, duplicate files, invalid quota, rule or worker count.
    FileNotFoundError
        If `data_dir` does not exist.
    """
    inventory = _check_inventory(inventory)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"`data_dir` {str(data_dir)!r} is not a folder; pass the folder that holds the "
            f"volumes and specimens.csv."
        )
    if int(n_workers) < 1:
        raise ValueError(f"`n_workers` must be >= 1; got {n_workers}.")
    rule = {"acceptance": acceptance, "min_foreground": float(min_foreground),
            "min_relative_area": float(min_relative_area)}
    slicing.check_acceptance(**rule)
    quota = slicing.allocate_quota(inventory, quota_per_species)
    plane_set = planes.standard_planes() if plane_set is None else plane_set
    segment_options = {**dict(segment_options or {}), "image_size": int(image_size)}
    start = time.perf_counter()
    rows, counts, examples = [], [], []
    with atomic.atomic_dir(out_dir / "images") as images_dir:
        tasks = _tasks(inventory, data_dir, images_dir, quota, plane_set=plane_set, seed=seed,
                       rule=rule, jitter_deg=jitter_deg, segment_options=segment_options,
                       prepare_options=dict(prepare_options or {}),
                       examples_per_species=int(examples_per_species))
        bar = _progress(len(tasks), progress)
        if int(n_workers) == 1:
            results = (_process_file(task) for task in tasks)
            for result in results:
                _collect(result, rows, counts, examples, bar)
        else:
            # forkserver: workers fork from a clean server process, never from this one, whose
            # OpenCV / BLAS thread pools could be caught holding a lock by a plain fork
            if "forkserver" in multiprocessing.get_all_start_methods():
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])  # import once in the server
            else:
                context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=int(n_workers), initializer=_init_worker,
                                     mp_context=context) as pool:
                futures = [pool.submit(_process_file, task) for task in tasks]
                for future in as_completed(futures):
                    _collect(future.result(), rows, counts, examples, bar)
        if bar is not None:
            bar.close()
    frame = pd.DataFrame(rows, columns=list(manifest.MANIFEST_COLUMNS))
    manifest.write_manifest(frame, out_dir / "manifest.csv")
    written = manifest.read_manifest(out_dir / "manifest.csv")
    count_frame = (pd.DataFrame(counts, columns=list(COUNT_COLUMNS)).sort_values("file")
                   .reset_index(drop=True))
    atomic.write_csv(out_dir / "counts.csv", count_frame.drop(columns="seconds"))
    _write_examples(out_dir / "examples.npz", examples)
    return BuildResult(written, count_frame, time.perf_counter() - start)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="slicing volumes", unit="volume")


def _collect(result, rows, counts, examples, bar) -> None:
    file_rows, file_counts, file_examples = result
    rows.extend(file_rows)
    counts.append(file_counts)
    examples.extend(file_examples)
    if bar is not None:
        bar.update(1)
        bar.set_postfix(slices=len(rows))


def _write_examples(path: Path, examples: list[dict]) -> None:
    arrays = {}
    for k, example in enumerate(sorted(examples, key=lambda e: e["slice_id"])):
        for name in ("raw", "mask", "image"):
            arrays[f"{k:04d}_{name}"] = example[name]
        arrays[f"{k:04d}_meta"] = np.array([example["slice_id"], example["species"],
                                             example["plane"]])
    with atomic.atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def load_examples(out_dir: str | os.PathLike) -> pd.DataFrame:
    """Read the gallery examples written by :func:`build_slice_dataset`.

    Parameters
    ----------
    out_dir : path-like
        The dataset folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``slice_id, species, plane, raw`` ((S, S) uint8 frame), ``mask`` ((S, S) bool
        silhouette) and ``image`` ((image_size, image_size) uint8 model input).

    Raises
    ------
    FileNotFoundError
        If ``examples.npz`` is missing.
    """
    path = Path(out_dir) / "examples.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"No gallery examples at {str(path)!r}; build the dataset with notebook 02 first."
        )
    rows = []
    with np.load(path) as data:
        keys = sorted({key.split("_")[0] for key in data.files})
        for key in keys:
            slice_id, species, plane = (str(v) for v in data[f"{key}_meta"])
            rows.append({"slice_id": slice_id, "species": species, "plane": plane,
                         "raw": data[f"{key}_raw"], "mask": data[f"{key}_mask"].astype(bool),
                         "image": data[f"{key}_image"]})
    return pd.DataFrame(rows, columns=["slice_id", "species", "plane", "raw", "mask", "image"])
