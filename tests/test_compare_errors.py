"""Error map, Next Error / Next Lesion keys and distinguishable layers, with real key and mouse events."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.app.state import PREDICTION
from brats_desktop.app.views.slice_view import overlay_z
from brats_desktop.core.error_map import FALSE_NEGATIVE, FALSE_POSITIVE, error_map
from tests.annotation_support import annot_window  # noqa: F401
from tests.viewer_support import pixels

FP_BLOB = (slice(26, 31), slice(22, 27), slice(18, 23))  # 125 voxels far from the tumour
FN_CUT = (slice(None), slice(None), slice(10, 12))  # two missed slices split the tumour in two


def _with_prediction(window) -> tuple[np.ndarray, np.ndarray]:
    """A prediction = ground truth minus two slices, plus a far blob; returns (gt, prediction)."""
    gt = window.state.layers[0].data.copy()
    pred = gt.copy()
    pred[FN_CUT] = 0
    pred[FP_BLOB] = 2
    window.state.replace_layer("Prediction", pred, PREDICTION, modified=False)
    QApplication.processEvents()
    return gt, pred


def _colour_at(view, voxel) -> tuple[int, int, int]:
    """Rendered colour a bit off the voxel centre (the crosshair runs through the centre)."""
    here = view.widget_pos_of(voxel)
    nxt = list(voxel)
    nxt[view.plane.col_axis] += 1
    nxt[view.plane.row_axis] += 1
    there = view.widget_pos_of(tuple(nxt))
    point = (here + (there - here) * 0.3).toPoint()
    rgba = pixels(view.viewport())[point.y(), point.x()]
    return int(rgba[0]), int(rgba[1]), int(rgba[2])


def test_next_error_key_visits_error_regions_largest_first_and_draws_both_kinds(qtbot, annot_window):
    window, _, _ = annot_window
    gt, pred = _with_prediction(window)
    compare = window.compare
    assert compare.model.test_layer.name == "Prediction"
    assert compare.model.reference_layer.name == "Ground truth"
    expected = error_map(pred, gt, "WT")
    fn_voxels = int(np.count_nonzero(expected == FALSE_NEGATIVE))
    assert fn_voxels > 125  # so the missed slices are the largest region

    qtbot.keyClick(window, Qt.Key.Key_Period)
    assert compare.model.shown and compare.show_action.isChecked()
    np.testing.assert_array_equal(compare.model.errors, expected)
    cursor = window.state.cursor
    assert expected[cursor] == FALSE_NEGATIVE
    message = window.statusBar().currentMessage()
    spacing = np.prod(window.state.patient.spacing)
    assert message.startswith("False negative 1 of 2")
    assert f"{fn_voxels * spacing / 1000:.2f} mL ({fn_voxels} voxels)" in message
    assert compare.panel.position_label.text() == message
    QApplication.processEvents()
    r, g, b = _colour_at(window.axial_view, cursor)
    assert b > 150 and g > 150 and r < 110  # cyan: false negative

    qtbot.keyClick(window, Qt.Key.Key_Period)
    cursor = window.state.cursor
    assert all(s.start <= c < s.stop for s, c in zip(FP_BLOB, cursor))
    assert window.statusBar().currentMessage().startswith("False positive 2 of 2")
    assert "0.12 mL (125 voxels)" in window.statusBar().currentMessage()
    QApplication.processEvents()
    r, g, b = _colour_at(window.axial_view, cursor)
    assert r > 150 and b > 150 and g < 110  # magenta: false positive

    qtbot.keyClick(window, Qt.Key.Key_Comma)  # back to the largest
    assert expected[window.state.cursor] == FALSE_NEGATIVE


def test_region_choice_in_the_compare_dock_changes_the_map(qtbot, annot_window):
    window, _, _ = annot_window
    gt, pred = _with_prediction(window)
    panel = window.compare.panel
    window.compare.dock.raise_()  # the user picks the Compare tab
    QApplication.processEvents()
    box = panel.show_box  # click the tick box itself (a QCheckBox ignores clicks right of its text)
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert window.compare.model.shown
    combo = panel.target_combo
    combo.setCurrentIndex(combo.findData("ET"))
    assert window.compare.model.target == "ET"
    np.testing.assert_array_equal(window.compare.model.errors, error_map(pred, gt, "ET"))
    assert "ET: false positives 0.00 mL" in panel.summary_label.text()  # the blob is edema only
    # Swapping test and reference swaps false positives and negatives.
    panel.test_combo.setCurrentText("Ground truth")
    panel.reference_combo.setCurrentText("Prediction")
    np.testing.assert_array_equal(window.compare.model.errors, error_map(gt, pred, "ET"))
    assert "False positive: in Ground truth, not in Prediction" in panel.legend_labels[FALSE_POSITIVE].text()


def test_error_map_follows_edits_of_either_layer(qtbot, annot_window):
    window, controller, _ = annot_window
    _, pred = _with_prediction(window)
    model = window.compare.model
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert model.shown
    assert np.count_nonzero(model.errors == FALSE_POSITIVE) == 125
    layer = window.state.layer("Prediction")
    layer.data[FP_BLOB] = 0
    with qtbot.waitSignal(model.errors_changed, timeout=2000):
        layer.notify_changed(FP_BLOB)
    assert np.count_nonzero(model.errors == FALSE_POSITIVE) == 0
    qtbot.keyClick(window, Qt.Key.Key_Period)
    assert window.statusBar().currentMessage().startswith("False negative 1 of 1")


def test_next_lesion_steps_through_predicted_lesions(qtbot, annot_window):
    window, _, _ = annot_window
    _with_prediction(window)
    qtbot.keyClick(window, Qt.Key.Key_L)
    first = window.state.cursor
    assert window.statusBar().currentMessage().startswith("Lesion 1 of 3 (Prediction)")
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.statusBar().currentMessage().startswith("Lesion 3 of 3")
    assert "(1 voxels)" not in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.state.cursor == first  # wraps round
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ShiftModifier)
    assert window.statusBar().currentMessage().startswith("Lesion 3 of 3")
    pred = window.state.layer("Prediction").data
    assert pred[window.state.cursor] > 0


def test_ground_truth_becomes_outline_under_a_filled_prediction_and_the_legend_says_so(qtbot, annot_window):
    window, _, _ = annot_window
    gt_layer = window.state.layers[0]
    assert not gt_layer.outline
    assert window.layer_legend.texts() == ["Ground truth: filled, 50 %"]
    _with_prediction(window)
    pred_layer = window.state.layer("Prediction")
    assert gt_layer.outline and not pred_layer.outline
    assert window.layers_panel.controls_for("Ground truth").outline.isChecked()  # the dock shows it too
    assert gt_layer.opacity == 1.0  # a crisp contour, not a faint one
    assert window.layers_panel.controls_for("Ground truth").opacity.value() == 100
    assert window.layer_legend.texts() == ["Prediction: filled, 50 %", "Ground truth: outlines"]
    # Outlines are drawn above the filled prediction, whatever the layer order.
    view = window.axial_view
    items = {o.layer.name: o.item.zValue() for o in view._overlays}
    assert items["Ground truth"] > items["Prediction"]
    assert items["Ground truth"] == overlay_z(gt_layer, 0)
    # The user's choice stays: switching outline off is not undone by a new prediction run.
    gt_layer.set_outline(False)
    window.state.replace_layer("Prediction", pred_layer.data.copy(), PREDICTION, modified=False)
    assert not gt_layer.outline
    assert window.layer_legend.texts()[1] == "Ground truth: filled, 100 %"
    pred_layer.set_visible(False)
    assert window.layer_legend.texts() == ["Ground truth: filled, 100 %"]
    window.annotation.editor.new_annotation_layer()
    assert window.layer_legend.texts()[0] == "Annotation: filled, 50 %"


def test_modality_grid_views_show_the_error_map_too(qtbot, annot_window):
    window, _, _ = annot_window
    _with_prediction(window)
    qtbot.keyClick(window, Qt.Key.Key_Period)
    window.layouts.set_layout("grid-axial", remember=False)
    QApplication.processEvents()
    grid = window.layouts.grid_views["axial"]
    assert grid and all(any(o.view is v for o in window.compare.overlays) for v in grid)
    # On the panel of the patient's modality (FLAIR); a panel of a missing one draws nothing.
    shown = next(v for v in grid if window.state.volume(v.fixed_modality) is not None)
    overlay = next(o for o in window.compare.overlays if o.view is shown)
    values = overlay.slice_errors()
    assert values is not None and values.any() and overlay.item.isVisible()
    missing = [v for v in grid if window.state.volume(v.fixed_modality) is None]
    assert missing and not any(o.item.isVisible() for o in window.compare.overlays if o.view in missing)


def test_next_error_recentres_a_zoomed_in_view_on_the_region(qtbot, annot_window):
    window, _, _ = annot_window
    _with_prediction(window)
    camera = window.axial_view.camera
    assert camera is not None
    camera.set_view(mm_per_px=0.02, centre=(1.0, 1.0, 1.0))  # zoomed far into a corner
    qtbot.keyClick(window, Qt.Key.Key_Period)
    cursor, spacing = window.state.cursor, window.state.patient.spacing
    assert camera.centre == pytest.approx(tuple((c + 0.5) * s for c, s in zip(cursor, spacing)))
    assert camera.mm_per_px == pytest.approx(0.02)  # the zoom stays
    view = window.axial_view
    here = view.widget_pos_of(cursor).toPoint()
    assert view.viewport().rect().contains(here)
