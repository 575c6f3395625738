"""Quitting with a prediction no file holds asks Save / Discard / Cancel, as for unsaved edits."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from brats_desktop.core import postprocessing
from brats_desktop.core.patient import load_patient
from inference_support import RecordingDialogs, close_window, open_window, tiny_model, write_patient_folder

torch.set_num_threads(1)


class QuitDialogs(RecordingDialogs):
    def __init__(self) -> None:
        super().__init__()
        self.unsaved_texts: list[str] = []
        self.unsaved_answers: list[str] = []

    def unsaved_changes(self, parent, text: str) -> str:
        self.unsaved_texts.append(text)
        return self.unsaved_answers.pop(0) if self.unsaved_answers else "cancel"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(postprocessing, "DEFAULT_POSTPROCESSING", postprocessing.PostprocessParams(min_fraction=0.1))
    dialogs = QuitDialogs()
    win, _ = open_window(qtbot, tmp_path, dialogs)
    win.segment.load_model(tiny_model(tmp_path).path)
    win.segment.info_dialog.close()
    folder, _, _ = write_patient_folder(tmp_path, "case", "LPS", "2020")
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5_000)
    win.show_patient(load_patient(folder))
    yield win, dialogs, folder
    close_window(win)


def _run(qtbot, win) -> None:
    win.axial_view.setFocus()
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        qtbot.keyClick(win.axial_view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)


def test_quit_asks_about_an_unexported_prediction_and_cancel_keeps_the_window(qtbot, window):
    win, dialogs, _ = window
    _run(qtbot, win)
    assert not win.close()  # Cancel
    assert win.isVisible()
    assert len(dialogs.unsaved_texts) == 1
    assert "Prediction of case has not been saved or exported" in dialogs.unsaved_texts[0]


def test_quit_save_writes_the_prediction_then_closes(qtbot, window, tmp_path):
    win, dialogs, folder = window
    _run(qtbot, win)
    target = tmp_path / "kept-prediction.nii.gz"
    dialogs.unsaved_answers = ["save"]
    dialogs.save_paths = [target]
    assert win.close()
    assert target.is_file()


def test_quit_after_export_does_not_ask(qtbot, window, tmp_path):
    win, dialogs, folder = window
    _run(qtbot, win)
    dialogs.save_paths = [tmp_path / "exported.nii.gz"]
    win.axial_view.setFocus()
    qtbot.keyClick(win.axial_view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # Export Label Layer…
    assert (tmp_path / "exported.nii.gz").is_file()
    assert win.close()
    assert dialogs.unsaved_texts == []


def test_opening_another_patient_does_not_ask_about_the_prediction(qtbot, window, tmp_path):
    """Only quitting asks: moving through patients (the worklist) must stay one key press."""
    win, dialogs, _ = window
    _run(qtbot, win)
    assert win.annotation.resolve_unsaved("open another patient")
    assert dialogs.unsaved_texts == []
