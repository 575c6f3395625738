"""Seconds per growing click on out-of-fold starts: the robot's clicks answered by ClickEngine.refine.

Reads the cache of ``python -m training.interactive_grow_cv cache`` (each patient's fold automatic
start, probabilities and inputs) and the fold models; times ``refine`` (network window + growth,
``interactive.engine.GROW``) wall and CPU, one torch thread, after one untimed warm-up per patient::

    python bench/bench_click_growth.py --cache runs/grow-cache --fold-auto-models runs/acc-axial \\
        BraTS13_pat0005 Brats18_CBICA_AME_1 Brats18_TCIA10_637_1 Brats18_2013_2_1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import torch

    from brats_desktop.core.robot_user import RobotUser
    from brats_desktop.interactive.engine import GROW, ClickEngine
    from brats_desktop.interactive.guidance import Click
    from brats_desktop.interactive.network import click_model_from_automatic
    from models.checkpoint import load_model
    from training.interactive_eval import fold_auto_model_path
    from training.interactive_grow_cv import load_case

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cases", nargs="+")
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--fold-auto-models", type=Path, required=True)
    p.add_argument("--clicks", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    cpu: list[float] = []
    wall: list[float] = []
    for name in args.cases:
        case = load_case(args.cache / f"{name}.npz")
        engine = ClickEngine(click_model_from_automatic(load_model(fold_auto_model_path(args.fold_auto_models, case["fold"]))))
        engine.set_prior(case["images"], case["probabilities"])
        engine.prepare(case["images"])
        shape = case["start"].shape
        engine.refine(case["images"], case["start"], [Click(tuple(n // 2 for n in shape), 0)])  # warm-up
        robot, shown, guidance = RobotUser(case["truth"]), case["start"], []
        for _ in range(args.clicks):
            chosen = robot.click(shown)
            if chosen is None:
                break
            guidance.append(Click(chosen.voxel, chosen.label))
            t0, c0 = time.perf_counter(), time.process_time()
            shown = engine.refine(case["images"], shown, guidance).labels
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
    print(f"rule {GROW.notation()}: {len(wall)} clicks; wall p50 {np.percentile(wall, 50):.3f} s, p95 "
          f"{np.percentile(wall, 95):.3f} s, max {max(wall):.3f} s; CPU p50 {np.percentile(cpu, 50):.3f} s, "
          f"p95 {np.percentile(cpu, 95):.3f} s; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
