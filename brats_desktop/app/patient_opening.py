"""How the window opens patients: in the background with the first image early, from the
recent list, the Open dialog or a dropped folder (drops are copies, never moves); a failure halfway puts back what was there.

Mixed into :class:`~brats_desktop.app.main_window.MainWindow` (it uses the window's state,
loader, dialogs, settings and status bar); features reach it as ``app.patients``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent

from brats_desktop.core.discovery import MODALITIES, MODALITY_LABELS
from brats_desktop.core.errors import PatientLoadError, load_error_message, skipped_files_message
from brats_desktop.core.focus import tumour_focus
from brats_desktop.core.patient import Patient

from brats_desktop.app.state import Voxel

MAX_RECENT = 8
RECENT_KEY = "recent_folders"


class PatientOpeningMixin:
    """Opening, showing and remembering patients (mixed into the main window)."""

    def open_patient(self, folder: Path | str) -> None:
        """Load a folder in the background; the current patient stays until it succeeds."""
        if not self._may_discard("open another patient"):
            return
        # A load superseded halfway keeps the snapshot of what the user had before it.
        if not self._started_partial:
            self._snapshot = None
        self._started_partial = False
        self._loading_folder = Path(folder)
        self.statusBar().showMessage(f"Loading {Path(folder).name}…")
        self.loader.start(folder)

    def show_patient(
        self, patient: Patient | None, windows: dict | None = None, cursor: Voxel | None = None
    ) -> None:
        """Show an in-memory patient (the demo, a prefetched case) at once.

        ``cursor``: where the crosshair starts, when the caller worked it out off the GUI
        thread (the cohort prefetcher does); else the tumour focus is computed here.
        """
        self.state.set_patient(patient, windows, cursor=cursor or self._initial_cursor(patient))
        self.first_image_shown.emit()
        if patient is not None:
            self.patient_loaded.emit(patient)

    def _initial_cursor(self, patient: Patient | None) -> Voxel | None:
        return tumour_focus(patient.ground_truth) if patient is not None else None

    def _on_first_loaded(self, patient: Patient, windows: dict) -> None:
        if self._snapshot is None:
            self._snapshot = self.state.snapshot()
        self._started_partial = True
        self.state.set_patient(patient, windows, loading=True, cursor=self._initial_cursor(patient))
        self.first_image_shown.emit()

    def _on_loaded(self, patient: Patient, windows: dict) -> None:
        if self._started_partial:
            self.state.complete_patient(patient, windows)
        else:
            self.state.set_patient(patient, windows, cursor=self._initial_cursor(patient))
            self.first_image_shown.emit()
        self._snapshot = None
        self._started_partial = False
        if patient.folder is not None:
            self._remember_recent(patient.folder)
        self.statusBar().showMessage(f"Opened {patient.name}", 5000)
        self.patient_loaded.emit(patient)
        if patient.problems:
            self._report_skipped(patient)

    def _report_skipped(self, patient: Patient) -> None:
        """One dialog naming each file left out of the patient and why; the rest stays open."""
        count = len(patient.problems)
        self.statusBar().showMessage(
            f"Opened {patient.name} without {count} file{'s' if count > 1 else ''} that could not be used", 10000
        )
        lacking = [MODALITY_LABELS[m] for m in MODALITIES if patient.skipped(m) is not None]
        after = "The other files are open."
        if lacking:
            after += (f" {', '.join(lacking)} {'is' if len(lacking) == 1 else 'are'} missing now; "
                      "Segment → Run says if the model needs it.")
        if patient.skipped("seg") is not None:
            after += " The ground truth is not shown."
        self.dialogs.error(
            self, "Some files were not opened",
            f"{patient.name} opened without these files:\n\n{skipped_files_message(patient.problems)}\n\n{after}",
        )

    def _on_failed(self, exc: Exception) -> None:
        if self._snapshot is not None:
            self.state.restore(self._snapshot)
        self._snapshot = None
        self._started_partial = False
        if isinstance(exc, PatientLoadError):
            message = load_error_message(exc)  # the folder itself for folder problems, else file + folder
        else:
            message = str(exc)
        self.statusBar().showMessage("Could not open the patient folder", 5000)
        self.load_failed.emit(message)
        self.dialogs.error(self, "Cannot open patient", message)

    def _may_discard(self, action: str) -> bool:
        """Save / Discard / Cancel when layers hold unsaved edits; True when we may go on."""
        return self.app.may_discard(action)

    def recent_folders(self) -> list[Path]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):  # QSettings returns a lone string for one-item lists
            value = [value]
        return [Path(v) for v in (value or [])]

    def _remember_recent(self, folder: Path) -> None:
        folder = folder.resolve()
        items = [folder] + [p for p in self.recent_folders() if p != folder]
        self.settings.setValue(RECENT_KEY, [str(p) for p in items[:MAX_RECENT]])
        self.settings.sync()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(str(folder))
            action.triggered.connect(lambda _=False, f=folder: self.open_patient(f))
        if not folders:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _on_open_triggered(self) -> None:
        start = self.recent_folders()[0].parent if self.recent_folders() else None
        folder = self.dialogs.open_folder(self, start)
        if folder is not None:
            self.open_patient(folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self._dropped_paths(event) and accept_without_move(event):
            return
        event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if not accept_without_move(event):
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = self._dropped_paths(event)
        if not paths or not accept_without_move(event):
            event.ignore()
            return
        # A label file on an open patient becomes a layer; a folder (or an MRI volume) opens a patient.
        label_files = self.app.feature("label_files")
        if label_files is not None and label_files.open_dropped(paths):
            return
        folder = next((p if p.is_dir() else p.parent for p in paths if p.is_dir() or p.parent.is_dir()), None)
        if folder is not None:
            self.open_patient(folder)

    @staticmethod
    def _dropped_paths(event: QDropEvent | QDragEnterEvent) -> list[Path]:
        """The local files and folders among dropped URLs."""
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        return [p for p in paths if p.is_dir() or p.is_file()]


def accept_without_move(event: QDropEvent) -> bool:
    """Accept a drag as a copy (or a link), never a move: the app reads dropped files and must
    not let a file manager delete the originals after the drop. False when only a move is offered."""
    possible = event.possibleActions()
    for action in (Qt.DropAction.CopyAction, Qt.DropAction.LinkAction):
        if event.proposedAction() == action or possible & action:
            event.setDropAction(action)
            event.accept()
            return True
    return False
