"""Tests of fossilct.plots.matching: the figures of notebook 07."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fossilct.matching.benchmark import GalleryEntry
from fossilct.plots import matching as plots


@pytest.fixture
def poses(rng):
    n = 12
    return pd.DataFrame({"method": ["fossilct"] * 8 + ["reference"] * 4,
                         "tilt_deg": np.r_[np.zeros(4), rng.uniform(2, 25, 4), np.zeros(4)],
                         "success": rng.random(n) < 0.7,
                         "normal_err_deg": rng.exponential(2, n),
                         "offset_err_vox": rng.exponential(1, n),
                         "angle_err_deg": rng.exponential(3, n)})


def test_error_histograms_show_one_histogram_per_method_and_error(poses):
    fig = plots.plot_error_histograms(poses)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert all(len(ax.containers) == 2 for ax in fig.axes)  # fossilct and reference


def test_success_vs_tilt_draws_a_line_per_method(poses):
    fig = plots.plot_success_vs_tilt(poses, bin_deg=10.0)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    assert lines[1].get_xdata().tolist() == [0.0]  # the reference has only axis queries
    assert 0 <= min(lines[0].get_ydata()) and max(lines[0].get_ydata()) <= 100


def test_gallery_has_three_panels_per_entry():
    image = np.zeros((32, 32), np.uint8)
    image[8:24, 8:20] = 200
    entry = GalleryEntry(image, image > 0, image, image > 0, "query 1", True)
    fig = plots.plot_match_gallery([entry, entry])
    assert isinstance(fig, Figure) and len(fig.axes) == 6


def test_figures_refuse_bad_inputs():
    with pytest.raises(ValueError, match="non-empty DataFrame"):
        plots.plot_error_histograms(pd.DataFrame())
    with pytest.raises(ValueError, match=r"lacks columns \['tilt_deg'\]"):
        plots.plot_success_vs_tilt(pd.DataFrame({"method": ["a"], "success": [True]}))
    with pytest.raises(ValueError, match="`bin_deg` must be positive"):
        plots.plot_success_vs_tilt(pd.DataFrame({"method": ["a"], "success": [True],
                                                 "tilt_deg": [0.0]}), bin_deg=0)
    with pytest.raises(ValueError, match="`entries` is empty"):
        plots.plot_match_gallery([])
