"""Cohort review speed: next-case latency with and without prefetch, Segment All throughput.

* ``latency``: the real main window (offscreen works) with the cohort open in the
  Worklist. *Cold*: a case that is not in memory is asked for (double-click / N without
  prefetch) and the clock stops when it is on screen (``CohortController.case_shown``,
  views repainted). *Prefetched*: the next case was read in the background while the
  previous one was shown; N is pressed and the clock stops the same way. Median of
  ``--cases`` steps each.
* ``throughput``: :func:`brats_desktop.cohort_predict.segment_cases` (the path of
  Segment All and ``brats-predict COHORT``) with the bundled model on ``--segment``
  cases, CPU, DataLoader workers ``--workers``; predictions go to a temporary folder.

The cohort is ``--cohort`` or ``../shared/data/brats2018-train`` when present, else a
synthetic 240x240x155 cohort written to a temporary folder. Nothing is written into the
cohort itself.

Usage::

    python bench/bench_cohort.py                       # both measurements, CPU
    python bench/bench_cohort.py --only latency --cases 5
    python bench/bench_cohort.py --only throughput --segment 4 --workers 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_COHORT = ROOT.parent / "shared" / "data" / "brats2018-train"


def _cohort(args: argparse.Namespace, tmp: Path) -> Path:
    if args.cohort is not None:
        return args.cohort
    if DEFAULT_COHORT.is_dir():
        return DEFAULT_COHORT
    from brats_desktop.core.synthetic_cohort import write_synthetic_cohort

    root = tmp / "synthetic-cohort"
    write_synthetic_cohort(root, max(args.cases + 2, args.segment))
    return root


def latency(root: Path, out: Path, cases: int) -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from brats_desktop.app.views import pg_setup  # noqa: F401
    from brats_desktop.app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(out / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1400, 900)
    window.show()
    controller = window.cohort
    controller.open_cohort(root, out)

    def wait_shown(key: str) -> float:
        start = controller._asked_at or time.perf_counter()
        while controller.current_key != key:
            app.processEvents()
            time.sleep(0.001)
        app.processEvents()  # the repaint the user sees
        return time.perf_counter() - start

    order = controller.order()
    cold, warm = [], []
    # Cold: nothing prefetched (the reader queue emptied, cache cleared before each ask).
    for key in order[:cases]:
        controller.prefetcher.wait()
        controller.prefetcher.clear()
        controller._asked_at = time.perf_counter()
        controller.open_case(key)
        cold.append(wait_shown(key))
    # Prefetched: wait until the next case is in memory (the reviewer is looking at this one), then N.
    for _ in range(cases):
        nxt = controller._neighbour(1)
        if nxt is None:
            break
        while not controller.prefetcher.has(nxt):
            app.processEvents()
            time.sleep(0.005)
        controller._asked_at = time.perf_counter()
        controller.step(1)
        warm.append(wait_shown(nxt))
    controller.shutdown()
    window.segment.shutdown()
    window.state.set_patient(None)
    window.close()
    return {"cold_median_s": statistics.median(cold), "cold_max_s": max(cold),
            "prefetched_median_s": statistics.median(warm), "prefetched_max_s": max(warm), "n": len(warm)}


def throughput(root: Path, out: Path, n: int, workers: int) -> dict[str, float]:
    import torch

    from brats_desktop.cohort_predict import jobs_for, segment_cases
    from brats_desktop.core.cohort import Cohort
    from models.runtime import best_bundled_model

    cohort = Cohort(root, out)
    jobs = jobs_for(cohort)[:n]
    cache: dict = {}
    model_for = lambda patient: best_bundled_model(patient, cache)  # noqa: E731
    model_for(None)  # model loading is not per-case work
    start = time.perf_counter()
    results = segment_cases(jobs, model_for, device="cpu", num_workers=workers)
    seconds = time.perf_counter() - start
    ok = [r for r in results if "error" not in r]
    return {"cases": len(ok), "seconds": seconds, "cases_per_minute": 60 * len(ok) / seconds,
            "threads": torch.get_num_threads(), "workers": workers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, help="a folder of patient folders (default: brats2018-train)")
    parser.add_argument("--only", choices=("latency", "throughput"))
    parser.add_argument("--cases", type=int, default=4, help="steps timed for each latency figure")
    parser.add_argument("--segment", type=int, default=3, help="cases segmented for the throughput")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers decoding NIfTI")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = _cohort(args, tmp)
        print(f"cohort: {root} ({os.cpu_count()} CPUs)")
        if args.only in (None, "latency"):
            out = tmp / "latency-out"
            out.mkdir()
            r = latency(root, out, args.cases)
            print(f"next case, not prefetched (cold open): median {r['cold_median_s']:.3f} s, "
                  f"max {r['cold_max_s']:.3f} s")
            print(f"next case, prefetched (N):             median {r['prefetched_median_s']:.3f} s, "
                  f"max {r['prefetched_max_s']:.3f} s  ({r['n']} steps)")
        if args.only in (None, "throughput"):
            out = tmp / "segment-out"
            out.mkdir()
            r = throughput(root, out, args.segment, args.workers)
            print(f"segment all: {r['cases']} cases in {r['seconds']:.1f} s = {r['cases_per_minute']:.2f} cases/min "
                  f"(CPU, {r['threads']} torch threads, {r['workers']} DataLoader worker(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
