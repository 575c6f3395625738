"""Time the Fast and the Accurate tier on one case: what Segment → Accurate costs.

Headless :func:`models.runtime.predict_patient` (the code path of the app's worker and
``brats-predict``) with each tier of ``models/bundled/tiers.json`` (:func:`models.tiers.load_tier`),
on one patient folder, default ``../shared/data/brainles-sample-case``. One warm-up run of
each tier first (thread pools, kernels, allocator), then ``--repeats`` runs with the tiers
interleaved so a change in the machine's load hits both alike; the median wall and CPU
seconds per tier are printed as one JSON object, with the load average before and after
(the README's figures need a quiet machine: quote the load with them). The Dice against
the case's segmentation is printed too, so a tier that got faster by getting worse shows.

Usage::

    python bench/bench_tiers.py                               # CPU, 2 torch threads, 5 repeats
    python bench/bench_tiers.py --repeats 1                   # quick check that it works
    python bench/bench_tiers.py --device cuda --threads 16    # on a GPU
    python bench/bench_tiers.py --case ../shared/data/BraTS-GLI-00001-000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code, not an installed copy
DEFAULT_CASE = ROOT.parent / "shared" / "data" / "brainles-sample-case"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", type=Path, default=DEFAULT_CASE, help="patient folder (default: brainles-sample-case)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, the reference machine)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per tier after one warm-up (median reported)")
    p.add_argument("--tiers", nargs="+", default=["fast", "accurate"], choices=["fast", "accurate"])
    args = p.parse_args(argv)
    if not args.case.is_dir():
        raise SystemExit(f"bench_tiers: {args.case}: no such patient folder")

    import torch

    torch.set_num_threads(args.threads)
    from brats_desktop.core.metrics import dice_scores
    from brats_desktop.core.patient import load_patient
    from models.runtime import describe_device, predict_patient, select_device
    from models.tiers import load_tier

    load_before = [round(v, 2) for v in os.getloadavg()]
    patient = load_patient(args.case)
    device = select_device(args.device)
    cache: dict = {}
    tiers = {name: load_tier(name, patient, cache) for name in args.tiers}
    runs = {name: (lambda t=tier: predict_patient(t, patient, device=str(device.type))) for name, tier in tiers.items()}
    dice = {}
    for name, run in runs.items():  # warm-up, and the labels for the Dice
        labels = run().labels
        if patient.ground_truth is not None:
            scores = dice_scores(labels, patient.ground_truth)
            dice[name] = {k: round(float(scores[k]), 4) for k in ("WT", "TC", "ET")}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(max(1, args.repeats)):
        for name, run in runs.items():
            c0, t0 = cpu_seconds(), time.perf_counter()
            run()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(cpu_seconds() - c0)
    print(json.dumps({
        "measure": "tiers",
        "case": str(args.case),
        "shape": list(patient.shape),
        "device": describe_device(device),
        "threads": torch.get_num_threads(),
        "tiers": {name: tier.label for name, tier in tiers.items()},
        "members": {name: tier.files for name, tier in tiers.items()},
        "median_s": {k: round(statistics.median(v), 3) for k, v in wall.items()},
        "runs_s": {k: [round(t, 3) for t in v] for k, v in wall.items()},
        "median_cpu_s": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "dice": dice,
        "load_avg_before": load_before,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
