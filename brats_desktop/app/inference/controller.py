"""Everything the window needs to run the U-Net: actions, menus, status bar, worker life cycle.

A window feature (``window.segment``); the window knows nothing else about inference.
The controller

* adds Segment → Run (toolbar button, Ctrl+R), Cancel, Force CPU, Accurate (the model tier, models.tiers)
  and Label 1 (Necrosis) Means (kept in QSettings),
  Model Information…, the metrics dock, and File → Load Model… / Export Prediction as
  NIfTI…;
* checks that the open patient has the checkpoint's modalities before starting, and
  says which are missing;
* runs :class:`~brats_desktop.app.inference.worker.InferenceWorker` and shows its
  progress (and a Cancel button) in the status bar, with the device in use beside it;
* puts the result on screen as the "Prediction" layer (kind ``prediction``), which the
  views draw with the same class colours, toggles and opacity as the ground truth;
* cancels and waits for a running worker when the patient changes or the window
  closes (:meth:`shutdown`), and ignores any result that arrives for a patient that is
  no longer on screen.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDialog, QMainWindow

from brats_desktop.core.discovery import MODALITY_LABELS
from brats_desktop.core.labels import CLASS_SHORT
from brats_desktop.core.label_meaning import ncr_definition_evidence

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.inference.label_meaning import LabelMeaningMixin
from brats_desktop.app.inference.model_choice import ModelChoiceMixin
from brats_desktop.app.inference.segment_actions import SegmentActionsMixin
from brats_desktop.app.inference.settings_keys import (  # noqa: F401  (ACCURATE_KEY, FORCE_CPU_KEY: tests read them here)
    ACCURATE_KEY, DEVICE_PROBE_DELAY_MS, FORCE_CPU_KEY, PREDICTION_LAYER, SHUTDOWN_WAIT_MS,
)
from brats_desktop.app.inference.worker import InferenceWorker
from brats_desktop.app.state import PREDICTION, LabelLayer, ViewerState

if TYPE_CHECKING:
    from brats_desktop.app.dialogs import Dialogs


class SegmentController(SegmentActionsMixin, ModelChoiceMixin, LabelMeaningMixin, Feature):
    """Runs the bundled (or a user-loaded) checkpoint on the patient in ``state``."""

    prediction_applied = Signal(object)  # the prediction LabelLayer, once it is on screen
    _device_found = Signal(str, str)  # name and type of the device, from the device probe's thread
    running_changed = Signal(bool)
    model_changed = Signal(object)  # models.checkpoint.LoadedModel

    name = "segment"

    def __init__(
        self,
        app: AppContext | QMainWindow,
        state: ViewerState | None = None,
        *,
        settings: QSettings | None = None,
        dialogs: Dialogs | None = None,
        predict: Any = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(app)
        self._window = self.app.window  # parent of dialogs
        state = self._state = state if state is not None else self.app.state
        self._settings = settings if settings is not None else self.app.settings
        self._dialogs = dialogs if dialogs is not None else self.app.dialogs
        self.predict = predict  # None: models.inference.predict_volume; tests inject hooks
        self.batch_size = batch_size  # None: models.runtime.auto_batch_size
        self.replace_labels: Any = None  # (layer, labels, modified) -> bbox: undoable refill; set by annotation
        self._user_model: Any = None  # File → Load Model…; None: pick among the bundled models
        self._bundled_cache: dict[Path, Any] = {}
        self._worker: InferenceWorker | None = None
        self._retired: list[InferenceWorker] = []  # cancelled or done, thread maybe still ending
        self._run_started = 0.0
        self.last_run: Any = None  # models.runtime.PredictionRun of the last applied prediction
        self.last_run_to_overlay_s: float | None = None
        self.info_dialog: QDialog | None = None
        # Meaning of label 1: the open patient's files decide when they tell (core.label_meaning),
        # a choice made on this patient overrides them, the remembered choice fills in otherwise.
        self._meaning_patient: Any = None
        self._patient_evidence: tuple[str, str] | None = None
        self._ncr_override: str | None = None

        self._build_actions()
        self._build_status_bar()
        self._build_menus_and_toolbar()
        self._build_metrics_dock()

        state.patient_changed.connect(self._on_patient_changed)
        state.modalities_changed.connect(self._update_actions)
        state.layers_changed.connect(self._update_actions)
        app = QApplication.instance()
        if app is not None:  # last line of defence: never leave a thread running at exit
            app.aboutToQuit.connect(self.shutdown)
        # Naming the device needs torch, whose import takes ~2 s: do it off the GUI thread,
        # after the first image had its chance to appear (a Run names it at once anyway).
        self.device_label.setText("Device: …")
        self._device_found.connect(self._on_device_found)
        self._probe_pool = QThreadPool(self)
        self._probe_pool.setMaxThreadCount(1)
        self._probe_timer = QTimer(self)
        self._probe_timer.setSingleShot(True)
        self._probe_timer.timeout.connect(self._probe_device)
        self._probe_timer.start(0 if "torch" in sys.modules else DEVICE_PROBE_DELAY_MS)
        self._update_actions()
        self._update_meaning_notes()  # the menu's "why" line before any patient

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def worker(self) -> InferenceWorker | None:
        return self._worker

    def prediction_layer(self) -> LabelLayer | None:
        return next((layer for layer in self._state.layers if layer.kind == PREDICTION), None)

    # ------------------------------------------------------------------ running
    def run(self) -> bool:
        """Segment → Run: check, then start the worker. Returns False when it did not start."""
        from models.checkpoint import ModelLoadError
        from models.runtime import MissingModalityError, check_modalities

        patient = self._state.patient
        if self.running:
            return False
        if patient is None:
            self._dialogs.error(self._window, "Segment", "Open a patient folder first.")
            return False
        if self._state.loading:
            self._status("The patient is still loading; run again when all volumes are in.", 5000)
            return False
        try:
            model = self.model
        except ModelLoadError as exc:
            self._dialogs.error(
                self._window, "Cannot load model",
                f"{exc}\n\nUse File → Load Model… to choose a checkpoint.",
            )
            return False
        try:
            check_modalities(model, patient)
        except MissingModalityError as exc:
            names = ", ".join(MODALITY_LABELS.get(m, m.upper()) for m in exc.missing)
            have = ", ".join(MODALITY_LABELS.get(m, m) for m in patient.modalities) or "none"
            # A file that is there but could not be read: say which and why, not just "missing".
            damaged = [(m, patient.skipped(m)) for m in exc.missing]
            unread = "".join(
                f"\n\n{MODALITY_LABELS.get(m, m)}: {p.path.name} could not be opened: {p.problem}."
                for m, p in damaged if p is not None and p.path is not None
            )
            self._dialogs.error(
                self._window, "Missing modalities",
                f"{patient.name}: the model “{model.name}” needs {names}, which this patient "
                f"does not have (it has {have}).{unread}\n\nLoad a model that needs only these with "
                "File → Load Model…, or open a folder with all modalities.",
            )
            return False

        existing = self.prediction_layer()
        if existing is not None and existing.modified and not self._dialogs.confirm(
            self._window, "Replace edited prediction?",
            f"The layer “{existing.name}” has edits that were not exported. "
            "Replace it with a new prediction?",
        ):
            return False

        worker = InferenceWorker(
            model, patient, device="auto", force_cpu=self.force_cpu,
            batch_size=self.batch_size, predict=self.predict, ncr_definition=self.ncr_definition,
            tta=self.tta, parent=self,
        )
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.notice.connect(self._on_notice)
        worker.ended.connect(self._on_worker_ended)
        self._worker = worker
        self._run_started = time.perf_counter()
        self.dropped_label.hide()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self._update_device_label()
        self._status(f"Segmenting {patient.name}…")
        self._update_actions()
        self.running_changed.emit(True)
        worker.start()
        return True

    def predict_now(self) -> Any:
        """Segment the open patient synchronously, for scripts (``brats-desktop --screenshot --predict``).

        Same model choice and :func:`models.runtime.predict_patient` call as :meth:`run`,
        without a thread or dialogs: errors (no patient, no model, missing modalities)
        are raised for the caller to print. Returns the ``PredictionRun``.
        """
        from models.runtime import predict_patient

        patient = self._state.patient
        if patient is None:
            raise ValueError("no patient is open")
        runner = self.model_for(patient)
        run = predict_patient(
            runner, patient, force_cpu=self.force_cpu, batch_size=self.batch_size,
            ncr_definition=self.ncr_definition, tta=self.tta,
        )
        self._apply(run, runner)
        return run

    def _apply(self, run: Any, runner: Any = None) -> LabelLayer:
        """Show a finished prediction as the "Prediction" layer (created, or refilled keeping its display).

        A prediction already on screen is refilled through ``replace_labels`` when the
        window provides one (the label editor's), so a re-run or re-labelling is one
        undo step of that layer instead of wiping its history. The layer says which tier
        (or model) made it; ``runner`` (the Tier or model that ran) gives the tooltip's details.
        """
        layer = self._state.layer(PREDICTION_LAYER)
        if layer is not None and self.replace_labels is not None:
            self.replace_labels(layer, run.labels, modified=False)
        else:
            layer = self._state.replace_layer(PREDICTION_LAYER, run.labels, PREDICTION, modified=False)
        layer.set_visible(True)
        layer.set_origin(*origin_of(run, runner), producer=dict(getattr(run, "producer", {}) or {}) or None)
        if run.tier in ("fast", "accurate"):
            self._show_default_tier(run.tier)  # what "auto" chose here, until the user chooses
        self.last_run = run
        self._update_meaning_notes()
        self.metrics_dock.show()
        self.metrics_dock.raise_()  # the numbers belong with the new overlay
        self.last_run = run
        return layer

    def cancel(self) -> None:
        """Ask the worker to stop; the app is left as it was before Run."""
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_action.setEnabled(False)
            self._status("Cancelling segmentation…")

    def shutdown(self) -> None:
        """Cancel and wait for every worker: called when the window closes or the patient changes."""
        was_running = self._worker is not None
        if was_running:
            self._finish_run()  # forget it first: whatever it still emits is ignored
        for worker in list(self._retired):
            if worker.shutdown(SHUTDOWN_WAIT_MS):
                self._retired.remove(worker)
                self._release(worker)
            else:  # pragma: no cover - a wedged GPU driver
                print("warning: an inference worker did not stop in time")
        self._probe_timer.stop()
        self._probe_pool.waitForDone(SHUTDOWN_WAIT_MS)
        if was_running:
            self._status("Segmentation cancelled", 4000)

    def _on_progress(self, done: int, total: int) -> None:
        if self.sender() is not self._worker or total <= 0:
            return
        self.progress_bar.setValue(int(round(100 * done / total)))

    def _on_finished(self, run: Any) -> None:
        worker = self._worker
        if self.sender() is not worker or worker is None:
            return  # from a worker already given up (patient changed, window closing): discard
        if worker.cancel_requested or worker.patient is not self._state.patient:
            # Cancel was pressed after the last batch, while this result was on its way.
            self._end_cancelled()
            return
        self.progress_bar.setValue(100)
        layer = self._apply(run, worker.model)
        self._finish_run()
        QApplication.processEvents()  # let the views draw the overlay before we call it done
        self.last_run_to_overlay_s = time.perf_counter() - self._run_started
        self._update_device_label(run.device)
        counts = {CLASS_SHORT[c]: int((run.labels == c).sum()) for c in (1, 2, 3)}
        found = "no tumour found" if not any(counts.values()) else "prediction shown as layer “Prediction”"
        if layer.origin:
            found += f" ({layer.origin})"
        extra = f" ({'; '.join(run.notes)})" if run.notes else ""
        self._status(f"Segmented in {run.seconds:.1f} s on {run.device_name}: {found}{extra}", 15000)
        if run.notes:
            self._dialogs.error(
                self._window, "Segmentation fell back",
                "The segmentation finished, but not as planned:\n\n" + "\n".join(run.notes),
            )
        self.prediction_applied.emit(layer)

    def _on_failed(self, message: str) -> None:
        if self.sender() is not self._worker:
            return
        self._finish_run()
        self._status("Segmentation failed", 8000)
        self._dialogs.error(self._window, "Segmentation failed", message)

    def _on_cancelled(self) -> None:
        if self.sender() is self._worker:
            self._end_cancelled()

    def _end_cancelled(self) -> None:
        self._finish_run()
        self._status("Segmentation cancelled; nothing was changed", 6000)

    def _on_notice(self, message: str) -> None:
        if self.sender() is not self._worker:
            return
        self._status(message, 10000)
        if "CPU" in message:
            from models.runtime import describe_device

            self._update_device_label("cpu")
            self.device_label.setText(f"Device: {describe_device('cpu')} (GPU fallback)")

    def _finish_run(self) -> None:
        """Back to idle: hide progress, re-enable Run. The worker is deleted once its thread has ended."""
        worker, self._worker = self._worker, None
        if worker is not None:
            if worker.is_running():
                self._retired.append(worker)  # a QThread must not be destroyed while it runs
            else:
                self._release(worker)
        self.progress_bar.hide()
        self.cancel_button.hide()
        self._update_actions()
        if worker is not None:
            self.running_changed.emit(False)

    def _on_worker_ended(self) -> None:
        """A worker's thread stopped: release it unless it is still the current run."""
        worker = self.sender()
        if worker in self._retired:
            self._retired.remove(worker)
            self._release(worker)

    @staticmethod
    def _release(worker: InferenceWorker) -> None:
        """Drop the worker's references to the patient and model (volumes are big), then delete it."""
        worker.patient = None
        worker.model = None
        worker.deleteLater()

    def active_threads(self) -> int:
        """Inference threads still running (the current one and cancelled ones finishing)."""
        workers = self._retired + ([self._worker] if self._worker is not None else [])
        return sum(1 for w in workers if w.is_running())

    def _on_patient_changed(self, patient: object) -> None:
        if self._worker is not None and self._worker.patient is not patient:
            dropped = getattr(self._worker.patient, "name", "the previous patient")
            self.shutdown()
            if patient is not None:
                self._show_dropped(
                    f"Segmentation of {dropped} stopped: {getattr(patient, 'name', 'another patient')} "
                    "was opened. Run it again there with Ctrl+R."
                )
        if patient is not self._meaning_patient:  # a new patient: its own files decide again
            self._meaning_patient = patient
            self._ncr_override = None
        self._patient_evidence = ncr_definition_evidence(patient) if patient is not None else None
        implied = self._patient_evidence[0] if self._patient_evidence else None
        key = self._ncr_override or implied or self.remembered_ncr_definition()
        self.ncr_actions[key].setChecked(True)
        self._update_meaning_notes()
        self._update_actions()

    # ------------------------------------------------------------------ export
    def export_prediction(self) -> Path | None:
        """File → Export Prediction as NIfTI…: the window's one export path, for the prediction layer.

        The window's ``export_layer`` writes in the patient's convention on the source
        affine, atomically, asks before replacing and refuses the patient's inputs.
        """
        layer = self.prediction_layer()
        if self._state.patient is None or layer is None:
            self._dialogs.error(
                self._window, "Export prediction", "There is no prediction to export; run Segment → Run first."
            )
            return None
        return self.app.patients.export_layer(layer.name)


def origin_of(run: Any, runner: Any = None) -> tuple[str, str]:
    """(short text, tooltip) of what made ``run``: "Accurate", "Fast", "Any-sequence: FLAIR + T2" or a model's name."""
    tier = getattr(run, "tier", None)
    label = getattr(run, "model_label", "") or ""
    details = label
    if hasattr(runner, "details"):  # the tier's lines, headed by the label of what ran (its TTA resolved)
        lines = runner.details().split("\n")
        details = "\n".join([label or lines[0], *lines[1:]])
    if tier == "any_sequence":
        reads = " + ".join(MODALITY_LABELS.get(m, m) for m in (getattr(runner, "modalities", None) or []))
        text = f"Any-sequence: {reads}" if reads else "Any-sequence"
        # How far to trust a map made without some sequences belongs next to it, not only on hover.
        brief = getattr(runner, "subset_dice_brief", "")
        if brief:
            text += f" (out-of-fold Dice {brief})"
        return text, details
    if tier in ("fast", "accurate"):
        return tier.capitalize(), details
    name = getattr(runner, "name", None) or label
    return (str(name) if name else ""), label
