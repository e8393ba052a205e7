import numpy as np
import pytest

from fossilct.plots import dataset as dataset_plots


def test_gallery_cuts_three_orthogonal_panels_through_the_bright_object():
    planes, rows, cols = np.mgrid[0:10, 0:20, 0:30]
    volume = ((planes - 2) ** 2 + (rows - 15) ** 2 + (cols - 5) ** 2 <= 4).astype(np.float32)
    fig = dataset_plots.plot_mid_slice_gallery({"sp · a": volume, "sp · b": volume})
    assert len(fig.axes) == 6
    plane_panel, row_panel, col_panel = (ax.images[0].get_array() for ax in fig.axes[:3])
    np.testing.assert_array_equal(plane_panel, volume[2])
    np.testing.assert_array_equal(row_panel, volume[:, 15])
    np.testing.assert_array_equal(col_panel, volume[:, :, 5])
    assert fig.axes[0].get_title() == "normal to plane"
    assert fig.axes[3].get_ylabel() == "sp\nb"


def test_gallery_rejects_empty_and_2d():
    with pytest.raises(ValueError, match="`examples` is empty"):
        dataset_plots.plot_mid_slice_gallery({})
    with pytest.raises(ValueError, match=r"`examples\['x'\]` must be 3-D .* got shape \(4, 4\)"):
        dataset_plots.plot_mid_slice_gallery({"x": np.zeros((4, 4))})
