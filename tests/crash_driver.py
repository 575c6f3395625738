"""The app-side operations of the fault-injection runs, one per sub-command, run as a subprocess.

``python tests/crash_driver.py OPERATION ...`` does what a user would do through the
real window objects (offscreen): Segment All, paint and autosave then Save, change
statuses and comments in the worklist, export the review summary, import raw scans
through ``brats-predict --preprocess``, and the next start (``restart``) through the
app's own ``main()``. After each step the user would see as done it reaches a crash
point named ``ack …``: what the run acknowledged before a kill, which the checks in
``crash_operations.py`` hold it to. Dialogs are answered by a recorder (yes to
"Restore?"), never shown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)

from brats_desktop.core.crashpoints import crash_point  # noqa: E402
from crash_operations import REVIEW_STATUSES, STROKE_LABEL, stroke_voxel  # noqa: E402


class RecordingDialogs:
    """Answers every question yes (Restore, Replace) and records it; errors are recorded too."""

    questions: list[str] = []
    errors: list[str] = []

    @classmethod
    def install(cls) -> None:
        from brats_desktop.app import dialogs

        def confirm(self, parent, title, text, **options):
            cls.questions.append(f"{title}: {text}")
            return True

        def error(self, parent, title, text):
            cls.errors.append(f"{title}: {text}")

        def unsaved_changes(self, parent, text):
            cls.questions.append(f"Unsaved changes: {text}")
            return "discard"

        dialogs.Dialogs.confirm = confirm
        dialogs.Dialogs.error = error
        dialogs.Dialogs.unsaved_changes = unsaved_changes


def make_app():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("BraTS Desktop")  # the app's own names: the recovery folder is the real one
    app.setOrganizationName("BraTS Desktop")
    return app


def make_window():
    from brats_desktop.app.main_window import MainWindow

    RecordingDialogs.install()
    make_app()
    window = MainWindow()
    window.resize(1200, 800)
    return window


def wait_until(condition, timeout_s: float = 60.0) -> bool:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.01)
    return True


def done(payload: dict) -> None:
    """Print the result and leave at once (no teardown: the checks are about what is on disk)."""
    print(json.dumps(payload), flush=True)
    os._exit(0)


# --------------------------------------------------------------------------- operations


def segment_all(args: argparse.Namespace) -> None:
    window = make_window()
    window.segment.load_model(args.model)
    window.cohort.open_cohort(args.root)
    ended: list[str] = []
    window.cohort.segment_all_ended.connect(ended.append)
    if not window.cohort.segment_all():
        done({"ended": "nothing to do"})
    wait_until(lambda: bool(ended), 120)
    done({"ended": ended[0] if ended else "timeout", "errors": RecordingDialogs.errors})


def edit(args: argparse.Namespace) -> None:
    """Paint ``--strokes`` strokes, autosaving after each (acknowledged), then Save (acknowledged)."""
    from brats_desktop.core.patient import load_patient

    window = make_window()
    if args.cohort is not None:
        window.cohort.open_cohort(args.cohort)
        window.cohort.open_case_now(args.folder.name)
    else:
        window.show_patient(load_patient(args.folder))
    editor = window.annotation.editor
    layer = editor.new_annotation_layer()
    editor.set_label(STROKE_LABEL)
    editor.set_radius(0)
    for i in range(args.strokes):
        editor.begin_stroke("axial", stroke_voxel(i))
        editor.end_stroke()
        written = window.annotation.autosave.flush(wait=True)
        if written is None:
            done({"error": f"autosave {i} wrote nothing", "errors": RecordingDialogs.errors})
        crash_point(f"ack autosave {i + 1}")
    if args.save is not None:
        window.annotation.saver.remember(layer, args.save)
        if not window.annotation.saver.save(layer):
            done({"error": "save failed", "errors": RecordingDialogs.errors})
        crash_point("ack save")
    done({"strokes": args.strokes, "errors": RecordingDialogs.errors})


def restart(args: argparse.Namespace) -> None:
    """The next start, through ``brats_desktop.app.main.main`` as ``brats-desktop [FOLDER | --cohort ROOT]``.

    Reports what was asked (a restore offer is a question), and the labels at the stroke
    voxels of every layer once the patient (or the worklist's first case) is shown.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from brats_desktop.app.main import main

    RecordingDialogs.install()
    app = make_app()
    report: dict = {}

    def windows():
        from brats_desktop.app.main_window import MainWindow

        return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]

    def ready() -> bool:
        found = windows()
        if not found:
            return False
        win = found[0]
        if win.state.patient is None or win.state.loading:
            return False
        return args.cohort is None or win.cohort.current_key is not None

    started = time.monotonic()

    def poll() -> None:
        if not ready() and time.monotonic() - started < 60:
            QTimer.singleShot(50, poll)
            return
        QTimer.singleShot(300, report_and_quit)  # what the open queued (the restore offer) runs first

    def report_and_quit() -> None:
        found = windows()
        layers = {}
        if found and found[0].state.patient is not None:
            for layer in found[0].state.layers:
                layers[layer.name] = [int(layer.data[stroke_voxel(i)]) for i in range(args.strokes)]
        report.update({"questions": RecordingDialogs.questions, "errors": RecordingDialogs.errors,
                       "layers": layers, "ready": ready()})
        app.quit()

    QTimer.singleShot(0, poll)
    main([str(args.folder)] if args.cohort is None else ["--cohort", str(args.cohort)])
    done(report)


