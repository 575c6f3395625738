"""Modality selector and window/level control for the displayed volume."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.discovery import MODALITIES, MODALITY_LABELS

from brats_desktop.app.state import ViewerState


class DisplayPanel(QWidget):
    """Radio buttons T1/T1CE/T2/FLAIR (missing ones disabled), level/width, and the window presets."""

    def __init__(
        self, state: ViewerState, parent: QWidget | None = None, presets: Sequence[QAction] = (),
    ) -> None:
        super().__init__(parent)
        self.state = state
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.modality_buttons: dict[str, QRadioButton] = {}
        self._group = QButtonGroup(self)
        for key in MODALITIES:
            button = QRadioButton(MODALITY_LABELS[key])
            button.setObjectName(f"modality_{key}")
            button.setEnabled(False)
            button.toggled.connect(lambda on, k=key: on and self._on_modality_clicked(k))
            self._group.addButton(button)
            self.modality_buttons[key] = button
            row.addWidget(button)
        # Packed to the left: a radio button stretched over a wide dock only reacts on its circle
        # and text, so a click in the blank stretch to the right of "T1" did nothing.
        row.addStretch(1)
        layout.addLayout(row)

        form = QFormLayout()
        self.level = self._spin("Centre of the displayed intensity range")
        self.width = self._spin("Width of the displayed intensity range")
        self.width.setMinimum(1e-6)
        form.addRow("Level", self.level)
        form.addRow("Width", self.width)
        layout.addLayout(form)
        self.preset_buttons: list[QToolButton] = []
        if presets:
            # The window/level preset actions (views/window_level.py); the first is Auto = reset.
            row = QHBoxLayout()
            row.setSpacing(2)
            for action in presets:
                button = QToolButton()
                button.setDefaultAction(action)  # shows the action's short iconText
                button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                row.addWidget(button)
                self.preset_buttons.append(button)
            layout.addLayout(row)
            self.reset_button: QAbstractButton = self.preset_buttons[0]
        else:
            self.reset_button = QPushButton("Reset (auto 0.5–99.5 %)")
            self.reset_button.setToolTip("Robust percentiles of the intensities inside the brain")
            self.reset_button.clicked.connect(lambda: self.state.reset_window())
            layout.addWidget(self.reset_button)
        # Only as tall as its controls: the docks below (layers, annotation) get the rest.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        self._updating = False
        self.level.valueChanged.connect(self._on_spin_changed)
        self.width.valueChanged.connect(self._on_spin_changed)
        state.patient_changed.connect(self._refresh)
        state.modalities_changed.connect(self._refresh)
        state.modality_changed.connect(self._refresh)
        state.window_changed.connect(self._on_window_changed)
        self._refresh()

    def _spin(self, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(-1e9, 1e9)
        spin.setDecimals(3)
        spin.setKeyboardTracking(False)
        spin.setToolTip(tip)
        return spin

    def _refresh(self, *_args: object) -> None:
        patient = self.state.patient
        for key, button in self.modality_buttons.items():
            button.setEnabled(patient is not None and key in patient.images)
            tip = "" if button.isEnabled() else f"{MODALITY_LABELS[key]} is not in this patient folder"
            button.setToolTip(tip)
        current = self.state.modality
        if current in self.modality_buttons:
            self._updating = True
            self.modality_buttons[current].setChecked(True)
            self._updating = False
        self._show_window()

    def _show_window(self) -> None:
        low, high = self.state.window()
        step = max((high - low) / 100.0, 1e-3)
        self._updating = True
        self.level.setSingleStep(step)
        self.width.setSingleStep(step)
        self.level.setValue((low + high) / 2.0)
        self.width.setValue(high - low)
        self._updating = False

    def _on_modality_clicked(self, key: str) -> None:
        if not self._updating and self.state.patient is not None:
            self.state.set_modality(key)

    def _on_window_changed(self, modality: str, _low: float, _high: float) -> None:
        if modality == self.state.modality:
            self._show_window()

    def _on_spin_changed(self, _value: float) -> None:
        if self._updating or self.state.modality is None:
            return
        level, width = self.level.value(), self.width.value()
        self.state.set_window(self.state.modality, level - width / 2.0, level + width / 2.0)
