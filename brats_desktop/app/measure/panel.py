"""The Measurements dock: volumes per class, RANO bidimensional measurement per enhancing lesion, rulers.

It measures one label layer (the prediction by default, else the ground truth; a
combo box chooses) and recomputes, debounced, when that layer's labels change — only
while the dock is visible, so painting with the dock hidden costs nothing. Copy puts
the table on the clipboard as tab-separated text (pastes into a spreadsheet), Save
CSV writes it beside the patient under the project's naming scheme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.measurements import MeasurementReport, measure, report_rows

from brats_desktop.app.state import GROUND_TRUTH, PREDICTION, LabelLayer

from brats_desktop.app.measure.texts import ruler_caption, slice_label

if TYPE_CHECKING:
    from brats_desktop.app.measure.ruler import RulerStore
    from brats_desktop.app.state import ViewerState

# Short headers keep the dock narrow; the tooltips (and the CSV header) spell them out.
COLUMNS: tuple[str, ...] = ("Item", "mL", "Slice", "Long", "Perp.", "mm²", "Meas.")
COLUMN_TIPS: dict[str, str] = {
    "mL": "Volume in millilitres",
    "Slice": "The file's own axial slice index (k) where the lesion's cross-section is largest",
    "Long": "Longest in-plane diameter on that slice in mm (RANO); for a ruler, its length",
    "Perp.": "Longest diameter perpendicular to it on the same slice, in mm",
    "mm²": "Bidimensional product (RANO), long x perpendicular diameter",
    "Meas.": "RANO measurable disease: both diameters at least 10 mm",
}
ROW_HEIGHT = 22
REFRESH_DELAY_MS = 250


class MeasurementsPanel(QWidget):
    """Table of volumes, lesions and rulers of the measured layer, with Copy and Save CSV."""

    measured = Signal(object)  # MeasurementReport (or None without a layer)
    copy_requested = Signal()
    save_requested = Signal()
    lines_toggled = Signal(bool)  # "Show RANO diameters" ticked or not
    lesion_chosen = Signal(int)  # the lesion number of a clicked row (the cursor moved there too)

    def __init__(self, state: "ViewerState", store: "RulerStore", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MeasurementsPanel")
        self.state = state
        self.store = store
        self.report: MeasurementReport | None = None
        self._layer: LabelLayer | None = None
        self._stale = True
        self.on_screen = True  # set_on_screen (the dock's visibilityChanged); True outside a dock
        self._known: set[str] = set()  # layer names seen, to notice a new prediction

        self.layer_combo = QComboBox()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for c, name in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(c).setToolTip(COLUMN_TIPS.get(name, name))
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.show_lines = QCheckBox("Show RANO diameters on the axial view")
        self.show_lines.setChecked(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the table as tab-separated text (pastes into a spreadsheet)")
        self.save_button = QPushButton("Save CSV…")
        note = QLabel(
            "RANO: per enhancing lesion, the longest diameter on the axial slice where it is largest "
            "and the longest diameter perpendicular to it. Click a row to go there."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: gray;")

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        top.addWidget(self.layer_combo, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.show_lines)
        layout.addLayout(buttons)
        layout.addWidget(note)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.layer_combo.currentTextChanged.connect(self._on_layer_chosen)
        self.table.cellClicked.connect(self._on_row_clicked)
        self.copy_button.clicked.connect(self.copy_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.show_lines.toggled.connect(self.lines_toggled)
        self.state.layers_changed.connect(self._on_layers_changed)
        self.state.patient_changed.connect(self._on_patient_changed)
        store.rulers_changed.connect(self._on_rulers_changed)
        self._on_layers_changed()

    # -- which layer ---------------------------------------------------------------------
    @property
    def layer(self) -> LabelLayer | None:
        return self._layer

    def _on_patient_changed(self, _patient: object) -> None:
        self.report = None  # another patient's numbers must not be copied, saved or drawn
        self.measured.emit(None)
        self._on_layers_changed()

    def _on_layers_changed(self, *_args: object) -> None:
        layers = self.state.layers
        names = [layer.name for layer in layers]
        current = self.layer_combo.currentText()
        # A prediction that just arrived is what the user wants measured.
        fresh = next((l for l in layers if l.kind == PREDICTION and l.name not in self._known), None)
        if fresh is not None:
            current = fresh.name
        elif current not in names:
            preferred = next((l for l in layers if l.kind == PREDICTION), None) or next(
                (l for l in layers if l.kind == GROUND_TRUTH), None
            ) or (layers[0] if layers else None)
            current = preferred.name if preferred is not None else ""
        self._known = set(names)
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        self.layer_combo.setCurrentText(current)
        self.layer_combo.blockSignals(False)
        self._on_layer_chosen(current)

    def _on_layer_chosen(self, name: str) -> None:
        layer = self.state.layer(name) if name else None
        if self._layer is not None and self._layer is not layer:
            try:
                self._layer.labels_changed.disconnect(self._on_labels_changed)
            except (RuntimeError, TypeError):  # pragma: no cover - layer already gone
                pass
        if layer is not None and layer is not self._layer:
            layer.labels_changed.connect(self._on_labels_changed)
        self._layer = layer
        self._invalidate()

    def set_layer(self, name: str) -> None:
        """Measure the layer called ``name`` (as choosing it in the combo box)."""
        self.layer_combo.setCurrentText(name)

    # -- recomputing ---------------------------------------------------------------------
    def _on_labels_changed(self, _bbox: object) -> None:
        self._invalidate()

    def _invalidate(self) -> None:
        self._stale = True
        if self.on_screen and self.isVisible():
            self._timer.start()
        else:
            self._timer.stop()

    def set_on_screen(self, shown: bool) -> None:
        """The dock's ``visibilityChanged``. A dock tabbed away behind another stays isVisible()
        (Qt moves it off screen) and gets no showEvent when its tab comes back, so the controller
        tells the panel: measuring a volume on every patient change for a hidden tab cost the
        cohort's next case its latency. Shown again after changes → measure at once (no old
        patient's numbers flash up)."""
        self.on_screen = bool(shown)
        if self.on_screen and self._stale:
            self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._stale:
            self._timer.start()

    def refresh(self) -> MeasurementReport | None:
        """Measure the chosen layer now and show it (also the debounce timer's slot)."""
        self._timer.stop()
        self._stale = False
        patient, layer = self.state.patient, self._layer
        if patient is None or layer is None:
            self.report = None
            self.summary.setText("No label layer to measure: open a patient with a segmentation or run Segment → Run.")
        else:
            self.report = measure(layer.data, patient.spacing)
            n = len(self.report.lesions)
            specks = self.report.small_lesions
            self.summary.setText(
                f"{layer.name}: {n} enhancing lesion{'s' if n != 1 else ''}"
                + (f", {sum(l.measurable for l in self.report.lesions)} measurable" if n else "")
                + (f" (and {specks} speck{'s' if specks != 1 else ''} of at most 50 mm³)" if specks else "")
                + "."
            )
        self._fill()
        self.measured.emit(self.report)
        return self.report

    def _on_rulers_changed(self) -> None:
        if self.store.preview is None:
            self._fill()

    # -- table -----------------------------------------------------------------------------
    def rows(self) -> list[list[str]]:
        """What the table shows (and Copy / Save CSV write), header excluded."""
        if self.state.patient is None:
            return []
        patient = self.state.patient
        rows = report_rows(self.report, lambda z: slice_label(patient, z)) if self.report is not None else []
        for n, ruler in enumerate(self.store.rulers(), start=1):
            rows.append([ruler_caption(patient, n, ruler), "", "", f"{ruler.length_mm:.1f}", "", "", ""])
        return rows

    def _fill(self) -> None:
        rows = self.rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    align = Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
                    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(r, c, item)
                item.setText(text)

    def _on_row_clicked(self, row: int, _column: int) -> None:
        """A lesion row moves the cursor onto the lesion, on the slice where it was measured."""
        if self.report is None:
            return
        first_lesion = len(report_rows(MeasurementReport(self.report.volumes_ml, [])))
        index = row - first_lesion
        if 0 <= index < len(self.report.lesions):
            lesion = self.report.lesions[index]
            self.lesion_chosen.emit(lesion.number)
            self.state.set_cursor(lesion.centre)
