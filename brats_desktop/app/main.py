"""``brats-desktop [PATIENT_DIR] [--screenshot FILE.png]``: start the viewer.

With no folder the window opens on the built-in synthetic demo patient, so the program
is useful on a fresh machine with nothing downloaded. ``--screenshot`` renders the
window (overlays on, crosshair on the slices with the most tumour) to a PNG and exits;
it works with ``QT_QPA_PLATFORM=offscreen``.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from pathlib import Path

from brats_desktop.app.views import pg_setup  # noqa: F401  (pyqtgraph options before any widget)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="brats-desktop",
        description="View brain-tumour MRI, segment it with the bundled U-Net and correct the labels.",
    )
    parser.add_argument("patient", nargs="?", type=Path, help="patient folder to open (default: demo patient)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE.png",
                        help="render the window to this PNG and exit")
    parser.add_argument("--size", default="1400x900", help="window size for --screenshot (WxH)")
    parser.add_argument("--import", dest="import_dir", type=Path, metavar="DIR",
                        help="import raw scans (DICOM or scanner NIfTI) from DIR: confirm the roles, then they are "
                             "registered, resampled and skull-stripped into a BraTS folder that opens (with "
                             "--screenshot: proposed roles, synchronously, then the QC view)")
    parser.add_argument("--cohort", type=Path, metavar="DIR",
                        help="open a folder of patient folders as a worklist (its first case is shown)")
    parser.add_argument("--cohort-output", type=Path, metavar="DIR",
                        help="with --cohort: where predictions and the review go (default: beside each patient)")
    parser.add_argument("--predict", action="store_true",
                        help="with --screenshot: segment with the bundled model first and show the prediction")
    parser.add_argument("--uncertainty", action="store_true",
                        help="with --screenshot --predict: show the uncertainty map, crosshair in the largest uncertain region")
    parser.add_argument("--rano", action="store_true",
                        help="with --screenshot: show the Measurements dock, crosshair on the largest enhancing "
                             "lesion's RANO slice (the prediction's with --predict)")
    parser.add_argument("--error-map", action="store_true",
                        help="with --screenshot: show the error map of the first two layers (prediction vs "
                             "ground truth) with the crosshair on the largest error region")
    parser.add_argument("--layout", metavar="NAME",
                        help="view layout: 3d (default), large-axial|-coronal|-sagittal, "
                             "grid-axial|-coronal|-sagittal (grid = grid-axial); with --screenshot "
                             "it is not remembered")
    return parser.parse_args(argv)


def load_demo_patient():
    """The synthetic demo patient, or None while the generator is unavailable."""
    try:
        from brats_desktop.core.synthetic import make_demo_patient
    except ImportError:  # pragma: no cover - only while the module is being written
        return None
    return make_demo_patient()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from brats_desktop.app.main_window import MainWindow

    if QApplication.instance() is None:
        from brats_desktop.app.views.volume_view import share_opengl_contexts

        share_opengl_contexts()  # before the QApplication exists, or Qt ignores it
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("BraTS Desktop")
    app.setOrganizationName("BraTS Desktop")
    window = MainWindow()
    if args.layout is not None:
        from brats_desktop.app.views.layouts import layout_key

        try:
            key = layout_key(args.layout)
        except ValueError as exc:
            print(f"brats-desktop: {exc}", file=sys.stderr)
            window.close()
            return 2
        window.layouts.set_layout(key, remember=args.screenshot is None)
    # Everything imported so far (Qt, pyqtgraph, torch) lives until exit. Freezing it
    # keeps the cyclic garbage collector from rescanning it: a full collection took
    # ~150-200 ms, now and then in the middle of a brush stroke (bench/bench_annotation.py).
    gc.freeze()

    if args.screenshot is not None:
        try:
            return _screenshot(app, window, args)
        finally:
            # Every exit path closes the window: a visible leftover would outlive the call
            # (tests call main() in-process) and keep taking events meant for other windows.
            window.close()
            window.deleteLater()
            app.processEvents()

    window.show()
    # Labels autosaved before a crash are offered back first (nothing the user painted is lost); restoring one
    # opens its patient, so the folder given on the command line is then not opened.
    if args.import_dir is not None:
        window.importer.import_scans(args.import_dir)  # the role dialog; the import opens its folder
    elif args.patient is not None:
        if not window.annotation.offer_restore():
            window.open_patient(args.patient)
    elif args.cohort is not None:
        if window.cohort.open_cohort(args.cohort, args.cohort_output) is not None:
            window.cohort.step(1)  # the first case, read in the background
    else:
        window.show_patient(load_demo_patient())
        window.annotation.offer_restore()
    return app.exec()


def _screenshot(app, window, args: argparse.Namespace) -> int:
    """Render ``window`` with the patient (and optionally a prediction) to a PNG; 0 on success."""
    from brats_desktop.core.errors import PatientLoadError
    from brats_desktop.core.patient import load_patient

    if not args.predict:
        # On a busy machine the render can outlast the probe's delay: its torch import would
        # then hold up the exit (the window waits for the probe thread when it closes).
        window.segment.skip_device_probe()

    from brats_desktop.core.focus import tumour_focus

    if args.import_dir is not None:  # raw scans -> BraTS folder first, then the QC view of it
        from brats_desktop.preprocess import INSTALL_HINT, missing_dependencies

        if missing_dependencies():
            print(f"brats-desktop: {INSTALL_HINT}", file=sys.stderr)
            return 2
        from brats_desktop.preprocess.pipeline import ImportFailed

        try:
            result = window.importer.import_now(args.import_dir)
        except (ImportFailed, OSError, ValueError) as exc:
            print(f"brats-desktop: import failed: {exc}", file=sys.stderr)
            return 2
        for warning in result.warnings:
            print(f"brats-desktop: warning: {warning}", file=sys.stderr)
        print(f"imported into {result.folder}")
        args.patient = result.folder
    # Synchronous: a script wants the whole patient or a clear error, nothing in between.
    try:
        patient = load_patient(args.patient) if args.patient else None if args.cohort else load_demo_patient()
    except PatientLoadError as exc:
        print(f"brats-desktop: {exc}", file=sys.stderr)
        return 2
    width, height = (int(v) for v in args.size.lower().split("x"))
    window.resize(width, height)
    window.show()
    window.show_patient(patient)
    if args.cohort is not None and not _show_cohort(window, args):
        return 2
    if args.predict:
        try:
            run = window.segment.predict_now()
        except Exception as exc:  # no model, missing modalities ...: say so, write nothing
            print(f"brats-desktop: cannot segment: {exc}", file=sys.stderr)
            return 2
        focus = tumour_focus(run.labels) if patient.ground_truth is None else None
        if focus is not None:  # no reference to centre on: centre on the prediction
            window.state.set_cursor(focus)
    if args.error_map:
        app.processEvents()  # docks settle first, so the Compare tab raised below stays in front
        window.compare.next_error_action.trigger()  # shows the map, crosshair on the largest error
        print(window.statusBar().currentMessage())
    if args.uncertainty:
        print(window.uncertainty.show_for_screenshot())
    if args.rano:
        print(window.measure.show_for_screenshot())
    window.layouts.volume_view.build_now()  # the 3-D surfaces, synchronously (no-op without OpenGL)
    for _ in range(5):
        app.processEvents()
    if not window.grab().save(str(args.screenshot)):
        print(f"brats-desktop: could not write {args.screenshot}", file=sys.stderr)
        return 1
    print(f"wrote {args.screenshot}")
    return 0


def _show_cohort(window, args: argparse.Namespace) -> bool:
    """``--cohort`` with ``--screenshot``: the worklist, and its first case on screen (synchronously).

    Problems go to stderr before the window could ask anything: a script never waits on a dialog.
    """
    from brats_desktop.core.cohort import Cohort, CohortError

    try:
        probe = Cohort(args.cohort, args.cohort_output)
    except CohortError as exc:
        print(f"brats-desktop: cannot open the cohort: {exc}", file=sys.stderr)
        return False
    if not probe.output_writable:
        print(f"brats-desktop: {probe.output_dir} is read-only; choose where outputs go with --cohort-output DIR",
              file=sys.stderr)
        return False
    if probe.sidecar_problem:
        print(f"brats-desktop: {probe.sidecar_problem}", file=sys.stderr)
        return False
    cohort = window.cohort.open_cohort(args.cohort, args.cohort_output)
    if cohort is None:  # the error went to the dialog; scripts get it on stderr too
        print(f"brats-desktop: cannot open the cohort {args.cohort}", file=sys.stderr)
        return False
    order = window.cohort.order()
    if args.patient is None and order:
        try:
            window.cohort.open_case_now(order[0])
        except Exception as exc:  # noqa: BLE001 - a broken first case still gives a screenshot of the list
            print(f"brats-desktop: {exc}", file=sys.stderr)
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
