"""Layers dock at the default window size: two layers show whole, no scrolling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QDockWidget, QWidget

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.views.layers_panel import LayersScrollArea
from brats_desktop.core.labels import EDEMA, ENHANCING
from brats_desktop.core.patient import patient_from_arrays
from tiny_cases import SHAPE, ras_image, ras_labels
from viewer_support import ScriptedDialogs, isolated_settings


# The viewer's own docks. Other features' docks (case, compare, measurements, uncertainty,
# worklist ...) are closed here: how they share the right-hand column is decided where they
# are added; this test is about the Layers dock beside the viewer's docks.
VIEWER_DOCKS = {"Display", "Layers", "Annotate", "Metrics"}
DEFAULT_SIZE = (1400, 900)  # MainWindow.__init__: self.resize(1400, 900)


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    """The window at the size main_window asks for (DEFAULT_SIZE), the viewer's docks only."""
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(win)
    for dock in win.findChildren(QDockWidget):
        if dock.windowTitle() not in VIEWER_DOCKS:
            dock.close()
    win.show()
    qtbot.waitExposed(win)
    # Again after the other docks closed: while they were open the window could not be
    # that small and Qt grew it (see the report on the right-hand dock column).
    win.resize(*DEFAULT_SIZE)
    win.show_patient(patient_from_arrays("P", {"flair": ras_image()}, ras_labels()))
    prediction = np.zeros(SHAPE, np.uint8)
    prediction[3:8, 2:7, 2:6] = ENHANCING
    win.state.replace_layer("Prediction", prediction)
    qtbot.wait(50)  # let the docks settle after the rebuild
    return win


def fully_shown(widget: QWidget, scroll: LayersScrollArea) -> bool:
    """Drawn on screen and not cut by the scroll area's viewport."""
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    viewport = scroll.viewport()
    top_left = widget.mapTo(viewport, QPoint(0, 0))
    return viewport.rect().contains(QRect(top_left, widget.size()))


def test_two_layers_fit_without_scrolling_at_the_default_size(qtbot, window: MainWindow) -> None:
    assert (window.width(), window.height()) == DEFAULT_SIZE
    scroll = window.layers_panel.parentWidget().parentWidget()
    assert isinstance(scroll, LayersScrollArea)
    controls = window.layers_panel.controls
    assert [c.layer.name for c in controls] == ["Prediction", "Ground truth"]
    for box in controls:
        widgets = [box.visible, box.outline, box.opacity, *box.class_boxes.values()]
        for widget in widgets:
            assert fully_shown(widget, scroll), f"{box.layer.name}: {widget.text() if hasattr(widget, 'text') else 'opacity'} hidden"
    assert scroll.verticalScrollBar().maximum() == 0  # nothing to scroll to

    # The second (lower) layer's controls answer real clicks.
    lower = controls[1]
    # Beside a prediction the ground truth starts as outlines (both stay readable): a click toggles it off.
    outlined = window.state.layer("Ground truth").outline
    qtbot.mouseClick(lower.outline, Qt.MouseButton.LeftButton, pos=QPoint(5, lower.outline.height() // 2))
    assert window.state.layer("Ground truth").outline is not outlined
    box = lower.class_boxes[EDEMA]
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(5, box.height() // 2))
    assert EDEMA not in window.state.layer("Ground truth").visible_classes
    slider = lower.opacity
    before = window.state.layer("Ground truth").opacity
    # A click on the groove left of the handle steps the opacity down by one page (10 %).
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(3, slider.height() // 2))
    assert window.state.layer("Ground truth").opacity == pytest.approx(before - 0.1)


def test_more_layers_scroll_inside_the_dock(qtbot, window: MainWindow) -> None:
    """Many layers do not grow the window: the dock scrolls; the first two stay whole."""
    height = window.height()
    for i in range(8):  # more than any right-hand column of 900 px can show
        window.state.replace_layer(f"Annotation {i}", np.zeros(SHAPE, np.uint8), kind="annotation")
    qtbot.wait(50)
    scroll = window.layers_panel.parentWidget().parentWidget()
    assert len(window.layers_panel.controls) == 10
    # The scroll range follows the layout pass that the rebuild posts.
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() > 0, timeout=3000)
    assert window.height() == height
    first = window.layers_panel.controls[0]
    assert fully_shown(first.opacity, scroll) and fully_shown(first.outline, scroll)

