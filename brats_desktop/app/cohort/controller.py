"""``window.cohort``: open a cohort, move through its cases, Segment All, and keep the review.

Wiring only: the cohort itself (cases, output layout, sidecar, summary) is
:class:`brats_desktop.core.cohort.Cohort`; reading runs in :class:`CasePrefetcher`,
Segment All in :class:`SegmentAllWorker`; the dock is :class:`WorklistPanel`.

Moving on is instant because the case after the one on screen (in the table's current
sort and filter order) is read while the reviewer works (``bench/bench_cohort.py``).
The open case's "Prediction" layer holds the saved correction when there is one, else
the AI prediction; Save (Ctrl+S) writes it to the case's ``corrected`` file, and that
save updates the review (volumes after correction, Dice against the AI and the ground truth).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMenu

from brats_desktop.core.cohort import (
    IN_PROGRESS, SUMMARY_NAME, TODO, CaseData, Cohort, CohortError, damaged_from_records, load_case,
    read_label_file, skipped_file_records,
)
from brats_desktop.core.errors import PatientLoadError
from brats_desktop.core.label_meaning import AUTO
from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.state import PREDICTION

from .case_view import initial_cursor
from .prefetch import CasePrefetcher
from .segment_all import SegmentAllWorker
from .settings import (
    output_folder_start, remember_hidden_columns, remember_outputs, remembered_hidden_columns, remembered_outputs,
)
from .worklist_panel import WorklistPanel

PREDICTION_LAYER = "Prediction"
MESSAGE_MS = 8000


def format_eta(seconds: float) -> str:
    """``42 s``, ``7 min``, ``2 h 05 min``: how long Segment All still needs."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


