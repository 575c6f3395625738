"""Segment's actions, menus, tool bar, status-bar widgets and Metrics dock, and the device label.

One part of :class:`~brats_desktop.app.inference.controller.SegmentController`, which
mixes it in: it builds what the user sees and keeps it enabled or not; the controller
runs and applies predictions.
"""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFrame, QLabel, QMenu, QProgressBar, QPushButton, QScrollArea, QStyle

from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION, NCR_DEFINITIONS

from brats_desktop.app.inference.metrics_panel import MetricsPanel
from brats_desktop.app.inference.settings_keys import (
    ACCURATE_KEY, DROPPED_NOTICE_MS, FORCE_CPU_KEY, NCR_DEFINITION_KEY, NCR_MENU_TEXT, as_bool,
)


class SegmentActionsMixin:
    """Builds and updates Segment's actions and widgets (mixed into SegmentController)."""

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
        self.force_cpu_action.setChecked(as_bool(self._settings.value(FORCE_CPU_KEY, False)))
        self.force_cpu_action.setToolTip("Run on the CPU even when a GPU is available")
        self.force_cpu_action.toggled.connect(self._on_force_cpu_toggled)

        # The model tier (models.tiers): checked = Accurate, unchecked = Fast. Never chosen: by
        # device (Accurate on a CUDA GPU), shown once the device probe or a Run has named it.
        self.accurate_action = QAction("&Accurate (Slower on a CPU)", self)
        self.accurate_action.setCheckable(True)
        stored = self._settings.value(ACCURATE_KEY, None)
        self._tier_choice: str | None = None if stored is None else ("accurate" if as_bool(stored) else "fast")
        self._showing_default = False
        self.accurate_action.setChecked(self._tier_choice == "accurate")
        self.accurate_action.setToolTip(
            "The Accurate tier: several models averaged (seconds more per case on a CPU, well under a second "
            "on a GPU; Model Information lists them). Off: the Fast tier, the bundled model alone. Until chosen: "
            "on with a CUDA GPU, off otherwise. With a loaded checkpoint it adds the left-right mirrored image."
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

    @property
    def force_cpu(self) -> bool:
        return self.force_cpu_action.isChecked()

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

    def skip_device_probe(self) -> None:
        """Leave the device unnamed ("Device: …") until a Run names it: naming it imports torch
        (about 1.7 s), which a script that only renders the window does not need to wait for."""
        if not self._probe_timer.isActive():
            return  # already probed (torch was loaded) or probing
        self._probe_timer.stop()

    def _probe_device(self) -> None:
        force_cpu = self.force_cpu

        def probe() -> None:
            from models.runtime import describe_device, select_device

            device = select_device("auto", force_cpu)
            self._device_found.emit(describe_device(device), device.type)

        if "torch" in sys.modules:
            probe()
        else:
            self._probe_pool.start(probe)

    def _on_device_found(self, name: str, kind: str = "cpu") -> None:
        if not self.running:  # a run in progress has named its own device
            self.device_label.setText(f"Device: {name}")
        self._show_default_tier("accurate" if kind == "cuda" else "fast")

    def _show_default_tier(self, tier: str | None) -> None:
        """Tick Accurate as "auto" resolves on this machine, while the user has not chosen (nothing is stored)."""
        if self._tier_choice is not None or tier not in ("fast", "accurate"):
            return
        self._showing_default = True
        try:
            self.accurate_action.setChecked(tier == "accurate")
        finally:
            self._showing_default = False

    def _update_device_label(self, device: Any = None) -> None:
        from models.runtime import describe_device, select_device

        device = device if device is not None else select_device("auto", self.force_cpu)
        self.device_label.setText(f"Device: {describe_device(device)}")

    @property
    def tier_request(self) -> str:
        """The tier asked for: "accurate" / "fast" once chosen (remembered), else "auto" (by device)."""
        return self._tier_choice or "auto"

    @property
    def tta(self) -> str:
        """Test-time augmentation of the next run: a tier's own ("auto"); for a loaded checkpoint "flip"
        when Accurate is on (what Accurate adds to one model), else the device's default."""
        if self.user_model is not None and self.accurate_action.isChecked():
            return "flip"
        return "auto"

    def _on_accurate_toggled(self, checked: bool) -> None:
        if self._showing_default:
            return  # the device's default shown, not a choice: nothing is remembered
        self._tier_choice = "accurate" if checked else "fast"
        self._settings.setValue(ACCURATE_KEY, bool(checked))
        self._settings.sync()

    def _on_force_cpu_toggled(self, checked: bool) -> None:
        self._settings.setValue(FORCE_CPU_KEY, bool(checked))
        self._settings.sync()
        self._update_device_label()

    def _status(self, text: str, msecs: int = 0) -> None:
        self.app.show_message(text, msecs)

    def _show_dropped(self, text: str) -> None:
        """Status bar: a run was given up because the user opened another patient (no silent loss)."""
        self.dropped_label.setText(text)
        self.dropped_label.setToolTip(text)
        self.dropped_label.show()
        self._dropped_timer.start(DROPPED_NOTICE_MS)
        self._status(text, DROPPED_NOTICE_MS)


def _plain(text: str) -> str:
    return text.replace("&", "").replace("…", "").replace("...", "").strip().lower()
