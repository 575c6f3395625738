"""Viewer speed: time to the first image of a BraTS case, and slice re-render time.

Usage (offscreen works; the figures in the README come from this command):

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_viewer.py \
        [--folder ../shared/data/brainles-sample-case] [--opens 5] [--moves 200]

* first image: from ``MainWindow.open_patient`` (background loader) until the first
  volume is drawn (``first_image_shown`` plus the paint that follows), and until all
  volumes are in (``patient_loaded``). Targets: first image <= 1.0 s.
* slice move: ``state.set_cursor`` to a new (x, y, z) so all three views re-slice the
  image and every overlay, then the repaint. With the ground truth and a second
  "Prediction" layer, as in the app after inference. Target: median <= 15 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brats_desktop.app.views import pg_setup  # noqa: E402,F401


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "data" / "brainles-sample-case")
    parser.add_argument("--opens", type=int, default=5)
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"no such folder: {args.folder}", file=sys.stderr)
        return 2

    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer

    from _common import add_shifted_prediction, bench_window, repaint_views

    app, window = bench_window()
    app.processEvents()

    def wait_for(signal, timeout_s: float = 60.0) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    firsts, fulls = [], []
    for _ in range(args.opens):
        window.show_patient(None)
        app.processEvents()
        marks: dict[str, float] = {}
        window.first_image_shown.connect(lambda: marks.setdefault("first", time.perf_counter()))
        t0 = time.perf_counter()
        window.open_patient(args.folder)
        wait_for(window.first_image_shown)
        app.processEvents()  # the paint of that first image
        firsts.append(time.perf_counter() - t0)
        if window.state.loading:
            wait_for(window.patient_loaded)
        fulls.append(time.perf_counter() - t0)
        window.first_image_shown.disconnect()
    state = window.state
    assert state.patient is not None and not state.loading, "load did not finish"

    add_shifted_prediction(window)
    n_layers = len(state.layers)
    shape = state.patient.shape
    rng = np.random.default_rng(0)
    app.processEvents()
    times, cpu = [], []
    for _ in range(args.moves):
        c = state.cursor
        target = tuple(int((c[i] + rng.integers(1, 20)) % shape[i]) for i in range(3))
        t0, c0 = time.perf_counter(), time.process_time()
        state.set_cursor(target)
        repaint_views(window)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    window.close()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"folder: {args.folder}  shape {shape}  label layers: {n_layers}  "
          f"cpus: {os.cpu_count()}  load average (1 min): {load:.2f}")
    print(f"{'measure':<38}{'median':>10}{'max':>10}{'target':>10}")
    print(f"{'open: first image shown (s)':<38}{statistics.median(firsts):>10.3f}{max(firsts):>10.3f}{'<= 1.0':>10}")
    print(f"{'open: all volumes loaded (s)':<38}{statistics.median(fulls):>10.3f}{max(fulls):>10.3f}{'':>10}")
    print(f"{'slice move, 3 views + overlays (ms)':<38}{statistics.median(times):>10.2f}"
          f"{max(times):>10.2f}{'<= 15':>10}")
    print(f"{'slice move, CPU time of this process (ms)':<38}{statistics.median(cpu):>10.2f}{max(cpu):>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
