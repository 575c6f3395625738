"""Time the review and correction operations (3-D region tool, fill between slices, error map) on a whole BraTS grid (240x240x155).

What the user waits for, measured in the Qt-free core (the app adds one slice redraw):

* ``error map (full)``: FP/FN map of two label maps for one region (choosing layers or region),
* ``error map (edit box)``: the recompute after a brush stroke (a 20x20x1 box),
* ``error regions``: connected FP/FN regions sorted by size (the first Next Error after an edit),
* ``lesions``: connected lesions of one map (the first Next Lesion),
* ``remove blob``: one click of the 3-D region tool with the eraser (plus its undo record),
* ``fill between slices``: two painted axial slices 20 apart, interpolated.

The reference is the ground truth of a real case when given (``--case``), else the
synthetic demo patient; the test map is the reference shifted by two voxels plus
scattered false-positive specks and blobs, so the error map has many regions.

Usage::

    python bench/bench_review_tools.py [--case ../shared/data/brainles-sample-case] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from brats_desktop.core.components import lesions, relabel_component  # noqa: E402
from brats_desktop.core.error_map import error_components, error_map  # noqa: E402
from brats_desktop.core.history import EditHistory  # noqa: E402
from brats_desktop.core.interpolation import interpolate_slices  # noqa: E402
from brats_desktop.core.metrics import dice  # noqa: E402


def _reference(case: Path | None) -> tuple[np.ndarray, tuple[float, float, float], str]:
    if case is not None:
        from brats_desktop.core.patient import load_patient

        patient = load_patient(case)
        if patient.ground_truth is None:
            raise SystemExit(f"{case}: no segmentation to compare with")
        return patient.ground_truth, patient.spacing, patient.name
    from brats_desktop.core.synthetic import make_demo_patient

    patient = make_demo_patient()
    return patient.ground_truth, patient.spacing, "synthetic demo"


def _test_map(reference: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    test = np.roll(reference, 2, axis=0)
    for _ in range(200):  # specks
        x, y, z = (int(rng.integers(0, n)) for n in reference.shape)
        test[x, y, z] = 2
    for _ in range(10):  # blobs
        x, y, z = (int(rng.integers(10, n - 10)) for n in reference.shape)
        test[x - 3:x + 3, y - 3:y + 3, z - 2:z + 2] = 2
    return test


def _time(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", type=Path, help="patient folder with a segmentation (default: demo)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    reference, spacing, name = _reference(args.case)
    test = _test_map(reference)
    errors = error_map(test, reference, "WT")
    box = (slice(100, 120), slice(100, 120), slice(70, 71))
    regions = error_components(errors, spacing)
    print(f"{name}: grid {reference.shape}, {len(regions)} error regions, {len(lesions(test, spacing))} lesions")
    if hasattr(os, "getloadavg"):
        print("load average %.1f %.1f %.1f (2-core figures inflate with it)" % os.getloadavg())

    rows = [
        ("error map (full)", lambda: error_map(test, reference, "WT")),
        ("error map (edit box)", lambda: error_map(test[box], reference[box], "WT")),
        ("error regions", lambda: error_components(errors, spacing)),
        ("lesions", lambda: lesions(test, spacing)),
    ]

    blob = regions[-1].focus  # a small false-positive speck or blob: what the tool removes

    def remove_blob() -> None:
        labels = test.copy()
        relabel_component(labels, blob, 0, history=EditHistory(labels))

    copy_cost = _time(lambda: test.copy(), args.repeats)
    rows.append(("remove blob", remove_blob))

    yy, xx = np.mgrid[:240, :240]
    disk = (yy - 120) ** 2 + (xx - 110) ** 2 <= 20**2
    painted = np.zeros(reference.shape, np.uint8)
    painted[:, :, 60][disk[: reference.shape[0], : reference.shape[1]]] = 2
    painted[:, :, 80][np.roll(disk, 8, axis=0)[: reference.shape[0], : reference.shape[1]]] = 2

    def fill() -> None:
        labels = painted.copy()
        interpolate_slices(labels, "axial", spacing=spacing, history=EditHistory(labels))

    rows.append(("fill between slices (19 slices)", fill))

    print(f"{'operation':34s} median ms ({args.repeats} runs)")
    for label, fn in rows:
        ms = _time(fn, args.repeats)
        if label in ("remove blob", "fill between slices (19 slices)"):
            ms -= copy_cost  # the bench's own copy of the label map is not part of the operation
        print(f"{label:34s} {ms:8.1f}")

    # How well Fill Between Slices restores a real tumour outlined on every n-th slice.
    print("fill-back of the reference kept on every n-th slice (Dice NCR / ED / ET / WT, ms):")
    for axis, plane in ((2, "axial"), (1, "coronal"), (0, "sagittal")):
        for step in (3, 5, 8):
            labels = reference.copy()
            others = tuple(a for a in range(3) if a != axis)
            keys = np.flatnonzero(labels.any(axis=others))
            stack = np.moveaxis(labels, axis, 0)
            for k in range(keys[0], keys[-1] + 1):
                if (k - keys[0]) % step and k != keys[-1]:
                    stack[k] = 0
            t0 = time.perf_counter()
            interpolate_slices(labels, axis, spacing=spacing)
            ms = (time.perf_counter() - t0) * 1000
            scores = [dice(labels == c, reference == c) for c in (1, 2, 3)] + [dice(labels > 0, reference > 0)]
            print(f"  {plane:8s} every {step}: " + " / ".join(f"{s:.3f}" for s in scores) + f"   {ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
