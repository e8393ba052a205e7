"""Tests of fossilct.matching.silhouette: the one outline rule for every silhouette."""

import numpy as np
import pytest

from fossilct.matching.silhouette import outline_silhouette, shell_mask


def _ring(size=60, centre=(30, 30), inner=14, outer=18):
    rows, cols = np.indices((size, size))
    radius = np.hypot(rows - centre[0], cols - centre[1])
    return (radius > inner) & (radius < outer)


def test_a_closed_shell_is_filled():
    silhouette = outline_silhouette(_ring())
    rows, cols = np.indices(silhouette.shape)
    disc = np.hypot(rows - 30, cols - 30) < 18
    assert (silhouette ^ disc).sum() < 0.03 * disc.sum()


def test_a_broken_wall_is_bridged_and_the_chamber_filled():
    ring = _ring()
    ring[29:31, 44:50] = False
    assert outline_silhouette(ring)[30, 30]  # the chamber is filled
    assert outline_silhouette(ring).sum() > 0.95 * outline_silhouette(_ring()).sum()


def test_neighbouring_rings_are_kept_and_specks_dropped():
    shell = _ring(80, (40, 22), 8, 11) | _ring(80, (40, 52), 10, 13)
    shell[5, 5] = True  # a speck of noise
    silhouette = outline_silhouette(shell)
    assert silhouette[40, 22] and silhouette[40, 52] and not silhouette[5, 5]


def test_the_rule_does_not_depend_on_the_frame():
    small = outline_silhouette(_ring())
    framed = np.zeros((120, 120), bool)
    framed[30:90, 30:90] = _ring()
    assert np.array_equal(outline_silhouette(framed)[30:90, 30:90], small)


def test_empty_and_bad_shells():
    assert not outline_silhouette(np.zeros((8, 8), bool)).any()
    with pytest.raises(ValueError, match="must be a 2-D mask"):
        outline_silhouette(np.zeros((2, 8, 8), bool))


def test_shell_mask_thresholds_after_the_blur():
    image = np.zeros((20, 20), np.float32)
    image[5:15, 5:15] = 0.9
    assert shell_mask(image, 0.5, blur_sigma=0).sum() == 100
    assert shell_mask(image, 0.95).sum() == 0