def review(args: argparse.Namespace) -> None:
    """Change statuses and comments through the worklist; each saved change is acknowledged."""
    window = make_window()
    cohort = window.cohort.open_cohort(args.root)
    keys = [c.key for c in cohort.cases if c.ok]
    for i in range(args.changes):
        key = keys[i % len(keys)]
        if window.cohort.current_key != key:
            window.cohort.open_case_now(key)
        if i % 2 == 0:
            window.cohort.set_status(REVIEW_STATUSES[(i // 2) % len(REVIEW_STATUSES)])
        else:
            window.cohort.set_comment(f"comment {i}")
        crash_point(f"ack review {i + 1}")
    done({"changes": args.changes, "errors": RecordingDialogs.errors})


def export(args: argparse.Namespace) -> None:
    """File → Export Review Summary… over the same file, ``--times`` times with a new comment each time."""
    window = make_window()
    cohort = window.cohort.open_cohort(args.root)
    first = next(c for c in cohort.cases if c.ok)
    for i in range(args.times):
        cohort.set_status(first, comment=f"export {i + 1}")
        if window.cohort.export_summary(args.out) is None:
            done({"error": "export failed", "errors": RecordingDialogs.errors})
        crash_point(f"ack export {i + 1}")
    done({"times": args.times, "errors": RecordingDialogs.errors})


def import_raw(args: argparse.Namespace) -> None:
    """``brats-predict RAW --preprocess`` with the test brain extractor instead of HD-BET (minutes, weights)."""
    from brats_desktop.cli import predict
    from brats_desktop.preprocess import skullstrip
    from import_support import brain_mask_extractor

    def extractor(volume, spacing, should_stop=None):  # HD-BET's signature
        return brain_mask_extractor(volume, spacing)

    skullstrip.hd_bet_mask = extractor
    code = predict.main([str(args.raw), "--preprocess", "--import-out", str(args.out), "--model", str(args.model),
                         "--device", "cpu"])
    sys.stdout.flush()
    os._exit(code)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="op", required=True)
    s = sub.add_parser("segment-all")
    s.add_argument("root", type=Path)
    s.add_argument("model", type=Path)
    s = sub.add_parser("edit")
    s.add_argument("folder", type=Path)
    s.add_argument("--cohort", type=Path)
    s.add_argument("--strokes", type=int, default=3)
    s.add_argument("--save", type=Path)
    s = sub.add_parser("restart")
    s.add_argument("folder", type=Path)
    s.add_argument("--cohort", type=Path)
    s.add_argument("--strokes", type=int, default=3)
    s = sub.add_parser("review")
    s.add_argument("root", type=Path)
    s.add_argument("--changes", type=int, default=6)
    s = sub.add_parser("export")
    s.add_argument("root", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--times", type=int, default=2)
    s = sub.add_parser("import")
    s.add_argument("raw", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("model", type=Path)
    args = p.parse_args()
    {"segment-all": segment_all, "edit": edit, "restart": restart, "review": review, "export": export,
     "import": import_raw}[args.op](args)


if __name__ == "__main__":
    main()
