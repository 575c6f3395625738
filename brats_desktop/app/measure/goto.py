"""Go To: type a position as the file's voxel index or as world (RAS) millimetres, and jump there.

A small window-modal dialog (``open()``, not ``exec()``) so nothing blocks and tests
can type into it with real key events. Bad input is explained in the dialog, which
stays open; the cursor moves only for a position inside the volume.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.coordinates import (
    canonical_from_file, canonical_from_world, file_voxel, inside, parse_triple, world_mm,
)

from brats_desktop.app.state import ViewerState

VOXEL = "Voxel index (i j k, as in the file)"
WORLD = "World RAS (x y z, mm)"


class GoToDialog(QDialog):
    """Asks for three numbers in the chosen space; accepting moves the shared cursor."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Go To")
        self.state = state
        self.mode = QComboBox()
        self.mode.addItems([VOXEL, WORLD])
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("e.g. 120 96 77")
        self.error = QLabel()
        self.error.setStyleSheet("color: #d04040;")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Coordinates in", self.mode)
        form.addRow("Position", self.edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.mode.currentTextChanged.connect(lambda _t: self.fill_current())
        self.fill_current()

    def fill_current(self) -> None:
        """Put the cursor's position, in the chosen space, into the field (selected, to type over)."""
        patient = self.state.patient
        if patient is None:
            return
        if self.mode.currentText() == VOXEL:
            self.edit.setText(" ".join(str(v) for v in file_voxel(patient.grid, self.state.cursor)))
        else:
            self.edit.setText(" ".join(f"{v:.1f}" for v in world_mm(patient.grid, self.state.cursor)))
        self.edit.selectAll()
        self.error.hide()

    def target(self) -> tuple[int, int, int]:
        """The canonical voxel typed; ValueError with a message for the user otherwise."""
        patient = self.state.patient
        if patient is None:
            raise ValueError("no patient is open")
        values = parse_triple(self.edit.text())
        if self.mode.currentText() == VOXEL:
            if any(v != int(v) for v in values):
                raise ValueError("a voxel index is three whole numbers")
            voxel = canonical_from_file(patient.grid, values)
            where = f"voxel [{', '.join(str(int(v)) for v in values)}]"
        else:
            voxel = canonical_from_world(patient.grid, values)
            where = f"RAS ({', '.join(f'{v:g}' for v in values)}) mm"
        if not inside(patient.grid, voxel):
            i, j, k = patient.grid.shape
            raise ValueError(f"{where} lies outside the image (voxels 0–{i - 1}, 0–{j - 1}, 0–{k - 1})")
        return voxel

    def accept(self) -> None:
        try:
            voxel = self.target()
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.state.set_cursor(voxel)
        super().accept()
