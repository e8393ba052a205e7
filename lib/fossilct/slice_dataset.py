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
    dropped_species.csv               species left out after files were lost (usually empty)
    examples.npz                      raw frame, silhouette and model input of a few slices
                                      per species, for the notebook's gallery

A file that cannot be read or holds no fossil is recorded in ``counts.csv`` (``error``) and the
build goes on, unless ``strict`` (then the build stops and writes nothing); a slice whose
segmentation finds nothing or that fails the acceptance rule (:mod:`fossilct.slicing.planning`)
is counted by reason and replaced by the next candidate; ``candidates`` is the number of planes
the file's plan offered, so a shortfall is explained (:func:`fossilct.slicing.summarise_yield`).
When files are lost, the species selection is applied again (``min_specimens``): a species left
with too few specimens that gave slices is dropped from the manifest and reported, never trained
on silently.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import cv2
import numpy as np
import pandas as pd

from fossilct import atomic, manifest, planes, slicing, specimens, volumes
from fossilct.segmentation import DEFAULT_IMAGE_SIZE, NoFossilError
from fossilct.triplets import format_triplet

__all__ = [
    "COUNT_COLUMNS",
    "SliceDatasetError",
    "BuildResult",
    "build_slice_dataset",
    "file_errors",
    "save_slices_outputs",
    "read_slices",
    "read_image_size",
    "read_counts",
    "read_dropped",
    "read_slice_examples",
]

COUNT_COLUMNS = ("file", "species", "specimen_id", "requested", "written", "candidates",
                 "no_fossil", "below_min_foreground", "below_min_relative_area", "shortfall",
                 "threshold_method", "mount_voxels", "touches_border", "error", "seconds")
DEFAULT_EXAMPLES_PER_SPECIES = 4
MANIFEST_FILE = "manifest.csv"
COUNTS_FILE = "counts.csv"
DROPPED_FILE = "dropped_species.csv"
EXAMPLES_FILE = "examples.npz"
DROPPED_COLUMNS = ("species", "n_specimens", "reason")


class SliceDatasetError(ValueError):
    """The slice dataset cannot be built as asked (a strict build met unreadable files)."""


@dataclass(frozen=True)
class BuildResult:
    """Result of :func:`build_slice_dataset`.

    Attributes
    ----------
    manifest : pandas.DataFrame
        ``fossilct.manifest.MANIFEST_COLUMNS``, as written.
    counts : pandas.DataFrame
        ``COUNT_COLUMNS``, one row per selected file (sorted by file).
    dropped : pandas.DataFrame
        ``DROPPED_COLUMNS``: species removed because too few of their specimens gave slices.
    seconds : float
        Wall time of the build.
    """

    manifest: pd.DataFrame
    counts: pd.DataFrame
    dropped: pd.DataFrame
    seconds: float


@dataclass(frozen=True)
class _FileTask:
    """What a worker needs to slice one file (sent to another process, so plain values)."""

    row: dict
    data_dir: str
    images_dir: str
    n_slices: int
    seed: int
    plane_set: planes.PlaneSet
    rule: dict
    jitter_deg: float
    segment_options: dict
    prepare_options: dict
    examples: int

    @property
    def file(self) -> str:
        return str(self.row["file"])

    @property
    def species(self) -> str:
        return str(self.row["species"])

    @property
    def specimen_id(self) -> str:
        return str(self.row["specimen_id"])


def _target(images_dir: Path, relative: str) -> Path:
    return images_dir / Path(relative).relative_to("images")


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"OpenCV could not encode {path.name} as PNG.")
    with open(path, "wb") as handle:  # inside the temporary images folder (see module docstring)
        handle.write(encoded)


