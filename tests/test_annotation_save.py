"""Saving an edited layer: round trip through nibabel, replace prompt, unsaved prompt, title."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from tests.annotation_support import (  # noqa: F401
    SHAPE,
    ScriptedDialogs,
    annot_window,
    make_patient_folder,
    stroke,
)


def _paint_something(qtbot, window, controller, label: int = 3):
    editor = controller.editor
    layer = editor.layer or editor.new_annotation_layer()
    window.state.set_cursor((17, 15, 13))
    editor.set_label(label)
    editor.set_radius(2)
    stroke(qtbot, window.axial_view, [(6, 7, 13), (26, 20, 13)])
    assert layer.modified
    return layer


def test_save_as_round_trip_keeps_grid_affine_orientation_and_convention(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    layer = _paint_something(qtbot, window, controller, label=3)
    layer.data[2, 3, 4] = 1  # a marker voxel near the Right/Posterior/Inferior corner
    layer.notify_changed((slice(2, 3), slice(3, 4), slice(4, 5)))
    target = tmp_path / "out" / "edited"
    dialogs.save_paths = [target]
    assert window.windowTitle().endswith("*")
    assert controller.save()  # first Save asks where (Save As)
    written = target.with_name("edited.nii.gz")
    assert written.exists()
    assert not layer.modified and not window.windowTitle().endswith("*")

    img = nib.load(str(written))
    source = nib.load(str(next((tmp_path / "patient").glob("*_flair.nii.gz"))))
    np.testing.assert_allclose(img.affine, source.affine)
    assert img.shape == SHAPE and img.get_data_dtype() == np.uint8
    on_disk = np.asarray(img.dataobj)
    # The file is LPS (as BraTS ships): canonical RAS+ = flip the first two axes.
    canonical = on_disk[::-1, ::-1, :]
    assert set(np.unique(on_disk)) <= {0, 1, 4}  # BraTS 2020 convention: enhancing is 4
    np.testing.assert_array_equal(np.where(canonical == 4, 3, canonical), layer.data)
    assert on_disk[SHAPE[0] - 1 - 2, SHAPE[1] - 1 - 3, 4] == 1

    # A second Save writes to the same file without asking again.
    asked = len(dialogs.asked)
    layer.data[5, 5, 5] = 2
    layer.notify_changed((slice(5, 6), slice(5, 6), slice(5, 6)))
    assert controller.save() and len(dialogs.asked) == asked
    assert np.asarray(nib.load(str(written)).dataobj)[SHAPE[0] - 6, SHAPE[1] - 6, 5] == 2


def test_save_as_asks_before_replacing_an_existing_file(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    _paint_something(qtbot, window, controller)
    existing = tmp_path / "mine.nii.gz"
    existing.write_bytes(b"keep me")
    dialogs.save_paths = [existing, existing]
    dialogs.confirm_answers = [False, True]
    assert not controller.save_as()
    assert existing.read_bytes() == b"keep me"
    assert any("already exists" in text for kind, text in dialogs.asked if kind == "confirm")
    assert controller.save_as()
    assert nib.load(str(existing)).shape == SHAPE


def test_saving_over_an_input_file_is_refused_with_the_file_named(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    layer = _paint_something(qtbot, window, controller)
    seg = next((tmp_path / "patient").glob("*_seg.nii.gz"))
    before = seg.read_bytes()
    dialogs.save_paths = [seg]
    dialogs.confirm_answers = [True]
    assert not controller.save_as()
    assert seg.read_bytes() == before
    assert dialogs.errors and seg.name in dialogs.errors[-1]
    assert layer.modified


def test_default_name_is_beside_the_patient_and_never_a_second_segmentation(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    layer = _paint_something(qtbot, window, controller)
    suggested = controller.saver.suggested_path(layer)
    assert suggested.parent == tmp_path / "patient"
    assert suggested.name == "BraTS20_Training_999_annotation.nii.gz"
    gt = window.state.layers[0]
    assert controller.saver.suggested_path(gt).name == "BraTS20_Training_999_corrected.nii.gz"


def test_close_with_unsaved_edits_cancel_keeps_window_and_edits(qtbot, annot_window):
    window, controller, dialogs = annot_window
    layer = _paint_something(qtbot, window, controller)
    edited = layer.data.copy()
    dialogs.unsaved_answers = ["cancel"]
    window.close()
    QApplication.processEvents()
    assert window.isVisible()
    assert dialogs.asked[-1][0] == "unsaved" and "Annotation" in dialogs.asked[-1][1]
    np.testing.assert_array_equal(layer.data, edited)
    assert layer.modified and window.windowTitle().endswith("*")


def test_close_with_unsaved_edits_save_writes_then_closes(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    _paint_something(qtbot, window, controller)
    dialogs.unsaved_answers = ["save"]
    dialogs.save_paths = [tmp_path / "saved-on-close.nii.gz"]
    window.close()
    QApplication.processEvents()
    assert not window.isVisible()
    assert (tmp_path / "saved-on-close.nii.gz").exists()


def test_close_with_unsaved_edits_save_cancelled_in_file_dialog_keeps_window(qtbot, annot_window):
    window, controller, dialogs = annot_window
    _paint_something(qtbot, window, controller)
    dialogs.unsaved_answers = ["save"]
    dialogs.save_paths = [None]  # the user cancels the file dialog
    window.close()
    QApplication.processEvents()
    assert window.isVisible()


def test_close_with_unsaved_edits_discard_closes(qtbot, annot_window):
    window, controller, dialogs = annot_window
    _paint_something(qtbot, window, controller)
    dialogs.unsaved_answers = ["discard"]
    window.close()
    QApplication.processEvents()
    assert not window.isVisible()


def test_opening_another_patient_asks_and_cancel_keeps_everything(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    layer = _paint_something(qtbot, window, controller)
    other, _, _ = make_patient_folder(tmp_path / "other", with_seg=False)
    name = window.state.patient.name
    dialogs.unsaved_answers = ["cancel"]
    window.open_patient(other)
    assert window.state.patient.name == name and layer in window.state.layers and layer.modified
    dialogs.unsaved_answers = ["discard"]
    with qtbot.waitSignal(window.patient_loaded, timeout=10000):
        window.open_patient(other)
    assert window.state.patient.folder == other
    assert not window.state.has_unsaved_changes
    assert controller.editor.layer is None and not controller.undo_action.isEnabled()


@pytest.mark.realdata
def test_real_case_saved_labels_lie_exactly_on_the_source_segmentation(qtbot, shared_data, tmp_path):
    """brainles-sample-case (LPS, float images, BraTS 2023 labels): edit, save, compare on disk."""
    from PySide6.QtCore import QSettings

    from brats_desktop.app.main_window import MainWindow
    from brats_desktop.app.annotation.recovery import RecoveryStore
    from brats_desktop.core.patient import load_patient

    case = shared_data / "brainles-sample-case"
    seg_bytes = (case / "seg.nii.gz").read_bytes()
    dialogs = ScriptedDialogs()
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), dialogs)
    qtbot.addWidget(window)
    window.annotation.recovery = RecoveryStore(tmp_path / "recovery")
    window.show_patient(load_patient(case))
    gt = window.state.layer("Ground truth")
    window.annotation.editor.set_layer(gt)
    x, y, z = (int(v) for v in np.argwhere(gt.data == 2)[0])
    window.annotation.editor.set_label(3)
    window.annotation.editor.set_radius(0)
    window.annotation.editor.begin_stroke("axial", (x, y, z))
    window.annotation.editor.end_stroke()
    dialogs.save_paths = [tmp_path / "corrected.nii.gz"]
    assert window.annotation.save()

    source = nib.load(str(case / "seg.nii.gz"))
    saved = nib.load(str(tmp_path / "corrected.nii.gz"))
    np.testing.assert_allclose(saved.affine, source.affine)
    original = np.asarray(source.dataobj).astype(np.uint8)
    written = np.asarray(saved.dataobj)
    diff = np.argwhere(written != original)
    assert len(diff) == 1  # exactly the one voxel we changed, at its on-disk position
    assert original[tuple(diff[0])] == 2 and written[tuple(diff[0])] == 3
    assert (case / "seg.nii.gz").read_bytes() == seg_bytes  # the input file itself is untouched
    window.state.set_patient(None)
    window.close()
    window.deleteLater()
    QApplication.processEvents()
