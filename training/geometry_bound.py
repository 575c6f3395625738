"""Upper bound that the tutorial's geometry puts on Dice, with no network involved.

Example (the table in models/README.md)::

    python -m training.geometry_bound ../shared/data/brats2013-train ../shared/data/brainles-sample-case

Each reference segmentation is taken through the ``seed`` config's geometry exactly as
a prediction would be — the shared preprocessing resizes it to 128x128 as bilinear
one-hot (the tutorial's targets), ``SliceStack.to_crop_labels`` resizes back and takes
the argmax — then, second column, only axial slices 60-134 are kept (what the tutorial
predicts). Dice against the original is what even a perfect tutorial-recipe network
could reach.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from brats_desktop.core.metrics import compare
from brats_desktop.core.patient import load_patient
from brats_desktop.core.preprocessing import prepare_stack

from .configs import SEED
from .evaluate import labelled_folders


def geometry_round_trip(images: dict[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
    """``labels`` after the seed config's 128x128 resize and back, on the full grid."""
    stack = prepare_stack(images, SEED.modalities, SEED.preprocessing)
    soft = stack.crop_labels(labels, soft=True)
    return stack.to_full(stack.to_crop_labels(soft))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.geometry_bound", description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="+", type=Path, help="labelled patient folders or cohort roots")
    args = p.parse_args(argv)
    lo, hi = SEED.slice_range or (0, 10**9)
    print("| case | tumour outside slices 60-134 | 128 px round trip WT / TC / ET | + slices 60-134 only WT / TC / ET |")
    print("| --- | --- | --- | --- |")
    for folder in labelled_folders(args.data):
        patient = load_patient(folder)
        ref = patient.ground_truth
        assert ref is not None
        trip = geometry_round_trip(patient.images, ref)
        limited = trip.copy()
        limited[:, :, :lo] = 0
        limited[:, :, hi:] = 0
        outside = 1.0 - float((ref[:, :, lo:hi] > 0).sum()) / max(int((ref > 0).sum()), 1)
        cols = []
        for pred in (trip, limited):
            c = compare(pred, ref)
            cols.append(" / ".join(f"{c[k].dice:.3f}" for k in ("WT", "TC", "ET")))
        print(f"| {patient.name} | {100 * outside:.1f} % | {cols[0]} | {cols[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
