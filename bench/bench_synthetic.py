"""Speed of the synthetic patient generator: the demo patient the app opens with, and cohort writing.

    python bench/bench_synthetic.py [--repeats 5] [--cohort 2]

Each cold measurement runs in a fresh interpreter (the app pays the first call:
imports done, but no memory pages or caches warmed yet); warm ones repeat the
call in one process. Wall time and process CPU time are both printed: on a shared
machine the wall time includes waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_COLD = """
import json, time
from brats_desktop.core.synthetic import make_demo_patient
w, c = time.perf_counter(), time.process_time()
make_demo_patient()
print(json.dumps([time.perf_counter() - w, time.process_time() - c]))
"""


def _summary(name: str, wall: list[float], cpu: list[float]) -> str:
    return (
        f"{name:38s} median wall {statistics.median(wall) * 1000:7.0f} ms "
        f"(min {min(wall) * 1000:.0f}), median CPU {statistics.median(cpu) * 1000:7.0f} ms, n={len(wall)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cohort", type=int, default=2, help="patients to write for the cohort timing")
    args = parser.parse_args()

    from brats_desktop.core.synthetic import make_demo_patient, make_synthetic_case
    from brats_desktop.core.synthetic_cohort import write_synthetic_cohort

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    wall, cpu = [], []
    for _ in range(args.repeats):
        out = subprocess.run([sys.executable, "-c", _COLD], cwd=ROOT, capture_output=True, text=True, check=True)
        w, c = json.loads(out.stdout.strip().splitlines()[-1])
        wall.append(w)
        cpu.append(c)
    print(_summary("make_demo_patient, cold (240x240x155)", wall, cpu))

    wall, cpu = [], []
    make_demo_patient()
    for _ in range(args.repeats):
        w, c = time.perf_counter(), time.process_time()
        make_demo_patient()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    print(_summary("make_demo_patient, warm", wall, cpu))

    wall, cpu = [], []
    for seed in range(args.repeats):
        w, c = time.perf_counter(), time.process_time()
        make_synthetic_case(100 + seed)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    print(_summary("make_synthetic_case, various seeds", wall, cpu))

    with tempfile.TemporaryDirectory() as tmp:
        w, c = time.perf_counter(), time.process_time()
        write_synthetic_cohort(Path(tmp), args.cohort)
        per = [(time.perf_counter() - w) / args.cohort]
        print(_summary("write_synthetic_cohort, per patient", per, [(time.process_time() - c) / args.cohort]))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
