"""Rotation-aware shape descriptors of fossil sections: Hu moments and polar signatures.

A section is described in its own canonical frame: centred on the centroid of its mask and
measured in units of its *equivalent radius* ``rho = sqrt(area / pi)``, so the description does
not depend on where the section sits in its image nor (unless the pixel size is known, see
:mod:`fossilct.matching.search`) on its scale.

Polar signature
    The mask and the image sampled on ``n_rings`` circles (radii ``(i + 0.5) / n_rings *
    max_radius`` equivalent radii) at ``n_angles`` angles. Angle ``phi`` points along
    ``(row, col) = (cos phi, sin phi)`` from the centroid, so it grows counter-clockwise on the
    screen. Channel 0 is the mask; channel 1 the image standardised inside the mask (zero mean,
    unit variance, zero outside), which makes it invariant to a linear change of intensity. Each
    sample is weighted by ``sqrt(r)`` (the polar area element) and each channel is centred and
    scaled to unit norm, so the dot product of two signatures is the normalised
    cross-correlation of the two sections.

Rotation search
    Turning a section by ``alpha`` shifts its signature along the angle axis, and mirroring it
    reverses that axis. The correlation for every turn of every candidate is therefore a circular
    cross-correlation, computed at once for many candidates with FFTs (:func:`rotation_search`),
    the mirrored case from the same spectra (for a real signal, reversing the angle axis
    conjugates its Fourier coefficients).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "N_RINGS",
    "N_ANGLES",
    "MAX_RADIUS",
    "N_HARMONICS",
    "hu_moments",
    "polar_grid",
    "mask_geometry",
    "polar_samples",
    "make_signatures",
    "signature_spectra",
    "RotationMatch",
    "rotation_search",
    "bound_features",
    "rotation_bounds",
]

N_RINGS = 16
"""Circles of a polar signature."""
N_ANGLES = 64
"""Samples per circle (5.6 degree spacing; peaks are interpolated to a fraction of that)."""
MAX_RADIUS = 2.0
"""Outermost circle, in equivalent radii (covers sections up to about 4:1 elongation)."""
N_HARMONICS = 16
"""Angular Fourier coefficients kept per circle: the signatures are compared low-passed, which
makes the comparison robust to noise and small misregistration."""
_CV_MAX_ROWS = 32000  # cv2.remap needs source sides below 32767


def hu_moments(image: np.ndarray) -> np.ndarray:
    """The seven Hu invariants of an image's raster moments (as ``cv2.HuMoments``).

    Parameters
    ----------
    image : (M, N) ndarray of bool or numbers
        A mask or a gray image (intensities act as mass).

    Returns
    -------
    (7,) ndarray of float64
        Invariant to translation, scale and rotation; the seventh changes sign under reflection.
        All zeros for an empty image.

    Raises
    ------
    ValueError
        If `image` is not 2-D.

    Examples
    --------
    >>> square = np.zeros((8, 8), bool); square[2:6, 2:6] = True
    >>> hu_moments(square)[1] == 0.0
    np.True_
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"`image` must be 2-D (row, col); got shape {image.shape}.")
    raster = image.astype(np.float32) if image.dtype != np.float64 else image
    return cv2.HuMoments(cv2.moments(raster)).ravel()