def _process_file(task: _FileTask) -> tuple[list[dict], dict, list[dict]]:
    """Worker: one volume -> manifest rows, a counts row and gallery examples (PNGs written)."""
    start = time.perf_counter()
    counts = {"file": task.file, "species": task.species, "specimen_id": task.specimen_id,
              "requested": task.n_slices, "written": 0, "candidates": 0, "no_fossil": 0,
              "below_min_foreground": 0, "below_min_relative_area": 0,
              "shortfall": task.n_slices, "threshold_method": "",
              "mount_voxels": 0, "touches_border": False, "error": ""}
    rows, examples = [], []
    if task.n_slices == 0:
        counts["seconds"] = time.perf_counter() - start
        return rows, counts, examples
    try:
        volume = specimens.load_inventory_volume(task.row, task.data_dir)
        prepared = slicing.prepare_volume(volume.data, volume.spacing_um, **task.prepare_options)
    except (volumes.VolumeError, NoFossilError, ValueError, OSError) as error:
        counts["error"] = f"{type(error).__name__}: {error}"
        counts["seconds"] = time.perf_counter() - start
        return rows, counts, examples
    del volume
    counts.update(threshold_method=prepared.thresholds.method,
                  mount_voxels=prepared.mount_voxels,
                  touches_border=prepared.masks.touches_border)
    plan = slicing.plan_slices(prepared, task.plane_set, n_slices=task.n_slices,
                               jitter_deg=task.jitter_deg, rng=task.seed, **task.rule)
    counts["candidates"] = len(plan)
    images_dir = Path(task.images_dir)
    # manifest paths start with "images/": the worker writes into the temporary images folder
    _target(images_dir, manifest.image_path_for(task.species, "_")).parent.mkdir(
        parents=True, exist_ok=True)
    shape_text = format_triplet(prepared.source_shape)
    example_planes = set()
    for record in slicing.iter_slices(prepared, plan, segment_options=task.segment_options,
                                      **task.rule):
        if counts["written"] >= task.n_slices:
            break
        if record.status != "ok":
            counts[record.status] += 1
            continue
        p = record.provenance
        slice_id = manifest.slice_id_for(task.file, p["plane"], p["index"])
        relative = manifest.image_path_for(task.species, slice_id)
        _write_png(_target(images_dir, relative), record.segmented.image)
        counts["written"] += 1
        rows.append({
            "path": relative, "slice_id": slice_id, "file": task.file,
            "specimen_id": task.specimen_id, "species": task.species, "split": "",
            "plane": p["plane"], "normal_zyx": manifest.format_vector(p["normal_zyx"]),
            "angle_deg": p["angle_deg"], "index": p["index"], "offset_um": p["offset_um"],
            "foreground_fraction": p["foreground_fraction"],
            "bbox": manifest.format_vector(record.segmented.bbox, decimals=None),
            "source_shape": shape_text, "seed": task.seed})
        family = p["plane"].rsplit("_", 1)[0] if p["plane"].startswith("rot_") else p["plane"]
        if len(examples) < task.examples and family not in example_planes:
            example_planes.add(family)
            examples.append({"slice_id": slice_id, "species": task.species, "plane": p["plane"],
                             "raw": record.raw, "mask": record.segmented.mask,
                             "image": record.segmented.image})
    counts["shortfall"] = task.n_slices - counts["written"]
    counts["seconds"] = time.perf_counter() - start
    return rows, counts, examples


def _init_worker() -> None:
    # one process per core: OpenCV's own threads would only compete with the other workers
    cv2.setNumThreads(1)


def _tasks(inventory: pd.DataFrame, data_dir: Path, images_dir: Path, quota: pd.Series, *,
           seed: int, examples_per_species: int, **options) -> list[_FileTask]:
    tasks, first_of_species = [], set()
    for row in inventory.sort_values("file").to_dict("records"):
        species = str(row["species"])
        examples = examples_per_species if species not in first_of_species else 0
        first_of_species.add(species)
        tasks.append(_FileTask(
            row={k: row[k] for k in ("file", "species", "specimen_id", "spacing_zyx_um")},
            data_dir=str(data_dir), images_dir=str(images_dir),
            n_slices=int(quota[row["file"]]), seed=slicing.file_seed(seed, str(row["file"])),
            examples=examples, **options))
    return tasks


