"""The AI Correct tool in the window: click-to-answer time and how long the GUI ever stalls.

Opens ``--case`` in an offscreen main window, segments it (Segment → Run, the app's own
path; with ``--no-segment`` it corrects a new empty annotation layer instead, so the engine
reads the patient itself when A is pressed), presses A and lets the standard robot user
(``core.robot_user``: the deepest point of the largest error against the case's ground
truth) click ``--clicks`` times with real
mouse events on the axial view (right click for background, class keys 1/2/3 otherwise).
A case without a ground truth gets clicks spread over the predicted tumour instead.

Reported: per click the wall time from the mouse release to the answer written in the
layer (what the user waits for; includes the engine's ``refine``, the queued signal and
the undo step), the engine's own seconds, p50/p95 of both, the time from pressing A to
the engine being ready (model load and a warm-up run, in the worker, while the user
aims; without a Segment run also the engine's own probabilities) with the longest GUI gap
meanwhile, and the longest gap between two ticks of a 5 ms GUI timer while a click was being
answered, writing the answer into the layer in the GUI thread included (the window's
responsiveness: the engine runs in the worker thread). Dice WT/TC/ET
before and after the clicks when there is a ground truth.

Usage::

    python bench/bench_ai_correct.py --case ../shared/data/brainles-sample-case --clicks 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import bench_window  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", required=True, help="a patient folder")
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                        help="before pressing A, let the jobs a Segment run starts in the background (the "
                        "uncertainty map) finish and the window idle this long, as a user aiming would")
    parser.add_argument("--no-segment", action="store_true",
                        help="no Segment run: click on a new empty annotation layer (annotating from scratch)")
    args = parser.parse_args()

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest

    from brats_desktop.core.metrics import dice_scores
    from brats_desktop.core.patient import load_patient
    from brats_desktop.core.robot_user import RobotUser

    app, window = bench_window()
    patient = load_patient(args.case)
    window.show_patient(patient)
    app.processEvents()
    if not args.no_segment:
        if not window.segment.run():
            print("segmentation did not start", file=sys.stderr)
            return 1
        while window.segment.running:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()
    if args.settle > 0:  # otherwise the first clicks share the 2 cores with the uncertainty map
        window.app.feature("uncertainty").wait()
        until = time.perf_counter() + args.settle
        while time.perf_counter() < until:
            app.processEvents()
            time.sleep(0.01)
    ai = window.ai_correct
    layer = (window.annotation.editor.new_annotation_layer() if args.no_segment
             else window.state.layer("Prediction"))
    truth = patient.ground_truth
    before = dice_scores(layer.data, truth) if truth is not None else None
    robot = RobotUser(truth, patient.spacing) if truth is not None else None
    tumour = np.argwhere(layer.data > 0)
    view = window.axial_view
    gaps: list[float] = []  # of the click being answered, its answer written in the GUI thread included
    stalls: list[float] = []  # the longest gap of each click
    last_tick = [time.perf_counter()]
    measuring = [True]

    def tick() -> None:
        now = time.perf_counter()
        if measuring[0]:
            gaps.append(now - last_tick[0])
        last_tick[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    QTest.keyClick(window, Qt.Key.Key_A)  # makes and warms up the engine while the user aims
    start = time.perf_counter()
    while ai.running:
        app.processEvents()
    preload = time.perf_counter() - start
    preload_gap = max(gaps, default=0.0)
    measuring[0] = False

    walls: list[float] = []
    engine: list[float] = []
    for i in range(args.clicks):
        if robot is not None:
            chosen = robot.click(layer.data)
            if chosen is None:
                break
            voxel, label = chosen.voxel, chosen.label
        else:
            voxel, label = tuple(int(c) for c in tumour[(i * 7919) % len(tumour)]), 1 + i % 3
        window.state.set_cursor(voxel)
        app.processEvents()
        at = view.widget_pos_of(voxel).toPoint()
        if label:
            QTest.keyClick(window, str(label))
            button = Qt.MouseButton.LeftButton
        else:
            button = Qt.MouseButton.RightButton
        gaps.clear()
        measuring[0] = True
        start = time.perf_counter()
        QTest.mouseClick(view.viewport(), button, Qt.KeyboardModifier.NoModifier, at)
        while ai.running:
            app.processEvents()
        walls.append(time.perf_counter() - start)
        settle = time.perf_counter() + 0.02  # the timer's next tick shows how long the answer's handling held the GUI
        while time.perf_counter() < settle:
            app.processEvents()
        measuring[0] = False
        engine.append(float(ai.last_seconds or 0.0))
        stalls.append(max(gaps, default=0.0))
    timer.stop()
    ai.shutdown()

    report = {
        "case": Path(args.case).name,
        "clicks": len(walls),
        "device": ai.worker.device,
        "model_load_s": round(ai.worker.load_seconds or 0.0, 3),
        "a_pressed_to_ready_s": round(preload, 3),
        "longest_gui_gap_while_getting_ready_s": round(preload_gap, 3),
        "segment_run": not args.no_segment,
        "click_to_labels_s": [round(w, 3) for w in walls],
        "engine_s": [round(e, 3) for e in engine],
        "click_to_labels_p50_p95_s": [round(percentile(walls, 50), 3), round(percentile(walls, 95), 3)],
        "engine_p50_p95_s": [round(percentile(engine, 50), 3), round(percentile(engine, 95), 3)],
        "longest_gui_gap_per_click_s": [round(g, 3) for g in stalls],
        "longest_gui_gap_s": round(max(stalls, default=0.0), 3),
    }
    if before is not None:
        after = dice_scores(layer.data, truth)
        report["dice_before"] = {k: round(before[k], 4) for k in ("WT", "TC", "ET")}
        report["dice_after"] = {k: round(after[k], 4) for k in ("WT", "TC", "ET")}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
