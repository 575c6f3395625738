"""Speed of the uncertainty map and the measurements on a BraTS-size grid (240x240x155).

    python bench/bench_measure.py [--case ../shared/data/brainles-sample-case] [--repeats 5]

Probabilities are made from the case's reference segmentation (one-hot, Gaussian-smoothed
by 1.5 voxels, float16 as ``PredictionRun.probabilities`` holds them), so the uncertain
band lies where a model's would: along class boundaries. Timed, as the app runs them:

- entropy + argmax (the Uncertainty controller's background job after each prediction);
- uncertain volume per class at a threshold (each threshold change, debounced);
- uncertain connected regions (the first Next Uncertain Region after a change);
- the per-slice heat-map image (each slice change, per view);
- the Measurements dock's ``measure`` (volumes + RANO per enhancing lesion; after edits).

Wall and process CPU time (median of the repeats); without the case, the demo patient.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brats_desktop.core.measurements import measure  # noqa: E402
from brats_desktop.core.uncertainty import (  # noqa: E402
    argmax_labels, entropy_map, uncertain_regions, uncertain_volumes_ml,
)


def probabilities_from(labels: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    onehot = np.stack([ndimage.gaussian_filter((labels == c).astype(np.float32), sigma) for c in range(4)])
    onehot /= np.maximum(onehot.sum(axis=0), 1e-6)
    return onehot.astype(np.float16)


def timed(name: str, fn, repeats: int) -> object:
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    print(f"{name:44s} median wall {statistics.median(wall) * 1000:8.1f} ms, CPU {statistics.median(cpu) * 1000:8.1f} ms, n={repeats}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", type=Path, default=ROOT.parent / "shared" / "data" / "brainles-sample-case")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=0.5)
    args = ap.parse_args()
    if args.case.is_dir():
        from brats_desktop.core.patient import load_patient

        patient = load_patient(args.case)
    else:
        from brats_desktop.core.synthetic import make_demo_patient

        patient = make_demo_patient()
    labels = patient.ground_truth
    print(f"case {patient.name}, grid {patient.shape}, spacing {patient.spacing}, load average {os.getloadavg()[0]:.1f}")
    probs = probabilities_from(labels)
    entropy = timed("entropy_map (float16 4xXxYxZ)", lambda: entropy_map(probs), args.repeats)
    argmax = timed("argmax_labels", lambda: argmax_labels(probs), args.repeats)
    vols = timed("uncertain_volumes_ml", lambda: uncertain_volumes_ml(entropy, argmax, args.threshold, patient.voxel_volume_ml), args.repeats)
    regions = timed("uncertain_regions (200 largest)", lambda: uncertain_regions(entropy, args.threshold, patient.voxel_volume_ml, limit=200), args.repeats)
    z = labels.shape[2] // 2
    sl = np.ascontiguousarray(entropy[:, :, z].T)

    def slice_image():
        shown = sl >= np.float32(args.threshold)
        return np.where(shown, np.maximum(sl, np.float32(1 / 255)), np.float32(0))

    timed("heat-map slice image (one axial slice)", slice_image, args.repeats * 20)
    report = timed("measure (volumes + RANO per ET lesion)", lambda: measure(labels, patient.spacing), args.repeats)
    print(f"uncertain mL at {args.threshold}: " + ", ".join(f"{k} {v:.2f}" for k, v in vols.items()))
    print(f"{len(regions)} uncertain regions described; largest {regions[0].volume_ml:.2f} mL" if regions else "no regions")
    for lesion in report.lesions[:3]:
        print(f"ET lesion {lesion.number}: {lesion.long_mm:.1f} x {lesion.short_mm:.1f} mm, {lesion.volume_ml:.2f} mL, z {lesion.z}")


if __name__ == "__main__":
    main()
