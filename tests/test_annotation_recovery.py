"""Autosave to a recovery file and restore after a simulated crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.annotation.recovery import AUTOSAVE_INTERVAL_MS, Recovery, RecoveredLayer, RecoveryStore
from tests.annotation_support import ScriptedDialogs, annot_window, stroke  # noqa: F401


def _paint(qtbot, window, controller):
    editor = controller.editor
    layer = editor.new_annotation_layer()
    window.state.set_cursor((17, 15, 13))
    editor.set_label(2)
    editor.set_radius(3)
    stroke(qtbot, window.axial_view, [(6, 7, 13), (26, 20, 13)])
    return layer


def test_autosave_runs_at_most_once_a_minute_and_only_after_edits(qtbot, annot_window):
    window, controller, _ = annot_window
    assert AUTOSAVE_INTERVAL_MS <= 60_000
    assert controller.autosave.interval_ms == AUTOSAVE_INTERVAL_MS
    assert not controller.autosave.active  # nothing edited: no timer, no work
    _paint(qtbot, window, controller)
    assert controller.autosave.dirty and controller.autosave.active


def test_autosave_writes_a_recovery_file_with_the_patient_and_layers(qtbot, annot_window, tmp_path):
    window, controller, _ = annot_window
    controller.autosave.set_interval(50)
    with qtbot.waitSignal(controller.autosave.autosaved, timeout=5000) as blocker:
        layer = _paint(qtbot, window, controller)
    json_path = blocker.args[0]
    assert json_path is not None and json_path.parent == tmp_path / "recovery"
    meta = json.loads(json_path.read_text())
    assert meta["patient_folder"] == str((tmp_path / "patient").resolve())
    assert [entry["name"] for entry in meta["layers"]] == ["Annotation"]
    rec = controller.recovery.read(json_path)
    np.testing.assert_array_equal(rec.layers[0].data, layer.data)


def test_recovery_restored_in_a_fresh_window_after_a_simulated_crash(qtbot, annot_window, tmp_path):
    window, controller, _ = annot_window
    layer = _paint(qtbot, window, controller)
    gt = window.state.layers[0]
    controller.editor.set_layer(gt)
    stroke(qtbot, window.axial_view, [(12, 10, 13)])  # the ground-truth copy is edited too
    path = controller.autosave.flush(wait=True)  # what the timer does, within a minute
    assert path is not None and path.exists()
    expected = {"Annotation": layer.data.copy(), "Ground truth": gt.data.copy()}
    # "Crash": no save, no clean close; a new process starts with the same recovery folder.
    dialogs = ScriptedDialogs()
    dialogs.confirm_answers = [True]
    fresh = MainWindow(QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat), dialogs)
    qtbot.addWidget(fresh)
    fresh.annotation.recovery = RecoveryStore(tmp_path / "recovery")
    assert fresh.annotation.offer_restore()
    assert dialogs.asked and "Restore" in dialogs.asked[0][1]
    assert fresh.state.patient is not None and fresh.state.patient.folder == (tmp_path / "patient")
    for name, data in expected.items():
        restored = fresh.state.layer(name)
        assert restored is not None and restored.modified
        np.testing.assert_array_equal(restored.data, data)
    assert fresh.state.layer("Ground truth").kind == "ground truth"
    assert fresh.windowTitle().endswith("*")
    assert fresh.annotation.editor.layer is fresh.state.layer("Annotation")
    # saving clears the recovery file
    dialogs.save_paths = [tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"]
    assert fresh.annotation.saver.save_modified()
    assert not path.exists()
    fresh.state.set_patient(None)
    fresh.close()
    fresh.deleteLater()
    QApplication.processEvents()


def test_declined_recovery_is_removed_and_not_offered_again(qtbot, annot_window, tmp_path):
    window, controller, _ = annot_window
    _paint(qtbot, window, controller)
    path = controller.autosave.flush(wait=True)
    dialogs = ScriptedDialogs()
    dialogs.confirm_answers = [False]
    fresh = MainWindow(QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat), dialogs)
    qtbot.addWidget(fresh)
    fresh.annotation.recovery = RecoveryStore(tmp_path / "recovery")
    assert not fresh.annotation.offer_restore()
    assert not path.exists() and fresh.annotation.recovery.pending() == []
    fresh.close()
    fresh.deleteLater()
    QApplication.processEvents()


def test_discard_and_clean_state_remove_the_recovery_file(qtbot, annot_window):
    window, controller, dialogs = annot_window
    _paint(qtbot, window, controller)
    path = controller.autosave.flush(wait=True)
    assert path.exists()
    dialogs.unsaved_answers = ["discard"]
    assert controller.resolve_unsaved("quit")
    assert not path.exists() and not controller.autosave.dirty


def test_corrupt_recovery_file_is_reported_with_its_name(tmp_path):
    store = RecoveryStore(tmp_path)
    data = np.zeros((4, 5, 6), np.uint8)
    data[1, 2, 3] = 3
    layer = RecoveredLayer("A", "annotation", "brats2023", data)
    path = store.write(Recovery("/x/p", "p", (4, 5, 6), 0.0, [layer]))
    assert store.read(path).layers[0].data[1, 2, 3] == 3
    npz = path.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:40])  # truncated by a crash of the disk, say
    with pytest.raises(ValueError, match=str(path)):
        store.read(path)


def test_recovery_folder_is_app_data_and_isolated_in_tests(annot_window):
    from PySide6.QtCore import QStandardPaths

    from brats_desktop.app.annotation.recovery import default_recovery_dir

    assert QStandardPaths.isTestModeEnabled()
    app_data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    assert default_recovery_dir() == Path(app_data) / "recovery"
    assert ".qttest" in str(default_recovery_dir())


def test_background_autosave_leaves_no_thread_running(qtbot, annot_window):
    import threading

    window, controller, _ = annot_window
    _paint(qtbot, window, controller)
    future = controller.autosave.flush()
    assert future is not None
    future.result(timeout=30)
    controller.recovery.wait()
    assert not [t for t in threading.enumerate() if t.name == "recovery-writer"]
