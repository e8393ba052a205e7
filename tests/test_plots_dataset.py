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


def _examples(n_species=2, per_species=2):
    import pandas as pd

    rows = []
    for s in range(n_species):
        for k in range(per_species):
            raw = np.zeros((6, 6), np.uint8)
            raw[1:4, 1:4] = 200
            rows.append({"species": f"sp{s}", "plane": f"axis_{k}", "raw": raw,
                         "mask": raw > 0, "image": np.full((8, 8), 50 * s, np.uint8)})
    return pd.DataFrame(rows)


def test_slice_gallery_shows_raw_mask_and_input_per_example():
    fig = dataset_plots.plot_slice_gallery(_examples(), per_species=2)
    assert len(fig.axes) == 2 * 6
    titles = [ax.get_title() for ax in fig.axes[:6]]
    assert titles == ["axis_0", "mask", "input", "axis_1", "mask", "input"]
    np.testing.assert_array_equal(fig.axes[8].images[0].get_array(), np.full((8, 8), 50))


def test_slice_gallery_rejects_missing_columns():
    with pytest.raises(ValueError, match=r"missing \['mask'\]"):
        dataset_plots.plot_slice_gallery(_examples().drop(columns="mask"))


def test_foreground_histogram_marks_the_threshold():
    fig = dataset_plots.plot_foreground_histogram([0.03, 0.1, 0.5], min_foreground=0.02)
    ax = fig.axes[0]
    assert ax.lines[0].get_xdata()[0] == 0.02
    assert sum(p.get_height() for p in ax.patches) == 3


def test_split_balance_legend_carries_cv():
    import pandas as pd

    from fossilct import split

    table = pd.DataFrame({"specimen_id": ["a1", "a1", "a2", "a3", "b1", "b2", "b3"],
                          "species": list("aaaabbb"),
                          "split": ["train", "train", "val", "test", "train", "val", "test"]})
    fig = dataset_plots.plot_split_balance(split.summarise_split(table))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["train (CV 33.3%)", "val (CV 0.0%)", "test (CV 0.0%)"]