class CohortController(Feature):
    """File → Open Cohort Folder…, Next / Previous Case (N / P), Segment All, Export Review Summary…."""

    cohort_opened = Signal(object)  # Cohort
    case_shown = Signal(str)  # key of the case now on screen (layers set)
    case_failed = Signal(str, str)  # key, message
    review_saved = Signal(object)  # Path of the sidecar just written
    segment_all_progress = Signal(int, int)  # cases done, total
    segment_all_ended = Signal(str)  # "finished" | "cancelled" | "failed"

    name = "cohort"

    def __init__(self, app: AppContext | QMainWindow) -> None:
        super().__init__(app)
        app = self.app
        self._window = app.window  # parent of actions and dialogs
        self.cohort: Cohort | None = None
        self.current_key: str | None = None
        self._current_patient: Any = None
        self._ai_labels: Any = None  # the AI prediction of the open case, for Dice AI vs corrected
        self._waiting: str | None = None  # the case asked for, still being read
        self._asked_at = 0.0
        self.last_open_seconds: float | None = None  # request -> on screen, for the bench
        self._worker: SegmentAllWorker | None = None
        self._batch_started = 0.0
        self.batch_errors: dict[str, str] = {}
        self.batch_damaged: set[str] = set()  # cases Segment All read without a damaged file
        self._reported_damaged: set[str] = set()  # cases whose left-out files were shown in a dialog

        self.panel = WorklistPanel()
        self.dock: QDockWidget = app.add_dock(
            self.panel, "Worklist", Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.dock.hide()
        hidden = remembered_hidden_columns(app.settings)
        if hidden is not None:
            self.panel.set_hidden_columns(hidden)
        self.panel.columns_changed.connect(lambda cols: remember_hidden_columns(self.app.settings, cols))
        # Next pass: the panel's size hint follows its hidden rows once its layout has run.
        self.panel.collapsed_changed.connect(lambda _c: QTimer.singleShot(0, self.fit_dock))
        self.prefetcher = CasePrefetcher(self._read, self)
        self.prefetcher.ready.connect(self._on_ready)
        self.prefetcher.failed.connect(self._on_read_failed)
        self.panel.case_activated.connect(self.open_case)
        self.panel.status_chosen.connect(self.set_status)
        self.panel.comment_entered.connect(self.set_comment)
        self.panel.segment_all_requested.connect(self.segment_all)
        self.panel.cancel_requested.connect(self.cancel_segment_all)
        self.panel.proxy.layoutChanged.connect(self._prefetch_next)  # a new sort changes what "next" is
        app.state.patient_changed.connect(self._on_patient_changed)
        self._annotation = app.feature("annotation")  # saves corrections; edits the open case's layer
        self._segment = app.feature("segment")  # model, device and batch size of Segment All
        self._annotation.saver.saved.connect(self._on_layer_saved)
        self._segment.prediction_applied.connect(self._on_prediction_applied)
        self._build_actions()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        w = self._window
        self.open_action = QAction("Open &Cohort Folder…", w)
        self.open_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_action.setToolTip("Open a folder of patient folders as a worklist")
        self.open_action.triggered.connect(lambda: self.open_cohort())
        self.next_action = QAction("&Next Case", w)
        self.next_action.setShortcut(QKeySequence("N"))
        self.next_action.triggered.connect(lambda: self.step(1))
        self.previous_action = QAction("&Previous Case", w)
        self.previous_action.setShortcut(QKeySequence("P"))
        self.previous_action.triggered.connect(lambda: self.step(-1))
        self.export_action = QAction("Export Review &Summary…", w)
        self.export_action.setToolTip("CSV: status, comment, AI vs corrected volumes and Dice per case")
        self.export_action.triggered.connect(lambda: self.export_summary())
        self.segment_all_action = QAction("Segment &All Cases", w)
        self.segment_all_action.setToolTip("Segment every case of the cohort without a prediction (background)")
        self.segment_all_action.triggered.connect(self.segment_all)

        file_menu = self.app.menu("File")
        anchor = _first_separator(file_menu)
        for action in (self.open_action, self.next_action, self.previous_action, self.export_action):
            file_menu.insertAction(anchor, action)
        segment_menu = self.app.menu("Segment")
        segment_menu.addSeparator()
        segment_menu.addAction(self.segment_all_action)
        self._update_actions()

    def _update_actions(self) -> None:
        has = self.cohort is not None
        for action in (self.next_action, self.previous_action, self.export_action, self.segment_all_action):
            action.setEnabled(has)
        running = self.running
        self.segment_all_action.setEnabled(has and not running)
        self.panel.segment_all_button.setEnabled(has and not running)

    # ------------------------------------------------------------------ opening a cohort
    def fit_dock(self) -> None:
        """Give the Worklist the height it asks for (a few rows, or one line collapsed); the slice
        views get the rest. A bottom dock otherwise keeps whatever height it last had."""
        if self.dock.isVisible() and not self.dock.isFloating():
            self._window.resizeDocks([self.dock], [self.dock.sizeHint().height()], Qt.Orientation.Vertical)

    def open_cohort(self, root: Path | str | None = None, output_dir: Path | str | None = None) -> Cohort | None:
        """Show the cohort ``root`` in the Worklist; asks for a folder when ``root`` is None.

        A read-only cohort needs somewhere else for predictions and the review: the
        folder chosen last time for it, else the user is asked (Cancel: nothing opens).
        """
        dialogs = self.app.dialogs
        if root is None:
            root = dialogs.open_folder(self._window, None)
            if root is None:
                return None
        root = Path(root)
        if self.current_key is not None and not self.app.may_discard("open another cohort"):
            return None
        remembered = remembered_outputs(self.app.settings)
        if output_dir is None and str(root.resolve()) in remembered:
            output_dir = remembered[str(root.resolve())]
        try:
            cohort = Cohort(root, output_dir)
            if not cohort.output_writable:
                chosen = dialogs.choose_folder(
                    self._window,
                    f"{root.name} is read-only: choose a folder for its predictions and review",
                    output_folder_start(root),
                )
                if chosen is None:
                    return None
                cohort = Cohort(root, chosen)
                remembered[str(cohort.root)] = str(cohort.output_dir)
                remember_outputs(self.app.settings, remembered)
        except CohortError as exc:
            dialogs.error(self._window, "Cannot open cohort", str(exc))
            return None
        if cohort.sidecar_problem:
            dialogs.error(self._window, "Review file", cohort.sidecar_problem)
        cohort.remove_leftovers()  # temporaries of a run that was killed (dead writers only)
        self.shutdown_worker()
        self.prefetcher.clear()
        self.cohort = cohort
        self.current_key = None
        self._waiting = None
        self.panel.model.set_cohort(cohort)
        self.panel.set_review_enabled(False)
        failed = sum(1 for c in cohort.cases if not c.ok)
        where = "beside each patient" if not cohort.separate_output else str(cohort.output_dir)
        self.panel.title.setText(
            f"<b>{cohort.root.name}</b>: {len(cohort.cases)} cases"
            + (f" ({failed} cannot be opened)" if failed else "")
            + f". Outputs and review: {where}. Double-click or N / P to open a case."
        )
        self.dock.show()
        self.dock.raise_()
        self.fit_dock()
        self._update_actions()
        self._prefetch_next()
        self.cohort_opened.emit(cohort)
        return cohort

    # ------------------------------------------------------------------ moving through cases
    def order(self) -> list[str]:
        """Openable cases in the table's current sort and filter order (what N / P follow)."""
        if self.cohort is None:
            return []
        return [k for k in self.panel.proxy.keys_in_order() if self.cohort.case(k).ok]

    def _neighbour(self, delta: int) -> str | None:
        order = self.order()
        if not order:
            return None
        if self.current_key not in order:
            return order[0] if delta > 0 else order[-1]
        i = order.index(self.current_key) + delta
        return order[i] if 0 <= i < len(order) else None

    def step(self, delta: int) -> bool:
        """N / P: open the next / previous case in the table's order."""
        key = self._neighbour(delta)
        if key is None:
            self._status("This is the last case of the list." if delta > 0 else "This is the first case of the list.")
            return False
        return self.open_case(key)

    def open_case(self, key: str) -> bool:
        """Show case ``key`` (asking Save / Discard / Cancel first); from memory when prefetched."""
        if self.cohort is None:
            return False
        record = self.cohort.case(key)
        if not record.ok:
            self.app.dialogs.error(self._window, "Cannot open case", f"{record.folder}: {record.error}")
            return False
        if key == self.current_key and self._waiting is None:
            return True
        if not self.app.may_discard("open another case"):
            return False
        self._asked_at = time.perf_counter()
        self.panel.select_case(key)
        data = self.prefetcher.take(key)
        if data is not None:
            self._waiting = None
            self._show(data)
            return True
        self._waiting = key
        self.prefetcher.request(key)
        self._status(f"Loading {record.name}…")
        return True

    def open_case_now(self, key: str) -> None:
        """Read and show a case synchronously (``--screenshot``, the bench's cold open)."""
        assert self.cohort is not None
        from brats_desktop.app.views.windowing import windows_for

        self._asked_at = time.perf_counter()
        data = self._read(key)
        data.extra["windows"] = windows_for(data.patient.images)
        data.extra["cursor"] = initial_cursor(data)
        self._show(data)

    def _read(self, key: str) -> CaseData:
        """Runs on a reader thread."""
        cohort = self.cohort
        assert cohort is not None
        return load_case(cohort, cohort.case(key))

    def _on_ready(self, key: str) -> None:
        if key == self._waiting:
            self._waiting = None
            data = self.prefetcher.take(key)
            if data is not None:
                self._show(data)

    def _on_read_failed(self, key: str, message: str) -> None:
        if self.cohort is None:
            return
        record = self.cohort.case(key)
        record.error = message.replace(f"{record.folder}/", "").replace(f"{record.folder}: ", "")
        self.panel.model.refresh_case(key)  # listed with the reason from now on
        if key == self._waiting:
            self._waiting = None
            self._status(f"Could not open {record.name}")
            self.app.dialogs.error(self._window, "Cannot open case", message)
        self.case_failed.emit(key, message)

    def _show(self, data: CaseData) -> None:
        assert self.cohort is not None
        record = self.cohort.case(data.key)
        self.current_key = None  # the patient change below is ours: keep nothing of the old case
        self.app.patients.show_patient(data.patient, data.extra.get("windows"), data.extra.get("cursor"))
        labels = data.corrected if data.corrected is not None else data.prediction
        if labels is not None:
            layer = self.app.state.replace_layer(PREDICTION_LAYER, labels.copy(), PREDICTION, modified=False)
            self._edit(layer, record)
        self._ai_labels = data.prediction
        self._current_patient = data.patient
        self.current_key = data.key
        self._note_damaged(record, data.patient)
        self.last_open_seconds = time.perf_counter() - self._asked_at
        self.panel.model.set_current(data.key)
        self.panel.select_case(data.key)
        if record.review.status == TODO:
            self.cohort.set_status(record, IN_PROGRESS)
            QTimer.singleShot(0, self._save_review)  # after the case is drawn: an fsync can take a while
        self.panel.show_review(record.stem_name or record.name, record.review.status, record.review.comment)
        self._status(f"Opened {record.name} ({self.order().index(data.key) + 1 if data.key in self.order() else '?'}"
                     f" / {len(self.order())})", MESSAGE_MS)
        self._prefetch_next()
        self.case_shown.emit(data.key)

    def _note_damaged(self, record: Any, patient: Any) -> None:
        """A case opened without a damaged file: its row says so, and (once per session) the dialog Open shows."""
        found = damaged_from_records(skipped_file_records(patient))
        if found != record.damaged:
            record.note_damaged(found)
            self.panel.model.refresh_case(record.key)
        if patient.problems and record.key not in self._reported_damaged:
            self._reported_damaged.add(record.key)
            QTimer.singleShot(0, lambda: self._window._report_skipped(patient))  # after the case is drawn

    def showing(self, patient: Any) -> bool:
        """True when ``patient`` is the worklist case on screen (its outputs are the worklist's)."""
        return self.current_key is not None and patient is self._current_patient

    def _prefetch_next(self, *_args: object) -> None:
        key = self._neighbour(1)
        if key is not None:
            self.prefetcher.request(key)

    def _on_patient_changed(self, patient: object) -> None:
        if self.current_key is not None and patient is not self._current_patient:
            # Another folder was opened through File → Open: the review controls no longer apply.
            self.panel.model.set_current(None)
            self.current_key = None
            self._ai_labels = None
            self.panel.current_label.setText("No case of the cohort open")
            self.panel.set_review_enabled(False)

    # ------------------------------------------------------------------ review
    def set_status(self, status: str) -> None:
        """Status of the open case (to do / in progress / done / flagged), stamped and saved."""
        if self.cohort is None or self.current_key is None:
            return
        record = self.cohort.case(self.current_key)
        if status == record.review.status:
            return
        self.cohort.set_status(record, status)
        self._save_review()
        self.panel.model.refresh_case(record.key)

    def set_comment(self, comment: str) -> None:
        if self.cohort is None or self.current_key is None:
            return
        record = self.cohort.case(self.current_key)
        if comment == record.review.comment:
            return
        self.cohort.set_status(record, comment=comment)
        self._save_review()
        self.panel.model.refresh_case(record.key)

    def _on_layer_saved(self, layer: Any, path: Any) -> None:
        if self.cohort is None or self.current_key is None:
            return
        record = self.cohort.case(self.current_key)
        if Path(path).resolve() != self.cohort.corrected_path(record).resolve():
            return
        self.cohort.record_correction(record, layer.data, self.app.state.patient, self._ai_labels)
        if record.review.status == TODO:
            self.cohort.set_status(record, IN_PROGRESS)
        self.prefetcher.forget(record.key)  # the cached copy has the old labels
        self._save_review()
        self.panel.model.refresh_case(record.key)

    def _on_prediction_applied(self, layer: Any) -> None:
        """Segment → Run on an open case gives it its AI prediction, as Segment All would have.

        The file is written only when the case has none yet (never over one); the layer
        becomes the corrected layer of the case either way.
        """
        if self.cohort is None or self.current_key is None:
            return
        record = self.cohort.case(self.current_key)
        patient = self.app.state.patient
        target = self.cohort.prediction_path(record)
        if not target.exists():
            from brats_desktop.core.errors import ExportError
            from brats_desktop.core.nifti_io import write_label_map

            try:
                write_label_map(layer.data, patient.grid, target, patient.convention,
                                protected=patient.input_paths, overwrite=False)
            except (ExportError, OSError) as exc:
                self._status(f"Prediction not kept for the worklist: {exc}", MESSAGE_MS)
            else:
                self._window.annotation.saver.note_written(layer, target)
                self._ai_labels = layer.data.copy()
                self.cohort.record_prediction(record, self._ai_labels, patient, layer.producer)
                self.prefetcher.forget(record.key)
                self._save_review()
                self.panel.model.refresh_case(record.key)
        self._edit(layer, record)

    def _save_review(self) -> bool:
        if self.cohort is None:
            return False
        try:
            path = self.cohort.save_review()
        except CohortError as exc:
            self._status(f"Review not saved: {exc}", MESSAGE_MS)
            return False
        self.review_saved.emit(path)
        return True

    def export_summary(self, path: Path | str | None = None) -> Path | None:
        """File → Export Review Summary…: one CSV row per case."""
        if self.cohort is None:
            return None
        dialogs = self.app.dialogs
        if path is None:
            path = dialogs.save_file(
                self._window, "Export Review Summary", self.cohort.output_dir / SUMMARY_NAME, "CSV (*.csv)"
            )
            if path is None:
                return None
            path = Path(path)
            if path.exists() and not dialogs.confirm(self._window, "Replace file?", f"{path} already exists. Replace it?"):
                return None
        try:
            written = self.cohort.export_summary(path)
        except CohortError as exc:
            dialogs.error(self._window, "Export failed", str(exc))
            return None
        self._status(f"Review summary written to {written}", MESSAGE_MS)
        return written

    # ------------------------------------------------------------------ Segment All
    @property
    def running(self) -> bool:
        return self._worker is not None

    def segment_all(self) -> bool:
        """Segment every case without a prediction, in the background; False when nothing started."""
        if self.cohort is None or self.running:
            return False
        from brats_desktop.cohort_predict import jobs_for  # torch: only when Segment All runs

        jobs = jobs_for(self.cohort)
        if not jobs:
            self._status("Every case that opens already has a prediction.", MESSAGE_MS)
            return False
        segment = self._segment
        if segment.user_model is None:
            from models.checkpoint import bundled_models, default_model_path

            if not bundled_models():  # say it once, not once per case
                self.app.dialogs.error(
                    self._window, "Segment All",
                    f"{default_model_path()}: no bundled model installed.\n\n"
                    "Use File → Load Model… to choose a checkpoint.",
                )
                return False
        options = {
            "device": "auto", "force_cpu": segment.force_cpu, "batch_size": segment.batch_size,
            # Each case gets its own folder's meaning of label 1, as brats-predict does; the
            # remembered menu choice only where a case's names tell nothing.
            "ncr_definition": AUTO, "ncr_fallback": segment.remembered_ncr_definition(), "predict": segment.predict,
            # segment.model_for gives each case the tier Segment → Accurate chooses (or the loaded checkpoint)
            "tta": segment.tta,
        }
        worker = SegmentAllWorker(jobs, segment.model_for, options, parent=self)
        worker.case_done.connect(self._on_case_done)
        worker.finished.connect(lambda results: self._end_batch("finished", results))
        worker.cancelled.connect(lambda results: self._end_batch("cancelled", results))
        worker.failed.connect(self._on_batch_failed)
        self._worker = worker
        self.batch_errors = {}
        self.batch_damaged = set()
        self._batch_started = time.perf_counter()
        bar = self.panel.progress
        bar.setRange(0, len(jobs))
        bar.setValue(0)
        bar.setFormat(f"0 / {len(jobs)}")
        bar.show()
        self.panel.cancel_button.setEnabled(True)
        self.panel.cancel_button.show()
        self._update_actions()
        worker.start()
        return True

    def cancel_segment_all(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.panel.cancel_button.setEnabled(False)
            self._status("Cancelling Segment All after the current slice batch…")

    def _on_case_done(self, done: int, total: int, result: dict) -> None:
        if self.cohort is None or self._worker is None:
            return
        key = result.get("case", "")
        self.cohort.merge_prediction_records([result])  # also notes files the read left out, error or not
        if "error" in result:
            self.batch_errors[key] = result["error"]
        else:
            self._save_review()
        if result.get("skipped_files"):
            self.batch_damaged.add(key)
        self.prefetcher.forget(key)
        self.panel.model.refresh_case(key)
        elapsed = time.perf_counter() - self._batch_started
        eta = format_eta(elapsed / done * (total - done)) if done else "…"
        self.panel.progress.setValue(done)
        self.panel.progress.setFormat(f"{done} / {total}, ETA {eta}" if done < total else f"{done} / {total}")
        if key == self.current_key and "output" in result and self.app.state.layer(PREDICTION_LAYER) is None:
            self._show_new_prediction(key, Path(result["output"]))
        self.segment_all_progress.emit(done, total)

    def _show_new_prediction(self, key: str, path: Path) -> None:
        """The open case got its prediction: show it at once, as Open would have."""
        patient = self.app.state.patient
        try:
            labels = read_label_file(path, patient)
        except PatientLoadError:
            return
        assert self.cohort is not None
        self._ai_labels = labels
        layer = self.app.state.replace_layer(PREDICTION_LAYER, labels.copy(), PREDICTION, modified=False)
        self._edit(layer, self.cohort.case(key))

    def _edit(self, layer: Any, record: Any) -> None:
        """Reviewing means correcting the AI: its layer is the one painted, and Save writes the case's corrected file."""
        assert self.cohort is not None
        self._annotation.saver.remember(layer, self.cohort.corrected_path(record))
        self._annotation.editor.set_layer(layer)

    def _end_batch(self, how: str, results: list) -> None:
        done = sum(1 for r in results if "error" not in r and r.get("status") != "existing")
        failed = sum(1 for r in results if "error" in r)
        worker, self._worker = self._worker, None
        self.panel.progress.hide()
        self.panel.cancel_button.hide()
        self._update_actions()
        text = f"Segment All {how}: {done} case(s) segmented" + (f", {failed} failed" if failed else "")
        damaged = self.batch_damaged
        if damaged and self.cohort is not None:
            text += (f", {len(damaged)} with a damaged file left out ("
                     + "; ".join(f"{k}: {self.cohort.case(k).problem}" for k in sorted(damaged)[:3])
                     + "; see the Problem column)")
        if how == "cancelled":
            text += "; run it again to continue where it stopped"
        if self.batch_errors:
            text += " (" + "; ".join(f"{k}: {v}" for k, v in list(self.batch_errors.items())[:3]) + ")"
        self._status(text, 15000)
        if worker is not None:
            worker.ended.connect(worker.deleteLater)
        self.segment_all_ended.emit(how)

    def _on_batch_failed(self, message: str) -> None:
        self._end_batch("failed", [])
        self.app.dialogs.error(self._window, "Segment All failed", message)

    def shutdown_worker(self) -> None:
        if self._worker is not None:
            worker, self._worker = self._worker, None
            worker.shutdown()
            self.panel.progress.hide()
            self.panel.cancel_button.hide()
            self._update_actions()

    def shutdown(self) -> None:
        """Window closing: stop Segment All and wait for readers (no thread outlives the window)."""
        self.shutdown_worker()
        self.prefetcher.wait()

    def _status(self, text: str, msecs: int = 0) -> None:
        self.app.show_message(text, msecs)


def _first_separator(menu: QMenu) -> QAction | None:
    """Our entries go after Open / Open Recent, before the first separator."""
    return next((a for a in menu.actions() if a.isSeparator()), None)
