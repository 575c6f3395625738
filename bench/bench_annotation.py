"""Time one brush stroke per mouse-move event in the real main window (target: <= 16 ms,
one frame at 60 Hz, so the brush never lags the mouse).

A 240x240x155 patient (the BraTS grid) is built in memory, the window is shown
(offscreen works: ``QT_QPA_PLATFORM=offscreen``), an empty annotation layer is
edited, and left-button drags are sent to each view's viewport as real
``QMouseEvent``s, one voxel apart, across the whole slice. For each move we time

* ``event``: delivering the event (voxel lookup, painting into the array, the
  history record, ``labels_changed`` and the overlay ``setImage`` of every view that
  shows the changed voxels), and
* ``event+paint``: the same plus ``processEvents()``, in which Qt repaints the
  views (pyqtgraph turns the overlay slice into a QImage here).

Release (closing the undo step, the panel's Dice and volume readout) is timed
apart: it happens once per stroke, not per move.

Usage::

    QT_QPA_PLATFORM=offscreen python bench/bench_annotation.py [--radius 5] [--strokes 4]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402,F401  (imported by the window's segment controller; keep its threads small)

torch.set_num_threads(1)

from brats_desktop.app.views import pg_setup  # noqa: E402,F401
from PySide6.QtCore import QEvent, QPointF, QSettings, QStandardPaths, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SHAPE = (240, 240, 155)


def make_patient():
    from brats_desktop.core.patient import patient_from_arrays

    rng = np.random.default_rng(0)
    flair = rng.random(SHAPE, dtype=np.float32)
    gt = np.zeros(SHAPE, np.uint8)
    gt[80:160, 90:170, 50:110] = 2
    gt[100:140, 110:150, 65:95] = 3
    gt[112:128, 122:138, 72:88] = 1
    return patient_from_arrays("bench", {"flair": flair}, gt)


def history_memory(strokes: int = 100) -> tuple[int, int]:
    """Bytes held by the history after ``strokes`` strokes (as counted, and as traced).

    Every tenth stroke fills a whole axial slice; the others drag a radius-20 brush
    across a slice: far larger than usual strokes, to show the bound.
    """
    import tracemalloc

    from brats_desktop.core.editing import flood_fill, paint_dab
    from brats_desktop.core.history import EditHistory

    labels = np.zeros(SHAPE, np.uint8)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    history = EditHistory(labels)
    for i in range(strokes):
        z = i % SHAPE[2]
        with history.group():
            if i % 10 == 0:
                flood_fill(labels, "axial", (0, 0, z), 1 + i % 3, history=history)
            else:
                for x in range(0, SHAPE[0], 4):
                    paint_dab(labels, "axial", (x, 120, z), 20, 1 + i % 3, history=history)
    traced = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return history.nbytes, traced


def send(view, kind: QEvent.Type, voxel, button: Qt.MouseButton) -> None:
    local = QPointF(view.widget_pos_of(voxel))
    buttons = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, local, view.viewport().mapToGlobal(local), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radius", type=int, default=5, help="brush radius in voxels")
    parser.add_argument("--strokes", type=int, default=4, help="strokes per view")
    args = parser.parse_args()

    QStandardPaths.setTestModeEnabled(True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from brats_desktop.app.main_window import MainWindow

    tmp = tempfile.TemporaryDirectory()
    window = MainWindow(settings=QSettings(str(Path(tmp.name) / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1400, 900)
    window.show()
    window.show_patient(make_patient())
    app.processEvents()
    gc.freeze()  # as brats-desktop's main() does after start-up (no full GC pauses mid-stroke)
    editor = window.annotation.editor
    editor.new_annotation_layer()
    editor.set_label(2)
    editor.set_radius(args.radius)
    app.processEvents()

    results: dict[str, dict[str, list[float]]] = {}
    releases: list[float] = []
    for view in window.views:
        event_ms: list[float] = []
        paint_ms: list[float] = []
        axis = view.plane.axis
        col, row = view.plane.col_axis, view.plane.row_axis
        for s in range(args.strokes):
            cursor = list(window.state.cursor)
            cursor[axis] = SHAPE[axis] // 2 - args.strokes + 2 * s
            window.state.set_cursor(tuple(cursor))
            app.processEvents()
            voxel = list(cursor)
            voxel[row] = 30 + (SHAPE[row] - 60) * s // max(1, args.strokes - 1)
            voxel[col] = 10
            send(view, QEvent.Type.MouseButtonPress, tuple(voxel), Qt.MouseButton.LeftButton)
            app.processEvents()
            for c in range(11, SHAPE[col] - 10):
                voxel[col] = c
                t0 = time.perf_counter()
                send(view, QEvent.Type.MouseMove, tuple(voxel), Qt.MouseButton.NoButton)
                t1 = time.perf_counter()
                app.processEvents()
                t2 = time.perf_counter()
                event_ms.append((t1 - t0) * 1e3)
                paint_ms.append((t2 - t0) * 1e3)
            t0 = time.perf_counter()
            send(view, QEvent.Type.MouseButtonRelease, tuple(voxel), Qt.MouseButton.LeftButton)
            app.processEvents()
            releases.append((time.perf_counter() - t0) * 1e3)
        results[view.plane.name] = {"event": event_ms, "event+paint": paint_ms}

    layer = editor.layer
    print(f"brush radius {args.radius} voxels, grid {SHAPE}, {args.strokes} strokes per view, "
          f"undo steps {editor.history().undo_depth}, history {editor.history().nbytes / 1e6:.2f} MB, "
          f"painted voxels {int(np.count_nonzero(layer.data))}")
    print(f"{'view':<10}{'timing':<13}{'moves':>6}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
    for name, timings in results.items():
        for key, values in timings.items():
            print(f"{name:<10}{key:<13}{len(values):>6}{statistics.median(values):>11.2f}"
                  f"{percentile(values, 95):>9.2f}{max(values):>9.2f}")
    print(f"release (commit + readout), {len(releases)} strokes: median {statistics.median(releases):.1f} ms, "
          f"max {max(releases):.1f} ms")
    held, traced = history_memory()
    print(f"history of 100 large strokes on {SHAPE}: {held / 1e6:.2f} MB held "
          f"({traced / 1e6:.2f} MB traced allocations); one full copy per stroke would be "
          f"{100 * np.prod(SHAPE) / 1e6:.0f} MB")
    window.state.set_patient(None)
    window.close()
    window.deleteLater()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
