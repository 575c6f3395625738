"""Everything the window needs to run the U-Net: actions, menus, status bar, worker life cycle.

A window feature (``window.segment``); the window knows nothing else about inference.
The controller

* adds Segment → Run (toolbar button, Ctrl+R), Cancel, Force CPU, Accurate (test-time augmentation) and
  Label 1 (Necrosis) Means (kept in QSettings),
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
from typing import Any

from PySide6.QtCore import QSettings, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStyle,
)

from brats_desktop.core.discovery import MODALITY_LABELS
from brats_desktop.core.labels import CLASS_SHORT
from brats_desktop.core.label_meaning import MEANING_TITLES, ncr_definition_evidence
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION, NCR_DEFINITIONS

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.inference.worker import InferenceWorker
from brats_desktop.app.inference.metrics_panel import MetricsPanel
from brats_desktop.app.inference.model_info_dialog import ModelInfoDialog
from brats_desktop.app.state import PREDICTION, LabelLayer, ViewerState

PREDICTION_LAYER = "Prediction"
FORCE_CPU_KEY = "inference/force_cpu"
ACCURATE_KEY = "inference/accurate"  # Segment → Accurate (test-time augmentation), models.tta
NCR_DEFINITION_KEY = "inference/ncr_definition"
LABEL1_MEANING = {
    "brats2021": "necrosis inside the enhancing rim (BraTS 2021+)",
    "brats2013": "necrotic + non-enhancing core (BraTS 2013–2020)",
}
NCR_MENU_TEXT = {
    "brats2021": "BraTS 2021+: Necrosis Inside the Enhancing Rim",
    "brats2013": "BraTS 2013–2020: Necrotic + Non-enhancing Core",
}
MODEL_DIR_KEY = "inference/model_dir"  # where File → Load Model… starts
RECENT_MODELS_KEY = "inference/recent_models"  # File → Recent Models (checkpoints loaded before)
MAX_RECENT_MODELS = 6
DROPPED_NOTICE_MS = 30_000  # how long "segmentation of A stopped: B was opened" stays in the status bar
SHUTDOWN_WAIT_MS = 30_000
DEVICE_PROBE_DELAY_MS = 1500


class SegmentController(Feature):
    """Runs the bundled (or a user-loaded) checkpoint on the patient in ``state``."""

    prediction_applied = Signal(object)  # the prediction LabelLayer, once it is on screen
    _device_found = Signal(str)  # from the device probe's thread
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

    # ------------------------------------------------------------------ construction
    def _build_actions(self) -> None:
        style = self._window.style()
        self.run_action = QAction(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "&Run Segmentation", self)
        self.run_action.setShortcut(QKeySequence("Ctrl+R"))
        self.run_action.setToolTip("Segment the open patient with the U-Net (Ctrl+R)")
        self.run_action.triggered.connect(self.run)

        stop_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaStop)
        self.cancel_action = QAction(stop_icon, "&Cancel Segmentation", self)
        self.cancel_action.setToolTip("Stop the running segmentation; nothing on screen changes")
        self.cancel_action.triggered.connect(self.cancel)

        self.force_cpu_action = QAction("Force &CPU", self)
        self.force_cpu_action.setCheckable(True)
        self.force_cpu_action.setChecked(_as_bool(self._settings.value(FORCE_CPU_KEY, False)))
        self.force_cpu_action.setToolTip("Run on the CPU even when a GPU is available")
        self.force_cpu_action.toggled.connect(self._on_force_cpu_toggled)

        self.accurate_action = QAction("&Accurate (Test-Time Augmentation)", self)
        self.accurate_action.setCheckable(True)
        self.accurate_action.setChecked(_as_bool(self._settings.value(ACCURATE_KEY, False)))
        self.accurate_action.setToolTip(
            "Average the prediction with that of the left-right mirrored image: "
            "about twice the time on the CPU (always on with a GPU)"
        )
        self.accurate_action.toggled.connect(self._on_accurate_toggled)

        stored = str(self._settings.value(NCR_DEFINITION_KEY, DEFAULT_NCR_DEFINITION))
        if stored not in NCR_DEFINITIONS:
            stored = DEFAULT_NCR_DEFINITION
        self.ncr_group = QActionGroup(self)
        self.ncr_group.setExclusive(True)
        self.ncr_actions: dict[str, QAction] = {}
        for key, text in NCR_MENU_TEXT.items():
            action = QAction(text, self.ncr_group)
            action.setCheckable(True)
            action.setChecked(key == stored)
            action.setData(key)
            action.setToolTip(NCR_DEFINITIONS[key])
            self.ncr_actions[key] = action
        self.ncr_group.triggered.connect(lambda action: self.set_ncr_definition(action.data()))
        self.ncr_source_action = QAction("", self)  # says why the checked meaning applies (not clickable)
        self.ncr_source_action.setEnabled(False)

        self.model_info_action = QAction("Model &Information…", self)
        self.model_info_action.triggered.connect(self.show_model_info)

        self.load_model_action = QAction("Load &Model…", self)
        self.load_model_action.setToolTip(
            "Use another BraTS Desktop checkpoint (.pt), e.g. one trained with brats-train"
        )
        self.load_model_action.triggered.connect(lambda: self.load_model())

        self.bundled_model_action = QAction("Use &Bundled Model", self)
        self.bundled_model_action.setToolTip("Go back to the model shipped with BraTS Desktop")
        self.bundled_model_action.triggered.connect(self.use_bundled_model)
        self.bundled_model_action.setEnabled(False)

        self.export_action = QAction("Export &Prediction as NIfTI…", self)
        self.export_action.setToolTip("Write the prediction on the patient's grid in its label convention")
        self.export_action.triggered.connect(lambda: self.export_prediction())

    def _build_status_bar(self) -> None:
        bar = self.app.status_bar()
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("InferenceProgress")
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setFormat("Segmenting %p%")
        self.progress_bar.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("InferenceCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.device_label = QLabel()
        self.device_label.setObjectName("InferenceDevice")
        # A run dropped because another patient opened: permanent, so "Opened …" cannot hide it.
        self.dropped_label = QLabel()
        self.dropped_label.setObjectName("InferenceDropped")
        self.dropped_label.hide()
        self._dropped_timer = QTimer(self)
        self._dropped_timer.setSingleShot(True)
        self._dropped_timer.timeout.connect(self.dropped_label.hide)
        bar.addPermanentWidget(self.dropped_label)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)

    def _build_menus_and_toolbar(self) -> None:
        self.segment_menu = self.app.menu("Segment")
        self.segment_menu.addAction(self.run_action)
        self.segment_menu.addAction(self.cancel_action)
        self.segment_menu.addSeparator()
        self.segment_menu.addAction(self.force_cpu_action)
        self.segment_menu.addAction(self.accurate_action)
        ncr_menu = self.segment_menu.addMenu("&Label 1 (Necrosis) Means")
        ncr_menu.setToolTipsVisible(True)
        ncr_menu.addActions(list(self.ncr_actions.values()))
        ncr_menu.addSeparator()
        ncr_menu.addAction(self.ncr_source_action)
        self.segment_menu.addAction(self.model_info_action)

        file_menu = self.app.menu("File")
        quit_action = next(
            (a for a in file_menu.actions() if _plain(a.text()) in ("quit", "exit")), None
        )
        self.recent_models_menu = QMenu("Recent &Models", self._window)
        self.recent_models_menu.aboutToShow.connect(self._fill_recent_models_menu)
        self._fill_recent_models_menu()
        model_actions = [self.load_model_action, self.recent_models_menu.menuAction(),
                         self.bundled_model_action, self.export_action]
        if quit_action is not None:
            file_menu.insertActions(quit_action, model_actions)
            file_menu.insertSeparator(quit_action)
        else:
            file_menu.addSeparator()
            file_menu.addActions(model_actions)

        self.toolbar = self.app.toolbar("Segment")
        self.toolbar.addAction(self.run_action)
        self.toolbar.addAction(self.cancel_action)

    def _build_metrics_dock(self) -> None:
        self.metrics_panel = MetricsPanel(self._state)
        # In a scroll area: with several docks stacked on a small screen the dock scrolls
        # instead of squeezing its tables over each other.
        scroll = QScrollArea()
        scroll.setWidget(self.metrics_panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # A tab of the Annotate group (right-hand docks are many), joined at once.
        self.metrics_dock = self.app.add_dock(scroll, "Metrics", task_tab=True)
        self.segment_menu.addAction(self.metrics_dock.toggleViewAction())
        # Recompute only while the tab is on screen (a tabbed-away dock stays isVisible()).
        self.metrics_dock.visibilityChanged.connect(self.metrics_panel.set_on_screen)

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def worker(self) -> InferenceWorker | None:
        return self._worker

    @property
    def force_cpu(self) -> bool:
        return self.force_cpu_action.isChecked()

    @property
    def ncr_definition(self) -> str:
        """The meaning of label 1 that predictions get (core.postprocessing.NCR_DEFINITIONS)."""
        checked = self.ncr_group.checkedAction()
        return str(checked.data()) if checked is not None else DEFAULT_NCR_DEFINITION

    def set_ncr_definition(self, key: str) -> None:
        """The user chooses what label 1 means; an unedited prediction on screen is re-labelled at once.

        The choice holds for this patient even where its files imply the other meaning,
        and is remembered for patients whose files tell nothing.
        """
        if key not in NCR_DEFINITIONS:
            raise ValueError(f"unknown label definition {key!r}")
        self._settings.setValue(NCR_DEFINITION_KEY, key)
        implied = self._patient_evidence[0] if self._patient_evidence else None
        self._ncr_override = key if implied is not None and key != implied else None
        self._use_ncr_definition(key)

    def _use_ncr_definition(self, key: str) -> None:
        """Check ``key`` in the menu and re-label an unedited prediction (no re-run) to it."""
        self.ncr_actions[key].setChecked(True)
        run, layer = self.last_run, self.prediction_layer()
        if run is None or layer is None or getattr(run, "raw_labels", None) is None or run.ncr_definition == key:
            self._update_meaning_notes()
            return
        if layer.modified:
            self._status("The prediction has edits: the new label-1 meaning applies from the next run.", 6000)
            self._update_meaning_notes()
            return
        run.relabel(key)
        self._apply(run)
        self._status(f"Prediction re-labelled: {NCR_DEFINITIONS[key]}", 6000)

    def remembered_ncr_definition(self) -> str:
        """The menu choice kept in QSettings, for patients whose files tell nothing (also Segment All's fallback)."""
        stored = str(self._settings.value(NCR_DEFINITION_KEY, DEFAULT_NCR_DEFINITION))
        return stored if stored in NCR_DEFINITIONS else DEFAULT_NCR_DEFINITION

    def prediction_meaning(self) -> str | None:
        """What label 1 of the prediction on screen means (None: no prediction from this session's runs).

        A model trained with the 2021+ meaning cannot be converted back, so its label 1
        keeps that meaning whatever was asked.
        """
        run = self.last_run
        if run is None or self.prediction_layer() is None:
            return None
        source = getattr(run, "model_ncr_definition", "brats2013")
        target = getattr(run, "ncr_definition", None)
        if target is None or source == "brats2021":
            return source
        return target

    def ground_truth_meaning(self) -> str | None:
        """What label 1 of the open patient's ground truth means, when its files tell (else None)."""
        patient = self._state.patient
        if patient is None or patient.ground_truth is None or self._patient_evidence is None:
            return None
        return self._patient_evidence[0]

    def _update_meaning_notes(self) -> None:
        """Metrics dock: what label 1 means and why; one warning line when prediction and ground truth differ."""
        patient = self._state.patient
        if patient is None:
            self.metrics_panel.set_label_meaning(None)
            self.metrics_panel.set_meaning_warning(None)
            self.ncr_source_action.setText("Open a patient: its file names may tell")
            return
        predicted = self.prediction_meaning()
        key = predicted or self.ncr_definition
        self._state.set_ncr_definition(key)
        evidence = self._patient_evidence
        if self._ncr_override is not None:
            why = "your choice for this patient"
            if evidence is not None:
                why += f", although its files imply {MEANING_TITLES[evidence[0]]} ({evidence[1]})"
        elif evidence is not None:
            why = f"as this patient's files imply ({evidence[1]})"
        else:
            why = "this patient's files do not tell, so your last choice applies"
        self.ncr_source_action.setText(
            f"This patient: {MEANING_TITLES[evidence[0]]} ({evidence[1].split(':')[0]})" if evidence
            else "This patient's files do not tell: your last choice applies"
        )
        whose = "the prediction" if predicted else "predictions"
        self.metrics_panel.set_label_meaning(
            f"Label 1 (NCR) of {whose}: {LABEL1_MEANING[key]}, {why}. "
            "Change it with Segment → Label 1 (Necrosis) Means."
        )
        reference = self.ground_truth_meaning()
        if predicted is not None and reference is not None and predicted != reference:
            self.metrics_panel.set_meaning_warning(
                f"Label 1 means {MEANING_TITLES[predicted]} in the prediction but {MEANING_TITLES[reference]} "
                "in the ground truth: NCR and TC Dice are not comparable."
            )
        else:
            self.metrics_panel.set_meaning_warning(None)

    def prediction_layer(self) -> LabelLayer | None:
        return next((layer for layer in self._state.layers if layer.kind == PREDICTION), None)

    def _update_actions(self, *_args: object) -> None:
        patient = self._state.patient
        ready = patient is not None and not self._state.loading
        self.run_action.setEnabled(ready and not self.running)
        self.cancel_action.setEnabled(self.running)
        self.export_action.setEnabled(self.prediction_layer() is not None and not self.running)
        if patient is not None and self._state.loading:
            self.run_action.setToolTip("Available once all volumes of the patient are loaded")
        else:
            self.run_action.setToolTip("Segment the open patient with the U-Net (Ctrl+R)")

    def _probe_device(self) -> None:
        force_cpu = self.force_cpu

        def probe() -> None:
            from models.runtime import describe_device, select_device

            self._device_found.emit(describe_device(select_device("auto", force_cpu)))

        if "torch" in sys.modules:
            probe()
        else:
            self._probe_pool.start(probe)

    def _on_device_found(self, name: str) -> None:
        if not self.running:  # a run in progress has named its own device
            self.device_label.setText(f"Device: {name}")

    def _update_device_label(self, device: Any = None) -> None:
        from models.runtime import describe_device, select_device

        device = device if device is not None else select_device("auto", self.force_cpu)
        self.device_label.setText(f"Device: {describe_device(device)}")

    @property
    def tta(self) -> str:
        """Test-time augmentation of the next run: "flip" when Accurate is on, else the device's default."""
        return "flip" if self.accurate_action.isChecked() else "auto"

    def _on_accurate_toggled(self, checked: bool) -> None:
        self._settings.setValue(ACCURATE_KEY, bool(checked))
        self._settings.sync()

    def _on_force_cpu_toggled(self, checked: bool) -> None:
        self._settings.setValue(FORCE_CPU_KEY, bool(checked))
        self._settings.sync()
        self._update_device_label()

    def _status(self, text: str, msecs: int = 0) -> None:
        self.app.show_message(text, msecs)

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> Any:
        """The checkpoint a Run would use now: the one loaded by the user, else the best bundled one."""
        return self.model_for(self._state.patient)

    @property
    def user_model(self) -> Any:
        """The checkpoint chosen with File → Load Model… in this session, or None."""
        return self._user_model

    def model_for(self, patient: Any) -> Any:
        """User-loaded model, else :func:`models.runtime.best_bundled_model` for ``patient``."""
        from models.runtime import best_bundled_model

        if self._user_model is not None:
            return self._user_model
        return best_bundled_model(patient, self._bundled_cache)

    def load_model(self, path: Path | str | None = None) -> Any:
        """File → Load Model…: use another checkpoint for this session and show its metadata."""
        from models.checkpoint import BUNDLED_DIR, ModelLoadError, load_model

        if path is None:
            last = str(self._settings.value(MODEL_DIR_KEY, "") or "")
            start = Path(last) if last and Path(last).is_dir() else BUNDLED_DIR
            path = self._dialogs.open_file(
                self._window, "Load Model", start, "BraTS Desktop model (*.pt);;All files (*)"
            )
            if path is None:
                return None
        try:
            model = load_model(Path(path))
        except ModelLoadError as exc:
            self._dialogs.error(self._window, "Cannot load model", str(exc))
            return None
        self._user_model = model
        self._settings.setValue(MODEL_DIR_KEY, str(Path(path).resolve().parent))
        self._remember_model(Path(path))
        self._settings.sync()
        self.bundled_model_action.setEnabled(True)
        self.model_changed.emit(model)
        self._status(f"Model {model.name} loaded from {Path(path).name}", 8000)
        self.show_model_info()
        return model

    def use_bundled_model(self) -> Any:
        """File → Use Bundled Model: forget the loaded checkpoint; runs pick among the bundled models again."""
        from models.checkpoint import ModelLoadError

        self._user_model = None
        self.bundled_model_action.setEnabled(False)
        try:
            model = self.model
        except ModelLoadError as exc:
            self._dialogs.error(self._window, "Cannot load model", str(exc))
            return None
        self.model_changed.emit(model)
        self._status(f"Using the bundled model {model.name}", 8000)
        return model

    def recent_models(self) -> list[Path]:
        """Checkpoints loaded with File → Load Model…, newest first (only those still on disk)."""
        value = self._settings.value(RECENT_MODELS_KEY, [])
        if isinstance(value, str):  # QSettings returns a lone string for one-item lists
            value = [value]
        return [Path(v) for v in (value or []) if Path(v).is_file()]

    def _remember_model(self, path: Path) -> None:
        from models.checkpoint import BUNDLED_DIR

        path = path.resolve()
        if path.parent == BUNDLED_DIR.resolve():
            return  # the bundled models have their own entry
        items = [path] + [p for p in self.recent_models() if p != path]
        self._settings.setValue(RECENT_MODELS_KEY, [str(p) for p in items[:MAX_RECENT_MODELS]])

    def _fill_recent_models_menu(self) -> None:
        self.recent_models_menu.clear()
        models = self.recent_models()
        for path in models:
            action = self.recent_models_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setData(str(path))
            action.triggered.connect(lambda _=False, p=path: self.load_model(p))
        if not models:
            self.recent_models_menu.addAction("(none)").setEnabled(False)
        self.recent_models_menu.setToolTipsVisible(True)

    def show_model_info(self) -> QDialog | None:
        """Non-modal dialog with the checkpoint's metadata (modalities, training, metrics, licence)."""
        from models.checkpoint import ModelLoadError

        try:
            model = self.model
        except ModelLoadError as exc:
            self._dialogs.error(self._window, "Cannot load model", str(exc))
            return None
        if self.info_dialog is not None:
            self.info_dialog.close()
            self.info_dialog.deleteLater()
        self.info_dialog = ModelInfoDialog(model, self._window, self.prediction_meaning() or self.ncr_definition)
        self.info_dialog.show()
        return self.info_dialog

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
            # A file that is there but could not be read: say which and why (issue 10 item 14).
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
        run = predict_patient(
            self.model_for(patient), patient, force_cpu=self.force_cpu, batch_size=self.batch_size,
            ncr_definition=self.ncr_definition, tta=self.tta,
        )
        self._apply(run)
        return run

    def _apply(self, run: Any) -> LabelLayer:
        """Show a finished prediction as the "Prediction" layer (created, or refilled keeping its display).

        A prediction already on screen is refilled through ``replace_labels`` when the
        window provides one (the label editor's), so a re-run or re-labelling is one
        undo step of that layer instead of wiping its history.
        """
        layer = self._state.layer(PREDICTION_LAYER)
        if layer is not None and self.replace_labels is not None:
            self.replace_labels(layer, run.labels, modified=False)
        else:
            layer = self._state.replace_layer(PREDICTION_LAYER, run.labels, PREDICTION, modified=False)
        layer.set_visible(True)
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
        layer = self._apply(run)
        self._finish_run()
        QApplication.processEvents()  # let the views draw the overlay before we call it done
        self.last_run_to_overlay_s = time.perf_counter() - self._run_started
        self._update_device_label(run.device)
        counts = {CLASS_SHORT[c]: int((run.labels == c).sum()) for c in (1, 2, 3)}
        found = "no tumour found" if not any(counts.values()) else "prediction shown as layer “Prediction”"
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

    def _show_dropped(self, text: str) -> None:
        """Status bar: a run was given up because the user opened another patient (no silent loss)."""
        self.dropped_label.setText(text)
        self.dropped_label.setToolTip(text)
        self.dropped_label.show()
        self._dropped_timer.start(DROPPED_NOTICE_MS)
        self._status(text, DROPPED_NOTICE_MS)

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


def _plain(text: str) -> str:
    return text.replace("&", "").replace("…", "").replace("...", "").strip().lower()


def _as_bool(value: Any) -> bool:
    """QSettings returns "true"/"false" strings from INI files."""
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)
