import pytest

from fossilct.plots import training as training_plots

HISTORY = {"epoch": [1, 2, 3, 4], "phase": [1, 1, 2, 2], "loss": [1.0, 0.9, 0.6, 0.5],
           "val_loss": [1.1, 1.0, 0.7, 0.8], "accuracy": [0.4, 0.5, 0.8, 0.9],
           "val_accuracy": [0.3, 0.4, 0.7, 0.6]}


def test_curves_mark_phase_one_and_the_kept_epoch():
    fig = training_plots.plot_training_curves(HISTORY)
    loss_ax, accuracy_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation",
                                                            "kept: epoch 3"]
    assert list(loss_ax.lines[1].get_ydata()) == HISTORY["val_loss"]
    assert list(loss_ax.lines[2].get_xdata()) == [3, 3]
    span = loss_ax.patches[0].get_x(), loss_ax.patches[0].get_width()
    assert span == (0.5, 2.0)  # phase 1 covers epochs 1-2
    assert accuracy_ax.get_ylabel() == "accuracy"


def test_curves_without_phase_one_or_accuracy():
    history = {k: HISTORY[k][2:] for k in ("epoch", "phase", "loss", "val_loss")}
    fig = training_plots.plot_training_curves(history)
    assert len(fig.axes) == 1 and not fig.axes[0].patches


def test_curves_reject_incomplete_history():
    with pytest.raises(ValueError, match=r"`history` lacks \['val_loss'\]"):
        training_plots.plot_training_curves({"epoch": [1], "phase": [1], "loss": [1.0]})
    with pytest.raises(ValueError, match=r"`history` is empty"):
        training_plots.plot_training_curves({"epoch": [], "phase": [], "loss": [],
                                             "val_loss": []})