def polar_grid(*, n_rings: int = N_RINGS, n_angles: int = N_ANGLES,
               max_radius: float = MAX_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """Radii (in equivalent radii) and angles (radians) of a polar signature.

    Parameters
    ----------
    n_rings : int, keyword-only
        Number of circles, default ``N_RINGS``.
    n_angles : int, keyword-only
        Samples per circle, default ``N_ANGLES``.
    max_radius : float, keyword-only
        Outer radius in equivalent radii, default ``MAX_RADIUS``.

    Returns
    -------
    radii : (n_rings,) ndarray of float64
    angles : (n_angles,) ndarray of float64

    Raises
    ------
    ValueError
        If a count is below 4 or `max_radius` is not positive.

    Examples
    --------
    >>> radii, angles = polar_grid(n_rings=4, n_angles=4, max_radius=2.0)
    >>> radii.tolist(), np.degrees(angles).tolist()
    ([0.25, 0.75, 1.25, 1.75], [0.0, 90.0, 180.0, 270.0])
    """
    if int(n_rings) < 4 or int(n_angles) < 4:
        raise ValueError(f"`n_rings` and `n_angles` must be at least 4; got {n_rings} and "
                         f"{n_angles}.")
    if not float(max_radius) > 0:
        raise ValueError(f"`max_radius` must be positive (equivalent radii); got {max_radius}.")
    radii = (np.arange(int(n_rings)) + 0.5) / int(n_rings) * float(max_radius)
    return radii, 2.0 * np.pi * np.arange(int(n_angles)) / int(n_angles)


def mask_geometry(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area and centroid of each mask in a stack.

    Parameters
    ----------
    masks : (K, M, N) ndarray of bool or float
        Masks (fractional values act as partial coverage).

    Returns
    -------
    area : (K,) ndarray of float64
        Pixels covered.
    centroid : (K, 2) ndarray of float64
        (row, col) centroid; NaN for an empty mask.

    Examples
    --------
    >>> masks = np.zeros((1, 5, 5), bool); masks[0, 1:3, 2:5] = True
    >>> area, centroid = mask_geometry(masks)
    >>> area.tolist(), centroid.tolist()
    ([6.0], [[1.5, 3.0]])
    """
    masks = np.asarray(masks, dtype=np.float64 if masks.dtype == np.float64 else np.float32)
    area = masks.sum(axis=(1, 2), dtype=np.float64)
    rows = masks.sum(axis=2, dtype=np.float64) @ np.arange(masks.shape[1], dtype=np.float64)
    cols = masks.sum(axis=1, dtype=np.float64) @ np.arange(masks.shape[2], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.stack([rows / area, cols / area], axis=1)
    return area, centroid


def polar_samples(stack: np.ndarray, centres: np.ndarray, radius: np.ndarray, *,
                  radii: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Sample each image of a stack on its own polar grid (bilinear, zero outside the image).

    Parameters
    ----------
    stack : (K, M, N, C) ndarray of float32
        Images with C <= 4 channels (e.g. mask and image).
    centres : (K, 2) ndarray
        Polar centre of each image, (row, col) pixels.
    radius : (K,) ndarray
        Unit of the radii for each image, pixels (the equivalent radius).
    radii : (R,) ndarray
        Circle radii in that unit.
    angles : (A,) ndarray
        Angles in radians (see the module docstring for the direction).

    Returns
    -------
    (K, C, R, A) ndarray of float32

    Examples
    --------
    >>> stack = np.zeros((1, 9, 9, 1), np.float32); stack[0, 4, 4:, 0] = 1.0  # a ray along +col
    >>> radii, angles = polar_grid(n_rings=4, n_angles=4, max_radius=4.0)
    >>> polar_samples(stack, np.array([[4.0, 4.0]]), np.array([1.0]), radii=radii,
    ...               angles=angles)[0, 0, :, 1].tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    n_images, rows, cols, channels = stack.shape
    out = np.empty((n_images, channels, radii.size, angles.size), np.float32)
    d_row = np.cos(angles)[None, None, :] * radii[None, :, None]
    d_col = np.sin(angles)[None, None, :] * radii[None, :, None]
    per_chunk = max(1, _CV_MAX_ROWS // (rows + 1))
    for start in range(0, n_images, per_chunk):
        stop = min(start + per_chunk, n_images)
        k = np.arange(start, stop)
        pr = centres[k, 0, None, None] + radius[k, None, None] * d_row
        pc = centres[k, 1, None, None] + radius[k, None, None] * d_col
        outside = (pr < -0.5) | (pr > rows - 0.5) | (pc < -0.5) | (pc > cols - 0.5)
        # images are stacked vertically with one black row between them, so a sample near the
        # edge of one image never reads its neighbour
        pr = pr + ((k - start) * (rows + 1))[:, None, None]
        pr[outside], pc[outside] = -2.0, -2.0
        tall = np.zeros(((stop - start) * (rows + 1), cols, channels), np.float32)
        tall.reshape(stop - start, rows + 1, cols, channels)[:, :rows] = stack[start:stop]
        flat = cv2.remap(tall.squeeze(-1) if channels == 1 else tall,
                         pc.reshape(-1, angles.size).astype(np.float32),
                         pr.reshape(-1, angles.size).astype(np.float32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        flat = flat.reshape(stop - start, radii.size, angles.size, channels)
        out[start:stop] = flat.transpose(0, 3, 1, 2)
    return out


def make_signatures(samples: np.ndarray, radii: np.ndarray, *,
                    visible: np.ndarray | None = None) -> np.ndarray:
    """Normalised two-channel polar signatures from polar samples of mask and image.

    Parameters
    ----------
    samples : (K, 2, R, A) ndarray
        Channel 0: mask samples in [0, 1]; channel 1: image samples (any intensity scale).
    radii : (R,) ndarray
        The circles' radii (equivalent radii), for the ``sqrt(r)`` area weighting.
    visible : (K, R, A) ndarray of bool, optional, keyword-only
        Which samples show the section (a partial view: the others lie beyond the image's
        border). The signature is centred and normalised on the visible samples only, zero
        elsewhere, and scaled by ``1 / sqrt(f)`` (``f`` the visible share of the area weights),
        so that its correlation with a whole signature estimates the whole correlation.

    Returns
    -------
    (K, 2, R, A) ndarray of float32
        Each channel centred and scaled to unit norm (all zeros for a constant channel).

    Examples
    --------
    >>> samples = np.random.default_rng(0).random((3, 2, 4, 8))
    >>> sig = make_signatures(samples, np.arange(1.0, 5.0))
    >>> np.allclose(np.linalg.norm(sig.reshape(3, 2, -1), axis=2), 1.0)
    True
    >>> half = np.zeros((3, 4, 8), bool); half[..., :4] = True
    >>> part = make_signatures(samples, np.arange(1.0, 5.0), visible=half)
    >>> bool(np.all(part[..., 4:] == 0)), round(float(np.sum(part[0, 0] ** 2)), 3)
    (True, 2.0)
    """
    samples = np.asarray(samples, dtype=np.float64)
    shown = (np.ones(samples[:, 0].shape) if visible is None
             else np.asarray(visible, dtype=np.float64))[:, None]         # (K, 1, R, A)
    mask = np.clip(samples[:, 0], 0.0, 1.0) * shown[:, 0]
    image = samples[:, 1]
    weight = mask.sum(axis=(1, 2), keepdims=True)
    safe = np.maximum(weight, 1e-12)
    mean = (mask * image).sum(axis=(1, 2), keepdims=True) / safe
    var = (mask * (image - mean) ** 2).sum(axis=(1, 2), keepdims=True) / safe
    standard = mask * (image - mean) / np.sqrt(np.maximum(var, 1e-12))
    area = np.broadcast_to(np.asarray(radii, np.float64)[None, None, :, None], shown.shape)
    sig = np.stack([mask, standard], axis=1) * np.sqrt(radii)[None, None, :, None]
    count = np.maximum(shown.sum(axis=(2, 3), keepdims=True), 1.0)
    sig = (sig - (sig * shown).sum(axis=(2, 3), keepdims=True) / count) * shown
    norm = np.sqrt((sig ** 2).sum(axis=(2, 3), keepdims=True))
    share = (area * shown).sum(axis=(2, 3), keepdims=True) / area.sum(axis=(2, 3), keepdims=True)
    scale = 1.0 / np.sqrt(np.maximum(share, 1e-12))
    return np.where(norm > 1e-9, sig / np.maximum(norm, 1e-12) * scale, 0.0).astype(np.float32)


def signature_spectra(signatures: np.ndarray, *, n_harmonics: int = N_HARMONICS) -> np.ndarray:
    """Angular Fourier coefficients ``0 .. n_harmonics - 1`` of polar signatures.

    Parameters
    ----------
    signatures : (..., A) ndarray
        Signatures with the angle axis last.
    n_harmonics : int, keyword-only
        Coefficients kept, at most ``A // 2 + 1``; default ``N_HARMONICS``.

    Returns
    -------
    (..., n_harmonics) ndarray of complex64

    Raises
    ------
    ValueError
        If `n_harmonics` is outside [1, A // 2 + 1].

    Examples
    --------
    >>> np.abs(signature_spectra(np.ones((2, 8)), n_harmonics=3)[0]).tolist()
    [8.0, 0.0, 0.0]
    """
    n_angles = np.shape(signatures)[-1]
    if not 1 <= int(n_harmonics) <= n_angles // 2 + 1:
        raise ValueError(f"`n_harmonics` must be in [1, {n_angles // 2 + 1}] for {n_angles} "
                         f"angles; got {n_harmonics}.")
    return np.fft.rfft(signatures, axis=-1)[..., :int(n_harmonics)].astype(np.complex64)


@dataclass(frozen=True)
class RotationMatch:
    """Best in-plane turn of a query against each candidate (see :func:`rotation_search`).

    Attributes
    ----------
    score : (K,) ndarray of float32
        Weighted correlation at the best turn, in [-1, 1] (1 for identical signatures).
    angle_deg : (K,) ndarray of float64
        The turn ``alpha`` in [0, 360): the query's signature at angle ``phi`` equals the
        candidate's at ``phi + alpha`` (or at ``alpha - phi`` when mirrored).
    mirror : (K,) ndarray of bool
        Whether the query is the candidate's mirror image.
    """

    score: np.ndarray
    angle_deg: np.ndarray
    mirror: np.ndarray


def rotation_search(query: np.ndarray, candidates: np.ndarray, *, n_angles: int = N_ANGLES,
                    channel_weights=(0.5, 0.5), allow_mirror: bool = True) -> RotationMatch:
    """Best in-plane turn (and mirror) of one query signature against many candidates.

    The circular cross-correlation along the angle axis is summed over circles and channels in
    the Fourier domain, one inverse FFT gives it for every turn, and the peak is refined by a
    parabola through its neighbours.

    Parameters
    ----------
    query : (C, R, H) ndarray of complex
        The query's signature spectra (:func:`signature_spectra`).
    candidates : (K, C, R, H) ndarray of complex
        The candidates' spectra (same C, R, H).
    n_angles : int, keyword-only
        Angle samples of the signatures the spectra came from (the correlation's resolution).
    channel_weights : sequence of C floats, keyword-only
        Weight of each channel (default 0.5 mask, 0.5 image); should sum to 1 for scores in
        [-1, 1].
    allow_mirror : bool, keyword-only
        Also try the mirrored query (default True).

    Returns
    -------
    RotationMatch

    Raises
    ------
    ValueError
        If the shapes disagree or `channel_weights` has the wrong length.

    Examples
    --------
    >>> radii, angles = polar_grid(n_rings=4, n_angles=32)
    >>> sig = make_signatures(np.random.default_rng(1).random((1, 2, 4, 32)), radii)
    >>> turned = np.roll(sig, -4, axis=-1)  # the query at phi = the candidate at phi + 45 deg
    >>> found = rotation_search(signature_spectra(turned[0], n_harmonics=17),
    ...                         signature_spectra(sig, n_harmonics=17), n_angles=32)
    >>> round(float(found.angle_deg[0]), 3), bool(found.mirror[0]), round(float(found.score[0]), 3)
    (45.0, False, 1.0)
    """
    query = np.asarray(query)
    candidates = np.asarray(candidates)
    if candidates.ndim != 4 or query.shape != candidates.shape[1:]:
        raise ValueError(f"`query` must have shape (C, R, H) and `candidates` (K, C, R, H) with "
                         f"the same C, R, H; got {query.shape} and {candidates.shape}.")
    weights = np.asarray(channel_weights, dtype=np.float64)
    if weights.shape != (query.shape[0],):
        raise ValueError(f"`channel_weights` needs one weight per channel ({query.shape[0]}); "
                         f"got {list(channel_weights)}.")
    weighted = (query * weights[:, None, None]).astype(np.complex64)
    # correlation(k) = sum_j q[j] c[j + k]  <=>  IFFT(conj(Q) * C); mirrored q: Q -> conj(Q)
    products = [np.einsum("crh,kcrh->kh", np.conj(weighted), candidates, optimize=True)]
    if allow_mirror:
        products.append(np.einsum("crh,kcrh->kh", weighted, candidates, optimize=True))
    corr = np.fft.irfft(np.stack(products, axis=1), n=int(n_angles), axis=-1)  # (K, 1|2, A)
    flat = corr.reshape(len(candidates), -1)
    best = np.argmax(flat, axis=1)
    mirror, shift = np.divmod(best, int(n_angles))
    rows = np.arange(len(candidates))
    left = corr[rows, mirror, (shift - 1) % n_angles]
    centre = corr[rows, mirror, shift]
    right = corr[rows, mirror, (shift + 1) % n_angles]
    curvature = left - 2.0 * centre + right
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    peak = centre - 0.25 * (left - right) * delta
    angle = ((shift + delta) * 360.0 / n_angles) % 360.0
    return RotationMatch(peak.astype(np.float32), angle, mirror.astype(bool))


def _harmonic_factors(n_harmonics: int, n_angles: int) -> np.ndarray:
    """Weight of each kept coefficient in the inverse real FFT (1 for DC and Nyquist, else 2)."""
    factors = np.full(n_harmonics, 2.0)
    factors[0] = 1.0
    if n_angles % 2 == 0 and n_harmonics == n_angles // 2 + 1:
        factors[-1] = 1.0
    return factors / n_angles


def bound_features(spectra: np.ndarray, *, n_angles: int = N_ANGLES) -> np.ndarray:
    """Per-candidate features whose dot product bounds the rotation correlation from above.

    Parameters
    ----------
    spectra : (K, C, R, H) ndarray of complex
        Candidate spectra (:func:`signature_spectra`).
    n_angles : int, keyword-only
        Angle samples of the signatures.

    Returns
    -------
    (K, C * R * H) ndarray of float32
        ``|spectra|`` weighted as in the inverse FFT; see :func:`rotation_bounds`.

    Examples
    --------
    >>> bound_features(np.ones((2, 1, 1, 3), complex), n_angles=8).tolist()
    [[0.125, 0.25, 0.25], [0.125, 0.25, 0.25]]
    """
    factors = _harmonic_factors(spectra.shape[-1], int(n_angles))
    return (np.abs(spectra) * factors).reshape(len(spectra), -1).astype(np.float32)


def rotation_bounds(query: np.ndarray, features: np.ndarray, *,
                    channel_weights=(0.5, 0.5)) -> np.ndarray:
    """Upper bounds of :func:`rotation_search`'s scores, for every candidate, in one product.

    The correlation at any turn, mirrored or not, is at most
    ``sum over channels, circles, harmonics of w * f_h * |Q| * |C|`` (triangle inequality), so
    candidates whose bound is below a score already found cannot beat it.

    Parameters
    ----------
    query : (C, R, H) ndarray of complex
    features : (K, C * R * H) ndarray
        From :func:`bound_features`.
    channel_weights : sequence of C floats, keyword-only

    Returns
    -------
    (K,) ndarray of float32

    Examples
    --------
    >>> radii, angles = polar_grid(n_rings=4, n_angles=16)
    >>> sig = make_signatures(np.random.default_rng(2).random((5, 2, 4, 16)), radii)
    >>> spectra = signature_spectra(sig, n_harmonics=9)
    >>> exact = rotation_search(spectra[0], spectra, n_angles=16).score
    >>> bound = rotation_bounds(spectra[0], bound_features(spectra, n_angles=16))
    >>> bool(np.all(exact <= bound + 1e-3))
    True
    """
    weights = np.asarray(channel_weights, dtype=np.float32)[:, None, None]
    vector = (weights * np.abs(query)).astype(np.float32).ravel()
    return features @ vector
