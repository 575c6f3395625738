"""The 3-D region tool shows what a click would change before it changes it, and asks before a large change."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.app.annotation.region_preview import ASK_KEY
from brats_desktop.app.state import PREDICTION
from brats_desktop.core.labels import EDEMA
from tests.annotation_support import annot_window, click, pos  # noqa: F401

CTRL = Qt.KeyboardModifier.ControlModifier
LESION = (slice(3, 25), slice(3, 27), slice(2, 14))  # 22 x 24 x 12 voxels of 1 mm: 6.336 mL
LINK, SPECK = (25, 15, 13), (26, 15, 14)  # joined to the lesion in 3-D, alone on axial slice 14


def _prediction_with_joined_speck(window, controller):
    labels = np.zeros(window.state.patient.shape, np.uint8)
    labels[LESION] = EDEMA
    labels[LINK] = labels[SPECK] = EDEMA
    layer = window.state.replace_layer("Prediction", labels.copy(), PREDICTION, modified=False)
    controller.editor.set_layer(layer)
    QApplication.processEvents()
    return layer, labels


def _hover(qtbot, view, voxel) -> None:
    qtbot.mouseMove(view.viewport(), pos(view, (voxel[0], voxel[1] + 3, voxel[2])))  # away first: a real move
    qtbot.mouseMove(view.viewport(), pos(view, voxel))


def test_hovering_a_speck_shows_the_whole_joined_lesion_and_a_large_erase_asks_first(qtbot, annot_window):
    window, controller, dialogs = annot_window
    layer, before = _prediction_with_joined_speck(window, controller)
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClick(window, Qt.Key.Key_E)  # the eraser
    window.state.set_cursor(SPECK)  # axial slice 14: only the speck shows there
    QApplication.processEvents()
    axial, coronal = window.axial_view, window.coronal_view
    assert before[:, :, 14].sum() == EDEMA  # one voxel on this slice: it looks isolated

    _hover(qtbot, axial, SPECK)
    message = window.statusBar().currentMessage()
    assert "3-D region (whole lesion): 6.34 mL, a click removes it" in message
    preview = window.correction.preview
    highlight = preview.layer.data
    assert highlight is not None and int((highlight >= 0.5).sum()) == 22 * 24 * 12 + 2
    overlay = {o.view: o for o in preview.overlays}
    assert overlay[axial].item.isVisible() and overlay[coronal].item.isVisible()  # the lesion, on the other view

    dialogs.confirm_answers = [False]  # "No": nothing changes
    click(qtbot, axial, SPECK)
    assert dialogs.asked[-1][0] == "confirm_or_stop_asking" and "remove 6.3 mL" in dialogs.asked[-1][1]
    np.testing.assert_array_equal(layer.data, before)
    assert not layer.modified

    dialogs.confirm_answers = [True]
    dialogs.stop_asking = True  # "Yes" with "Don't ask again" ticked
    click(qtbot, axial, SPECK)
    assert not layer.data.any()
    assert str(window.settings.value(ASK_KEY)).lower() == "false"
    assert not preview.layer.data.any()  # nothing is left to highlight

    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(layer.data, before)
    asked = len(dialogs.asked)
    click(qtbot, axial, SPECK)  # not asked again
    assert len(dialogs.asked) == asked and not layer.data.any()


def test_a_small_region_is_removed_without_a_question_and_leaving_the_tool_clears_the_highlight(qtbot, annot_window):
    window, controller, dialogs = annot_window
    labels = np.zeros(window.state.patient.shape, np.uint8)
    labels[26:31, 22:27, 18:23] = EDEMA  # 0.125 mL
    layer = window.state.replace_layer("Prediction", labels, PREDICTION, modified=False)
    controller.editor.set_layer(layer)
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClick(window, Qt.Key.Key_E)
    window.state.set_cursor((28, 24, 20))
    QApplication.processEvents()
    _hover(qtbot, window.axial_view, (28, 24, 20))
    assert "0.12 mL" in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key.Key_B)  # back to the brush: no region preview
    assert not window.correction.preview.layer.data.any()
    qtbot.keyClick(window, Qt.Key.Key_C)
    click(qtbot, window.axial_view, (28, 24, 20))
    assert not layer.data.any() and dialogs.asked == []