def _check_inventory(inventory: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(inventory, pd.DataFrame):
        raise TypeError(f"`inventory` must be a pandas DataFrame; got {type(inventory).__name__}.")
    missing = [c for c in ("file", "species", "specimen_id", "spacing_zyx_um")
               if c not in inventory.columns]
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
                        examples_per_species: int = DEFAULT_EXAMPLES_PER_SPECIES,
                        min_specimens: int = 1, strict: bool = False) -> BuildResult:
    """Cut, segment and write the slice dataset of every selected file (see the module docstring).

    Parameters
    ----------
    inventory : pandas.DataFrame
        One row per file with ``file`` (relative to `data_dir`), ``species``, ``specimen_id``
        and ``spacing_zyx_um`` (``"PxMxN"`` µm), as written by
        :func:`fossilct.specimens.build_inventory`; optional ``selected`` (only True rows are
        sliced).
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
    min_specimens : int, keyword-only
        The species selection's rule, applied again to the specimens that gave slices: a
        species below it is left out of the manifest and listed in ``dropped``. Default 1.
    strict : bool, keyword-only
        Any file that cannot be read or holds no fossil stops the build (nothing is written).

    Returns
    -------
    BuildResult

    Raises
    ------
    TypeError
        If `inventory` is not a DataFrame.
    ValueError
        Missing columns, nothing selected, duplicate files, invalid quota, rule or worker count.
    fossilct.manifest.ManifestError
        Two species (or files) whose names give the same folder (or image) name, before anything
        is written.
    FileNotFoundError
        If `data_dir` does not exist.
    SliceDatasetError
        With `strict`, listing every file that could not be sliced.
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
    for column in ("species", "file"):  # no two names may share one image folder or file
        manifest.check_distinct_components(inventory[column].astype(str), what=column)
    quota = slicing.allocate_quota(inventory, quota_per_species)
    plane_set = planes.standard_planes() if plane_set is None else plane_set
    segment_options = {**dict(segment_options or {}), "image_size": int(image_size)}
    start = time.perf_counter()
    rows, counts, examples = [], [], []
    with atomic.atomic_dir(out_dir / "images") as images_dir:
        tasks = _tasks(inventory, data_dir, images_dir, quota, seed=seed,
                       examples_per_species=int(examples_per_species), plane_set=plane_set,
                       rule=rule, jitter_deg=float(jitter_deg), segment_options=segment_options,
                       prepare_options=dict(prepare_options or {}))
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
        count_frame = (pd.DataFrame(counts, columns=list(COUNT_COLUMNS)).sort_values("file")
                       .reset_index(drop=True))
        failed = file_errors(count_frame)
        if strict and len(failed):
            raise SliceDatasetError(
                f"{len(failed)} of {len(count_frame)} files could not be sliced (strict mode):\n"
                + "\n".join(f"- {r.file}: {r.error}" for r in failed.itertuples())
                + "\nFix or remove these files (their rows in specimens.csv), or run without "
                "--strict to skip them.")
        for record in failed.itertuples():
            warnings.warn(f"{record.file} ({record.species}) gave no slices: {record.error}",
                          stacklevel=2)
        frame = pd.DataFrame(rows, columns=list(manifest.MANIFEST_COLUMNS))
        frame, dropped = _reselect(frame, min_specimens)
        for record in dropped.itertuples():
            warnings.warn(f"species {record.species} left out: {record.reason}", stacklevel=2)
        for species in dropped["species"]:
            shutil.rmtree(_target(images_dir, manifest.image_path_for(species, "_")).parent)
    manifest.write_manifest(frame, out_dir / MANIFEST_FILE)
    written = manifest.read_manifest(out_dir / MANIFEST_FILE)
    atomic.write_csv(out_dir / COUNTS_FILE, count_frame.drop(columns="seconds"))
    atomic.write_csv(out_dir / DROPPED_FILE, dropped)
    _write_examples(out_dir / EXAMPLES_FILE,
                    [e for e in examples if e["species"] not in set(dropped["species"])])
    return BuildResult(written, count_frame, dropped, time.perf_counter() - start)


def _reselect(frame: pd.DataFrame, min_specimens: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop the species whose specimens that gave slices are fewer than `min_specimens`."""
    n_specimens = frame.groupby("species")["specimen_id"].nunique()
    short = n_specimens[n_specimens < int(min_specimens)]
    dropped = pd.DataFrame({
        "species": short.index.astype(str), "n_specimens": short.to_numpy(dtype=np.int64),
        "reason": [f"only {n} specimen{'s' if n != 1 else ''} gave slices < min_specimens="
                   f"{min_specimens} (files lost: see counts.csv)" for n in short]},
        columns=list(DROPPED_COLUMNS))
    return frame[~frame["species"].isin(short.index)], dropped


