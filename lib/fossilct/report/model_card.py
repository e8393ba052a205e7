"""A model card (Markdown) for each trained model of a run, written from what actually ran.

Every statement comes from the run folder: ``params.yaml``, ``class_names.json`` and
``history.csv`` of the model, the split it was trained on, the dataset step's parameters and the
evaluation's ``metrics.json``. Nothing is typed by hand, so the card of a re-trained model is
right again after the next report.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd
import yaml

from fossilct.metrics import METRIC_KEYS
from fossilct.report.index_page import format_estimate, metrics_table
from fossilct.report.summary import ModelSummary, RunSummary

__all__ = ["initialisation_text", "selected_epoch", "model_card_markdown"]


def initialisation_text(weights) -> str:
    """How the network's weights started, from the ``weights`` training parameter.

    Examples
    --------
    >>> initialisation_text(None)
    'random (trained from scratch, no pretrained weights)'
    >>> initialisation_text("imagenet")
    'ImageNet-pretrained backbone (Keras Applications weights), new classification head'
    """
    if weights is None:
        return "random (trained from scratch, no pretrained weights)"
    if weights == "imagenet":
        return "ImageNet-pretrained backbone (Keras Applications weights), new classification head"
    return f"backbone weights from the file `{weights}`, new classification head"


def selected_epoch(history: pd.DataFrame) -> pd.Series:
    """The epoch whose weights the model holds: the lowest validation loss (first on ties).

    Raises
    ------
    ValueError
        If `history` has no rows or no ``val_loss`` column.

    Examples
    --------
    >>> h = pd.DataFrame({"epoch": [1, 2, 3], "phase": [1, 2, 2], "val_loss": [1.0, 0.5, 0.7]})
    >>> int(selected_epoch(h)["epoch"])
    2
    """
    if history.empty or "val_loss" not in history.columns:
        raise ValueError("the training history has no epochs with a `val_loss`; the model "
                         "folder's history.csv is incomplete: re-run the training step.")
    return history.loc[history["val_loss"].idxmin()]


def _markdown_table(frame: pd.DataFrame, *, index: bool = True) -> str:
    frame = frame.reset_index() if index else frame
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(frame.shape[1])) + "|"
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _training_lines(params: Mapping, history: pd.DataFrame) -> list[str]:
    best = selected_epoch(history)
    per_phase = history.groupby("phase")["epoch"].size().to_dict()
    augmentation = params.get("augmentation") or {}
    device = params.get("device") or {}
    return [
        f"- Two phases (AdamW, weight decay {params.get('weight_decay')}, label smoothing "
        f"{params.get('label_smoothing')}, "
        + ("cross-entropy" if params.get("focal_gamma") is None
           else f"focal loss gamma {params.get('focal_gamma')}")
        + f", class weighting {params.get('class_weighting')}):",
        f"  - phase 1, head only on the frozen backbone: {per_phase.get(1, 0)} epochs run of "
        f"at most {params.get('phase1_epochs')}, peak learning rate {params.get('phase1_lr')} "
        "(cosine decay);",
        f"  - phase 2, fine-tuning ({params.get('unfreeze')} backbone layers): "
        f"{per_phase.get(2, 0)} epochs run of at most {params.get('phase2_epochs')}, peak "
        f"learning rate {params.get('phase2_lr')} (cosine with warm restarts, first cycle "
        f"{params.get('restart_epochs')} epochs, then doubling).",
        f"- Early stopping on the validation loss (patience {params.get('patience')}); EMA of "
        f"the weights: {params.get('ema_momentum') or 'off'}.",
        f"- Selected weights: epoch {int(best['epoch'])} (phase {int(best['phase'])}), validation"
        f" loss {best['val_loss']:.4f}"
        + (f", validation accuracy {best['val_accuracy']:.3f}" if "val_accuracy" in best else "")
        + ".",
        f"- Input {params.get('image_size')} px, batch size {params.get('batch_size')}, seed "
        f"{params.get('seed')}.",
        "- Augmentation: " + (", ".join(f"{k} {v}" for k, v in augmentation.items()
                                        if k != "seed") or "none") + ".",
        f"- Device: {device.get('n_gpus', 0)} GPU(s), mixed precision "
        f"{device.get('mixed_precision')}, XLA {device.get('xla')}.",
    ]


def _ensemble_lines(params: Mapping) -> list[str]:
    spec = params.get("ensemble") or {}
    return ["- Not trained itself: it combines the trained models' probabilities as the "
            "ensemble step chose on the validation split (its `ensemble.json`); the spec:", "",
            "```yaml", yaml.safe_dump(spec, sort_keys=False).strip(), "```"]


def _data_lines(model: ModelSummary, run: RunSummary) -> list[str]:
    source = ("the synthetic micro-CT dataset that fossilct generates (chambered, "
              "foraminifera-like shells), not real fossils" if run.synthetic
              else f"the scans in `{run.data_dir}`")
    lines = [f"- Volumes: {source}; run `{run.run_name}`, profile `{run.profile}`."]
    if model.split_mode == "specimen":
        lines.append("- Split by specimen: no specimen (nor a re-scan of it) is in two splits; "
                     "validation chose the epoch, test was used once, for the numbers below.")
    else:
        lines.append(f"- Split `{model.split_mode}`: slices of one specimen are spread over "
                     "train, validation and test. This is the leakage experiment; its test "
                     "numbers overstate what the model does on new specimens and are not "
                     "results.")
    if model.split_table is not None:
        lines += ["", "Slices per species and split (last row: specimens):", "",
                  _markdown_table(model.split_table.rename_axis("species"))]
    return lines


def _evaluation_lines(model: ModelSummary) -> list[str]:
    metrics = model.metrics
    if metrics is None:
        step = "06" if model.history is None else f"05 --arch {model.arch}"
        return ["Not evaluated yet: run its evaluation "
                f"(`python run_all.py --only {step}`)."]
    boot = metrics.get("bootstrap") or {}
    lines = [f"Test split: {metrics.get('n_slices')} slices of {metrics.get('n_specimens')} "
             f"specimens; 95% intervals from {boot.get('n')} bootstrap resamples of "
             f"{boot.get('unit', 'specimen')}s.", "",
             _markdown_table(metrics_table(metrics, [k for k in METRIC_KEYS if k in metrics]),
                             index=False)]
    lines += [f"\nNote: {note}" for note in metrics.get("notes", [])]
    return lines


def _limits_lines(model: ModelSummary, run: RunSummary) -> list[str]:
    metrics = model.metrics or {}
    lines = [
        f"- It always answers with one of its {len(model.class_names)} species: a slice of "
        "any other species, or of something that is not a fossil, still gets one of them, "
        "often with high confidence.",
        "- It expects sections prepared as in training: the fossil segmented on black, "
        "cropped to its bounding box and padded square (`fossilct.segmentation`).",
    ]
    if metrics.get("n_specimens") is not None:
        lines.append(f"- The test split holds {metrics['n_specimens']} specimens: the intervals "
                     "above, not the point values, say how well it is known.")
    if "ece" in metrics:
        lines.append(f"- Calibration error (ECE) on test: {format_estimate(metrics['ece'])}: "
                     "the larger it is, the less its probabilities are frequencies.")
    if run.synthetic:
        lines.append("- Trained and tested on synthetic volumes: its numbers say nothing about "
                     "real scans.")
    return lines


def model_card_markdown(model: ModelSummary, *, run: RunSummary) -> str:
    """The model card of one trained model.

    Parameters
    ----------
    model : ModelSummary
        One of ``RunSummary.models``; the ensemble (no history) is described by its spec.
    run : RunSummary, keyword-only
        The run it belongs to (dataset, profile).

    Returns
    -------
    str
        Markdown: model, intended use, data, training, evaluation, limits.

    Raises
    ------
    ValueError
        If the model's history has no epochs (see :func:`selected_epoch`).
    """
    params = model.params
    species = ", ".join(model.class_names)
    ensemble = model.history is None
    if ensemble:
        inputs = "the members resize it to their own input sizes"
        initialisation = "the trained weights of its members"
    else:
        inputs = f"the model resizes it to {params.get('image_size')} px with black padding"
        initialisation = initialisation_text(params.get("weights"))
    lines = [
        f"# Model card: {model.name}", "",
        f"Generated by `fossilct report` from the run folder `{run.run_dir}`.", "",
        "## Model", "",
        f"- Architecture `{model.arch}`, trained on the `{model.split_mode}` split.",
        f"- File `{model.path / 'model.keras'}` (Keras 3; `keras.models.load_model`). Input: "
        f"a raw 8-bit grey slice of any size (batch, H, W, 1), values 0..255; {inputs}. "
        f"Output: probabilities of {len(model.class_names)} species in this order: {species}.",
        f"- Initialisation: {initialisation}.", "",
        "## Intended use", "",
        "Research use: ranking the species of a micro-CT section of a fossil of one of the "
        "species above, to be checked by a specialist; `fossilct classify IMAGE --model "
        f"{model.path}` prints the ranking.", "",
        "## Training data", "",
        *_data_lines(model, run), "",
        "## Training", "",
        *(_ensemble_lines(params) if ensemble else _training_lines(params, model.history)), "",
        "## Evaluation", "",
        *_evaluation_lines(model), "",
        "## Limits", "",
        *_limits_lines(model, run), "",
    ]
    return "\n".join(lines)
