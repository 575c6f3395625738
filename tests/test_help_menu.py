"""Help menu: the keyboard and mouse reference is generated from the live actions; About."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

import brats_desktop
from brats_desktop.app.help.about_dialog import about_html
from brats_desktop.app.help.reference_dialog import CONFLICT_COLOUR, KeyboardReferenceDialog
from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.views.slice_view import MOUSE_GESTURES, ViewTool
from brats_desktop.core.patient import patient_from_arrays
from tiny_cases import ras_image, ras_labels
from viewer_support import ScriptedDialogs, isolated_settings


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.show_patient(patient_from_arrays("P", {"flair": ras_image()}, ras_labels()))
    yield win
    for dialog in (win.help.reference_dialog, win.help.about_dialog):
        if dialog is not None:
            dialog.close()


def open_reference(qtbot, window: MainWindow) -> KeyboardReferenceDialog:
    """The reference as the user opens it: the F1 key on the window."""
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window.help.reference_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def help_action(window: MainWindow, text: str) -> QAction:
    return next(a for a in window.menus["Help"].actions() if a.text().replace("&", "") == text)


def test_reference_lists_the_shortcuts_of_menus_toolbars_and_window_keys(qtbot, window: MainWindow) -> None:
    rows = open_reference(qtbot, window).rows()
    assert ("Ctrl+O", "Open Patient Folder…", "File") in rows
    assert ("Ctrl+R", "Run Segmentation", "Segment") in rows
    assert ("Ctrl+0", "Reset Zoom", "View") in rows
    # Both shortcuts of an action with two are listed.
    assert ("Ctrl+Shift+Z", "Redo Stroke", "Edit") in rows and ("Ctrl+Y", "Redo Stroke", "Edit") in rows
    # Single keys that live on the window (no menu) are listed by what they do.
    assert ("E", "Eraser", "Annotate (keys)") in rows
    assert ("F1", "Keyboard and Mouse Reference", "Help") in rows
    # Nothing with a shortcut in the menus is missing.
    listed = {(r[0], r[1]) for r in rows}
    for title, menu in window.menus.items():
        for action in menu.actions():
            for seq in action.shortcuts():
                text = action.text().replace("&", "")
                assert (seq.toString(QKeySequence.SequenceFormat.NativeText), text) in listed, (title, text)


def test_a_new_action_appears_without_editing_the_help(qtbot, window: MainWindow) -> None:
    dialog = open_reference(qtbot, window)
    assert not [r for r in dialog.rows() if "Frobnicate" in r[1]]
    dialog.close()
    frob = QAction("&Frobnicate the Tumour", window)
    frob.setShortcut(QKeySequence("Ctrl+Alt+F"))
    window.menu("Segment").addAction(frob)
    hidden_key = QAction("Toggle crosshair", window)
    hidden_key.setShortcut(QKeySequence("X"))
    window.addAction(hidden_key)
    orphan = QAction("Never Added", window)  # in no menu or widget: Qt never runs its key
    orphan.setShortcut(QKeySequence("Ctrl+Alt+N"))
    dialog = open_reference(qtbot, window)
    rows = dialog.rows()
    assert ("Ctrl+Alt+F", "Frobnicate the Tumour", "Segment") in rows
    assert ("X", "Toggle crosshair", "Keys (anywhere in the window)") in rows
    assert not [r for r in rows if r[1] == "Never Added"]
    # The filter field narrows the table as the user types.
    qtbot.keyClicks(dialog.filter, "frob")
    assert dialog.rows() == [("Ctrl+Alt+F", "Frobnicate the Tumour", "Segment")]
    dialog.filter.clear()
    assert len(dialog.rows()) == len(rows)


def test_a_key_bound_twice_is_flagged(qtbot, window: MainWindow) -> None:
    clash = QAction("Open Something Else", window)
    clash.setShortcut(QKeySequence("Ctrl+O"))
    window.menu("View").addAction(clash)
    dialog = open_reference(qtbot, window)
    assert dialog.conflict_note.isVisible()
    assert "Ctrl+O" in dialog.conflict_note.text() and "Open Something Else" in dialog.conflict_note.text()
    table = dialog.keys_table
    flagged = {table.item(r, 1).text() for r in range(table.rowCount())
               if table.item(r, 0).background().color() == CONFLICT_COLOUR}
    assert flagged == {"Open Patient Folder…", "Open Something Else"}


def test_mouse_gestures_come_from_the_views_and_the_tools(qtbot, window: MainWindow) -> None:
    class LassoTool(ViewTool):  # a tool some feature might add: it declares its own gestures
        TITLE = "Lasso"
        GESTURES = (("Left drag", "Draw a lasso"),)

    mouse = open_reference(qtbot, window).rows(window.help.reference_dialog.mouse_table)
    for gesture, effect in MOUSE_GESTURES:
        assert (gesture, effect, "Slice views") in mouse
    assert ("Ctrl + left drag", next(e for g, e in MOUSE_GESTURES if g == "Ctrl + left drag"), "Slice views") in mouse
    assert any(g == "Shift + click / drag" and w == "Annotating" for g, _, w in mouse)  # the paint tool's
    assert ("Left drag", "Draw a lasso", "Lasso") in mouse
    assert LassoTool.GESTURES  # keep the class alive until here


def test_about_names_version_model_licence_citations_and_libraries(qtbot, window: MainWindow) -> None:
    help_action(window, "About BraTS Desktop").trigger()
    dialog = window.help.about_dialog
    assert dialog is not None and dialog.isVisible()
    text = dialog.browser.toPlainText()
    model = window.segment.model
    assert f"BraTS Desktop {brats_desktop.__version__}" in text
    assert model.name in text and "CC BY-NC-SA 3.0 CH" in text  # the bundled weights' terms
    assert "Menze" in text and "Bakas" in text and "arXiv:1811.02629" in text
    assert f"NumPy\n{metadata.version('numpy')}\n" in text  # table cells come out one per line
    assert "PySide6" in text and "PyTorch" in text and "Qt" in text


def test_about_still_opens_when_the_model_cannot_be_loaded(qtbot, window: MainWindow, monkeypatch) -> None:
    def broken(self):
        raise RuntimeError("unet.pt: not a BraTS Desktop checkpoint")

    monkeypatch.setattr(type(window.segment), "model", property(broken))
    help_action(window, "About BraTS Desktop").trigger()
    text = window.help.about_dialog.browser.toPlainText()
    assert "No model available: unet.pt: not a BraTS Desktop checkpoint" in text
    assert "Menze" in text  # the rest is still there
    assert "<script>" not in about_html(None, "<script>")  # metadata text is escaped, not rendered
