import numpy as np
import pytest

from fossilct.plots import dataset as dataset_plots


def test_gallery_has_three_orthogonal_panels_per_label(two_blob_volume):
    fig = dataset_plots.plot_mid_slice_gallery({"a": two_blob_volume, "b": two_blob_volume[:, ::2]})
    assert len(fig.axes) == 6
    first = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(first, two_blob_volume[4])
    assert fig.axes[4].images[0].get_array().shape == (8, 32)  # 'b' cut normal to rows
    assert fig.axes[0].get_title() == "normal to plane"


def test_gallery_rejects_empty_and_2d():
    with pytest.raises(ValueError, match="`examples` is empty"):
        dataset_plots.plot_mid_slice_gallery({})
    with pytest.raises(ValueError, match=r"`examples\['x'\]` must be 3-D .* got shape \(4, 4\)"):
        dataset_plots.plot_mid_slice_gallery({"x": np.zeros((4, 4))})
