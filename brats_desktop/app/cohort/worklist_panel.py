"""The "Worklist" dock: the cohort's cases in a sortable, filterable table, and the current case's review.

A view only: it shows :class:`WorklistModel` through :class:`WorklistFilter` and turns
clicks and typing into signals; the :class:`~brats_desktop.app.cohort.controller.CohortController`
decides what they do.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.cohort import STATUSES

from .worklist_model import CASE, KEY_ROLE, STATUS, NO_PREDICTION, PROBLEMS, WorklistFilter, WorklistModel

ALL_CASES = "All cases"


class WorklistPanel(QWidget):
    """Table of cases + filter, status and comment of the open case, Segment All with progress."""

    case_activated = Signal(str)  # double-click / Enter on a row: open that case
    status_chosen = Signal(str)  # the reviewer picked a status for the open case
    comment_entered = Signal(str)  # the reviewer finished typing a comment (Enter or focus out)
    segment_all_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = WorklistModel(self)
        self.proxy = WorklistFilter(self)
        self.proxy.setSourceModel(self.model)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title = QLabel("No cohort open. File → Open Cohort Folder…")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)

        filters = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by case, comment or problem…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.status_filter = QComboBox()
        self.status_filter.addItem(ALL_CASES, None)
        for status in STATUSES:
            self.status_filter.addItem(status.capitalize(), status)
        self.status_filter.addItem("No prediction", NO_PREDICTION)
        self.status_filter.addItem("Cannot open", PROBLEMS)
        self.status_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_status(self.status_filter.currentData())
        )
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.status_filter)
        layout.addLayout(filters)

        self.table = QTableView()
        self.table.setObjectName("WorklistTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(CASE, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        # Interactive, sized once per cohort: ResizeToContents would rescan every row on each change.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.model.modelReset.connect(self._fit_columns)
        self.table.doubleClicked.connect(self._on_double_clicked)
        self.table.activated.connect(self._on_double_clicked)  # Enter on a row
        layout.addWidget(self.table, 1)

        review = QHBoxLayout()
        self.current_label = QLabel("No case open")
        self.status_combo = QComboBox()
        self.status_combo.setObjectName("ReviewStatus")
        for status in STATUSES:
            self.status_combo.addItem(status.capitalize(), status)
        self.status_combo.activated.connect(
            lambda i: self.status_chosen.emit(self.status_combo.itemData(i))
        )
        self.comment_edit = QLineEdit()
        self.comment_edit.setObjectName("ReviewComment")
        self.comment_edit.setPlaceholderText("Comment on this case…")
        self.comment_edit.editingFinished.connect(lambda: self.comment_entered.emit(self.comment_edit.text()))
        review.addWidget(self.current_label)
        review.addWidget(self.status_combo)
        review.addWidget(self.comment_edit, 1)
        layout.addLayout(review)

        batch = QHBoxLayout()
        self.segment_all_button = QPushButton("Segment All")
        self.segment_all_button.setToolTip("Run the model on every case without a prediction, in the background")
        self.segment_all_button.clicked.connect(self.segment_all_requested)
        self.progress = QProgressBar()
        self.progress.setObjectName("SegmentAllProgress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.hide()
        batch.addWidget(self.segment_all_button)
        batch.addWidget(self.progress, 1)
        batch.addWidget(self.cancel_button)
        layout.addLayout(batch)
        self.set_review_enabled(False)

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()
        for column in range(self.model.columnCount()):  # room for the open case's bold text
            self.table.setColumnWidth(column, self.table.columnWidth(column) + 12)
        self.table.setColumnWidth(STATUS, max(self.table.columnWidth(STATUS), 90))

    def _on_double_clicked(self, index: QModelIndex) -> None:
        key = index.data(KEY_ROLE)
        if key:
            self.case_activated.emit(key)

    def set_review_enabled(self, enabled: bool) -> None:
        self.status_combo.setEnabled(enabled)
        self.comment_edit.setEnabled(enabled)

    def show_review(self, name: str, status: str, comment: str) -> None:
        """Status and comment of the open case (no signals: they come from the reviewer only)."""
        self.current_label.setText(name)
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(status)))
        self.comment_edit.setText(comment)
        self.set_review_enabled(True)

    def select_case(self, key: str) -> None:
        """Select (and scroll to) the row of ``key`` in the filtered, sorted table."""
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(KEY_ROLE) == key:
                self.table.selectRow(row)
                self.table.scrollTo(index)
                return
        self.table.clearSelection()

    def row_rect_centre(self, key: str):
        """Centre of ``key``'s first cell in table viewport coordinates (for tests and scripts)."""
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(KEY_ROLE) == key:
                self.table.scrollTo(index)
                return self.table.visualRect(index).center()
        return None
