"""Painting with real mouse events in each of the three views lands on the right voxels."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from brats_desktop.app.annotation.editor import FILL
from brats_desktop.core.editing import paint_stroke
from tests.annotation_support import SHAPE, annot_window, click, pos, stroke  # noqa: F401

PLANE_INDEX = {"axial": 0, "coronal": 1, "sagittal": 2}  # position in window.views


def _view(window, plane: str):
    return window.views[PLANE_INDEX[plane]]


@pytest.mark.parametrize(
    ("plane", "start", "end", "fixed"),
    [
        # axial (z fixed): a line along x at y=4
        ("axial", (5, 4, 12), (25, 4, 12), 2),
        # coronal (y fixed): a line along z at x=7
        ("coronal", (7, 20, 3), (7, 20, 21), 1),
        # sagittal (x fixed): a line along y at z=19
        ("sagittal", (16, 2, 19), (16, 27, 19), 0),
    ],
)
def test_thin_stroke_paints_exactly_the_dragged_line_in_3d(qtbot, annot_window, plane, start, end, fixed):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    window.state.set_cursor(start)
    qtbot.keyClick(window, Qt.Key.Key_2)  # class key: edema
    for _ in range(10):
        qtbot.keyClick(window, Qt.Key.Key_BracketLeft)  # brush down to radius 0
    assert editor.label == 2 and editor.radius == 0
    view = _view(window, plane)
    mid = tuple((a + b) // 2 for a, b in zip(start, end))
    stroke(qtbot, view, [start, mid, end])

    expected = np.zeros(SHAPE, np.uint8)
    moving = next(a for a in range(3) if start[a] != end[a])
    lo, hi = sorted((start[moving], end[moving]))
    line = list(start)
    line[moving] = slice(lo, hi + 1)
    expected[tuple(line)] = 2
    np.testing.assert_array_equal(layer.data, expected)
    assert set(np.argwhere(layer.data)[:, fixed]) == {start[fixed]}
    assert layer.modified and window.windowTitle().endswith("*")
    assert editor.history().undo_depth == 1  # one drag = one undo step


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_round_brush_stroke_matches_the_disk_swept_along_the_drag(qtbot, annot_window, plane):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    centre = (17, 15, 13)
    window.state.set_cursor(centre)
    editor.set_label(3)
    editor.set_radius(2)
    axis = {"axial": 2, "coronal": 1, "sagittal": 0}[plane]
    a, b = [i for i in range(3) if i != axis]
    p0, p1 = list(centre), list(centre)
    p0[a] -= 6
    p1[a] += 5
    p1[b] += 4
    stroke(qtbot, _view(window, plane), [tuple(p0), tuple(p1)])
    expected = np.zeros(SHAPE, np.uint8)
    paint_stroke(expected, axis, p0, p1, 2, 3)
    np.testing.assert_array_equal(layer.data, expected)
    assert layer.data[tuple(p1)] == 3 and layer.data[tuple(p0)] == 3


def test_eraser_key_erases_ground_truth_copy_but_not_the_patient(qtbot, annot_window):
    window, controller, _ = annot_window
    gt_layer = window.state.layers[0]
    controller.editor.set_layer(gt_layer)
    before = gt_layer.data.copy()
    target = tuple(int(v) for v in np.argwhere(before == 2)[0])
    window.state.set_cursor(target)
    qtbot.keyClick(window, Qt.Key.Key_E)
    controller.editor.set_radius(1)
    click(qtbot, window.axial_view, target)
    assert controller.editor.label == 0
    assert gt_layer.data[target] == 0
    changed = np.argwhere(gt_layer.data != before)
    assert len(changed) > 0 and np.all(gt_layer.data[tuple(changed.T)] == 0)
    assert set(changed[:, 2]) == {target[2]}
    # the loaded reference itself is untouched until the user saves
    assert window.state.patient.ground_truth[target] == before[target]


def test_fill_tool_fills_the_clicked_region_on_the_slice(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    z = 10
    layer.data[5:15, 5:15, z] = 2
    layer.data[7:13, 7:13, z] = 0  # a hole in the ring
    window.state.set_cursor((9, 9, z))
    qtbot.keyClick(window, Qt.Key.Key_F)
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert editor.tool == FILL
    click(qtbot, window.axial_view, (9, 9, z))
    assert np.all(layer.data[7:13, 7:13, z] == 1)
    assert layer.data[0, 0, z] == 0 and np.all(layer.data[7:13, 7:13, z + 1] == 0)
    assert editor.history().undo_depth == 1


def test_paint_only_over_background_keeps_the_neighbouring_class(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    z = 12
    layer.data[14:18, 12:16, z] = 1  # a core
    window.state.set_cursor((16, 14, z))
    editor.set_label(2)
    editor.set_radius(5)
    index = controller.panel.only_over_combo.findText("Background only")
    controller.panel.only_over_combo.setCurrentIndex(index)
    assert editor.only_over == 0
    stroke(qtbot, window.axial_view, [(12, 14, z), (20, 14, z)])
    assert np.all(layer.data[14:18, 12:16, z] == 1)
    assert layer.data[11, 14, z] == 2 and layer.data[21, 14, z] == 2


def test_undo_redo_shortcuts_restore_voxel_exact_states(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    layer = editor.new_annotation_layer()
    window.state.set_cursor((17, 15, 13))
    states = [layer.data.copy()]
    assert not controller.undo_action.isEnabled()
    editor.set_radius(2)
    for label, view, path in (
        (1, window.axial_view, [(8, 8, 13), (20, 10, 13)]),
        (2, window.coronal_view, [(10, 15, 5), (22, 15, 18)]),
        (3, window.sagittal_view, [(17, 4, 4), (17, 25, 20)]),
        (0, window.axial_view, [(10, 9, 13), (25, 9, 13)]),
    ):
        editor.set_label(label)
        stroke(qtbot, view, path)
        states.append(layer.data.copy())
    assert controller.undo_action.isEnabled() and not controller.redo_action.isEnabled()
    for expected in reversed(states[:-1]):
        qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        np.testing.assert_array_equal(layer.data, expected)
    assert not controller.undo_action.isEnabled() and controller.redo_action.isEnabled()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window, Qt.Key.Key_Z, ctrl_shift)
    np.testing.assert_array_equal(layer.data, states[1])
    for expected in states[2:]:
        qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
        np.testing.assert_array_equal(layer.data, expected)
    assert not controller.redo_action.isEnabled()


def test_brush_size_keys_slider_and_outline_follow_each_other(qtbot, annot_window):
    window, controller, _ = annot_window
    editor = controller.editor
    editor.new_annotation_layer()
    editor.set_radius(3)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert editor.radius == 4 and controller.panel.size_slider.value() == 4
    controller.panel.size_slider.setValue(7)
    assert editor.radius == 7
    view = window.axial_view
    window.state.set_cursor((17, 15, 13))
    qtbot.mouseMove(view.viewport(), pos(view, (17, 15, 13)))
    outline = controller.paint_tool.outline_item(view)
    assert outline is not None and outline.isVisible()
    rect = outline.rect()
    assert rect.width() == pytest.approx(2 * 7.5) and rect.center().x() == pytest.approx(17.5)
    assert rect.center().y() == pytest.approx(15.5)


def test_shift_click_moves_the_crosshair_instead_of_painting(qtbot, annot_window):
    window, controller, _ = annot_window
    layer = controller.editor.new_annotation_layer()
    window.state.set_cursor((17, 15, 13))
    click(qtbot, window.axial_view, (5, 6, 13), Qt.KeyboardModifier.ShiftModifier)
    assert window.state.cursor == (5, 6, 13)
    assert not layer.data.any()


def test_choosing_no_layer_gives_navigation_back(qtbot, annot_window):
    window, controller, _ = annot_window
    controller.editor.new_annotation_layer()
    controller.panel.layer_combo.setCurrentIndex(0)
    assert controller.editor.layer is None
    click(qtbot, window.axial_view, (5, 6, window.state.cursor[2]))
    assert window.state.cursor[:2] == (5, 6)


def test_stroke_shows_on_screen_with_region_only_repaints(qtbot, annot_window):
    """What Qt put on screen (the window's backing store, not a fresh grab) in another view.

    The coronal view through the stroke repaints only the changed rectangle; no brush
    outline passes there, so this fails if that region repaint were missing.
    """
    from PySide6.QtWidgets import QApplication

    from brats_desktop.core.labels import CLASS_COLOURS, EDEMA

    window, controller, _ = annot_window
    editor = controller.editor
    editor.new_annotation_layer()
    window.state.set_cursor((17, 5, 20))  # coronal slice y=5 goes through the stroke
    editor.set_label(EDEMA)
    editor.set_radius(1)
    QApplication.processEvents()
    axial = window.axial_view
    vp = axial.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos(axial, (4, 5, 20)))
    qtbot.wait(200)  # the press relayouts (title "*", panel text): let that full repaint pass
    for x in (8, 12, 16):
        qtbot.mouseMove(vp, pos(axial, (x, 5, 20)))
    QApplication.processEvents()
    # Before the release: what is on screen now came from the moves' region repaints.
    screen = QApplication.primaryScreen().grabWindow(window.winId()).toImage()
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos(axial, (16, 5, 20)))
    view = window.coronal_view

    def colour(voxel):
        # 0.3 voxel above the centre: off the crosshair line, which runs through z = 20.
        here = view.widget_pos_of(voxel)
        above = view.widget_pos_of((voxel[0], voxel[1], voxel[2] + 1))
        point = (here + (above - here) * 0.3).toPoint()
        c = screen.pixelColor(view.mapTo(window, point))
        return c.red(), c.green(), c.blue()

    r, g, b = colour((12, 5, 20))
    assert CLASS_COLOURS[EDEMA] == (0, 220, 0) and g - r > 60 and g - b > 60
    r, g, b = colour((12, 5, 23))  # three slices above the stroke: grey image only
    assert abs(g - r) < 20 and abs(g - b) < 20


def test_replacing_the_edited_layer_array_restarts_its_history(qtbot, annot_window):
    """A new prediction (set_data) is not undone stroke by stroke into the old array."""
    window, controller, _ = annot_window
    layer = controller.editor.new_annotation_layer()
    window.state.set_cursor((17, 15, 13))
    stroke(qtbot, window.axial_view, [(8, 8, 13), (12, 8, 13)])
    assert controller.undo_action.isEnabled()
    fresh = np.zeros(SHAPE, np.uint8)
    fresh[1, 1, 1] = 3
    layer.set_data(fresh)
    assert not controller.undo_action.isEnabled()
    stroke(qtbot, window.axial_view, [(20, 20, 13)])
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(layer.data, fresh)


def test_panel_buttons_and_readout_follow_each_stroke(qtbot, annot_window):
    """Class chosen with a real click on the panel; Dice vs ground truth shown after the stroke."""
    from brats_desktop.core.metrics import class_volumes_ml, dice_scores

    window, controller, _ = annot_window
    panel = controller.panel
    qtbot.mouseClick(panel.new_layer_button, Qt.MouseButton.LeftButton)
    layer = controller.editor.layer
    assert layer is not None and layer.name == "Annotation"
    assert panel.layer_combo.currentText() == "Annotation (annotation)"
    qtbot.mouseClick(panel.class_buttons[3], Qt.MouseButton.LeftButton)
    assert controller.editor.label == 3
    window.state.set_cursor((15, 13, 10))
    controller.editor.set_radius(2)
    stroke(qtbot, window.axial_view, [(12, 10, 10), (18, 14, 10)])
    gt = window.state.layer("Ground truth")
    dice = dice_scores(layer.data, gt.data)
    vols = class_volumes_ml(layer.data, window.state.patient.voxel_volume_ml)
    text = panel.metrics_label.text()
    assert f"ET {dice['ET']:.3f}" in text and "Dice vs Ground truth" in text
    assert f"ET {vols['ET']:.2f} mL" in text and vols["ET"] > 0
