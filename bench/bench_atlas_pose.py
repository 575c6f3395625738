"""Does the bundled model need the SRI24 atlas pose? (decided by measurement, not assumed)

An imported case is not registered to the SRI24 atlas (no redistributable copy offline): its
1 mm grid is axis-aligned in the T1CE's scanner space, so the head sits as the patient lay in
the scanner, typically a few degrees of roll/pitch/yaw and some millimetres off the atlas
pose. This script takes a BraTS case that *is* in atlas pose, with a reference segmentation,
moves the head by rigid transforms of growing size (rotation about all three axes, plus a
shift), segments each pose with the bundled model, and reports Dice (WT/TC/ET) against the
reference moved the same way. If Dice holds up at scanner-like poses, the atlas step is not
needed for this model.

Usage::

    python bench/bench_atlas_pose.py [--case PATIENT_DIR] [--degrees 0 5 10 15] [--tta none]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

SHARED_CASE = Path(__file__).resolve().parents[2] / "shared" / "data" / "brainles-sample-case"


def rotation(deg: float) -> np.ndarray:
    """The same angle about x, y and z (an oblique head tilt, harder than any single axis)."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    rx = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return rz @ ry @ rx


def moved(volume: np.ndarray, r: np.ndarray, shift: np.ndarray, order: int) -> np.ndarray:
    """``volume`` with its content rotated by ``r`` about the centre and shifted (voxels = mm)."""
    centre = (np.array(volume.shape) - 1) / 2.0
    offset = centre - r.T @ (centre + shift)
    return ndimage.affine_transform(volume, r.T, offset=offset, order=order, mode="constant", cval=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=SHARED_CASE)
    parser.add_argument("--degrees", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0])
    parser.add_argument("--shift-mm", type=float, default=6.0, help="shift per axis at the largest angle (scaled)")
    parser.add_argument("--tta", default="none")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.case.is_dir():
        print(f"{args.case}: not found", file=sys.stderr)
        return 2
    from brats_desktop.core.metrics import dice_scores
    from brats_desktop.core.patient import load_patient, patient_from_arrays
    from models.runtime import best_bundled_model, predict_patient

    patient = load_patient(args.case)
    if patient.ground_truth is None:
        print(f"{args.case}: needs a reference segmentation", file=sys.stderr)
        return 2
    model = best_bundled_model(patient)
    rows = []
    top = max(args.degrees) or 1.0
    for deg in args.degrees:
        r = rotation(deg)
        shift = np.array([1.0, -1.0, 0.5]) * args.shift_mm * (deg / top)
        images = {k: moved(v, r, shift, 1) for k, v in patient.images.items()}
        reference = moved(patient.ground_truth, r, shift, 0).astype(np.uint8)
        case = patient_from_arrays(f"pose{deg:g}", images, reference, spacing=patient.spacing,
                                   convention=patient.convention)
        t0 = time.perf_counter()
        run = predict_patient(model, case, device="cpu", tta=args.tta)
        scores = dice_scores(run.labels, reference)
        rows.append({"degrees_each_axis": deg, "shift_mm": [round(float(s), 1) for s in shift],
                     "dice": {k: round(float(scores[k]), 3) for k in ("WT", "TC", "ET")},
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)
    result = {"case": str(args.case), "model": str(getattr(model, "path", model.name)), "tta": args.tta,
              "poses": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
