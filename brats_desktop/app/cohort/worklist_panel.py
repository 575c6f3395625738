"""The "Worklist" dock: the cohort's cases in a sortable, filterable table, and the current case's review.

A view only: it shows :class:`WorklistModel` through :class:`WorklistFilter` and turns
clicks and typing into signals; the :class:`~brats_desktop.app.cohort.controller.CohortController`
decides what they do.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.cohort import STATUSES

from .worklist_model import (
    AI_COLUMNS, CASE, CORRECTED_COLUMNS, KEY_ROLE, STATUS, NO_PREDICTION, PROBLEMS, WorklistFilter, WorklistModel,
)

ALL_CASES = "All cases"
# Hidden until asked for (header context menu): the volume columns. With every column the
# table needs ~1500 px and pushed the views aside at the default 1400×900; Dice, status and
# problems say what needs a look, the volumes are in the exported summary.
DEFAULT_HIDDEN_COLUMNS: tuple[int, ...] = (*AI_COLUMNS.values(), *CORRECTED_COLUMNS.values())
TABLE_ROWS_WANTED = 4  # rows the table asks room for; the slice views get the rest of the height


class _CompactTable(QTableView):
    """Asks for a few rows, not Qt's default 192 px + scroll: the views have priority."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        rows = self.verticalHeader().defaultSectionSize() * TABLE_ROWS_WANTED
        return QSize(super().sizeHint().width(), rows + self.horizontalHeader().sizeHint().height() + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        rows = self.verticalHeader().defaultSectionSize() * 2
        return QSize(120, rows + self.horizontalHeader().sizeHint().height() + 4)


class WorklistPanel(QWidget):
    """Table of cases + filter, status and comment of the open case, Segment All with progress."""

    case_activated = Signal(str)  # double-click / Enter on a row: open that case
    status_chosen = Signal(str)  # the reviewer picked a status for the open case
    comment_entered = Signal(str)  # the reviewer finished typing a comment (Enter or focus out)
    segment_all_requested = Signal()
    cancel_requested = Signal()
    collapsed_changed = Signal(bool)  # the case list was hidden (True) or shown again
    columns_changed = Signal(list)  # the hidden columns, after the reviewer changed them


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
        # On the review row (always shown), so the list can be brought back from a collapsed dock.
        self.collapse_button = QToolButton()
        self.collapse_button.setObjectName("WorklistCollapse")
        self.collapse_button.setCheckable(True)
        self.collapse_button.setToolTip("Hide the case list (N / P still move through it), or show it again")
        self.collapse_button.toggled.connect(self.set_list_collapsed)

        self._filters = filters = QHBoxLayout()
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

        self.table = _CompactTable()
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
        header = self.table.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._on_header_menu)
        self.column_menu: QMenu | None = None  # the open header menu (tests pick its actions)
        self.set_hidden_columns(DEFAULT_HIDDEN_COLUMNS)
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
        review.addWidget(self.collapse_button)
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
        self._set_collapse_text(False)

    # ------------------------------------------------------------------ room for the views
    @property
    def list_collapsed(self) -> bool:
        return self.table.isHidden()

    def set_list_collapsed(self, collapsed: bool) -> None:
        """Hide the title, filter and table (the open case's review row stays); the views get the room."""
        if collapsed == self.list_collapsed:
            return
        self.table.setVisible(not collapsed)
        self.title.setVisible(not collapsed)
        for i in range(self._filters.count()):
            widget = self._filters.itemAt(i).widget()
            if widget is not None:
                widget.setVisible(not collapsed)
        self.collapse_button.blockSignals(True)
        self.collapse_button.setChecked(collapsed)
        self.collapse_button.blockSignals(False)
        self._set_collapse_text(collapsed)
        self.collapsed_changed.emit(collapsed)

    def _set_collapse_text(self, collapsed: bool) -> None:
        self.collapse_button.setText("Show list ▴" if collapsed else "Hide list ▾")

    def hidden_columns(self) -> list[int]:
        return sorted(self._hidden)

    def set_hidden_columns(self, columns) -> None:
        """Hide exactly ``columns`` (the case name always shows); kept across cohorts."""
        self._hidden = {int(c) for c in columns} - {CASE}
        self._apply_hidden()

    def _apply_hidden(self) -> None:
        for column in range(self.model.columnCount()):
            self.table.setColumnHidden(column, column in self._hidden)

    def _on_header_menu(self, pos: QPoint) -> None:
        """Right-click on the header: a check box per column."""
        menu = QMenu(self)
        for column in range(self.model.columnCount()):
            if column == CASE:
                continue
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal))
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not self.table.isColumnHidden(column))
            action.toggled.connect(lambda on, c=column: self._set_column_shown(c, on))
        self.column_menu = menu
        # popup, not exec: a nested event loop would block whoever opened it (and every test).
        menu.popup(self.table.horizontalHeader().mapToGlobal(pos))

    def _set_column_shown(self, column: int, shown: bool) -> None:
        if shown:
            self._hidden.discard(column)
        else:
            self._hidden.add(column)
        self._apply_hidden()
        self.columns_changed.emit(self.hidden_columns())

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()
        for column in range(self.model.columnCount()):  # room for the open case's bold text
            self.table.setColumnWidth(column, self.table.columnWidth(column) + 12)
        self.table.setColumnWidth(STATUS, max(self.table.columnWidth(STATUS), 90))
        # The last column stretches to the table's edge: sized to its text it could only push the
        # table past it (a horizontal scroll bar at 1400×900), so it starts narrow and grows.
        last = self.model.columnCount() - 1
        self.table.setColumnWidth(last, self.table.horizontalHeader().minimumSectionSize())
        self._apply_hidden()

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
