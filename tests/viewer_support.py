"""Shared helpers for the viewer GUI tests: isolated settings, scripted dialogs, pixel access."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from brats_desktop.app.dialogs import Dialogs


class ScriptedDialogs(Dialogs):
    """Answers every modal question from attributes and records what was shown."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.questions: list[str] = []
        self.confirm_answer = True
        self.folder: Path | None = None
        self.save_to: Path | None = None
        self.choice: str | None = None

    def error(self, parent, title: str, text: str) -> None:
        self.errors.append((title, text))

    def confirm(self, parent, title: str, text: str, **options) -> bool:
        self.questions.append(text)
        return self.confirm_answer

    def confirm_or_stop_asking(self, parent, title: str, text: str) -> tuple[bool, bool]:
        """Answered like ``confirm``; ``stop_asking`` is what the "Don't ask again" box would say."""
        return self.confirm(parent, title, text), getattr(self, "stop_asking", False)

    def unsaved_changes(self, parent, text: str) -> str:
        """Save / Discard / Cancel, answered like the yes/no question before it: yes = Discard."""
        return "discard" if self.confirm(parent, "Unsaved changes", text) else "cancel"

    def open_folder(self, parent, start):
        return self.folder

    def save_path(self, parent, title: str, suggested: Path):
        self.suggested = suggested
        return self.save_to

    def save_file(self, parent, title: str, suggested: Path, name_filter: str):
        """A non-NIfTI file (CSV ...): answered like save_path, and the filter kept."""
        self.suggested = suggested
        self.name_filter = name_filter
        return self.save_to

    def choose(self, parent, title: str, label: str, items: list[str]):
        self.items = items
        return self.choice

    def open_file(self, parent, title: str, start, name_filter: str):
        """File → Open Segmentation… and the like: ``open_path``, the start folder kept."""
        self.open_start = start
        return getattr(self, "open_path", None)


def isolated_settings(tmp_path: Path) -> QSettings:
    """An INI file in tmp_path: tests never touch the user's recent-folder list.

    Also switches QStandardPaths to test mode, so the window's autosave/recovery files
    go to a test folder instead of the user's application data.
    """
    QStandardPaths.setTestModeEnabled(True)
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def image_rgba(image: QImage) -> np.ndarray:
    """A QImage (a grab, a PNG written by the app) as an (h, w, 4) RGBA uint8 array, copied."""
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w = image.height(), image.width()
    buf = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return buf[:, : w * 4].reshape(h, w, 4).copy()


def pixels(widget: QWidget) -> np.ndarray:
    """The widget as rendered now, as an (h, w, 4) RGBA uint8 array."""
    return image_rgba(widget.grab().toImage())
