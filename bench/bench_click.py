"""Click latency of the AI correction engine on a real 240x240x155 case (and the Dice it reaches).

A simple robot (the largest 6-connected error component over all true labels, its deepest
point, never the same voxel twice) clicks ``--clicks`` times on each ``--case`` through
:class:`brats_desktop.interactive.InteractiveSession` (the public headless API: file voxel
order and file label values). Reported per case: Dice WT/TC/ET after 0..N clicks, and over
all clicks the p50/p95 seconds of ``ClickEngine.refine`` (the label map updated) and of the
whole ``session.click`` call (plus the conversion to the file's voxel order and label values),
wall time and process CPU time (the latter is what an unshared machine would need, up to
thread parallelism), with the load average: on a shared machine wall times are inflated.
The automatic segmentation that starts each session is not timed here (``bench_inference.py``).

Usage::

    python bench/bench_click.py --case ../shared/data/BraTS-GLI-00001-000 \\
        --case ../shared/data/brainles-sample-case --clicks 10 [--model FILE] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brats_desktop.core.coordinates import file_voxel  # noqa: E402
from brats_desktop.core.labels import REGIONS, to_file  # noqa: E402
from brats_desktop.core.metrics import dice  # noqa: E402


def region_dice(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    return {r: round(float(dice(np.isin(pred, c), np.isin(ref, c))), 4) for r, c in REGIONS.items()}


def robot_click(pred: np.ndarray, ref: np.ndarray, used: set) -> tuple[tuple[int, int, int], int] | None:
    """Deepest point of the largest 6-connected error component (canonical voxel, internal label)."""
    from scipy import ndimage

    six = ndimage.generate_binary_structure(3, 1)
    best = None
    for c in range(4):
        err = (ref == c) & (pred != c)
        if not err.any():
            continue
        lab, _ = ndimage.label(err, six)
        sizes = np.bincount(lab.ravel())[1:]
        k = int(np.argmax(sizes))
        if best is None or sizes[k] > best[0]:
            best = (int(sizes[k]), lab, k + 1, c)
    if best is None:
        return None
    _, lab, k, c = best
    sl = ndimage.find_objects((lab == k).astype(np.int32))[0]
    mask = lab[sl] == k
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1, 1:-1]
    for v in used:
        rel = tuple(v[a] - sl[a].start for a in range(3))
        if all(0 <= rel[a] < mask.shape[a] for a in range(3)):
            depth[rel] = 0
    if depth.max() <= 0:
        return None
    rel = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return tuple(int(rel[a] + sl[a].start) for a in range(3)), c  # type: ignore[return-value]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", type=Path, action="append", required=True)
    p.add_argument("--clicks", type=int, default=10)
    p.add_argument("--model", type=Path, help="click model file (default: the bundled one)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ncr-definition", default="brats2013")
    p.add_argument("--global", dest="local", action="store_false", help="accept every change in the window")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from brats_desktop.interactive import InteractiveSession
    from brats_desktop.interactive.engine import ClickEngine

    engine = (ClickEngine.from_file(args.model, local=args.local) if args.model
              else ClickEngine.bundled(local=args.local))
    refine_s: list[float] = []
    click_s: list[float] = []
    cpu_s: list[float] = []  # process CPU seconds per click (all threads): what a machine to itself would need
    cases = {}
    for folder in args.case:
        s = InteractiveSession.from_folder(folder, device="cpu", ncr_definition=args.ncr_definition, engine=engine)
        ref = s.patient.ground_truth
        if ref is None:
            print(f"{folder}: no segmentation: clicks at random tumour voxels, timing only", file=sys.stderr)
        curve = [region_dice(s.internal_labels, ref)] if ref is not None else []
        used: set = set()
        rng = np.random.default_rng(0)
        tumour = np.argwhere(np.asarray(s.internal_labels) > 0)
        for _ in range(args.clicks):
            if ref is None:  # no reference: time clicks at random tumour voxels with random labels
                if not len(tumour):
                    break
                found = (tuple(int(v) for v in tumour[rng.integers(len(tumour))]), int(rng.integers(0, 4)))
            else:
                found = robot_click(np.asarray(s.internal_labels), ref, used)
            if found is None:
                break
            voxel, label = found
            used.add(voxel)
            ijk = file_voxel(s.patient.grid, voxel)
            value = int(to_file(np.array([label], np.uint8), s.convention)[0])
            t0, c0 = time.perf_counter(), time.process_time()
            s.click(ijk, value)
            click_s.append(time.perf_counter() - t0)
            cpu_s.append(time.process_time() - c0)
            refine_s.append(float(s.last_seconds))
            if ref is not None:
                curve.append(region_dice(s.internal_labels, ref))
        cases[folder.name] = curve
        if curve:
            print(folder.name, json.dumps(curve[0]), "->", json.dumps(curve[-1]), flush=True)

    def pct(v: list[float], q: float) -> float:
        return round(float(np.percentile(v, q)), 3) if v else float("nan")

    out = {
        "model": str(args.model or "bundled"),
        "local": args.local,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "clicks": len(refine_s),
        "refine_p50_s": pct(refine_s, 50), "refine_p95_s": pct(refine_s, 95),
        "click_p50_s": pct(click_s, 50), "click_p95_s": pct(click_s, 95),
        "click_cpu_p50_s": pct(cpu_s, 50), "click_cpu_p95_s": pct(cpu_s, 95),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "refine_s": [round(v, 3) for v in refine_s],
        "dice": cases,
    }
    print(json.dumps({k: v for k, v in out.items() if k != "dice"}))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
