"""Where label 1 lies relative to the enhancing rim, in references and in the model's raw output.

Example (the figures in the README and models/README.md)::

    python -m training.label1_report ../shared/data/brats2013-train/BraTS13_pat0006 \\
        ../shared/data/brainles-sample-case

For each labelled case: the label-1 volume of the reference and the share of it outside
the enhancing rim's per-slice hull (:func:`brats_desktop.core.postprocessing.enhancing_hull`,
the rule the BraTS 2021+ conversion uses), the same for the model's raw argmax, and how
many reference-edema voxels the raw model calls label 1, with the share of those outside
its own rim. A reference that puts non-enhancing tumour in label 1 (BraTS 2013-2020) has
most of its label 1 outside the rim. ``--references-only`` skips the model and reports the
references alone, ending with the median share outside the rim, e.g. to compare groups::

    python -m training.label1_report --references-only ../shared/data/brats2013-train \
        ../shared/data/brats2018-train/Brats18_2013_*
    python -m training.label1_report --references-only ../shared/data/brats2018-train/Brats18_CBICA_* \
        ../shared/data/brats2018-train/Brats18_TCIA0[12]_*
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from brats_desktop.core.patient import load_patient
from brats_desktop.core.postprocessing import EDEMA, ENHANCING, NCR, enhancing_hull
from models.checkpoint import default_model_path, load_model
from models.inference import predict_volume

from .evaluate import labelled_folders


def _outside(labels, hull) -> float:
    ncr = labels == NCR
    return 100.0 * float((ncr & ~hull).sum()) / max(int(ncr.sum()), 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.label1_report", description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="+", type=Path, help="labelled patient folders or cohort roots")
    p.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    p.add_argument("--references-only", action="store_true", help="no model: the references' label 1 alone")
    args = p.parse_args(argv)
    model = None if args.references_only else load_model(args.model or default_model_path())
    shares: list[float] = []
    for folder in labelled_folders(args.data):
        patient = load_patient(folder)
        ref = patient.ground_truth
        assert ref is not None
        ml = patient.voxel_volume_ml
        outside = _outside(ref, enhancing_hull(ref == ENHANCING))
        volume = (ref == NCR).sum() * ml
        if volume >= 1.0:  # a few voxels of label 1 say nothing about a convention
            shares.append(outside)
        if model is None:
            print(f"{patient.name}: reference label 1 {volume:.1f} mL, {outside:.0f} % outside its rim")
            continue
        raw = predict_volume(model, patient.images)
        raw_hull = enhancing_hull(raw == ENHANCING)
        confused = (ref == EDEMA) & (raw == NCR)
        print(
            f"{patient.name}: reference label 1 {volume:.1f} mL, {outside:.0f} % outside its rim; "
            f"raw prediction label 1 {(raw == NCR).sum() * ml:.1f} mL, {_outside(raw, raw_hull):.0f} % outside its rim; "
            f"reference edema called label 1: {int(confused.sum()):,} voxels, "
            f"{100.0 * float((confused & ~raw_hull).sum()) / max(int(confused.sum()), 1):.0f} % outside the predicted rim"
        )
    if shares:
        print(f"median share of label 1 outside the rim: {statistics.median(shares):.0f} % "
              f"({len(shares)} references with at least 1 mL of label 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