def file_errors(counts: pd.DataFrame) -> pd.DataFrame:
    """The files that could not be sliced (``file, species, specimen_id, error``).

    Examples
    --------
    >>> counts = pd.DataFrame({"file": ["a", "b"], "species": ["x", "x"],
    ...                        "specimen_id": ["1", "2"], "error": ["", "VolumeError: NaN"]})
    >>> file_errors(counts)["file"].tolist()
    ['b']
    """
    bad = counts["error"].fillna("").astype(str) != ""
    return counts.loc[bad, ["file", "species", "specimen_id", "error"]].reset_index(drop=True)


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


def read_slice_examples(slices_dir: str | os.PathLike) -> pd.DataFrame:
    """Read the gallery examples written by :func:`build_slice_dataset`.

    Parameters
    ----------
    slices_dir : path-like
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
    path = Path(slices_dir) / EXAMPLES_FILE
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


def save_slices_outputs(slices_dir: str | os.PathLike, result: BuildResult, *,
                        figures: Mapping[str, object] | None = None) -> dict[str, Path]:
    """Check what the build wrote against the manifest's contract, then save the figures.

    Parameters
    ----------
    slices_dir : path-like
        The folder :func:`build_slice_dataset` wrote.
    result : BuildResult
    figures : mapping of str to matplotlib Figure, optional
        Saved as ``<name>.png``.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    fossilct.manifest.ManifestError
        If the manifest on disk breaks its contract or differs from `result` (a missing image,
        a half-written build).
    """
    slices_dir = Path(slices_dir)
    written = manifest.read_manifest(slices_dir / MANIFEST_FILE)
    if not written["slice_id"].equals(result.manifest["slice_id"].reset_index(drop=True)):
        raise manifest.ManifestError(
            f"{slices_dir / MANIFEST_FILE} does not list the slices of this build; re-run the "
            "slice step (notebook 02).")
    manifest.check_manifest(written, root=slices_dir)
    paths = {name: slices_dir / name
             for name in (MANIFEST_FILE, COUNTS_FILE, DROPPED_FILE, EXAMPLES_FILE)}
    paths.update(atomic.save_figures(figures, slices_dir))
    return paths


def read_slices(slices_dir: str | os.PathLike) -> pd.DataFrame:
    """The slice table of a dataset folder with absolute image paths (split column empty).

    Raises
    ------
    FileNotFoundError
        If the folder has no manifest (the message names the step that writes it).
    fossilct.manifest.ManifestError
        If the manifest does not parse.
    """
    return manifest.read_manifest(Path(slices_dir) / MANIFEST_FILE, absolute_paths=True)


def read_image_size(slices_dir: str | os.PathLike) -> int:
    """Side (px) of the square slice images of a slice folder, read from one image's header:
    the size at which a new image must be segmented to look like the training slices.

    Raises
    ------
    FileNotFoundError
        If the folder holds no slice image.
    """
    from PIL import Image

    images = Path(slices_dir) / "images"
    first = next(images.glob("*/*.png"), None) if images.is_dir() else None
    if first is None:
        raise FileNotFoundError(f"no slice image under {str(images)!r}; run the slice step "
                                "(notebook 02).")
    with Image.open(first) as image:
        return int(image.size[0])


def read_counts(slices_dir: str | os.PathLike) -> pd.DataFrame:
    """Per-file counts of the build (``counts.csv``): requested, written, skipped, errors."""
    path = Path(slices_dir) / COUNTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run the slice step (notebook 02).")
    return pd.read_csv(path, keep_default_na=False)


def read_dropped(slices_dir: str | os.PathLike) -> pd.DataFrame:
    """Species the build left out because too few of their specimens gave slices."""
    path = Path(slices_dir) / DROPPED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run the slice step (notebook 02).")
    return pd.read_csv(path, keep_default_na=False, dtype={"species": str})
