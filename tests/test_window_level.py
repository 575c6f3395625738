"""Window/level: presets (numpy) and Ctrl+left-drag on the views, presets in the Display dock and View menu."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMenu

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.views.window_presets import (
    AUTO,
    BRAIN,
    FULL,
    TUMOUR,
    brain_window,
    full_range_window,
    preset_window,
    tumour_box,
    tumour_mask,
    tumour_window,
)
from brats_desktop.core.patient import patient_from_arrays
from viewer_support import ScriptedDialogs, isolated_settings

SHAPE = (40, 36, 20)
TUMOUR_VALUE = 400.0


def brain_with_tumour() -> tuple[np.ndarray, np.ndarray]:
    """Zero background, a brain of ~N(100, 10), a bright tumour block (edema-like, 400)."""
    rng = np.random.default_rng(0)
    vol = np.zeros(SHAPE, np.float32)
    vol[4:36, 4:32, 2:18] = rng.normal(100.0, 10.0, (32, 28, 16))
    labels = np.zeros(SHAPE, np.uint8)
    labels[10:18, 10:18, 6:12] = 2
    vol[labels > 0] = TUMOUR_VALUE + rng.normal(0.0, 5.0, int((labels > 0).sum()))
    return vol, labels


# -- presets, no Qt -------------------------------------------------------------------
def test_brain_window_leaves_the_tumour_out_and_full_range_keeps_everything() -> None:
    vol, labels = brain_with_tumour()
    lo, hi = brain_window(vol, labels > 0)
    assert 70 < lo < 90 and 110 < hi < 130  # the normal brain's spread, tumour saturates
    assert brain_window(vol)[1] > 300  # without the mask the tumour stretches the range
    assert full_range_window(vol) == (0.0, float(vol.max()))
    broken = vol.copy()
    broken[0, 0, 0], broken[1, 0, 0] = np.nan, np.inf  # a damaged voxel does not hide the range
    assert full_range_window(broken) == (0.0, float(vol.max()))


def test_tumour_window_spans_the_tumour_and_its_surroundings() -> None:
    vol, labels = brain_with_tumour()
    mask = tumour_mask([np.zeros(SHAPE, np.uint8), labels])
    assert mask is not None and mask.sum() == (labels > 0).sum()
    box = tumour_box(mask, margin=5)
    assert box == (slice(5, 23), slice(5, 23), slice(1, 17))
    lo, hi = tumour_window(vol, mask)
    assert 70 < lo < 110 and hi > 380  # surrounding brain at the dark end, tumour at the bright
    assert tumour_window(vol, None) is None
    assert tumour_mask([np.zeros(SHAPE, np.uint8)]) is None
    assert preset_window(AUTO, vol, mask, auto=(1.0, 2.0)) == (1.0, 2.0)
    with pytest.raises(ValueError, match="unknown window preset 'bone'"):
        preset_window("bone", vol)


# -- in the window --------------------------------------------------------------------
@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    vol, labels = brain_with_tumour()
    win.show_patient(patient_from_arrays("P", {"flair": vol}, labels))
    return win


def ctrl_drag(qtbot, view, start: QPoint, end: QPoint, steps: int = 4) -> None:
    """A real Ctrl+left-button drag on the view's viewport."""
    vp = view.viewport()
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, ctrl, start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(vp, start + (end - start) * i / steps)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, ctrl, end)


def level_width(window: MainWindow) -> tuple[float, float]:
    low, high = window.state.window("flair")
    return (low + high) / 2.0, high - low


