"""Per-click latency of AI-assisted correction and of the manual baselines on a BraTS-size grid (240x240x155).

    python bench/bench_interactive.py [--case ../shared/data/BraTS-GLI-00001-000] [--clicks 10]
                                      [--engine click brush region] [--click-model PATH] [--threads N]

The case is segmented by the bundled automatic model first. The case needs no reference:
the robot user (:mod:`brats_desktop.core.robot_user`) corrects a copy of that
segmentation moved by (3, 2, 1) voxels *towards the segmentation itself*, so its clicks
land where real corrections do (tumour borders, both missed and extra voxels) on a real
case's images. Each engine answers the same kind of clicks; timed per click:

- ``refine``: the engine's answer (the label map updated), what the user waits for;
- ``robot``: the robot's choice of the next click (evaluation cost only, not in the app).

One untimed warm-up click per engine on copies of the images (loading a model is not a
click); then the case's first click (an engine may prepare the images there, once per case)
and the wall time p50 / p95 of the next ``--clicks`` (with the process CPU time of the answer,
which a busy machine inflates less); the load average is printed last. The click model is the bundled one unless ``--click-model``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brats_desktop.core.patient import load_patient  # noqa: E402
from brats_desktop.core.robot_user import RobotUser  # noqa: E402
from brats_desktop.interactive.guidance import Click  # noqa: E402

SHIFT = (3, 2, 1)


def engine_for(name: str, click_model: Path | None):
    """The engine behind a name, as brats-evaluate --interactive builds it."""
    from training.baseline_engines import BrushEngine, RegionEngine

    if name == "brush":
        return BrushEngine()
    if name == "region":
        return RegionEngine()
    from brats_desktop.interactive.engine import ClickEngine

    return ClickEngine.bundled("cpu") if click_model is None else ClickEngine.from_file(click_model, device="cpu")


def run(engine, images, start: np.ndarray, truth: np.ndarray, clicks: int) -> dict[str, list[float]]:
    """Wall seconds of the engine's answer and of the robot's choice, and process CPU seconds of the answer, per click."""
    robot = RobotUser(truth)
    shown, guidance = start, []
    times: dict[str, list[float]] = {"refine": [], "refine_cpu": [], "robot": []}
    for k in range(clicks + 1):  # click 0 is the first click of the case (it may prepare the images)
        t0 = time.perf_counter()
        chosen = robot.click(shown)
        t1, c1 = time.perf_counter(), time.process_time()
        if chosen is None:
            break
        guidance.append(Click(voxel=chosen.voxel, label=chosen.label))
        if k == 0:  # warm-up on copies (model load, first run), so the timed first click is a case's first click
            engine.refine({m: a.copy() for m, a in images.items()}, shown, list(guidance), None)
            t1, c1 = time.perf_counter(), time.process_time()
        result = engine.refine(images, shown, list(guidance), None)
        t2, c2 = time.perf_counter(), time.process_time()
        shown = result.labels
        if k == 0:
            times["first"] = [t2 - t1]
        else:
            times["robot"].append(t1 - t0)
            times["refine"].append(t2 - t1)
            times["refine_cpu"].append(c2 - c1)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", type=Path, default=ROOT.parent / "shared" / "data" / "BraTS-GLI-00001-000")
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--engine", nargs="+", default=["click", "brush", "region"], choices=("click", "brush", "region"))
    ap.add_argument("--click-model", type=Path)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, all cores)")
    args = ap.parse_args()
    import torch

    from models.runtime import best_bundled_model, predict_patient

    if args.threads:
        torch.set_num_threads(args.threads)
    patient = load_patient(args.case)
    t0 = time.perf_counter()
    truth = predict_patient(best_bundled_model(patient), patient, device="cpu").labels
    print(f"{patient.name} {patient.shape}: automatic segmentation {time.perf_counter() - t0:.1f} s, "
          f"{int((truth > 0).sum())} tumour voxels; torch threads {torch.get_num_threads()}")
    start = np.roll(truth, SHIFT, axis=(0, 1, 2))
    for name in args.engine:
        times = run(engine_for(name, args.click_model), patient.images, start, truth, args.clicks)
        if not times["refine"]:
            print(f"{name:7s} no click needed")
            continue
        p = lambda key, q: float(np.percentile(times[key], q)) * 1000  # noqa: E731
        print(f"{name:7s} first click {p('first', 50):7.1f} ms; then answer p50 {p('refine', 50):7.1f} ms  "
              f"p95 {p('refine', 95):7.1f} ms "
              f"(CPU p50 {p('refine_cpu', 50):7.1f} ms)   robot p50 {p('robot', 50):6.1f} ms  "
              f"p95 {p('robot', 95):6.1f} ms   n={len(times['refine'])}")
    # Shared machines make wall times noisy: say how busy this one was.
    print(f"load average (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
