"""What each column of a run's ``history.csv`` means.

``history.csv`` holds two families of Dice that disagree by design, and a reader who
sees ``val_dice_coef_enhancing`` 0.097 beside ``val_dice_ET`` 0.818 in one epoch needs
to know which is which:

* **tutorial** columns (``*_dice_coef*``, ``*_accuracy``, ``val_mean_iou``,
  ``val_precision`` ...) reproduce the reference tutorial's Keras metrics so that our
  runs can be set beside its published numbers. They are *soft* (softmax
  probabilities, no argmax), computed on the network's input slices (crop, resize,
  the config's slice range) and averaged over slice batches; a batch without any
  voxel of a class scores about 0 for that class's ``dice_coef_<class>``, which drags
  the per-class means far below the region Dice. ``dice_coef`` averages the four
  classes *including background*, so it is high even for a model that finds no tumour.
* **BraTS region** columns (``val_dice_WT``, ``val_dice_TC``, ``val_dice_ET`` and their
  means) are the challenge's Dice: hard labels (argmax, after mapping back to the full
  voxel grid exactly as the app predicts), per whole validation volume, from
  :func:`brats_desktop.core.metrics.dice_scores`, then averaged over validation
  cases. These are the numbers to quote and the ones ``best.pt`` is chosen by.

One table, checked by ``tests/test_training_history_columns.py`` against ``training.train.HISTORY_COLUMNS``
so that a new column cannot appear undocumented. ``python -m training.history_columns
[history.csv]`` prints it (with the last row's values when a file is given).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

RUN = "run"
TUTORIAL = "tutorial"
BRATS = "BraTS region"
OURS = "ours"

_TUTORIAL = (
    "Tutorial metric on the network's input slices, averaged over slice batches; for comparison "
    "with the tutorial only, not the BraTS Dice"
)
_TUTORIAL_SOFT = "Soft (softmax probabilities, no argmax). " + _TUTORIAL
_PER_CLASS = (
    "tutorial's per-class soft Dice of {what} (2*sum(p*t) / (sum(t^2) + sum(p^2))) per slice batch, "
    "averaged over batches: batches without {what} score ~0, so it sits far below val_dice_{region}, "
    "the BraTS region Dice. " + _TUTORIAL_SOFT
)

# column -> (family, meaning). Order follows training.train.HISTORY_COLUMNS.
HISTORY_COLUMNS: dict[str, tuple[str, str]] = {
    "epoch": (RUN, "epoch number, counted from 1"),
    "lr": (RUN, "learning rate used in this epoch"),
    "seconds": (RUN, "wall-clock seconds of the training part of the epoch (validation not included)"),
    "train_slices_per_s": (RUN, "training throughput, slices per second (all processes together)"),
    "train_loss": (OURS, "mean training loss of the config's loss (ce, dice_ce or dice_ce_regions), augmented batches"),
    "train_accuracy": (TUTORIAL, "voxel accuracy of the argmax over all four classes incl. background; "
                                 "background-dominated. " + _TUTORIAL),
    "train_dice_coef": (TUTORIAL, "tutorial's dice_coef: soft Dice (smoothing 1) averaged over the four "
                                  "classes INCLUDING background, per training batch. " + _TUTORIAL_SOFT),
    "train_dice_tumour": (OURS, "soft Dice of the three tumour classes (1-3), pooled over each training "
                                "batch, averaged over batches (1 - the Dice part of the dice_ce loss)"),
    "val_loss": (OURS, "validation loss of the config's loss over the config's slice range "
                       "(ReduceLROnPlateau watches it; best.pt follows it when select_by=val_loss)"),
    "val_accuracy": (TUTORIAL, "validation voxel accuracy of the argmax incl. background. " + _TUTORIAL),
    "val_mean_iou": (TUTORIAL, "mean IoU of the argmax over the four classes incl. background (a true "
                               "multi-class IoU; the tutorial fed Keras MeanIoU soft outputs). " + _TUTORIAL),
    "val_dice_coef": (TUTORIAL, "tutorial's dice_coef on validation slices: soft Dice averaged over the four "
                                "classes INCLUDING background. " + _TUTORIAL_SOFT),
    "val_precision": (TUTORIAL, "tutorial's precision over all one-hot channels at once (background "
                                "included). " + _TUTORIAL_SOFT),
    "val_sensitivity": (TUTORIAL, "tutorial's sensitivity over all one-hot channels at once (background "
                                  "included). " + _TUTORIAL_SOFT),
    "val_specificity": (TUTORIAL, "tutorial's specificity over all one-hot channels at once (background "
                                  "included). " + _TUTORIAL_SOFT),
    "val_dice_coef_necrotic": (TUTORIAL, _PER_CLASS.format(what="label 1 (NCR)", region="TC")),
    "val_dice_coef_edema": (TUTORIAL, _PER_CLASS.format(what="label 2 (edema)", region="WT")),
    "val_dice_coef_enhancing": (TUTORIAL, _PER_CLASS.format(what="label 3 (enhancing)", region="ET")),
    "val_dice_tumour": (OURS, "soft Dice of the three tumour classes (1-3) per validation slice batch, "
                              "averaged over batches (same formula as train_dice_tumour)"),
    "val_dice_WT": (BRATS, "BraTS whole-tumour Dice (labels 1+2+3): hard labels on the full voxel grid "
                           "as the app predicts, per validation case, averaged over cases"),
    "val_dice_TC": (BRATS, "BraTS tumour-core Dice (labels 1+3): hard labels on the full voxel grid "
                           "as the app predicts, per validation case, averaged over cases"),
    "val_dice_ET": (BRATS, "BraTS enhancing-tumour Dice (label 3; 4 in BraTS 2020 files): hard labels on "
                           "the full voxel grid as the app predicts, per validation case, averaged over cases"),
    "val_dice_mean": (BRATS, "mean of val_dice_WT, val_dice_TC and val_dice_ET over all validation cases"),
    "val_dice_real_mean": (BRATS, "mean BraTS Dice (WT, TC, ET) over the real (not synthetic) validation "
                                  "cases only; empty when the validation set has none"),
    "val_select": (BRATS, "the validation Dice best.pt is chosen by with select_by=val_dice: "
                          "val_dice_real_mean when there are real validation cases, else val_dice_mean"),
    "best": (RUN, "1 when this epoch improved the selection score and was saved as best.pt, else 0"),
}

# Validation columns stay empty in runs without a validation set (select_by=last).


def meaning(column: str) -> str:
    """``family: meaning`` of a column, or a note that it is unknown (older or newer run)."""
    if column not in HISTORY_COLUMNS:
        return f"(not documented in training/history_columns.py: {column})"
    family, text = HISTORY_COLUMNS[column]
    return f"[{family}] {text}"


def describe(columns: Sequence[str], values: dict[str, str] | None = None) -> str:
    """One line per column: name, the value of ``values`` if given, and its meaning."""
    width = max(len(c) for c in columns)
    lines = []
    for col in columns:
        value = f" = {values.get(col, '')}" if values is not None else ""
        lines.append(f"{col:<{width}}{value}  {meaning(col)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.history_columns",
        description="Explain the columns of a brats-train history.csv (tutorial soft metrics vs BraTS region Dice).",
    )
    parser.add_argument("history", nargs="?", type=Path, help="a history.csv: also show its last row's values")
    args = parser.parse_args(argv)
    if args.history is None:
        print(describe(list(HISTORY_COLUMNS)))
        return 0
    try:
        with open(args.history, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"history_columns: {args.history}: cannot read ({exc})", file=sys.stderr)
        return 1
    if not rows:
        print(f"history_columns: {args.history}: no epochs recorded", file=sys.stderr)
        return 1
    print(describe(list(rows[-1]), rows[-1]))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
