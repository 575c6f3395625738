"""The Help menu: Keyboard and Mouse Reference (F1) and About BraTS Desktop.

Built last of the features (``window.help``), but the reference reads the actions
when it is shown, so actions added later still appear.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.help.about_dialog import AboutDialog
from brats_desktop.app.help.reference_dialog import KeyboardReferenceDialog


class HelpController(Feature):
    """Owns the Help menu's actions and the two non-modal windows they open."""

    name = "help"

    def __init__(self, app: AppContext | QMainWindow) -> None:
        super().__init__(app)
        window = self._window = self.app.window  # the reference walks its menus and tool bars
        self.reference_dialog: KeyboardReferenceDialog | None = None
        self.about_dialog: AboutDialog | None = None
        menu = self.app.menu("Help")
        self.reference_action = QAction("&Keyboard and Mouse Reference", window)
        self.reference_action.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        if self.reference_action.shortcut().isEmpty():  # platforms without a help key
            self.reference_action.setShortcut(QKeySequence("F1"))
        self.reference_action.setStatusTip("Every shortcut and mouse gesture of the window")
        self.reference_action.triggered.connect(self.show_reference)
        self.about_action = QAction("&About BraTS Desktop", window)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        menu.addAction(self.reference_action)
        menu.addSeparator()
        menu.addAction(self.about_action)

    def show_reference(self) -> KeyboardReferenceDialog:
        """Open (or raise, refreshed) the keyboard and mouse reference."""
        if self.reference_dialog is None:
            self.reference_dialog = KeyboardReferenceDialog(self._window)
        self.reference_dialog.refresh()
        self.reference_dialog.show()
        self.reference_dialog.raise_()
        return self.reference_dialog

    def show_about(self) -> AboutDialog:
        """Open About with the model a Run would use now (loading it if needed)."""
        model, error = None, None
        segment = self.app.feature("segment")
        if segment is None:
            error = "the segmentation feature is not available"
        else:
            try:
                model = segment.model
            except Exception as exc:  # a missing or damaged checkpoint: About still opens and says why
                error = str(exc)
        if self.about_dialog is not None:
            self.about_dialog.close()
            self.about_dialog.deleteLater()
        self.about_dialog = AboutDialog(model, error, self._window)
        self.about_dialog.show()
        return self.about_dialog
