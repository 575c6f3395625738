"""Dock panel comparing the prediction with the ground truth, BraTS style.

With both layers: Dice, precision, sensitivity and specificity for each class (NCR, ED,
ET) and region (WT, TC, ET), and volumes in mL for both. Without ground truth: the
prediction's volumes only. Numbers come from :mod:`brats_desktop.core.metrics` (the
same functions ``brats-evaluate`` and ``brats-predict`` use); the panel only observes
the layers and redraws, debounced, when their labels change, so corrections painted
into either layer update it.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.label_meaning import label1_name
from brats_desktop.core.metrics import Confusion, class_volumes_ml, compare

from brats_desktop.app.state import GROUND_TRUTH, PREDICTION, LabelLayer, ViewerState

# (row label, key in core.metrics.compare) — ET is both a class and a region (one row).
OVERLAP_ROWS: tuple[tuple[str, str], ...] = (
    ("NCR", "NCR"), ("ED", "ED"), ("ET", "ET"), ("WT", "WT"), ("TC", "TC"),
)
# Short headers fit the dock; the tooltips spell them out.
OVERLAP_COLUMNS: tuple[str, ...] = ("Dice", "Prec.", "Sens.", "Spec.")
COLUMN_TIPS: dict[str, str] = {
    "Dice": "Dice similarity coefficient 2TP / (2TP + FP + FN)",
    "Prec.": "Precision (positive predictive value) TP / (TP + FP)",
    "Sens.": "Sensitivity (recall) TP / (TP + FN)",
    "Spec.": "Specificity TN / (TN + FP), over the whole volume",
    "Prediction (mL)": "Volume of the prediction layer",
    "Ground truth (mL)": "Volume of the ground-truth layer",
}
ROW_TIPS: dict[str, str] = {
    "NCR": "Necrotic / non-enhancing tumour core (class 1)",
    "ED": "Peritumoral edema (class 2)",
    "ET": "Enhancing tumour (class 3): a class and a BraTS region at once",
    "WT": "Whole tumour region: NCR + ED + ET",
    "TC": "Tumour core region: NCR + ET",
}
VOLUME_ROWS: tuple[str, ...] = ("NCR", "ED", "ET", "WT", "TC")
VOLUME_COLUMNS: tuple[str, ...] = ("Prediction (mL)", "Ground truth (mL)")
ROW_HEIGHT = 22
REFRESH_DELAY_MS = 120  # coalesces the many labels_changed of one brush stroke


@dataclass(frozen=True)
class MetricsSnapshot:
    """What the panel last showed, for callers that want numbers rather than text."""

    confusion: dict[str, Confusion] | None
    prediction_ml: dict[str, float] | None
    reference_ml: dict[str, float] | None


def format_value(value: float | None, digits: int = 3) -> str:
    """Table text of a number; ``—`` for missing."""
    return "—" if value is None else f"{value:.{digits}f}"


class MetricsPanel(QWidget):
    """Per-class and per-region agreement of the prediction layer with the ground truth."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MetricsPanel")
        self._state = state
        self._observed: list[LabelLayer] = []
        self._snapshot = MetricsSnapshot(None, None, None)
        # Whether the panel is on screen, from its dock's visibilityChanged (set_on_screen): a dock
        # tabbed away behind another stays isVisible() (Qt moves it off screen), so that cannot tell.
        # True until told otherwise: a panel outside any dock computes as before.
        self.on_screen = True
        self._stale = False  # something changed while off screen: recompute when shown

        self.summary = QLabel("Open a patient and run Segment → Run.")
        self.summary.setWordWrap(True)
        self.overlap_table = _table([r for r, _ in OVERLAP_ROWS], OVERLAP_COLUMNS)
        self.volume_table = _table(list(VOLUME_ROWS), VOLUME_COLUMNS)
        self.note = QLabel(
            "Classes NCR, ED, ET; regions WT, TC, ET (ET is both). Dice is 1.0 when prediction "
            "and ground truth are both empty (BraTS convention)."
        )
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: gray;")
        self.label_meaning = QLabel()  # what label 1 means in the prediction (set by the segment controller)
        self.label_meaning.setObjectName("LabelMeaning")
        self.label_meaning.setWordWrap(True)
        self.label_meaning.hide()
        # One line, only when prediction and ground truth give label 1 different meanings.
        self.meaning_warning = QLabel()
        self.meaning_warning.setObjectName("LabelMeaningWarning")
        self.meaning_warning.setWordWrap(True)
        self.meaning_warning.setStyleSheet("color: #d08000; font-weight: bold;")
        self.meaning_warning.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.meaning_warning)
        layout.addWidget(self.label_meaning)
        layout.addWidget(self.overlap_table)
        layout.addWidget(self.volume_table)
        layout.addWidget(self.note)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

        state.layers_changed.connect(self._on_layers_changed)
        state.patient_changed.connect(self._on_layers_changed)
        state.ncr_definition_changed.connect(self._on_ncr_definition_changed)
        self._on_layers_changed()
        self._on_ncr_definition_changed(state.ncr_definition)

    # -- observation -------------------------------------------------------------------
    def _layers(self) -> tuple[LabelLayer | None, LabelLayer | None]:
        layers = self._state.layers
        pred = next((layer for layer in layers if layer.kind == PREDICTION), None)
        ref = next((layer for layer in layers if layer.kind == GROUND_TRUTH), None)
        return pred, ref

    def _on_layers_changed(self, *_args: object) -> None:
        for layer in self._observed:
            try:
                layer.labels_changed.disconnect(self._on_labels_changed)
            except (RuntimeError, TypeError):  # pragma: no cover - layer already gone
                pass
        self._observed = [layer for layer in self._layers() if layer is not None]
        for layer in self._observed:
            layer.labels_changed.connect(self._on_labels_changed)
        self._request_refresh(now=True)

    def _on_labels_changed(self, _bbox: object) -> None:
        self._request_refresh(now=False)  # the timer restarts while a stroke keeps painting

    def _request_refresh(self, now: bool) -> None:
        """Recompute now / after the debounce when on screen; else only remember to. The Dice and
        volumes of a whole volume cost tens of ms per patient, which the cohort's next case must not
        pay for a tab nobody looks at."""
        self._stale = True
        if not self.on_screen:
            self._timer.stop()
        elif now:
            self.refresh()
        else:
            self._timer.start()

    def set_on_screen(self, shown: bool) -> None:
        """The dock's ``visibilityChanged``: shown again after changes → recompute at once."""
        self.on_screen = bool(shown)
        if self.on_screen and self._stale:
            self.refresh()

    def _on_ncr_definition_changed(self, key: str) -> None:
        self.overlap_table.verticalHeaderItem(0).setToolTip(f"{label1_name(key)} (class 1)")

    def set_meaning_warning(self, text: str | None) -> None:
        """Warn (one line) that label 1 means different things in the prediction and the ground truth."""
        self.meaning_warning.setText(text or "")
        self.meaning_warning.setVisible(bool(text))

    def set_label_meaning(self, text: str | None) -> None:
        """Say what label 1 of the prediction means: NCR and TC Dice are only fair against a reference meaning the same."""
        self.label_meaning.setText(text or "")
        self.label_meaning.setVisible(bool(text))

    # -- computing and showing -----------------------------------------------------------
    @property
    def snapshot(self) -> MetricsSnapshot:
        return self._snapshot

    def refresh(self) -> None:
        """Recompute from the current layers (also called by the debounce timer)."""
        self._timer.stop()
        self._stale = False
        patient = self._state.patient
        pred, ref = self._layers()
        if patient is None:
            self._show(MetricsSnapshot(None, None, None), "Open a patient and run Segment → Run.")
            return
        ml = patient.voxel_volume_ml
        pred_ml = class_volumes_ml(pred.data, ml) if pred is not None else None
        ref_ml = class_volumes_ml(ref.data, ml) if ref is not None else None
        confusion = compare(pred.data, ref.data) if pred is not None and ref is not None else None
        if pred is None and ref is None:
            text = f"{patient.name}: no segmentation yet. Run Segment → Run."
        elif pred is None:
            text = f"{patient.name}: ground truth volumes; run Segment → Run to compare a prediction."
        elif ref is None:
            text = f"{patient.name}: no ground truth in this folder, so volumes only."
        else:
            text = f"{patient.name}: prediction compared with the ground truth."
        self._show(MetricsSnapshot(confusion, pred_ml, ref_ml), text)

    def _show(self, snap: MetricsSnapshot, text: str) -> None:
        self._snapshot = snap
        self.summary.setText(text)
        self.overlap_table.setVisible(snap.confusion is not None)
        self.note.setVisible(snap.confusion is not None)
        for row, (_, key) in enumerate(OVERLAP_ROWS):
            c = snap.confusion[key] if snap.confusion is not None else None
            values = (None,) * 4 if c is None else (c.dice, c.precision, c.sensitivity, c.specificity)
            digits = (3, 3, 3, 4)  # specificity lives near 1.0: one more digit to see differences
            for col, (value, d) in enumerate(zip(values, digits)):
                _set(self.overlap_table, row, col, format_value(value, d))
        self.volume_table.setVisible(snap.prediction_ml is not None or snap.reference_ml is not None)
        self.volume_table.setColumnHidden(0, snap.prediction_ml is None)
        self.volume_table.setColumnHidden(1, snap.reference_ml is None)
        for row, key in enumerate(VOLUME_ROWS):
            for col, vols in enumerate((snap.prediction_ml, snap.reference_ml)):
                _set(self.volume_table, row, col, format_value(None if vols is None else vols[key], 2))

    def cell_text(self, table: QTableWidget, row_label: str, column: str) -> str:
        """Displayed text of one cell, addressed by its headers (used by tests and tooltips)."""
        rows = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
        cols = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
        item = table.item(rows.index(row_label), cols.index(column))
        return item.text() if item is not None else ""


def _table(rows: list[str], columns: tuple[str, ...]) -> QTableWidget:
    """A read-only table exactly as tall as its rows, so the dock never scrolls half a row."""
    table = QTableWidget(len(rows), len(columns))
    table.setVerticalHeaderLabels(rows)
    table.setHorizontalHeaderLabels(list(columns))
    for c, name in enumerate(columns):
        table.horizontalHeaderItem(c).setToolTip(COLUMN_TIPS.get(name, name))
    for r, name in enumerate(rows):
        table.verticalHeaderItem(r).setToolTip(ROW_TIPS.get(name, name))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    header = table.horizontalHeader().sizeHint().height()
    table.setFixedHeight(header + ROW_HEIGHT * len(rows) + 2 * table.frameWidth() + 2)
    return table


def _set(table: QTableWidget, row: int, col: int, text: str) -> None:
    item = table.item(row, col)
    if item is None:
        item = QTableWidgetItem()
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        table.setItem(row, col, item)
    item.setText(text)
