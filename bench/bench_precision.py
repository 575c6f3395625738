"""bfloat16 against float32 on real cases: do the labels and the Dice stay, and what is the gain?

    python bench/bench_precision.py [--cases N] [--threads 2]

For ``brainles-sample-case``, ``BraTS-GLI-00001-000`` and the first ``--cases`` patients of
``brats2018-train`` (from ../shared/data), the bundled model segments each case twice through
:func:`models.runtime.predict_patient` (the app's path, post-processing included): once in
float32 (``BRATS_CPU_BF16=0``) and once with bfloat16 autocast (``BRATS_CPU_BF16=1``). It
prints the share of voxels whose label agrees, the Dice of the bfloat16 labels against the
float32 ones, the Dice of both against the reference where there is one, and the wall time of
each. On a CPU without native bfloat16 the second run is emulated and slower: the detection
(:func:`models.runtime.cpu_has_native_bf16`) would keep such a CPU on float32.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see training/__init__.py

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=4, help="BraTS 2018 patients besides the two measurement cases")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if not DATA.is_dir():
        print(f"bench_precision: {DATA} not found", file=sys.stderr)
        return 2

    import numpy as np
    import torch

    from brats_desktop.core.metrics import compare
    from brats_desktop.core.patient import load_patient
    from models import runtime
    from models.checkpoint import default_model_path, load_model

    torch.set_num_threads(args.threads)
    model = load_model(default_model_path())
    folders = [DATA / "brainles-sample-case", DATA / "BraTS-GLI-00001-000"]
    folders += sorted(p for p in (DATA / "brats2018-train").iterdir() if p.is_dir())[: args.cases]
    print(f"# native bfloat16 on this CPU: {runtime.cpu_has_native_bf16()}; load {os.getloadavg()[0]:.2f}")

    def segment(patient, flag: str) -> tuple[np.ndarray, float]:
        os.environ["BRATS_CPU_BF16"] = flag
        runtime.cpu_has_native_bf16.cache_clear()
        t0 = time.perf_counter()
        labels = runtime.predict_patient(model, patient, device="cpu").labels
        return labels, time.perf_counter() - t0

    segment(load_patient(folders[0]), "0")  # warm-up
    for folder in folders:
        patient = load_patient(folder)
        a, ta = segment(patient, "0")
        b, tb = segment(patient, "1")
        agree = compare(b, a)
        line = (f"{folder.name}: float32 {ta:.2f} s, bfloat16 {tb:.2f} s; labels agree on {np.mean(a == b) * 100:.3f} %; "
                "bfloat16 vs float32 Dice " + " ".join(f"{k} {agree[k].dice:.4f}" for k in ("WT", "TC", "ET")))
        if patient.ground_truth is not None:
            ca, cb = compare(a, patient.ground_truth), compare(b, patient.ground_truth)
            line += "; vs reference float32 " + " ".join(f"{k} {ca[k].dice:.3f}" for k in ("WT", "TC", "ET"))
            line += " / bfloat16 " + " ".join(f"{k} {cb[k].dice:.3f}" for k in ("WT", "TC", "ET"))
        print(line, flush=True)
    print(f"# load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
