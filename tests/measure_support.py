"""A main window on an in-memory or on-disk patient for the uncertainty and measurement GUI tests."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, QStandardPaths, Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.views.slice_view import SliceView
from viewer_support import ScriptedDialogs


def open_window(qtbot, tmp_path: Path, patient) -> tuple[MainWindow, ScriptedDialogs]:
    """Shown, exposed window with scripted dialogs and its own settings, on ``patient``, zoom reset."""
    QStandardPaths.setTestModeEnabled(True)
    dialogs = ScriptedDialogs()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, dialogs=dialogs)
    qtbot.addWidget(window)
    window.resize(1300, 950)
    window.show()
    qtbot.waitExposed(window)
    window.show_patient(patient)
    QApplication.processEvents()
    for view in window.views:
        view.reset_zoom()
    QApplication.processEvents()
    return window, dialogs


def close_window(window: MainWindow) -> None:
    window.segment.shutdown()
    window.uncertainty.wait()
    window.state.set_patient(None)
    window.close()
    window.deleteLater()
    QApplication.processEvents()


def pos(view: SliceView, voxel) -> QPoint:
    return view.widget_pos_of(tuple(int(v) for v in voxel)).toPoint()


def drag(qtbot, view: SliceView, start, end, steps: int = 4) -> None:
    """A real left-button drag on ``view``'s viewport from voxel centre ``start`` to ``end``."""
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos(view, start))
    a, b = pos(view, start), pos(view, end)
    for k in range(1, steps + 1):
        qtbot.mouseMove(vp, a + (b - a) * (k / steps))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
