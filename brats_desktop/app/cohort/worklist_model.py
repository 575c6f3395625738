"""The worklist as a Qt table model over :class:`brats_desktop.core.cohort.Cohort`, plus its filter.

The cohort (numpy/JSON, no Qt) stays the one source of truth; this model only
presents it and is told which rows changed (:meth:`WorklistModel.refresh_case`).
Numbers sort as numbers through :data:`SORT_ROLE`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from brats_desktop.core.cohort import FLAGGED, REGION_KEYS, CaseRecord, Cohort
from brats_desktop.core.discovery import MODALITY_LABELS

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2

CASE, MODALITIES, GT, PREDICTION, STATUS, COMMENT = range(6)
AI_COLUMNS = {k: 6 + i for i, k in enumerate(REGION_KEYS)}
CORRECTED_COLUMNS = {k: 9 + i for i, k in enumerate(REGION_KEYS)}
DICE_COLUMNS = {k: 12 + i for i, k in enumerate(REGION_KEYS)}
PROBLEM = 15
HEADERS = (
    "Case", "Modalities", "GT", "Prediction", "Status", "Comment",
    "AI WT", "AI TC", "AI ET", "Corr. WT", "Corr. TC", "Corr. ET",
    "Dice WT", "Dice TC", "Dice ET", "Problem",
)
HEADER_TIPS = {
    **{c: f"{k} volume of the AI prediction (mL)" for k, c in AI_COLUMNS.items()},
    **{c: f"{k} volume of the saved correction (mL)" for k, c in CORRECTED_COLUMNS.items()},
    **{c: f"{k} Dice of the AI prediction against the ground truth" for k, c in DICE_COLUMNS.items()},
}
CANNOT_OPEN = "cannot open"
NO_PREDICTION = "no prediction"
PROBLEMS = "problems"


class WorklistModel(QAbstractTableModel):
    """One row per case of the cohort (failing folders included)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.cohort: Cohort | None = None
        self._files: dict[str, tuple[bool, bool]] = {}  # key -> (has prediction, has correction)
        self.current_key: str | None = None

    def set_cohort(self, cohort: Cohort | None) -> None:
        self.beginResetModel()
        self.cohort = cohort
        self.current_key = None
        self._files = {}
        if cohort is not None:
            for record in cohort.cases:
                self._files[record.key] = self._probe(record)
        self.endResetModel()

    def _probe(self, record: CaseRecord) -> tuple[bool, bool]:
        assert self.cohort is not None
        if not record.ok:
            return (False, False)
        return (self.cohort.has_prediction(record), self.cohort.has_correction(record))

    def record(self, row: int) -> CaseRecord:
        assert self.cohort is not None
        return self.cohort.cases[row]

    def row_of(self, key: str) -> int:
        assert self.cohort is not None
        return next(i for i, r in enumerate(self.cohort.cases) if r.key == key)

    def has_prediction(self, key: str) -> bool:
        return self._files.get(key, (False, False))[0]

    def refresh_case(self, key: str) -> None:
        """The case's files or review changed: re-read what the row shows."""
        if self.cohort is None:
            return
        row = self.row_of(key)
        self._files[key] = self._probe(self.cohort.cases[row])
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    def set_current(self, key: str | None) -> None:
        """The case on screen is shown in bold."""
        old, self.current_key = self.current_key, key
        for k in (old, key):
            if k is not None and self.cohort is not None:
                row = self.row_of(k)
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    # -- Qt model API ---------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() or self.cohort is None else len(self.cohort.cases)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.cohort is None:
            return None
        record = self.cohort.cases[index.row()]
        column = index.column()
        if role == KEY_ROLE:
            return record.key
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            value = self._value(record, column)
            if role == SORT_ROLE:
                return value if value is not None else (-1.0 if column >= AI_COLUMNS["WT"] else "")
            if isinstance(value, float):
                return f"{value:.3f}" if column in DICE_COLUMNS.values() else f"{value:.1f}"
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == CASE:
                return str(record.folder)
            if column in (COMMENT, PROBLEM):
                return self._value(record, column) or None
            if column == STATUS and record.review.user:
                return f"set by {record.review.user} at {record.review.updated}"
        if role == Qt.ItemDataRole.ForegroundRole:
            if not record.ok:
                return QBrush(QColor("#d9534f"))
            if record.damaged and column in (PROBLEM, MODALITIES):  # opens, but without a damaged file
                return QBrush(QColor("#e08e0b"))
            if record.review.status == FLAGGED and column == STATUS:
                return QBrush(QColor("#e08e0b"))
        if role == Qt.ItemDataRole.FontRole and record.key == self.current_key:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _value(self, record: CaseRecord, column: int) -> Any:
        review = record.review
        has_pred, has_corr = self._files.get(record.key, (False, False))
        if column == CASE:
            return record.name if "/" not in record.key else record.key
        if column == MODALITIES:
            return ", ".join(MODALITY_LABELS[m] for m in record.modalities)
        if column == GT:
            return "yes" if record.has_ground_truth else "no"
        if column == PREDICTION:
            return ("corrected" if has_corr else "yes") if has_pred or has_corr else "no"
        if column == STATUS:
            return review.status if record.ok else CANNOT_OPEN
        if column == COMMENT:
            return review.comment
        if column == PROBLEM:
            return record.problem
        for columns, values in (
            (AI_COLUMNS, review.ai_volumes_ml), (CORRECTED_COLUMNS, review.corrected_volumes_ml),
            (DICE_COLUMNS, review.dice_ai_vs_gt),
        ):
            for key, col in columns.items():
                if col == column:
                    return None if values is None else values.get(key)
        return None


class WorklistFilter(QSortFilterProxyModel):
    """Text filter (case, comment, problem) and a status filter; numbers sort as numbers."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self._text = ""
        self._status: str | None = None  # a status, NO_PREDICTION, PROBLEMS, or None for all

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_status(self, status: str | None) -> None:
        self.beginFilterChange()
        self._status = status or None
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, WorklistModel) or model.cohort is None:
            return True
        record = model.record(row)
        if self._status == PROBLEMS:
            if record.ok:
                return False
        elif self._status == NO_PREDICTION:
            if not record.ok or model.has_prediction(record.key):
                return False
        elif self._status is not None and (not record.ok or record.review.status != self._status):
            return False
        if self._text:
            haystack = " ".join((record.key, record.review.comment, record.error or "")).lower()
            return self._text in haystack
        return True

    def keys_in_order(self) -> list[str]:
        """Case keys as the table shows them now (sorted and filtered): the N / P order."""
        return [self.index(r, 0).data(KEY_ROLE) for r in range(self.rowCount())]
