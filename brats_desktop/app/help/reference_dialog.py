"""Help → Keyboard and Mouse Reference: two tables generated from the live window.

Rebuilt each time it is shown (:meth:`KeyboardReferenceDialog.refresh`), so a shortcut
added by any feature appears without anyone editing a help text. A key bound to two
actions (Qt then runs neither) is flagged in red, so the clash is seen, not guessed.
Non-modal: the user keeps it open beside the images while learning the keys.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.app.help.shortcuts import (
    GestureEntry,
    ShortcutEntry,
    gesture_entries,
    shortcut_conflicts,
    shortcut_entries,
)

CONFLICT_COLOUR = QColor(255, 205, 205)


def _table(headers: list[str], stretch: int) -> QTableWidget:
    """A read-only table; column ``stretch`` takes the spare width, the others fit their text."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


class KeyboardReferenceDialog(QDialog):
    """Keyboard shortcuts (from the window's actions) and mouse gestures, with a filter field."""

    def __init__(self, window: QMainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent if parent is not None else window)
        self._window = window
        self.setWindowTitle("Keyboard and Mouse Reference")
        self.setModal(False)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: type a key or a word (e.g. Ctrl, zoom, save)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.keys_table = _table(["Keys", "Command", "Where"], stretch=2)
        self.mouse_table = _table(["Mouse / key in a view", "Does", "Where"], stretch=1)
        self.conflict_note = QLabel()
        self.conflict_note.setWordWrap(True)
        self.conflict_note.setStyleSheet("color: #a00;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(QLabel("<b>Keyboard</b> (from the menus, tool bars and window actions)"))
        layout.addWidget(self.keys_table, 3)
        layout.addWidget(self.conflict_note)
        layout.addWidget(QLabel("<b>Mouse</b>"))
        layout.addWidget(self.mouse_table, 2)
        layout.addWidget(buttons)
        self.resize(920, 900)
        self.entries: list[ShortcutEntry] = []
        self.gestures: list[GestureEntry] = []
        self.refresh()

    def refresh(self) -> None:
        """Read the window's actions and the gesture tables again."""
        self.entries = shortcut_entries(self._window)
        conflicts = shortcut_conflicts(self.entries)
        self.keys_table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            items = [QTableWidgetItem(entry.native), QTableWidgetItem(entry.command), QTableWidgetItem(entry.where)]
            tip = entry.action.statusTip() or entry.action.toolTip()
            if entry.keys in conflicts:
                others = [e.command for e in conflicts[entry.keys] if e.action is not entry.action]
                tip = f"{entry.keys} is also bound to: {', '.join(others)}. Qt runs neither."
                for item in items:
                    item.setBackground(QBrush(CONFLICT_COLOUR))
            for col, item in enumerate(items):
                item.setToolTip(tip)
                self.keys_table.setItem(row, col, item)
        if conflicts:
            self.conflict_note.setText(
                "Bound to more than one action (neither runs): " + "; ".join(
                    f"{keys}: {', '.join(e.command for e in group)}" for keys, group in conflicts.items()
                )
            )
        self.conflict_note.setVisible(bool(conflicts))
        self.gestures = gesture_entries(self._window)
        self.mouse_table.setRowCount(len(self.gestures))
        for row, g in enumerate(self.gestures):
            for col, text in enumerate((g.gesture, g.effect, g.where)):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{g.gesture}: {g.effect} ({g.where})")
                self.mouse_table.setItem(row, col, item)
        # As tall as its rows (they are few): the keyboard table gets the rest of the height.
        t = self.mouse_table
        t.setMaximumHeight(
            t.horizontalHeader().sizeHint().height() + t.verticalHeader().length() + 2 * t.frameWidth() + 2
        )
        self._apply_filter(self.filter.text())

    def rows(self, table: QTableWidget | None = None) -> list[tuple[str, ...]]:
        """The visible (not filtered out) rows of a table as text tuples (the keys table by default)."""
        table = table if table is not None else self.keys_table
        return [
            tuple(table.item(r, c).text() for c in range(table.columnCount()))
            for r in range(table.rowCount()) if not table.isRowHidden(r)
        ]

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for table in (self.keys_table, self.mouse_table):
            for r in range(table.rowCount()):
                row_text = " ".join(table.item(r, c).text() for c in range(table.columnCount())).lower()
                table.setRowHidden(r, bool(needle) and needle not in row_text)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.refresh()
        super().showEvent(event)
