"""Modal questions the main window asks, behind one replaceable object.

Tests (and scripted use) pass a subclass that answers without showing anything, so
no test ever blocks on a modal dialog; the app uses the real Qt dialogs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget


class Dialogs:
    """The real dialogs. Every method returns the user's answer (None when cancelled)."""

    def error(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.critical(parent, title, text)

    def confirm(self, parent: QWidget | None, title: str, text: str, default_yes: bool = False) -> bool:
        """Yes / No. Enter answers No unless ``default_yes``: a question whose No destroys
        something of the user's (an autosave) makes keeping it the default instead."""
        default = QMessageBox.StandardButton.Yes if default_yes else QMessageBox.StandardButton.No
        answer = QMessageBox.question(
            parent, title, text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            default,
        )
        return answer == QMessageBox.StandardButton.Yes

    def confirm_or_stop_asking(self, parent: QWidget | None, title: str, text: str) -> tuple[bool, bool]:
        """Yes / No with a "Don't ask again" box: (the answer, whether the box was ticked)."""
        from PySide6.QtWidgets import QCheckBox

        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        dont_ask = QCheckBox("Don't ask again")
        box.setCheckBox(dont_ask)
        answer = box.exec() == QMessageBox.StandardButton.Yes
        return answer, dont_ask.isChecked()

    def open_folder(self, parent: QWidget | None, start: Path | None) -> Path | None:
        folder = QFileDialog.getExistingDirectory(parent, "Open Patient Folder", str(start or ""))
        return Path(folder) if folder else None

    def choose_folder(self, parent: QWidget | None, title: str, start: Path | None) -> Path | None:
        """A folder to write into (e.g. outputs of a read-only cohort)."""
        folder = QFileDialog.getExistingDirectory(parent, title, str(start or ""))
        return Path(folder) if folder else None

    def save_file(self, parent: QWidget | None, title: str, suggested: Path, name_filter: str) -> Path | None:
        """A file name to write (not NIfTI: e.g. a CSV); the caller asks before replacing."""
        path, _ = QFileDialog.getSaveFileName(
            parent, title, str(suggested), name_filter, options=QFileDialog.Option.DontConfirmOverwrite,
        )
        return Path(path) if path else None

    def open_file(
        self, parent: QWidget | None, title: str, start: Path | None, name_filter: str
    ) -> Path | None:
        """One existing file (e.g. File → Load Model…)."""
        path, _ = QFileDialog.getOpenFileName(parent, title, str(start or ""), name_filter)
        return Path(path) if path else None

    def save_path(self, parent: QWidget | None, title: str, suggested: Path) -> Path | None:
        # We ask about replacing ourselves (with the file name), so Qt must not ask too.
        path, _ = QFileDialog.getSaveFileName(
            parent, title, str(suggested), "NIfTI (*.nii.gz *.nii)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        return Path(path) if path else None

    def choose(self, parent: QWidget | None, title: str, label: str, items: list[str]) -> str | None:
        item, ok = QInputDialog.getItem(parent, title, label, items, 0, False)
        return item if ok else None

    def unsaved_changes(self, parent: QWidget | None, text: str) -> str:
        """Save / Discard / Cancel before edits would be lost: returns "save", "discard" or "cancel"."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.warning(
            parent, "Unsaved changes", text,
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save,
        )
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")
