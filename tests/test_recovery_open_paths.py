"""Crash recovery is offered however a patient opens: worklist (N), Open Recent, a dropped folder.

A "crash" is a window abandoned with an autosave on disk (no save, no Discard, no clean
close); the next window opens the same patient through one of the real open paths. The
autosave must still exist when the question is asked, and be restored or removed
only according to the answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from brats_desktop.app.annotation.recovery import RecoveryStore
from brats_desktop.app.annotation.recovery_offer import RESTORE_TITLE
from cohort_support import make_cohort
from inference_support import close_window
from tests.annotation_support import stroke
from test_cohort_worklist import CohortDialogs, make_window, press


class RecordingDialogs(CohortDialogs):
    """Records, for every restore question, whether the autosave was still on disk when asked."""

    def __init__(self, store_dir: Path) -> None:
        super().__init__()
        self.store_dir = store_dir
        self.restore_asked: list[bool] = []
        self.restore_answer = True
        self.restore_options: list[dict] = []

    def confirm(self, parent, title, text, **options):
        if title == RESTORE_TITLE:
            self.restore_asked.append(any(self.store_dir.glob("*.json")))
            self.restore_options.append(options)
            self.questions.append(text)
            return self.restore_answer
        return super().confirm(parent, title, text)


def _window(qtbot, tmp_path: Path, dialogs, name: str):
    win = make_window(qtbot, tmp_path, dialogs, settings_dir=tmp_path / name)
    win.annotation.recovery = RecoveryStore(tmp_path / "recovery")
    return win


def _paint_and_crash(qtbot, tmp_path: Path, open_first) -> tuple[np.ndarray, Path]:
    """A first window: open a patient, paint in a new layer, autosave, then abandon it (the crash)."""
    (tmp_path / "one").mkdir()
    win = _window(qtbot, tmp_path, CohortDialogs(), "one")
    open_first(win)
    controller = win.annotation
    controller.new_layer_action.trigger()
    layer = controller.editor.layer
    assert layer is not None and layer.name == "Annotation"
    controller.editor.set_label(2)
    controller.editor.set_radius(2)
    x, y, z = win.state.cursor
    stroke(qtbot, win.axial_view, [(x - 3, y, z), (x + 3, y, z)])
    assert layer.data.any()
    path = controller.autosave.flush(wait=True)  # what the one-minute timer does
    assert path is not None and path.exists()
    painted = layer.data.copy()
    # The crash: nothing is saved or discarded. The window is only torn down for the test,
    # with its store pointed elsewhere so the teardown cannot touch the autosave.
    controller.recovery = RecoveryStore(tmp_path / "elsewhere")
    close_window(win)
    assert path.exists()
    return painted, path


def _open_cohort_case(qtbot, win, root: Path) -> None:
    win.cohort.open_cohort(root)
    with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
        press(qtbot, win, Qt.Key.Key_N)


def test_worklist_n_offers_the_autosave_and_restores_it(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    painted, autosave = _paint_and_crash(qtbot, tmp_path, lambda w: _open_cohort_case(qtbot, w, root))
    (tmp_path / "two").mkdir()
    dialogs = RecordingDialogs(tmp_path / "recovery")
    win = _window(qtbot, tmp_path, dialogs, "two")
    try:
        _open_cohort_case(qtbot, win, root)
        qtbot.waitUntil(lambda: bool(dialogs.restore_asked), timeout=5_000)
        assert dialogs.restore_asked == [True]  # the autosave was still there when asked
        # Enter on the question keeps the work: "No" (which deletes the autosave) is never the default.
        assert dialogs.restore_options == [{"default_yes": True}]
        restored = win.state.layer("Annotation")
        assert restored is not None and restored.modified
        np.testing.assert_array_equal(restored.data, painted)
        assert win.state.layer("Prediction") is None or not win.state.layer("Prediction").modified
        assert win.annotation.editor.layer is restored
        assert win.windowTitle().endswith("*")
        assert autosave.exists()  # still unsaved work: the autosave stays until saved or discarded
    finally:
        win.annotation.recovery = RecoveryStore(tmp_path / "elsewhere")
        close_window(win)


def test_worklist_declined_restore_removes_the_autosave_only_after_the_answer(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    _, autosave = _paint_and_crash(qtbot, tmp_path, lambda w: _open_cohort_case(qtbot, w, root))
    (tmp_path / "two").mkdir()
    dialogs = RecordingDialogs(tmp_path / "recovery")
    dialogs.restore_answer = False
    win = _window(qtbot, tmp_path, dialogs, "two")
    try:
        _open_cohort_case(qtbot, win, root)
        qtbot.waitUntil(lambda: bool(dialogs.restore_asked), timeout=5_000)
        assert dialogs.restore_asked == [True]
        assert win.state.layer("Annotation") is None
        assert not autosave.exists()
        # Moving on and back does not ask again: the user has answered.
        press(qtbot, win, Qt.Key.Key_N)
        press(qtbot, win, Qt.Key.Key_P)
        qtbot.wait(50)
        assert len(dialogs.restore_asked) == 1
    finally:
        close_window(win)


def _open_folder(qtbot, win, folder: Path) -> None:
    with qtbot.waitSignal(win.patient_loaded, timeout=20_000):
        win.open_patient(folder)


def test_open_recent_offers_the_autosave(qtbot, tmp_path):
    root = make_cohort(tmp_path, broken=False)
    folder = root / "case2"
    painted, autosave = _paint_and_crash(qtbot, tmp_path, lambda w: _open_folder(qtbot, w, folder))
    (tmp_path / "two").mkdir()
    dialogs = RecordingDialogs(tmp_path / "recovery")
    win = _window(qtbot, tmp_path, dialogs, "two")
    try:
        win._remember_recent(folder)
        win._fill_recent_menu()
        entry = next(a for a in win.recent_menu.actions() if a.text() == str(folder.resolve()))
        with qtbot.waitSignal(win.patient_loaded, timeout=20_000):
            entry.trigger()
        qtbot.waitUntil(lambda: bool(dialogs.restore_asked), timeout=5_000)
        assert dialogs.restore_asked == [True]
        np.testing.assert_array_equal(win.state.layer("Annotation").data, painted)
        assert autosave.exists()
    finally:
        win.annotation.recovery = RecoveryStore(tmp_path / "elsewhere")
        close_window(win)


def test_dropped_folder_offers_the_autosave(qtbot, tmp_path):
    root = make_cohort(tmp_path, broken=False)
    folder = root / "case4"
    painted, _ = _paint_and_crash(qtbot, tmp_path, lambda w: _open_folder(qtbot, w, folder))
    (tmp_path / "two").mkdir()
    dialogs = RecordingDialogs(tmp_path / "recovery")
    win = _window(qtbot, tmp_path, dialogs, "two")
    try:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(folder))])
        enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(win, enter)
        assert enter.isAccepted()
        drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                          Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        with qtbot.waitSignal(win.patient_loaded, timeout=20_000):
            QApplication.sendEvent(win, drop)
        qtbot.waitUntil(lambda: bool(dialogs.restore_asked), timeout=5_000)
        assert dialogs.restore_asked == [True]
        np.testing.assert_array_equal(win.state.layer("Annotation").data, painted)
    finally:
        win.annotation.recovery = RecoveryStore(tmp_path / "elsewhere")
        close_window(win)


def test_restore_at_start_does_not_ask_twice(qtbot, tmp_path):
    """The command-line start offers pending files first; opening the patient then must not ask again."""
    root = make_cohort(tmp_path, broken=False)
    folder = root / "case1"
    painted, _ = _paint_and_crash(qtbot, tmp_path, lambda w: _open_folder(qtbot, w, folder))
    (tmp_path / "two").mkdir()
    dialogs = RecordingDialogs(tmp_path / "recovery")
    win = _window(qtbot, tmp_path, dialogs, "two")
    try:
        assert win.annotation.offer_restore()
        qtbot.wait(50)
        assert dialogs.restore_asked == [True]
        np.testing.assert_array_equal(win.state.layer("Annotation").data, painted)
    finally:
        win.annotation.recovery = RecoveryStore(tmp_path / "elsewhere")
        close_window(win)



def test_real_confirm_defaults_to_yes_only_when_asked(monkeypatch):
    """The real dialog's default button follows default_yes (Enter must not delete an autosave)."""
    from PySide6.QtWidgets import QMessageBox

    from brats_desktop.app.dialogs import Dialogs

    seen = []

    def fake_question(parent, title, text, buttons, default):
        seen.append(default)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(fake_question))
    Dialogs().confirm(None, "t", "x")
    Dialogs().confirm(None, "t", "x", default_yes=True)
    assert seen == [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
