"""DICOM: a folder holding one series of single-frame slices, or one multi-frame file.

Slices are ordered by ImagePositionPatient projected on the slice normal (the cross product of
the two ImageOrientationPatient direction cosines), never by file name; InstanceNumber is the
fallback only when positions are absent. The plane spacing is the distance between neighbouring
positions, which must be uniform (a gap means a missing slice). PixelSpacing is (row, col)
spacing in millimetres. Frames of a multi-frame file keep their stored order, spaced by
GridFrameOffsetVector, SpacingBetweenSlices or SliceThickness. RescaleSlope/Intercept are
applied; rescaled data are returned as float32.

The writer produces a minimal valid CT Image Storage series (explicit VR little endian, one
file per plane, 16-bit pixels). Data of (u)int8/(u)int16 are stored exactly (and read back as
16-bit); other dtypes are quantised to uint16 with RescaleSlope/Intercept, so a round trip is
exact to half a quantisation step, (max - min) / 65535 / 2. UIDs are derived from the voxels, so
equal volumes give byte-identical files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID,
                         generate_uid)
from pydicom.valuerep import format_number_as_ds

from .base import VolumeError, VolumeHeader, output_dtype, reading, spacing_in_um
from .detect import list_slices
from .stacks import check_slice_headers, slice_names

__all__ = ["read_header", "read_array", "write"]

GAP_RTOL = 0.01
"""Largest relative deviation of one slice gap from the mean before the series is refused."""
_SAME_POSITION_MM = 1e-4  # two slices closer than this are the same position
_ORIENTATION_ATOL = 1e-3  # direction-cosine difference tolerated between slices of one series
_UINT16_MAX = np.iinfo(np.uint16).max
_IMAGE_TAGS = ("Rows", "Columns", "BitsAllocated")


@dataclass(frozen=True)
class _Series:
    files: tuple[Path, ...]        # in plane order
    datasets: tuple[Dataset, ...]  # in plane order; without pixel data for a header scan
    rescale: tuple[tuple[float, float], ...]  # (slope, intercept) per file, plane order
    shape: tuple[int, ...]
    stored_dtype: np.dtype
    spacing_um: tuple[float, float, float] | None

    @property
    def dtype(self) -> np.dtype:
        if any(pair != (1.0, 0.0) for pair in self.rescale):
            return np.dtype(np.float32)
        return self.stored_dtype


def _read(path: Path, with_pixels: bool) -> Dataset:
    with reading(path, "dicom"):
        return pydicom.dcmread(path, stop_before_pixels=not with_pixels)


def _stored_dtype(path: Path, meta: Dataset) -> np.dtype:
    bits = int(meta.get("BitsAllocated", 16))
    if bits == 1:
        return np.dtype(bool)
    if bits not in (8, 16, 32, 64):
        raise VolumeError(f"{str(path)!r} has BitsAllocated={bits}, which is not supported; "
                          "re-export the series with 8, 16 or 32 bits per pixel.")
    kind = "i" if int(meta.get("PixelRepresentation", 0)) == 1 else "u"
    return np.dtype(f"<{kind}{bits // 8}")


def _rescale(meta: Dataset) -> tuple[float, float]:
    slope = meta.get("RescaleSlope")
    intercept = meta.get("RescaleIntercept")
    return (1.0 if slope in (None, "") else float(slope),
            0.0 if intercept in (None, "") else float(intercept))


def _pixel_spacing_mm(meta: Dataset) -> list[float] | None:
    if "PixelSpacing" in meta:
        return [float(value) for value in meta.PixelSpacing]
    shared = meta.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        measures = shared[0].PixelMeasuresSequence[0]
        if "PixelSpacing" in measures:
            return [float(value) for value in measures.PixelSpacing]
    return None


def _declared_step_mm(meta: Dataset) -> float | None:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        if meta.get(keyword) not in (None, ""):
            return float(meta.get(keyword))
    return None


def _uniform_step(source: Path, positions: np.ndarray, names: list[str]) -> float:
    """Mean gap between sorted `positions` (mm); refuse duplicates and irregular gaps."""
    gaps = np.diff(positions)
    for index, gap in enumerate(gaps):
        if gap < _SAME_POSITION_MM:
            raise VolumeError(
                f"DICOM series {str(source)!r}: {names[index]!r} and {names[index + 1]!r} lie at "
                f"the same slice position ({positions[index]:.4f} mm); the folder holds a "
                "duplicate slice or two series. Keep one copy of each slice."
            )
    step = (positions[-1] - positions[0]) / len(gaps)
    worst = int(np.argmax(np.abs(gaps - step)))
    if abs(gaps[worst] - step) > GAP_RTOL * step:
        raise VolumeError(
            f"DICOM series {str(source)!r} has irregular slice gaps: {gaps[worst]:.4f} mm between "
            f"{names[worst]!r} and {names[worst + 1]!r}, mean {step:.4f} mm. A slice is missing "
            "or two series are mixed; restore the missing files or export the series again."
        )
    return float(step)


def _order(source: Path, files: list[Path], metas: list[Dataset]) -> tuple[list[int], float | None]:
    """Plane order of `files` and the plane spacing in mm (None if unknown)."""
    names = [path.name for path in files]
    if all("ImagePositionPatient" in m and "ImageOrientationPatient" in m for m in metas):
        cosines = np.array([[float(v) for v in m.ImageOrientationPatient] for m in metas])
        if np.any(np.abs(cosines - cosines[0]) > _ORIENTATION_ATOL):
            bad = int(np.argmax(np.abs(cosines - cosines[0]).max(axis=1)))
            raise VolumeError(
                f"DICOM series {str(source)!r} mixes slice orientations: {names[bad]!r} differs "
                f"from {names[0]!r}. Put each series (one orientation) in its own folder."
            )
        normal = np.cross(cosines[0, :3], cosines[0, 3:])
        positions = np.array([np.dot(normal, [float(v) for v in m.ImagePositionPatient])
                              for m in metas])
        order = [int(i) for i in np.argsort(positions, kind="stable")]
        return order, _uniform_step(source, positions[order], [names[i] for i in order])
    if all("InstanceNumber" in m for m in metas):
        numbers = [int(m.InstanceNumber) for m in metas]
        if len(set(numbers)) != len(numbers):
            raise VolumeError(
                f"DICOM series {str(source)!r} has no ImagePositionPatient and repeats "
                "InstanceNumber values, so its slices cannot be ordered; export it again."
            )
        return [int(i) for i in np.argsort(numbers, kind="stable")], _declared_step_mm(metas[0])
    raise VolumeError(
        f"DICOM series {str(source)!r} has neither ImagePositionPatient nor InstanceNumber, so "
        "its slices cannot be ordered; export the series with position tags."
    )


def _multiframe_step_mm(meta: Dataset) -> float | None:
    offsets = meta.get("GridFrameOffsetVector")
    if offsets is not None and len(offsets) > 1:
        gaps = np.diff(np.asarray([float(v) for v in offsets]))
        if np.all(np.abs(gaps - gaps.mean()) <= GAP_RTOL * abs(gaps.mean())) and gaps.mean():
            return abs(float(gaps.mean()))
        return None
    shared = meta.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        step = _declared_step_mm(shared[0].PixelMeasuresSequence[0])
        if step is not None:
            return step
    return _declared_step_mm(meta)


def _spacing_um(plane_mm: float | None, meta: Dataset) -> tuple[float, float, float] | None:
    pixel_mm = _pixel_spacing_mm(meta)
    if plane_mm is None or pixel_mm is None or len(pixel_mm) != 2:
        return None
    return spacing_in_um([plane_mm, *pixel_mm], "mm")


def _scan(path: Path, *, with_pixels: bool) -> _Series:
    files = list_slices(path)[1] if path.is_dir() else [path]
    metas = [_read(file, with_pixels) for file in files]
    for file, meta in zip(files, metas):
        missing = [tag for tag in _IMAGE_TAGS if tag not in meta]
        if missing:
            raise VolumeError(
                f"{str(file)!r} lacks the DICOM image tags {missing}: it is truncated or not an "
                "image (e.g. a report or structure set). Re-copy it or remove it from the folder."
            )
    series_uids = {str(m.get("SeriesInstanceUID", "")) for m in metas}
    if len(series_uids) > 1:
        raise VolumeError(
            f"folder {str(path)!r} holds {len(series_uids)} DICOM series "
            f"(SeriesInstanceUID {sorted(series_uids)}); put each series in its own folder."
        )
    for file, meta in zip(files, metas):
        if int(meta.get("SamplesPerPixel", 1)) != 1:
            raise VolumeError(f"{str(file)!r} is a colour DICOM image (SamplesPerPixel="
                              f"{meta.SamplesPerPixel}); a CT volume must be grayscale.")
    frames = [int(m.get("NumberOfFrames", 1) or 1) for m in metas]
    dtype = _stored_dtype(files[0], metas[0])
    rows, cols = int(metas[0].Rows), int(metas[0].Columns)
    if len(files) == 1:
        meta = metas[0]
        shape = (rows, cols) if frames[0] == 1 else (frames[0], rows, cols)
        return _Series(tuple(files), (meta,), (_rescale(meta),), shape, dtype,
                       _spacing_um(_multiframe_step_mm(meta), meta))
    if max(frames) > 1:
        multi = files[frames.index(max(frames))].name
        raise VolumeError(
            f"folder {str(path)!r} mixes a multi-frame file ({multi!r}) with other files; "
            "load the multi-frame file on its own, or keep only single-frame slices."
        )
    infos = [((int(m.Rows), int(m.Columns)), _stored_dtype(f, m)) for f, m in zip(files, metas)]
    check_slice_headers(path, "dicom", files, infos)
    order, plane_mm = _order(path, files, metas)
    return _Series(tuple(files[i] for i in order), tuple(metas[i] for i in order),
                   tuple(_rescale(metas[i]) for i in order),
                   (len(files), rows, cols), dtype, _spacing_um(plane_mm, metas[order[0]]))


def read_header(path: Path) -> VolumeHeader:
    series = _scan(path, with_pixels=False)
    return VolumeHeader(str(path), "dicom", series.shape, output_dtype(series.dtype, str(path)),
                        series.spacing_um)


def _pixels(path: Path, dataset: Dataset) -> np.ndarray:
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    try:
        return dataset.pixel_array
    except Exception as exc:
        if syntax is not None and syntax.is_compressed:
            raise VolumeError(
                f"cannot decode {str(path)!r}: its pixels are compressed ({syntax.name}) and "
                f"no decoder is installed ({exc}). Decompress the series first, e.g. "
                "`gdcmconv --raw in.dcm out.dcm`, or install a pydicom decoder plugin "
                "(pylibjpeg, pyjpegls or python-gdcm)."
            ) from exc
        raise VolumeError(
            f"cannot read the pixels of {str(path)!r}: {type(exc).__name__}: {exc}. The file is "
            "corrupt or truncated; re-export or re-copy it."
        ) from exc


def read_array(path: Path) -> np.ndarray:
    series = _scan(path, with_pixels=True)
    volume = np.empty(series.shape, dtype=output_dtype(series.dtype, str(path)))
    if len(series.files) == 1:
        planes = _pixels(series.files[0], series.datasets[0])
        slope, intercept = series.rescale[0]
        volume[...] = planes * np.float32(slope) + np.float32(intercept) \
            if series.dtype.kind == "f" else planes
        return volume
    for index, (file, dataset, (slope, intercept)) in enumerate(
            zip(series.files, series.datasets, series.rescale)):
        plane = _pixels(file, dataset)
        volume[index] = plane * np.float32(slope) + np.float32(intercept) \
            if series.dtype.kind == "f" else plane
    return volume


def _quantise(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """16-bit stored values with (slope, intercept) such that data ~ stored * slope + intercept."""
    if data.dtype in (np.uint8, np.uint16):
        return data.astype("<u2"), 1.0, 0.0
    if data.dtype in (np.int8, np.int16):
        return data.astype("<i2"), 1.0, 0.0
    low, high = float(data.min()), float(data.max())
    span = high - low
    slope = 1.0 if data.dtype.kind in "iu" and span <= _UINT16_MAX or span == 0 \
        else span / _UINT16_MAX
    # DICOM decimal strings hold 16 characters: quantise with the values as they are written.
    slope, intercept = float(format_number_as_ds(slope)), float(format_number_as_ds(low))
    stored = np.rint((data.astype(np.float64) - intercept) / slope)
    return np.clip(stored, 0, _UINT16_MAX).astype("<u2"), slope, intercept


def _ds(value: float) -> str:
    return format_number_as_ds(float(value))


def write(folder: Path, data: np.ndarray, spacing_um: tuple[float, float, float]) -> None:
    stored, slope, intercept = _quantise(data)
    plane_mm, row_mm, col_mm = (value / 1e3 for value in spacing_um)
    digest = hashlib.sha256(np.ascontiguousarray(data).tobytes()
                            + repr((data.shape, str(data.dtype), spacing_um)).encode()).hexdigest()
    study, series, frame = (generate_uid(entropy_srcs=[digest, role])
                            for role in ("study", "series", "frame"))
    for index, (name, image) in enumerate(zip(slice_names(data.shape[0], ".dcm"), stored)):
        instance = generate_uid(entropy_srcs=[digest, "instance", str(index)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = instance
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, instance
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality = "CT"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.SeriesDescription = "fossilct volume"
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                        "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
                        "AccessionNumber", "Manufacturer", "KVP", "AcquisitionNumber",
                        "PositionReferenceIndicator"):
            setattr(ds, keyword, "")
        ds.SeriesNumber, ds.InstanceNumber = 1, index + 1
        ds.ImagePositionPatient = [_ds(0.0), _ds(0.0), _ds(index * plane_mm)]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = _ds(index * plane_mm)
        ds.SliceThickness = _ds(plane_mm)
        ds.PixelSpacing = [_ds(row_mm), _ds(col_mm)]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = image.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = _ds(slope), _ds(intercept), "US"
        ds.PixelData = image.tobytes()
        pydicom.dcmwrite(folder / name, ds, enforce_file_format=True)
