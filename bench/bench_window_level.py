"""Window/level speed: each preset on a real case, and one Ctrl+drag mouse move with its repaint.

Usage (offscreen works; the figures in the README come from this command):

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_window_level.py \
        [--folder ../shared/data/brats2013-train/BraTS13_pat0003] [--repeats 5] [--moves 200]

* preset: ``window.window_level.apply_preset(name)`` (percentiles on the 240x240x155
  volume, the ground truth + a prediction as tumour mask) until the three views have
  repainted. It runs on the GUI thread on a click, so the target is one that does not
  feel like a stall: <= 100 ms.
* drag move: a real Ctrl+left-button move event on the axial viewport (new window,
  three views re-levelled), then the repaint of the three views. Target <= 16 ms (60 Hz).
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
    parser.add_argument("--folder", type=Path,
                        default=ROOT.parent / "shared" / "data" / "brats2013-train" / "BraTS13_pat0003")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"no such folder: {args.folder}", file=sys.stderr)
        return 2

    import numpy as np
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from _common import add_shifted_prediction, bench_window, repaint_views
    from brats_desktop.app.views.window_presets import PRESETS
    from brats_desktop.core.patient import load_patient

    app, window = bench_window()
    patient = load_patient(args.folder)
    window.show_patient(patient)
    state = window.state
    add_shifted_prediction(window)
    app.processEvents()

    def repaint() -> None:
        repaint_views(window)

    preset_ms: dict[str, list[float]] = {name: [] for name in PRESETS}
    for _ in range(args.repeats):
        for name in PRESETS:
            state.set_window(state.modality, 0.0, 1.0)  # so every preset changes the window
            repaint()
            t0 = time.perf_counter()
            window.window_level.apply_preset(name)
            repaint()
            preset_ms[name].append((time.perf_counter() - t0) * 1000)

    view = window.axial_view
    vp = view.viewport()
    ctrl = Qt.KeyboardModifier.ControlModifier
    centre = vp.rect().center()
    window.window_level.apply_preset("auto")
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, ctrl, centre)
    moves = []
    for i in range(args.moves):
        offset = QPoint(int(80 * np.sin(i / 10.0)), int(60 * np.cos(i / 13.0)))
        t0 = time.perf_counter()
        QTest.mouseMove(vp, centre + offset)
        repaint()
        moves.append((time.perf_counter() - t0) * 1000)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, ctrl, centre)
    window.close()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"folder: {args.folder}  shape {patient.shape}  modality {state.modality}  label layers: "
          f"{len(state.layers)}  cpus: {os.cpu_count()}  load average (1 min): {load:.2f}")
    print(f"{'measure':<40}{'median':>10}{'max':>10}{'target':>10}")
    for name, values in preset_ms.items():
        print(f"{'preset ' + name + ' + repaint (ms)':<40}{statistics.median(values):>10.1f}"
              f"{max(values):>10.1f}{'<= 100':>10}")
    print(f"{'Ctrl+drag move + repaint (ms)':<40}{statistics.median(moves):>10.2f}{max(moves):>10.2f}{'<= 16':>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
