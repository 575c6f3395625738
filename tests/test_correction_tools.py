"""Faster correction with real events: the 3-D region tool (remove / relabel a blob) and Fill Between Slices."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.app.annotation.editor import COMPONENT
from brats_desktop.app.state import PREDICTION
from brats_desktop.core.labels import EDEMA, ENHANCING, NCR
from tests.annotation_support import annot_window, click, stroke  # noqa: F401

BLOB = (slice(26, 31), slice(22, 27), slice(18, 23))  # far from the tumour

CTRL = Qt.KeyboardModifier.ControlModifier


def _edit_prediction_with_blob(window, controller) -> np.ndarray:
    pred = window.state.layers[0].data.copy()
    pred[BLOB] = EDEMA
    pred[28, 24, 20] = ENHANCING  # a blob of two classes
    layer = window.state.replace_layer("Prediction", pred, PREDICTION, modified=False)
    controller.editor.set_layer(layer)
    QApplication.processEvents()
    return pred


def test_one_click_with_the_eraser_removes_a_whole_3d_blob_in_one_undo_step(qtbot, annot_window):
    window, controller, _ = annot_window
    before = _edit_prediction_with_blob(window, controller)
    layer = controller.editor.layer
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert controller.editor.tool == COMPONENT and controller.editor.label == 0
    assert window.annotation.panel.tool_buttons[COMPONENT].isChecked()
    window.state.set_cursor((27, 23, 21))  # axial slice z=21 through the blob
    QApplication.processEvents()
    click(qtbot, window.axial_view, (27, 23, 21))
    expected = before.copy()
    expected[BLOB] = 0
    np.testing.assert_array_equal(layer.data, expected)  # every slice of the blob, nothing else
    assert layer.modified and window.windowTitle().endswith("*")
    assert controller.editor.history().undo_depth == 1
    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(layer.data, before)
    assert not layer.modified


def test_clicked_class_scope_relabels_one_class_and_keeps_the_rest(qtbot, annot_window):
    window, controller, _ = annot_window
    before = _edit_prediction_with_blob(window, controller)
    layer = controller.editor.layer
    widget = window.correction.widget
    widget.scope_combo.setCurrentIndex(1)  # "Clicked class only"
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClick(window, Qt.Key.Key_1)
    window.state.set_cursor((26, 22, 18))
    QApplication.processEvents()
    click(qtbot, window.coronal_view, (26, 22, 18))  # a corner of the blob, on the coronal view
    expected = before.copy()
    blob = np.zeros(before.shape, bool)
    blob[BLOB] = True
    expected[blob & (before == EDEMA)] = NCR
    np.testing.assert_array_equal(layer.data, expected)
    assert layer.data[28, 24, 20] == ENHANCING


def test_clicking_background_with_the_region_tool_changes_nothing(qtbot, annot_window):
    window, controller, _ = annot_window
    before = _edit_prediction_with_blob(window, controller)
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClick(window, Qt.Key.Key_E)
    window.state.set_cursor((2, 2, 2))
    click(qtbot, window.axial_view, (2, 2, 2))
    np.testing.assert_array_equal(controller.editor.layer.data, before)
    assert not controller.editor.can_undo


def _paint_disk(qtbot, window, view, centre) -> None:
    """Brush strokes (radius 3) over a small cross: a filled disk-ish shape on one slice."""
    window.state.set_cursor(centre)
    QApplication.processEvents()
    a, b = view.plane.col_axis, view.plane.row_axis
    left, right = list(centre), list(centre)
    left[a] -= 2
    right[a] += 2
    stroke(qtbot, view, [tuple(left), tuple(centre), tuple(right)])


def test_fill_between_slices_interpolates_two_painted_axial_slices_in_one_undo_step(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    qtbot.keyClick(window, Qt.Key.Key_2)
    editor.set_radius(3)
    _paint_disk(qtbot, window, window.axial_view, (15, 14, 5))
    _paint_disk(qtbot, window, window.axial_view, (15, 14, 12))
    painted = layer.data.copy()
    assert [z for z in range(layer.data.shape[2]) if layer.data[:, :, z].any()] == [5, 12]
    assert editor.history().undo_depth == 2

    qtbot.keyClick(window, Qt.Key.Key_I, CTRL)
    for z in range(5, 13):
        np.testing.assert_array_equal(layer.data[:, :, z] == EDEMA, painted[:, :, 5] == EDEMA)
    assert not layer.data[:, :, :5].any() and not layer.data[:, :, 13:].any()
    assert editor.history().undo_depth == 3
    # Slices counted from 0 as the view titles count them (k = 6 is the first filled slice).
    assert "Filled 6 axial slices (k = 6–11)" in window.statusBar().currentMessage()
    assert window.correction.widget.result_label.text() == window.statusBar().currentMessage()
    window.state.set_cursor((15, 14, 6))
    QApplication.processEvents()
    assert "k = 6 " in window.axial_view._title.text()

    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)  # one step back: the two painted slices only
    np.testing.assert_array_equal(layer.data, painted)


def test_fill_between_slices_works_in_the_plane_of_the_latest_stroke(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    editor.set_label(ENHANCING)
    editor.set_radius(2)
    view = window.sagittal_view
    _paint_disk(qtbot, window, view, (8, 15, 13))
    _paint_disk(qtbot, window, view, (12, 15, 13))
    assert editor.last_axis == 0
    window.annotation.dock.raise_()
    QApplication.processEvents()
    button = window.correction.widget.interpolate_button
    assert button.isVisible() and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    for x in (9, 10, 11):
        np.testing.assert_array_equal(layer.data[x] == ENHANCING, layer.data[8] == ENHANCING)
    # The file is stored LPS: canonical x 9-11 are the file's i = 23-21, which the sagittal title shows.
    last_i = window.state.patient.shape[0] - 1
    assert window.statusBar().currentMessage().startswith(
        f"Filled 3 sagittal slices (i = {last_i - 11}–{last_i - 9})")
    window.state.set_cursor((11, 15, 13))
    QApplication.processEvents()
    assert f"i = {last_i - 11} " in view._title.text()


def test_fill_between_slices_says_when_there_is_nothing_to_fill(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    _paint_disk(qtbot, window, window.axial_view, (15, 14, 5))
    before = layer.data.copy()
    window.correction.interpolate_action.trigger()
    np.testing.assert_array_equal(layer.data, before)
    assert window.statusBar().currentMessage().startswith("Nothing to fill on axial slices")
    assert editor.history().undo_depth == 1


def test_fill_only_the_chosen_class_leaves_gaps_of_other_classes(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    editor.set_radius(2)
    qtbot.keyClick(window, Qt.Key.Key_1)
    _paint_disk(qtbot, window, window.axial_view, (8, 8, 4))
    _paint_disk(qtbot, window, window.axial_view, (8, 8, 9))
    qtbot.keyClick(window, Qt.Key.Key_3)
    _paint_disk(qtbot, window, window.axial_view, (22, 20, 4))
    _paint_disk(qtbot, window, window.axial_view, (22, 20, 9))
    window.annotation.dock.raise_()
    QApplication.processEvents()
    box = window.correction.widget.chosen_class_only
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert box.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_I, CTRL)
    assert all((layer.data[:, :, z] == ENHANCING).any() for z in range(4, 10))
    assert not (layer.data[:, :, 5:9] == NCR).any()  # the chosen class was ET: NCR's gap stays
