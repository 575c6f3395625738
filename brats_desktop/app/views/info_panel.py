"""The Case dock's contents: patient, files, label convention, display convention, legend."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from brats_desktop.core.discovery import MODALITIES, MODALITY_LABELS
from brats_desktop.core.label_meaning import label1_name
from brats_desktop.core.labels import CLASS_NAMES, CLASS_SHORT, TUMOUR_CLASSES

from brats_desktop.app.state import ViewerState
from brats_desktop.app.views.layers_panel import swatch
from brats_desktop.app.views.slice_view import CONVENTION_TEXT


class InfoPanel(QWidget):
    """Bottom-right pane: patient, files, label convention, display convention, legend."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setObjectName("info_panel")
        self.setStyleSheet("#info_panel { background: #161616; } QLabel { color: #ddd; }")
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.text)
        self.legend: dict[int, QLabel] = {}
        for cls in TUMOUR_CLASSES:
            row = QHBoxLayout()
            row.addWidget(swatch(cls))
            self.legend[cls] = QLabel(f"{CLASS_SHORT[cls]}: {CLASS_NAMES[cls]}")
            row.addWidget(self.legend[cls], 1)
            layout.addLayout(row)
        state.ncr_definition_changed.connect(self._on_ncr_definition_changed)
        self._on_ncr_definition_changed(state.ncr_definition)
        note = QLabel(CONVENTION_TEXT + " (letters on each view).")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addStretch(1)
        state.patient_changed.connect(self._refresh)
        state.modalities_changed.connect(self._refresh)
        self._refresh()

    def _on_ncr_definition_changed(self, key: str) -> None:
        """Class 1's legend names the meaning in use (necrosis alone from BraTS 2021 on)."""
        self.legend[1].setText(f"{CLASS_SHORT[1]}: {label1_name(key)}")

    def _refresh(self, *_args: object) -> None:
        p = self.state.patient
        if p is None:
            self.text.setText(
                "<b>No patient open.</b><br>File → Open Patient Folder… (Ctrl+O), "
                "or drop a folder on the window."
            )
            return
        present = ", ".join(MODALITY_LABELS[m] for m in p.modalities)
        missing = [MODALITY_LABELS[m] for m in MODALITIES if m not in p.images]
        lines = [f"<b>{p.name}</b>"]
        if p.folder is not None:
            lines.append(f"<small>{p.folder}</small>")
        lines.append(f"Volumes: {present}" + (" (loading…)" if self.state.loading else ""))
        if missing and not self.state.loading:
            lines.append(f"Missing: {', '.join(missing)}")
        sx, sy, sz = p.spacing
        lines.append(f"Grid: {p.shape[0]}×{p.shape[1]}×{p.shape[2]}, {sx:g}×{sy:g}×{sz:g} mm")
        seg = "yes" if p.ground_truth is not None else "none"
        lines.append(f"Segmentation: {seg}; labels {p.convention.value} "
                     f"({', '.join(map(str, p.convention.file_values))})")
        self.text.setText("<br>".join(lines))
