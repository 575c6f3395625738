"""Label files back on a patient: File → Open Segmentation… (Ctrl+L), dropped label files, the
folder's own outputs as layers on open; drags are accepted as copy/link, never as a move."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.state import ANNOTATION, PREDICTION
from brats_desktop.core.label_files import find_outputs
from tests.annotation_support import SHAPE, make_patient_folder, stroke
from viewer_support import ScriptedDialogs, isolated_settings


@pytest.fixture
def dialogs() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def window(qtbot, tmp_path: Path, dialogs: ScriptedDialogs):
    from brats_desktop.app.annotation.recovery import RecoveryStore

    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=dialogs)
    win.annotation.recovery = RecoveryStore(tmp_path / "recovery")
    qtbot.addWidget(win)
    win.resize(1200, 900)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5_000)
    yield win
    win.loader.wait()
    win.state.set_patient(None)


def open_and_settle(qtbot, window, folder: Path) -> None:
    with qtbot.waitSignal(window.patient_loaded, timeout=20_000):
        window.open_patient(folder)
    qtbot.wait(20)  # the folder's outputs come in on the next event-loop pass


def ctrl_l(qtbot, window) -> None:
    window.axial_view.setFocus()
    qtbot.keyClick(window.axial_view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)


def write_labels(path: Path, values: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(values.astype(np.uint8), affine), str(path))
    return path


def test_saved_annotation_comes_back_as_a_layer_when_the_folder_reopens(qtbot, window, dialogs, tmp_path):
    folder, _, _ = make_patient_folder(tmp_path / "patient")
    open_and_settle(qtbot, window, folder)
    layer = window.annotation.editor.new_annotation_layer()
    window.annotation.editor.set_label(2)
    stroke(qtbot, window.axial_view, [(8, 8, 13), (20, 18, 13)])
    painted = layer.data.copy()
    assert painted.any()
    target = window.annotation.saver.suggested_path(layer)
    dialogs.save_to = target
    assert window.annotation.save()
    assert target.name == "BraTS20_Training_999_annotation.nii.gz"

    open_and_settle(qtbot, window, folder)  # reopen: only the ground truth before the fix
    qtbot.waitUntil(lambda: window.state.layer("Annotation") is not None, timeout=5_000)
    back = window.state.layer("Annotation")
    assert back.kind == ANNOTATION and not back.modified
    np.testing.assert_array_equal(back.data, painted)
    assert [layer.name for layer in window.state.layers] == ["Ground truth", "Annotation"]
    # Save writes the layer back to the file it came from.
    assert window.annotation.saver.saved_path(back) == target
    assert not dialogs.errors


def test_open_segmentation_opens_a_prediction_file_by_ctrl_l(qtbot, window, dialogs, tmp_path):
    folder, gt, affine = make_patient_folder(tmp_path / "patient")
    open_and_settle(qtbot, window, folder)
    # Another tool's file in the 2023 convention (ET = 3) on this 2020-named patient, in the file's LPS order.
    other = tmp_path / "elsewhere"
    other.mkdir()
    on_disk = gt[::-1, ::-1, :].copy()  # canonical RAS -> the file's LPS voxel order
    dialogs.open_path = write_labels(other / "model-output.nii.gz", on_disk, affine)
    ctrl_l(qtbot, window)
    layer = window.state.layer("model-output")
    assert layer is not None and layer.kind == ANNOTATION and not layer.modified
    np.testing.assert_array_equal(layer.data, gt)
    assert dialogs.open_start == folder  # the dialog starts beside the patient
    assert not dialogs.errors


def test_open_segmentation_names_the_file_when_the_grid_differs(qtbot, window, dialogs, tmp_path):
    folder, _, affine = make_patient_folder(tmp_path / "patient")
    open_and_settle(qtbot, window, folder)
    before = [layer.name for layer in window.state.layers]
    dialogs.open_path = write_labels(tmp_path / "small.nii.gz", np.zeros((10, 10, 10)), affine)
    ctrl_l(qtbot, window)
    assert len(dialogs.errors) == 1
    title, text = dialogs.errors[0]
    assert title == "Segmentation not opened" and "small.nii.gz" in text and "shape" in text
    assert [layer.name for layer in window.state.layers] == before


def test_open_segmentation_names_the_file_when_labels_are_unexpected(qtbot, window, dialogs, tmp_path):
    folder, _, affine = make_patient_folder(tmp_path / "patient")
    open_and_settle(qtbot, window, folder)
    values = np.zeros(SHAPE)
    values[3:6, 3:6, 3:6] = 7
    dialogs.open_path = write_labels(tmp_path / "odd.nii.gz", values, affine)
    ctrl_l(qtbot, window)
    assert len(dialogs.errors) == 1 and "odd.nii.gz" in dialogs.errors[0][1]
    assert "unexpected label value(s) 7" in dialogs.errors[0][1]
    assert window.state.layer("odd") is None


def _drop(window, paths: list[Path], proposed=Qt.DropAction.CopyAction,
          possible=Qt.DropAction.CopyAction | Qt.DropAction.MoveAction | Qt.DropAction.LinkAction):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(300, 300), possible, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    # Qt's constructor takes the possible actions; the file manager's proposal is set apart.
    enter.setDropAction(proposed)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(QPointF(300, 300), possible, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    drop.setDropAction(proposed)
    QApplication.sendEvent(window, drop)
    return enter, drop


def test_a_dropped_label_file_becomes_a_layer_and_a_dropped_folder_opens_a_patient(qtbot, window, dialogs, tmp_path):
    folder, gt, affine = make_patient_folder(tmp_path / "patient")
    open_and_settle(qtbot, window, folder)
    target = write_labels(folder / "BraTS20_Training_999_prediction.nii.gz", np.where(gt[::-1, ::-1, :] == 3, 4, 0),
                          affine)
    enter, drop = _drop(window, [target])
    assert enter.isAccepted() and drop.isAccepted()
    layer = window.state.layer("Prediction")
    assert layer is not None and layer.kind == PREDICTION
    np.testing.assert_array_equal(layer.data, np.where(gt == 3, 3, 0))
    # A folder still opens a patient.
    second, _, _ = make_patient_folder(tmp_path / "second", with_seg=False)
    with qtbot.waitSignal(window.patient_loaded, timeout=20_000):
        _drop(window, [second])
    assert window.state.patient.folder == second


def test_labels_from_another_patients_folder_are_asked_about(qtbot, window, dialogs, tmp_path):
    folder, gt, affine = make_patient_folder(tmp_path / "patient")
    other, _, _ = make_patient_folder(tmp_path / "other")
    open_and_settle(qtbot, window, folder)
    dialogs.confirm_answer = False
    _drop(window, [other / "BraTS20_Training_999_seg.nii.gz"])
    assert dialogs.questions and "another patient's folder" in dialogs.questions[-1]
    assert [layer.name for layer in window.state.layers] == ["Ground truth"]


def test_drags_are_accepted_as_copy_or_link_never_as_a_move(qtbot, window, tmp_path):
    folder, _, _ = make_patient_folder(tmp_path / "patient")
    enter, drop = _drop(window, [folder], proposed=Qt.DropAction.MoveAction)
    assert enter.isAccepted() and enter.dropAction() == Qt.DropAction.CopyAction
    assert drop.dropAction() == Qt.DropAction.CopyAction
    window.loader.wait()
    only_move, _ = _drop(window, [folder], proposed=Qt.DropAction.MoveAction, possible=Qt.DropAction.MoveAction)
    assert not only_move.isAccepted()
    window.loader.wait()


def test_find_outputs_lists_the_apps_names_only(tmp_path):
    folder, gt, affine = make_patient_folder(tmp_path / "patient")
    for name in ("BraTS20_Training_999_prediction.nii.gz", "BraTS20_Training_999_annotation-2.nii.gz",
                 "BraTS20_Training_999_corrected.nii", "notes_annotation.nii.gz", "BraTS20_Training_999_uncertainty.nii.gz"):
        write_labels(folder / name, np.zeros(SHAPE), affine)
    from brats_desktop.core.patient import load_patient

    found = find_outputs(load_patient(folder))
    assert [(f.kind, f.number, f.layer_name) for f in found] == [
        ("prediction", 0, "Prediction"), ("corrected", 0, "Corrected"), ("annotation", 2, "Annotation 2")]


def test_a_restored_autosave_of_a_saved_annotation_is_not_opened_twice(qtbot, window, dialogs, tmp_path):
    """Crash after saving and editing again: the restored layer stands for its file; no second copy."""
    folder, _, _ = make_patient_folder(tmp_path / "patient")
    open_and_settle(qtbot, window, folder)
    layer = window.annotation.editor.new_annotation_layer()
    window.annotation.editor.set_label(2)
    stroke(qtbot, window.axial_view, [(8, 8, 13), (20, 18, 13)])
    dialogs.save_to = window.annotation.saver.suggested_path(layer)
    assert window.annotation.save()
    stroke(qtbot, window.axial_view, [(8, 20, 13), (20, 20, 13)])  # edited after the save
    edited = layer.data.copy()
    assert window.annotation.autosave.flush(wait=True) is not None
    window.annotation.recovery = type(window.annotation.recovery)(tmp_path / "recovery-other")
    window.state.set_patient(None)  # the "crash": nothing saved or discarded
    window.annotation.recovery = type(window.annotation.recovery)(tmp_path / "recovery")
    dialogs.confirm_answer = True
    assert window.annotation.offer_restore()
    qtbot.wait(50)
    names = [layer.name for layer in window.state.layers]
    assert names == ["Ground truth", "Annotation"], names
    np.testing.assert_array_equal(window.state.layer("Annotation").data, edited)
