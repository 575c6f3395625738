"""The dialog where the user confirms or changes the role of each series before anything runs.

One row per series found: what the scanner called it, its size and voxel spacing, a role
box (T1 / T1CE / T2 / FLAIR / not used) pre-set to the proposal, and why. A damaged or
incomplete series is listed with its problem in red and cannot be given a role, so the user
sees what is left out. A role belongs to one series: choosing it for a second series takes it
from the first (as a radio choice would). The destination folder is shown and can be changed.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.preprocess.series import ROLE_LABELS, ROLES, ScanFolder, Series

NOT_USED = "(not used)"
COLUMNS = ("Series", "Size / spacing (mm)", "Role", "Why")


class RoleDialog(QDialog):
    """Rows of series with a role box each; ``roles()`` and ``output()`` once accepted."""

    roles_changed = Signal()
    browse_requested = Signal()  # the controller asks window.dialogs for a folder

    def __init__(self, scan: ScanFolder, output: Path, parent: QWidget | None = None,
                 needs: list[tuple[str, tuple[str, ...]]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import Scans — Confirm Sequence Roles")
        self.scan = scan
        self.needs = list(needs or [])  # (model, sequences) a segmentation could use after the import
        self.series: list[Series] = list(scan.series)
        self.combos: list[QComboBox] = []
        box = QVBoxLayout(self)
        box.addWidget(QLabel(
            f"<b>{len(self.series)} series</b> in {scan.root}.<br>Check the role of each series; "
            "every sequence will be registered to the T1CE, resampled to 1 mm and skull-stripped."))
        self.table = QTableWidget(len(self.series), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(False)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for row, s in enumerate(self.series):
            self.table.setItem(row, 0, QTableWidgetItem(s.description))
            dims = "×".join(str(n) for n in s.size) or "?"
            spacing = " × ".join(f"{v:g}" for v in s.spacing) or "?"
            self.table.setItem(row, 1, QTableWidgetItem(f"{dims}  ({spacing})"))
            combo = QComboBox()
            combo.addItem(NOT_USED, None)
            for role in ROLES:
                combo.addItem(ROLE_LABELS[role], role)
            combo.setCurrentIndex(combo.findData(s.role) if s.role else 0)
            combo.setEnabled(s.usable)
            combo.setObjectName(f"role_{row}")
            combo.currentIndexChanged.connect(lambda _i, r=row: self._on_role_chosen(r))
            self.table.setCellWidget(row, 2, combo)
            self.combos.append(combo)
            why = QTableWidgetItem(s.problem or s.reason)
            why.setToolTip(s.problem or s.reason)
            if s.problem:
                why.setForeground(QColor(200, 30, 30))
                why.setToolTip(f"{s.source}: {s.problem}")
            self.table.setItem(row, 3, why)
        self.table.resizeRowsToContents()
        # Every series in view without scrolling (up to 12): the user must see what is left out.
        shown = min(len(self.series), 12)
        rows_height = sum(self.table.rowHeight(r) for r in range(shown))
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + rows_height
                                    + 2 * self.table.frameWidth() + 2)
        box.addWidget(self.table, 1)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        box.addWidget(self.summary)
        self.segment_note = QLabel()  # what a segmentation needs, and whether this study has it
        self.segment_note.setWordWrap(True)
        self.segment_note.setObjectName("segment_note")
        box.addWidget(self.segment_note)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Write the BraTS folder to:"))
        self.output_edit = QLineEdit(str(output))
        out_row.addWidget(self.output_edit, 1)
        self.browse_button = QPushButton("Change…")
        self.browse_button.clicked.connect(self.browse_requested)
        out_row.addWidget(self.browse_button)
        box.addLayout(out_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        box.addWidget(self.buttons)
        self.resize(max(900, self.sizeHint().width()), self.sizeHint().height())
        self._update_summary()

    # -- answers ----------------------------------------------------------------------
    def roles(self) -> dict[str, Series]:
        """role -> series as the user left the boxes."""
        out: dict[str, Series] = {}
        for s, combo in zip(self.series, self.combos):
            role = combo.currentData()
            if role:
                out[role] = s
        return out

    def output(self) -> Path:
        return Path(self.output_edit.text().strip()).expanduser()

    def set_output(self, folder: Path) -> None:
        self.output_edit.setText(str(folder))

    # -- behaviour --------------------------------------------------------------------
    def _on_role_chosen(self, row: int) -> None:
        role = self.combos[row].currentData()
        if role:
            for other, combo in enumerate(self.combos):
                if other != row and combo.currentData() == role:
                    combo.blockSignals(True)
                    combo.setCurrentIndex(0)
                    combo.blockSignals(False)
        for s, combo in zip(self.series, self.combos):
            s.role = combo.currentData()
        self._update_summary()
        self.roles_changed.emit()

    def _update_summary(self) -> None:
        roles = self.roles()
        chosen = [ROLE_LABELS[r] for r in ROLES if r in roles]
        missing = [ROLE_LABELS[r] for r in ROLES if r not in roles]
        left_out = [f"{s.source.name}: {s.problem}" for s in self.series if s.problem]
        left_out += [f"{path.name}: {why}" for path, why in self.scan.unreadable]
        parts = [f"Will import: {', '.join(chosen) if chosen else 'nothing'}."]
        if missing:
            parts.append(f"Missing: {', '.join(missing)}.")
        if "t1ce" not in roles and roles:
            parts.append("<b>No T1CE</b>: the sequences are registered to the next one instead.")
        if left_out:
            parts.append(f"<span style='color:#c81e1e'>Left out: {'; '.join(left_out)}</span>")
        self.summary.setText(" ".join(parts))
        self.segment_note.setText(self._segment_text(set(roles)))
        self.import_button.setEnabled(bool(roles))

    def can_segment(self, roles: set[str] | None = None) -> bool | None:
        """Whether a model a Run could use gets every sequence it needs from ``roles`` (None: no model known)."""
        roles = set(self.roles()) if roles is None else roles
        if not self.needs:
            return None
        return any(set(needed) <= roles for _, needed in self.needs)

    def _segment_text(self, roles: set[str]) -> str:
        """Say before Import which sequences segmentation needs, and when this study will not have them."""
        if not self.needs:
            return ""
        name, needed = self.needs[0]
        wanted = " + ".join(ROLE_LABELS[m] for m in ROLES if m in needed)
        text = f"Segmentation needs {wanted} (model {name})."
        if self.can_segment(roles):
            return text
        lacking = ", ".join(ROLE_LABELS[m] for m in ROLES if m in needed and m not in roles)
        return (f"{text} <span style='color:#c81e1e'><b>This study will import but cannot be segmented</b>: "
                f"no {lacking}. It can be viewed and annotated; Segment → Run works once a model for the "
                "sequences it has is loaded.</span>")

    def accept(self) -> None:  # noqa: D401 - Qt override
        if not self.roles() or not self.output_edit.text().strip():
            return
        super().accept()
