"""Time the 3-D view's mesh build of a 240x240x155 label map (target: <= 0.5 s on 2 cores, so the 3-D view
follows an edit without a visible wait).

``core.meshes.label_meshes`` is what the 3-D view's background worker runs after a
prediction or an edit: crop to the tumour, one Gaussian-smoothed marching-cubes
surface per class. The brain surface (``brain_mesh``) is built once per patient and
timed apart. Cases: a synthetic BraTS-like case on the BraTS grid (always there), a
deliberately huge tumour, and the real ``brainles-sample-case`` reference segmentation when
``../shared/data`` exists. Also prints how long the main (GUI) thread can stall while a
worker thread builds meshes (marching cubes holds the GIL in chunks).

Usage::

    python bench/bench_mesh.py [--repeats 7] [--case PATIENT_DIR]
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

from brats_desktop.core.meshes import brain_mesh, label_meshes  # noqa: E402

SHARED_CASE = Path(__file__).resolve().parents[2] / "shared" / "data" / "brainles-sample-case"


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median and worst seconds over ``repeats`` calls (after one warm-up call), and the result."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times), result


def report(name: str, labels: np.ndarray, image: np.ndarray, spacing, repeats: int) -> None:
    counts = np.bincount(labels.ravel(), minlength=4)
    print(f"{name}: grid {labels.shape}, tumour voxels NCR {counts[1]} ED {counts[2]} ET {counts[3]}")
    med, worst, meshes = timed(lambda: label_meshes(labels, spacing), repeats)
    faces = ", ".join(f"class {c}: {m.n_faces}" for c, m in sorted(meshes.items()))
    print(f"  label meshes: median {med:.3f} s, worst {worst:.3f} s ({faces} triangles)")
    med, worst, brain = timed(lambda: brain_mesh(image, spacing), repeats)
    print(f"  brain surface: median {med:.3f} s, worst {worst:.3f} s "
          f"({brain.n_faces if brain is not None else 0} triangles)")


def main_thread_stalls(labels: np.ndarray, spacing, seconds: float = 0.6) -> tuple[float, float]:
    """Longest wait (ms) of a 1 ms sleep loop in this thread: alone, and while a worker
    thread builds meshes (the 3-D view's case). Shows how long the build holds the GIL."""
    import threading

    def longest_gap() -> float:
        gaps, t0 = [], time.perf_counter()
        last = t0
        while time.perf_counter() - t0 < seconds:
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        return max(gaps) * 1000

    idle = longest_gap()
    stop = threading.Event()

    def build() -> None:
        while not stop.is_set():
            label_meshes(labels, spacing)

    worker = threading.Thread(target=build)
    worker.start()
    busy = longest_gap()
    stop.set()
    worker.join()
    return idle, busy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--case", type=Path, default=None, help="a patient folder with a segmentation")
    args = parser.parse_args()
    print(f"CPUs available: {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f}")

    from brats_desktop.core.synthetic import make_synthetic_case

    case = make_synthetic_case(0, shape=(240, 240, 155), modalities=("flair",))
    report("synthetic case (seed 0)", case.labels, case.images["flair"], (1.0, 1.0, 1.0), args.repeats)
    idle, busy = main_thread_stalls(case.labels, (1.0, 1.0, 1.0))
    print(f"  GUI-thread stall (longest 1 ms sleep): {idle:.0f} ms alone, {busy:.0f} ms while meshes build")

    # Worst case on purpose: nested balls of 70/40/25 mm, 1.4 million tumour voxels (a wild
    # prediction over half the brain); a bigger box is walked with the coarser step.
    idx = np.indices((240, 240, 155), dtype=np.float32)
    dist = np.sqrt((idx[0] - 120) ** 2 + (idx[1] - 120) ** 2 + (idx[2] - 77) ** 2)
    big = np.zeros((240, 240, 155), np.uint8)
    big[dist < 70], big[dist < 40], big[dist < 25] = 2, 3, 1
    report("huge tumour (balls of 70/40/25 mm)", big, (dist < 100).astype(np.float32), (1.0, 1.0, 1.0),
           args.repeats)
    del idx, dist

    folder = args.case or (SHARED_CASE if SHARED_CASE.is_dir() else None)
    if folder is not None:
        from brats_desktop.core.patient import load_patient

        patient = load_patient(folder)
        if patient.ground_truth is None:
            print(f"{folder.name}: no segmentation, skipped")
        else:
            image = patient.images[patient.modalities[0]]
            report(folder.name, patient.ground_truth, image, patient.spacing, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