def test_ctrl_drag_right_widens_up_brightens_and_back_restores(qtbot, window: MainWindow) -> None:
    view = window.axial_view
    cursor = window.state.cursor
    level0, width0 = level_width(window)
    centre = view.viewport().rect().center()
    ctrl_drag(qtbot, view, centre, centre + QPoint(60, 0))
    level1, width1 = level_width(window)
    assert width1 > width0 * 1.2 and level1 == pytest.approx(level0)
    assert view._base.levels[1] == pytest.approx(level1 + width1 / 2)  # the view follows
    ctrl_drag(qtbot, view, centre, centre + QPoint(0, -60))
    level2, width2 = level_width(window)
    assert level2 < level1 and width2 == pytest.approx(width1)  # up = lower level = brighter
    # One drag out and back returns to the window it started from.
    vp = view.viewport()
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, ctrl, centre)
    qtbot.mouseMove(vp, centre + QPoint(-50, 40))
    assert level_width(window) != pytest.approx((level2, width2))
    qtbot.mouseMove(vp, centre)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, ctrl, centre)
    assert level_width(window) == pytest.approx((level2, width2))
    assert window.state.cursor == cursor  # a window drag never moves the crosshair


def test_ctrl_drag_adjusts_the_window_and_never_paints(qtbot, window: MainWindow) -> None:
    layer = window.state.layer("Ground truth")
    window.annotation.editor.set_layer(layer)  # the paint tool is now the left-button tool
    before = layer.data.copy()
    view = window.axial_view
    _, width0 = level_width(window)
    start = view.widget_pos_of((20, 20, window.state.cursor[2])).toPoint()
    ctrl_drag(qtbot, view, start, start + QPoint(-40, 0))
    assert level_width(window)[1] < width0
    np.testing.assert_array_equal(layer.data, before)
    assert not layer.modified


def test_preset_buttons_in_the_display_dock(qtbot, window: MainWindow) -> None:
    buttons = {b.text(): b for b in window.display_panel.preset_buttons}
    assert list(buttons) == ["Auto", "Brain", "Tumour", "Full range"]
    auto = window.state.window("flair")
    qtbot.mouseClick(buttons["Brain"], Qt.MouseButton.LeftButton)
    low, high = window.state.window("flair")
    assert high < TUMOUR_VALUE / 2  # normal tissue gets the grey scale; the tumour saturates
    qtbot.mouseClick(buttons["Tumour"], Qt.MouseButton.LeftButton)
    assert window.state.window("flair")[1] > TUMOUR_VALUE * 0.9
    qtbot.mouseClick(buttons["Full range"], Qt.MouseButton.LeftButton)
    vol = window.state.volume()
    assert window.state.window("flair") == (float(vol.min()), float(vol.max()))
    qtbot.mouseClick(buttons["Auto"], Qt.MouseButton.LeftButton)
    assert window.state.window("flair") == auto
    assert float(window.display_panel.width.value()) == pytest.approx(auto[1] - auto[0], rel=1e-3)


def test_view_menu_presets_and_tumour_needs_a_layer(qtbot, window: MainWindow) -> None:
    submenu = next(a.menu() for a in window.menus["View"].actions() if a.menu() is not None
                   and "Window/" in a.text())
    assert isinstance(submenu, QMenu)
    actions = {a.text().replace("&", ""): a for a in submenu.actions() if not a.isSeparator()}
    assert {"Auto (Reset)", "Brain", "Tumour-Focused", "Full Range"} <= set(actions)
    actions["Full Range"].trigger()
    assert window.state.window("flair")[0] == 0.0
    # Without a label layer the tumour preset is off (button and menu item alike).
    window.state.remove_layer("Ground truth")
    tumour = actions["Tumour-Focused"]
    assert not tumour.isEnabled()
    assert not window.display_panel.preset_buttons[2].isEnabled()
    # An empty layer: the preset says why nothing happened, and the window stays.
    window.state.replace_layer("Prediction", np.zeros(SHAPE, np.uint8))
    assert tumour.isEnabled()
    before = window.state.window("flair")
    tumour.trigger()
    assert window.state.window("flair") == before
    assert "no layer has tumour labels" in window.statusBar().currentMessage()
    assert window.window_level.apply_preset(BRAIN) is not None and window.window_level.apply_preset(FULL)
    assert window.window_level.apply_preset(TUMOUR) is None
