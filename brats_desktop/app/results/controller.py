"""``window.results``: File → Export → DICOM Segmentation… and File → Export Report….

The Qt side of the results that go back to the clinic; the work is the Qt-free
``dicom_export`` (SEG + TID 1500 SR on the source series) and ``report`` (the one-page
PDF) that ``brats-predict`` shares. The DICOM entry is disabled for a patient without a
source DICOM series, and its tooltip and status tip say why (a NIfTI-only patient has no
instances a SEG could reference); the report works for every patient.

Who made the layer is decided here (``provenance_of``): an annotation or a ground truth
is MANUAL; a prediction equal to the last AI run is AUTOMATIC, one that differs from it
(or was edited, or loaded from a ``corrected`` file) is CORRECTED (SEMIAUTOMATIC in DICOM).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.state import ANNOTATION, GROUND_TRUTH, LabelLayer
from brats_desktop.core.naming import kind_slug, output_stem
from brats_desktop.core.nifti_io import unused_path
from brats_desktop.core.provenance import Provenance, algorithm_of
from brats_desktop.dicom_export import INSTALL_HINT, missing_dependencies, source_status
from brats_desktop.preprocess.record import read_record

DICOM_TITLE = "Export DICOM Segmentation"
REPORT_TITLE = "Export Report"


def provenance_of(layer: LabelLayer, ai_labels: np.ndarray | None) -> Provenance:
    """Who made ``layer``: see the module docstring."""
    if layer.kind in (ANNOTATION, GROUND_TRUTH):
        return Provenance.MANUAL
    if ai_labels is not None and ai_labels.shape == layer.data.shape:
        return Provenance.AUTOMATIC if np.array_equal(ai_labels, layer.data) else Provenance.CORRECTED
    name = Path(layer.source_path).name.lower() if layer.source_path else ""
    return Provenance.CORRECTED if layer.modified or "corrected" in name else Provenance.AUTOMATIC


class ResultsController(Feature):
    name = "results"
    dicom_written = Signal(object, object)  # (seg path, sr path), after a background export
    export_failed = Signal(str)
    cohort_reports_written = Signal(object, object, object)  # (report paths, summary path, failures)

    def __init__(self, app: AppContext) -> None:
        super().__init__(app)
        w = self.app.window
        self.record: dict | None = None  # import record of the open patient
        self.busy = False  # a DICOM export is being written
        self._cohort_queue: list[Any] | None = None  # cases still to report on, while a cohort export runs
        self.unavailable = ""  # why the DICOM export is off, for the tooltip/status
        # Beside the other exports, above Quit (the context appends at the end).
        file_menu = self.app.menu("File")
        quit_action = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Quit"), None)
        export_menu = QMenu("E&xport", w)
        export_menu.setToolTipsVisible(True)  # a disabled entry's tooltip says why
        self.dicom_action = QAction("DICOM &Segmentation (SEG + SR)…", w)
        self.dicom_action.triggered.connect(lambda: self.export_dicom())
        export_menu.addAction(self.dicom_action)
        self.cohort_reports_action = QAction("&Reports for All Cases of the Cohort (PDF)…", w)
        self.cohort_reports_action.setStatusTip(
            "One report per case with a prediction (its correction if saved) and review-summary.pdf")
        self.cohort_reports_action.triggered.connect(lambda: self.export_cohort_reports())
        export_menu.addAction(self.cohort_reports_action)
        self.report_action = QAction("Export &Report…", w)
        self.report_action.setStatusTip("A one-page PDF: volumes, RANO, key images (research use, not diagnosis)")
        self.report_action.triggered.connect(lambda: self.export_report())
        file_menu.insertMenu(quit_action, export_menu)
        file_menu.insertAction(quit_action, self.report_action)
        file_menu.insertSeparator(quit_action)
        self.export_menu = export_menu
        self.last_written: list[Path] = []
        state = self.app.state
        state.patient_changed.connect(self._on_patient_changed)
        state.layers_changed.connect(self._update_actions)
        cohort = self.app.feature("cohort")
        if cohort is not None:
            cohort.cohort_opened.connect(self._update_actions)
        self._update_actions()

    # -- state ------------------------------------------------------------------
    def _on_patient_changed(self, patient: Any) -> None:
        self.record = read_record(getattr(patient, "folder", None)) if patient is not None else None
        self._update_actions()

    def _update_actions(self, *_args: object) -> None:
        patient, layers = self.app.state.patient, self.app.state.layers
        ok, why = source_status(self.record)
        if patient is None:
            ok, why = False, "open a patient first"
        elif ok and missing_dependencies():
            ok, why = False, f"{', '.join(missing_dependencies())} not installed (pip install 'brats-desktop[dicom]')"
        elif ok and not layers:
            ok, why = False, "no label layer to export"
        if ok and self.busy:
            ok, why = False, "a DICOM export is being written"
        self.unavailable = "" if ok else why
        tip = ("Segments + TID 1500 measurement report on the original T1CE series, for PACS / OHIF / Slicer"
               if ok else f"Unavailable: {why}")
        self.dicom_action.setEnabled(ok)
        self.dicom_action.setToolTip(tip)
        self.dicom_action.setStatusTip(tip)
        self.report_action.setEnabled(patient is not None and bool(layers))
        cohort = getattr(self.app.feature("cohort"), "cohort", None)
        self.cohort_reports_action.setEnabled(cohort is not None and self._cohort_queue is None)

    def _choose_layer(self, title: str, name: str | None) -> LabelLayer | None:
        layers = self.app.state.layers
        if name is None:
            preferred = [layer for layer in layers if layer.kind != GROUND_TRUTH] or layers
            name = preferred[0].name if len(layers) == 1 else self.app.dialogs.choose(
                self.app.window, title, "Layer:", [layer.name for layer in preferred])
        return self.app.state.layer(name) if name else None

    def _ai_labels(self) -> np.ndarray | None:
        segment = self.app.feature("segment")
        run = getattr(segment, "last_run", None) if segment is not None else None
        return getattr(run, "labels", None)

    def _model(self) -> Any:
        segment = self.app.feature("segment")
        try:
            return segment.model if segment is not None else None
        except Exception:  # noqa: BLE001 - no bundled model: the export names none
            return None

    def _ncr_definition(self) -> str | None:
        """Meaning of label 1: the last run's, else what the patient's names and labels imply (as brats-predict)."""
        run = getattr(self.app.feature("segment"), "last_run", None)
        if getattr(run, "ncr_definition", None):
            return run.ncr_definition
        from brats_desktop.core.label_meaning import AUTO, resolve_ncr_definition

        return resolve_ncr_definition(AUTO, self.app.state.patient)[0] or "brats2013"

    def _stem(self, layer: LabelLayer) -> tuple[Path, str]:
        patient = self.app.state.patient
        return Path(patient.folder or Path.home()), output_stem(patient.name, patient.files, patient.convention,
                                                                kind_slug(layer.name))

    # -- DICOM ------------------------------------------------------------------
    def export_dicom(self, name: str | None = None) -> tuple[Path, Path] | None:
        """Write the chosen layer as SEG + SR beside the patient (the user picks the SEG's name).

        Returns the two targets once the background write started (``dicom_written`` /
        ``export_failed`` tell the end), None when nothing was started.
        """
        w, dialogs = self.app.window, self.app.dialogs
        if self.unavailable:
            dialogs.error(w, DICOM_TITLE, f"DICOM export is unavailable: {self.unavailable}.")
            return None
        if missing_dependencies():
            dialogs.error(w, DICOM_TITLE, INSTALL_HINT)
            return None
        layer = self._choose_layer(DICOM_TITLE, name)
        if layer is None:
            return None
        from brats_desktop.dicom_export.export import SEG_SUFFIX, SR_SUFFIX, dicom_targets

        folder, stem = self._stem(layer)
        seg_path = dialogs.save_file(w, DICOM_TITLE, dicom_targets(folder, stem)[0], "DICOM SEG (*.seg.dcm *.dcm)")
        if seg_path is None:
            return None
        base = seg_path.name[: -len(SEG_SUFFIX)] if seg_path.name.lower().endswith(SEG_SUFFIX) else seg_path.stem
        seg_path, sr_path = seg_path.with_name(base + SEG_SUFFIX), seg_path.with_name(base + SR_SUFFIX)
        existing = [p.name for p in (seg_path, sr_path) if p.exists()]
        if existing and not dialogs.confirm(w, "Replace files?", f"{' and '.join(existing)} already exist. Replace?"):
            return None
        return self._write_dicom(layer, seg_path, sr_path, overwrite=bool(existing))

    def _write_dicom(self, layer: LabelLayer, seg_path: Path, sr_path: Path, overwrite: bool) -> tuple[Path, Path] | None:
        """Build and write in a pool thread (1-2 s for a full series); the window stays usable."""
        from brats_desktop.core.errors import ExportError
        from brats_desktop.dicom_export.export import export_dicom
        from brats_desktop.dicom_export.source import SourceSeriesError

        patient, record = self.app.state.patient, self.record
        provenance = provenance_of(layer, self._ai_labels())
        algorithm = None if provenance is Provenance.MANUAL else algorithm_of(self._model())
        labels, definition = layer.data.copy(), self._ncr_definition()  # later edits do not leak in

        def job() -> Any:
            return export_dicom(labels, patient.grid, record, seg_path, sr_path, provenance, algorithm, definition,
                                overwrite=overwrite)

        def done(result: Any) -> None:
            self._set_busy(False)
            self.last_written = [result.seg_path, result.sr_path]
            self.app.show_message(f"Wrote {result.seg_path.name} and {result.sr_path.name} ({provenance.value}; "
                                  f"{len(result.segments)} segment(s) on the {result.source})", 10000)
            self.dicom_written.emit(result.seg_path, result.sr_path)

        def failed(exc: Exception) -> None:
            self._set_busy(False)
            known = isinstance(exc, (SourceSeriesError, ExportError, ValueError, OSError))
            text = str(exc) if known else f"{type(exc).__name__}: {exc}"
            self.app.dialogs.error(self.app.window, "DICOM export failed", text)
            self.app.show_message("DICOM export failed; nothing was written", 8000)
            self.export_failed.emit(text)

        self._set_busy(True)
        self.app.show_message(f"Writing DICOM SEG and SR of {layer.name}…")
        self.app.workers.submit(job, done, failed)
        return seg_path, sr_path

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_actions()

    # -- report -----------------------------------------------------------------
    def export_report(self, name: str | None = None) -> Path | None:
        """Write the one-page PDF of the chosen layer (any patient)."""
        w, dialogs, patient = self.app.window, self.app.dialogs, self.app.state.patient
        if patient is None or not self.app.state.layers:
            dialogs.error(w, REPORT_TITLE, "There is no label layer to report on.")
            return None
        layer = self._choose_layer(REPORT_TITLE, name)
        if layer is None:
            return None
        folder, _ = self._stem(layer)
        stem = output_stem(patient.name, patient.files, patient.convention, "report")
        target = dialogs.save_file(w, REPORT_TITLE, unused_path(folder, stem, ".pdf"), "PDF (*.pdf)")
        if target is None:
            return None
        if target.exists() and not dialogs.confirm(w, "Replace file?", f"{target.name} already exists. Replace it?"):
            return None
        from brats_desktop.core.errors import ExportError
        from brats_desktop.report.pdf import write_report

        try:
            written = write_report(self._report_data(layer), target)
        except (ExportError, OSError, ValueError) as exc:
            dialogs.error(w, "Report failed", str(exc))
            return None
        self.last_written = [written]
        self.app.show_message(f"Wrote {written.name}", 10000)
        return written

    def _report_data(self, layer: LabelLayer) -> Any:
        from brats_desktop.core.postprocessing import NCR_DEFINITIONS
        from brats_desktop.report.data import report_data

        patient = self.app.state.patient
        provenance = provenance_of(layer, self._ai_labels())
        model = None if provenance is Provenance.MANUAL else self._model()
        data = report_data(
            patient, layer.data, layer.name, provenance, algorithm_of(model) if model is not None else None,
            ground_truth=patient.ground_truth if layer.kind != GROUND_TRUTH else None,
            model_inputs=list(getattr(model, "modalities", []) or []),
            ncr_meaning=NCR_DEFINITIONS.get(self._ncr_definition() or "", ""), record=self.record)
        data.volume_rgb, data.volume_note = self._volume_snapshot()
        return data

    # -- cohort -----------------------------------------------------------------
    def export_cohort_reports(self) -> int:
        """Reports for every case with a prediction, one case at a time (reading in the pool, the page here).

        Returns the number of cases queued (0: nothing started). ``cohort_reports_written`` tells the end.
        """
        from brats_desktop.report.cohort import cases_with_results

        w, dialogs = self.app.window, self.app.dialogs
        cohort = getattr(self.app.feature("cohort"), "cohort", None)
        if cohort is None or self._cohort_queue is not None:
            return 0
        todo = cases_with_results(cohort)
        if not todo:
            dialogs.error(w, REPORT_TITLE, "No case of this cohort has a prediction yet (Segment → Segment All).")
            return 0
        if not dialogs.confirm(w, REPORT_TITLE, f"Write {len(todo)} report(s) and review-summary.pdf beside the "
                                                f"predictions ({cohort.output_dir})?"):
            return 0
        self._cohort_queue = list(todo)
        self._cohort_done: list[Path] = []
        self._cohort_failed: list[str] = []
        self._cohort_total = len(todo)
        self._update_actions()
        self._next_cohort_report(cohort)
        return len(todo)

    def _next_cohort_report(self, cohort: Any) -> None:
        from brats_desktop.report.cohort import case_report

        if not self._cohort_queue:
            self._finish_cohort_reports(cohort)
            return
        record = self._cohort_queue.pop(0)
        segment = self.app.feature("segment")
        model_for = segment.model_for if segment is not None else (lambda patient: None)
        from brats_desktop.core.label_meaning import AUTO  # each case's own meaning, as brats-predict COHORT

        definition = AUTO
        self.app.show_message(f"Reports: {len(self._cohort_done) + len(self._cohort_failed) + 1}/"
                              f"{self._cohort_total} ({record.name})…")

        def write(result: Any) -> None:
            from brats_desktop.report.pdf import write_report

            data, target = result
            try:
                self._cohort_done.append(write_report(data, target))
            except Exception as exc:  # noqa: BLE001 - listed at the end; the other cases go on
                self._cohort_failed.append(f"{record.name}: {exc}")
            self._next_cohort_report(cohort)

        def failed(exc: Exception) -> None:
            self._cohort_failed.append(f"{record.name}: {exc}")
            self._next_cohort_report(cohort)

        self.app.workers.submit(lambda: case_report(cohort, record, model_for, definition), write, failed)

    def _finish_cohort_reports(self, cohort: Any) -> None:
        from brats_desktop.core.errors import ExportError
        from brats_desktop.report.summary import write_summary

        summary = None
        try:
            summary = write_summary(cohort, unused_path(cohort.output_dir, "review-summary", ".pdf"))
        except (ExportError, OSError) as exc:
            self._cohort_failed.append(f"review summary: {exc}")
        done, failures = self._cohort_done, self._cohort_failed
        self._cohort_queue = None
        self._update_actions()
        if failures:
            self.app.dialogs.error(self.app.window, REPORT_TITLE,
                                   f"{len(failures)} report(s) could not be written:\n" + "\n".join(failures))
        self.app.show_message(f"Wrote {len(done)} report(s)" + (f" and {summary.name}" if summary else "")
                              + (f"; {len(failures)} failed" if failures else ""), 10000)
        self.cohort_reports_written.emit(done, summary, failures)

    def _volume_snapshot(self) -> tuple[np.ndarray | None, str]:
        """The 3-D view as RGB when OpenGL draws it here, else None and why."""
        layouts = getattr(self.app, "layouts", None)
        view = getattr(layouts, "volume_view", None)
        gl = getattr(view, "gl", None)
        if gl is None:
            return None, "3-D view not included (no OpenGL on this display)"
        if not view.isVisible():
            return None, "3-D view not included (open the 3-D layout to add it)"
        from PySide6.QtGui import QImage

        image = gl.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)
        if image.isNull() or image.width() == 0:
            return None, "3-D view not included (it could not be captured)"
        buf = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
        return buf[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy(), ""

