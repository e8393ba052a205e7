"""The matching package's error type and the checks of its volume inputs."""

from __future__ import annotations

import numpy as np

__all__ = ["MatchingError", "check_volume_and_mask"]


class MatchingError(ValueError):
    """A query or volume that cannot be matched: no fossil, too small, wrong kind of input.

    A subclass of ValueError, so callers that catch ValueError keep working; the library search
    catches it per volume, reports the volume as skipped and ranks the others.
    """


def check_volume_and_mask(volume, mask, *, voxel_size_um: float, name: str = "volume"
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Validate a volume, its fossil mask and its voxel size; return them as float32 and bool.

    Parameters
    ----------
    volume : (P, M, N) array_like of numbers
        Isotropic, intensity-normalised volume (fossil bright).
    mask : (P, M, N) array_like of bool
        The fossil's filled silhouette (shell + lumen, without mounting pin).
    voxel_size_um : float
        Edge of one (isotropic) voxel in micrometres.
    name : str
        How the volume is named in error messages (e.g. its file).

    Returns
    -------
    volume : (P, M, N) ndarray of float32
    mask : (P, M, N) ndarray of bool

    Raises
    ------
    ValueError
        Wrong dimensions, shapes that differ, non-finite values, a non-positive voxel size.
    TypeError
        Non-numeric volume.
    MatchingError
        An empty mask (a volume with no fossil) or a fossil too small to match.

    Examples
    --------
    >>> volume, mask = np.zeros((8, 8, 8)), np.zeros((8, 8, 8), bool)
    >>> mask[2:6, 2:6, 2:6] = True
    >>> check_volume_and_mask(volume, mask, voxel_size_um=2.0)[0].dtype
    dtype('float32')
    """
    volume = np.asarray(volume)
    mask = np.asarray(mask)
    if volume.ndim != 3:
        raise ValueError(f"`volume` ({name}) must be 3-D (plane, row, col); got shape "
                         f"{volume.shape}. Load it with fossilct.volumes.load_volume.")
    if not np.issubdtype(volume.dtype, np.number) or np.iscomplexobj(volume):
        raise TypeError(f"`volume` ({name}) must be real numeric; got dtype {volume.dtype}.")
    if mask.shape != volume.shape:
        raise ValueError(f"`mask` ({name}) must have the volume's shape {volume.shape}; got "
                         f"{mask.shape}. Compute the fossil mask on the same (isotropic) grid.")
    if not float(voxel_size_um) > 0:
        raise ValueError(f"`voxel_size_um` ({name}) must be positive; got {voxel_size_um}. "
                         f"Resample the volume to isotropic voxels and pass their size.")
    volume = volume.astype(np.float32, copy=False)
    if not np.all(np.isfinite(volume)):
        raise ValueError(f"`volume` ({name}) holds {int(np.sum(~np.isfinite(volume)))} NaN/inf "
                         f"values; replace them (np.nan_to_num) before matching.")
    mask = mask.astype(bool, copy=False)
    n_fossil = int(np.count_nonzero(mask))
    if n_fossil == 0:
        raise MatchingError(f"`volume` ({name}) has no fossil: its fossil mask is empty. Check "
                            f"the segmentation of this volume (threshold, mounting-pin removal) "
                            f"or leave it out of the library.")
    if n_fossil < 64:
        raise MatchingError(f"`volume` ({name}) has a fossil of only {n_fossil} voxels (< 64); "
                            f"it is too small to match. Rescan at a finer voxel size or leave it "
                            f"out of the library.")
    return volume, mask
