"""Edits a user must be able to trust: the unsaved flag follows the history, Save As refuses inputs first,
fill stays inside the brain, class buttons show the patient's own label values.

Every GUI step is a real event on the real widgets (key presses on the window, clicks
on the slice view and the dock's buttons).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.app.annotation.editor import FILL
from brats_desktop.core.editing import flood_fill
from brats_desktop.core.history import EditHistory
from brats_desktop.core.patient import load_patient
from tests.annotation_support import SHAPE, annot_window, click, stroke  # noqa: F401


def _ctrl(qtbot, window, key, shift: bool = False) -> None:
    mods = Qt.KeyboardModifier.ControlModifier
    if shift:
        mods |= Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window, key, mods)


def _fill_new_layer(qtbot, window, controller, voxel=(9, 9, 10)):
    """New layer (the dock's New button), F, 1, one click on the axial view."""
    panel = controller.panel
    qtbot.mouseClick(panel.new_layer_button, Qt.MouseButton.LeftButton)
    layer = controller.editor.layer
    assert layer is not None and not layer.modified
    window.state.set_cursor(voxel)
    qtbot.keyClick(window, Qt.Key.Key_F)
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert controller.editor.tool == FILL
    click(qtbot, window.axial_view, voxel)
    return layer


# ------------------------------------------------------------------ unsaved follows history
def test_history_clean_mark_follows_undo_redo_and_is_lost_when_overwritten():
    labels = np.zeros((4, 4, 4), np.uint8)
    history = EditHistory(labels)
    assert history.is_clean
    box = (slice(0, 1), slice(0, 1), slice(0, 1))
    labels[0, 0, 0] = 1
    history.record(box, np.ones((1, 1, 1), bool), np.zeros(1, np.uint8))
    assert not history.is_clean
    history.undo()
    assert history.is_clean
    history.redo()
    history.mark_clean()  # saved here
    history.undo()
    assert not history.is_clean
    history.redo()
    assert history.is_clean
    history.undo()  # the saved step is undone, then a new edit overwrites it: never clean again
    labels[1, 1, 1] = 2
    history.record((slice(1, 2), slice(1, 2), slice(1, 2)), np.ones((1, 1, 1), bool), np.zeros(1, np.uint8))
    history.undo()
    assert not history.is_clean  # back before the save, but the saved state itself is gone


def test_history_clean_mark_survives_dropping_old_steps():
    labels = np.zeros((4, 4, 4), np.uint8)
    history = EditHistory(labels, max_steps=2)
    one = np.ones((1, 1, 1), bool)
    for i in range(3):
        labels[i, 0, 0] = 1
        history.record((slice(i, i + 1), slice(0, 1), slice(0, 1)), one, np.zeros(1, np.uint8))
        if i == 1:
            history.mark_clean()
    assert history.undo_depth == 2 and not history.is_clean
    history.undo()
    assert history.is_clean  # the saved state is the oldest one still reachable
    history.undo()
    assert not history.is_clean  # before the dropped step's successor: not what was saved


def test_new_layer_fill_then_undo_is_clean_again_and_close_does_not_ask(qtbot, annot_window):
    window, controller, dialogs = annot_window
    layer = _fill_new_layer(qtbot, window, controller)
    assert layer.data.any() and layer.modified and window.windowTitle().endswith("*")

    _ctrl(qtbot, window, Qt.Key.Key_Z)
    assert not layer.data.any()
    assert not layer.modified and not window.windowTitle().endswith("*")
    _ctrl(qtbot, window, Qt.Key.Key_Z, shift=True)  # redo: the fill is back, unsaved again
    assert layer.data.any() and layer.modified and window.windowTitle().endswith("*")
    _ctrl(qtbot, window, Qt.Key.Key_Z)

    window.close()
    QApplication.processEvents()
    assert not window.isVisible()
    assert not [q for q in dialogs.asked if q[0] == "unsaved"]


def test_undo_back_to_the_saved_state_clears_the_star(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    layer = _fill_new_layer(qtbot, window, controller)
    dialogs.save_paths = [tmp_path / "mine.nii.gz"]
    _ctrl(qtbot, window, Qt.Key.Key_S)
    assert (tmp_path / "mine.nii.gz").exists() and not layer.modified
    saved = layer.data.copy()

    qtbot.keyClick(window, Qt.Key.Key_B)
    qtbot.keyClick(window, Qt.Key.Key_2)  # the fill made the whole slice 1 (this FLAIR has no air)
    stroke(qtbot, window.axial_view, [(20, 20, 10), (24, 20, 10)])
    assert layer.modified and window.windowTitle().endswith("*")
    _ctrl(qtbot, window, Qt.Key.Key_Z)
    np.testing.assert_array_equal(layer.data, saved)
    assert not layer.modified and not window.windowTitle().endswith("*")
    _ctrl(qtbot, window, Qt.Key.Key_Z)  # before the save: differs from the file
    assert layer.modified and window.windowTitle().endswith("*")


# ------------------------------------------------------------------ Save As onto an input
def test_save_as_onto_an_input_refuses_before_asking_to_replace(qtbot, annot_window, tmp_path):
    window, controller, dialogs = annot_window
    layer = _fill_new_layer(qtbot, window, controller)
    seg = next((tmp_path / "patient").glob("*_seg.nii.gz"))
    before = seg.read_bytes()
    dialogs.save_paths = [seg]
    dialogs.confirm_answers = [True]
    _ctrl(qtbot, window, Qt.Key.Key_S, shift=True)
    assert seg.read_bytes() == before
    assert not [q for q in dialogs.asked if q[0] == "confirm"], "asked 'Replace file?' about an input"
    assert dialogs.errors and seg.name in dialogs.errors[-1] and "input" in dialogs.errors[-1]
    assert layer.modified


# ------------------------------------------------------------------ fill stays in the brain
def _brain_patient(folder):
    """A BraTS-2020-named patient whose FLAIR is 0 (air) outside a box-shaped 'brain'."""
    folder.mkdir(parents=True)
    flair = np.zeros(SHAPE, np.float32)
    flair[8:26, 6:24, 4:22] = 1.0 + np.random.default_rng(0).random((18, 18, 18), dtype=np.float32)
    nib.save(nib.Nifti1Image(flair, np.eye(4)), str(folder / "BraTS20_Training_998_flair.nii.gz"))
    return load_patient(folder)


def test_fill_on_an_empty_layer_stays_inside_the_brain_unless_unticked(qtbot, annot_window, tmp_path):
    window, controller, _ = annot_window
    patient = _brain_patient(tmp_path / "brain")
    window.show_patient(patient)
    QApplication.processEvents()
    brain = patient.images["flair"] != 0
    z = 12
    layer = _fill_new_layer(qtbot, window, controller, (15, 15, z))
    filled = layer.data[:, :, z] == 1
    np.testing.assert_array_equal(filled, brain[:, :, z])
    assert not layer.data[:, :, z + 1].any()

    click(qtbot, window.axial_view, (2, 2, z))  # in the air: nothing to fill
    assert layer.data[2, 2, z] == 0

    controller.panel.fill_inside_brain.click()  # the user asks for the whole slice
    assert not controller.editor.fill_inside_brain
    qtbot.keyClick(window, Qt.Key.Key_2)
    click(qtbot, window.axial_view, (2, 2, z))
    assert (layer.data[:, :, z][~brain[:, :, z]] == 2).all()
    assert (layer.data[:, :, z][brain[:, :, z]] == 1).all()  # the brain region was another value


def test_flood_fill_within_mask_and_click_outside():
    labels = np.zeros((6, 6, 2), np.uint8)
    within = np.zeros((6, 6), bool)
    within[1:4, 1:4] = True
    assert flood_fill(labels, "axial", (2, 2, 0), 3, within=within) is not None
    assert (labels[:, :, 0] == 3).sum() == 9 and (labels[1:4, 1:4, 0] == 3).all()
    assert flood_fill(labels, "axial", (5, 5, 1), 3, within=within) is None
    with pytest.raises(ValueError):
        flood_fill(labels, "axial", (2, 2, 1), 1, within=np.ones((3, 3), bool))


# ------------------------------------------------------------------ the patient's label values
def test_class_buttons_show_the_files_label_values(qtbot, annot_window, tmp_path):
    from tests.inference_support import write_patient_folder

    window, controller, _ = annot_window
    panel = controller.panel
    assert window.state.patient.convention.value == "brats2020"  # BraTS20_..._seg with 0/1/2/4
    assert panel.class_buttons[3].text() == "ET (4)"
    assert panel.class_buttons[1].text() == "NCR (1)" and panel.class_buttons[2].text() == "ED (2)"
    qtbot.keyClick(window, Qt.Key.Key_4)  # the value shown selects the class
    assert controller.editor.label == 3 and panel.class_buttons[3].isChecked()
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert controller.editor.label == 1

    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00009-000", naming="2023", shape=SHAPE)
    window.show_patient(load_patient(folder))
    QApplication.processEvents()
    assert panel.class_buttons[3].text() == "ET (3)"
    qtbot.mouseClick(panel.class_buttons[3], Qt.MouseButton.LeftButton)
    assert controller.editor.label == 3
