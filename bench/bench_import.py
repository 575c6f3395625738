"""Time and size the raw-scan import (target: <= 2 min per case on 2 CPU cores,
the time a user waits once per new patient).

Runs ``preprocess.pipeline.preprocess`` (what File → Import Scans… and
``brats-predict --preprocess`` run) on ``../shared/data/raw-TCGA-FG-6692``: reading, rigid
registration of three sequences to the T1CE, resampling to 1 mm, HD-BET (one fold, CPU,
denormal weights zeroed), writing. Prints wall and CPU seconds per step, the process's peak
memory, the number of denormal HD-BET weights zeroed, the load average (the machine may be
shared: CPU seconds / 2 is what an idle 2-core machine would need at best), and the brain
mask's Dice on the T1CE grid against the BraTS pipeline's reference mask.

Usage::

    python bench/bench_import.py [--case RAW_DIR] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

RAW_CASE = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw-TCGA-FG-6692"


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def denormal_layer_ms(weight, repeats: int = 3) -> dict[str, float]:
    """Median ms of HD-BET's deepest convolution (73 % of its weights denormal) at its real input size."""
    import torch

    x = torch.randn(1, weight.shape[1], 8, 8, 10)
    times = []
    with torch.no_grad():
        torch.nn.functional.conv3d(x, weight, padding=1)
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.nn.functional.conv3d(x, weight, padding=1)
            times.append((time.perf_counter() - t0) * 1000)
    return {"as shipped": round(sorted(times)[len(times) // 2], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=RAW_CASE)
    parser.add_argument("--threads", type=int, default=2, help="torch and SimpleITK threads (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.case.is_dir():
        print(f"{args.case}: not found", file=sys.stderr)
        return 2
    import SimpleITK as sitk
    import torch

    from brats_desktop.core.nifti_io import read_volume
    from brats_desktop.preprocess import skullstrip
    from brats_desktop.preprocess.native import labels_on_native_grid
    from brats_desktop.preprocess.pipeline import preprocess
    from brats_desktop.preprocess.series import discover_series

    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    state = torch.load(skullstrip.weights_path(), map_location="cpu", weights_only=True)
    layer_ms = denormal_layer_ms(state["context5.conv1.weight"])  # before zeroing: the weights as shipped
    denormals = skullstrip.zero_denormals(state)
    total_weights = sum(t.numel() for t in state.values() if t.is_floating_point())
    layer_ms["zeroed"] = denormal_layer_ms(state["context5.conv1.weight"])["as shipped"]
    del state

    marks: list[tuple[str, float, float]] = []
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        scan = discover_series(args.case)
        result = preprocess(scan, output=Path(tmp) / "case",
                            progress=lambda d, t, text: marks.append((text, time.perf_counter(), cpu_seconds())))
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        mask, source = read_volume(next(result.folder.glob("*_brainmask.nii.gz")))
        native = sitk.GetArrayFromImage(labels_on_native_grid((mask > 0).astype(np.uint8), source, result.record)) > 0
    reference_path = args.case / "reference-brain-mask-t1c.nii.gz"
    dice = None
    if reference_path.is_file():
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(reference_path))) > 0
        dice = float(2 * (native & ref).sum() / (native.sum() + ref.sum()))
    steps = {}
    for (text, t, c), (_next, t2, c2) in zip(marks, marks[1:]):
        steps[text] = {"wall_s": round(t2 - t, 2), "cpu_s": round(c2 - c, 2)}
    figures = {
        "case": str(args.case),
        "threads": args.threads,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "hd_bet_denormal_weights_zeroed": f"{denormals} of {total_weights}",
        "deepest_conv_ms_as_shipped_vs_zeroed": layer_ms,
        "brain_volume_ml": result.record["brain_mask"]["volume_ml"],
        "brain_mask_dice_vs_reference_on_t1ce_grid": None if dice is None else round(dice, 4),
        "pipeline_timings_s": result.record["timings_s"],
        "steps": steps,
        "warnings": result.warnings,
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
