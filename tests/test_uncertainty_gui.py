"""Uncertainty heat map, its dock, the Metrics dock's uncertain volumes and Next Uncertain Region (real events)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.core.patient import patient_from_arrays
from brats_desktop.core.uncertainty import entropy_map
from measure_support import close_window, open_window
from models.tta import Prediction
from viewer_support import pixels

SHAPE = (40, 36, 24)
SPACING = (2.0, 2.0, 2.0)  # 0.008 mL per voxel
BIG = (slice(4, 14), slice(4, 14), slice(4, 12))  # uniform over 4 classes: entropy 1, argmax background
MID = (slice(24, 30), slice(20, 26), slice(14, 20))  # (0.1, 0.1, 0.7, 0.1): entropy 0.68, argmax ED
SMALL = (slice(30, 34), slice(4, 8), slice(2, 6))  # (0.05, 0.05, 0.05, 0.85): entropy 0.42, argmax ET


def probabilities() -> np.ndarray:
    p = np.zeros((4, *SHAPE), np.float16)
    p[0] = 1.0
    for box, probs in ((BIG, (0.25,) * 4), (MID, (0.1, 0.1, 0.7, 0.1)), (SMALL, (0.05, 0.05, 0.05, 0.85))):
        for c, value in enumerate(probs):
            p[(c, *box)] = value
    return p


def predict_with_probabilities(model, images, **kwargs):
    p = probabilities()
    return Prediction(p.argmax(axis=0).astype(np.uint8), p, "none")


def predict_labels_only(model, images, **kwargs):
    return probabilities().argmax(axis=0).astype(np.uint8)


def patient(name="Uncertain"):
    rng = np.random.default_rng(0)
    images = {m: (rng.random(SHAPE) * 100 + 50).astype(np.float32) for m in ("flair", "t1ce")}
    return patient_from_arrays(name, images, None, SPACING)


@pytest.fixture
def window(qtbot, tmp_path):
    win, dialogs = open_window(qtbot, tmp_path, patient())
    yield win
    close_window(win)


def run_segmentation(qtbot, win, predict=predict_with_probabilities):
    win.segment.predict = predict
    with qtbot.waitSignal(win.uncertainty.map_ready, timeout=60_000):
        qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # Segment → Run
    QApplication.processEvents()


def inside(voxel, box) -> bool:
    return all(s.start <= v < s.stop for v, s in zip(voxel, box))


def test_map_volumes_and_next_region_after_a_run(qtbot, window):
    win = window
    unc = win.uncertainty
    assert not unc.next_action.isEnabled()  # nothing to jump to before a run
    run_segmentation(qtbot, win)
    np.testing.assert_allclose(unc.layer.data, entropy_map(probabilities()), atol=1e-6)

    # Metrics dock: uncertain volume by argmax class at the default threshold 0.5.
    vols = unc.volumes_widget
    assert vols.isVisibleTo(win.segment.metrics_panel)
    assert vols.value("BG") == f"{10 * 10 * 8 * 0.008:.2f}"
    assert vols.value("ED") == f"{6 * 6 * 6 * 0.008:.2f}"
    assert vols.value("ET") == "0.00"  # entropy 0.42 < 0.5
    # Lower the threshold with the keyboard on the dock's slider: the ET block counts now.
    slider = unc.panel.threshold_slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_PageDown)  # 0.50 -> 0.40
    qtbot.waitUntil(lambda: vols.value("ET") == f"{4 * 4 * 4 * 0.008:.2f}", timeout=3000)
    assert unc.layer.threshold == pytest.approx(0.40)
    assert unc.panel.threshold_label.text() == "Threshold 0.40"

    # U jumps to the largest uncertain region, then the next, then round again.
    win.axial_view.setFocus()
    seen = []
    for _ in range(4):
        qtbot.keyClick(win, Qt.Key.Key_U)
        seen.append(win.state.cursor)
    assert inside(seen[0], BIG) and inside(seen[1], MID) and inside(seen[2], SMALL) and inside(seen[3], BIG)
    assert "Region 1 of 3" in unc.panel.region_label.text() or "Region 1 of 3" in unc.region_text
    # The status bar gives the uncertainty under the mouse beside the labels.
    view = win.axial_view
    win.state.set_cursor((8, 8, 6))
    qtbot.mouseMove(view.viewport(), view.widget_pos_of((20, 30, 6)).toPoint())
    qtbot.mouseMove(view.viewport(), view.widget_pos_of((8, 8, 6)).toPoint())
    assert win.statusBar().currentMessage().endswith("Uncertainty: 1.00")


def test_heat_map_is_drawn_only_where_uncertain_and_follows_show_and_opacity(qtbot, window):
    win = window
    run_segmentation(qtbot, win)
    view = win.axial_view
    overlay = next(o for o in win.uncertainty.overlays if o.view is view)
    win.state.set_cursor((8, 8, 6))  # through the big block
    assert overlay.item.isVisible()
    win.state.set_cursor((8, 8, 22))  # a slice with no uncertainty above the threshold
    assert not overlay.item.isVisible()
    win.state.set_cursor((20, 30, 6))
    QApplication.processEvents()
    p = view.widget_pos_of((8, 8, 6)).toPoint()
    with_map = pixels(view)[p.y(), p.x(), :3].astype(int)
    win.uncertainty.dock.raise_()  # its tab to the front, as the user would click it
    qtbot.waitUntil(lambda: win.uncertainty.panel.show_box.isVisible(), timeout=2000)
    box = win.uncertainty.panel.show_box
    on_box = QPoint(8, box.height() // 2)  # the indicator: a stretched check box ignores clicks past its text
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, on_box)  # untick "Show"
    QApplication.processEvents()
    assert not overlay.item.isVisible() and not win.uncertainty.show_action.isChecked()
    without = pixels(view)[p.y(), p.x(), :3].astype(int)
    assert np.abs(with_map - without).sum() > 60  # the heat map visibly coloured that voxel
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, on_box)
    assert overlay.item.isVisible()
    slider = win.uncertainty.panel.opacity_slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Home)
    assert win.uncertainty.layer.opacity == 0 and overlay.item.opacity() == 0


def test_no_probabilities_and_patient_change_clear_the_map(qtbot, window):
    win = window
    unc = win.uncertainty
    win.segment.predict = predict_labels_only
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        win.segment.run_action.trigger()
    assert unc.layer.data is None and "did not keep class probabilities" in unc.panel.summary.text()
    assert not unc.next_action.isEnabled() and not unc.volumes_widget.isVisibleTo(win.segment.metrics_panel)
    run_segmentation(qtbot, win)
    assert unc.layer.data is not None
    win.show_patient(patient("Other"))
    assert unc.layer.data is None and unc.volumes is None
    assert all(not o.item.isVisible() for o in unc.overlays)


def test_modality_grid_views_made_later_show_the_heat_map_and_take_rulers(qtbot, window):
    win = window
    run_segmentation(qtbot, win)
    win.layouts.set_layout("grid-axial", remember=False)
    QApplication.processEvents()
    grid = win.layouts.grid_views["axial"]
    win.state.set_cursor((8, 8, 6))
    overlays = [o for o in win.uncertainty.overlays if o.view in grid]
    assert len(overlays) == len(grid)
    # Shown on the panels of loaded modalities; a panel of a missing one draws only its note.
    loaded = {v for v in grid if win.state.volume(v.fixed_modality) is not None}
    assert loaded and all(o.item.isVisible() == (o.view in loaded) for o in overlays)
    # The ruler (Measure → Ruler, M) works in the grid's views too.
    qtbot.keyClick(win, Qt.Key.Key_M)
    view = next(v for v in grid if v in loaded)
    view.reset_zoom()
    QApplication.processEvents()
    from measure_support import drag

    drag(qtbot, view, (10, 10, 6), (30, 10, 6))
    (ruler,) = win.measure.store.rulers()
    assert ruler.length_mm == pytest.approx(20 * SPACING[0], abs=0.5)
    assert any(o.view is view and o.labels for o in win.measure.ruler_overlays)


def _hue(rgb) -> tuple[float, float]:
    """(hue in degrees, saturation) of an RGB triple."""
    import colorsys

    h, _, s = colorsys.rgb_to_hls(*(c / 255 for c in rgb))
    return h * 360, s


def test_heat_map_uses_no_class_colour_and_its_colour_bar_marks_the_threshold(qtbot, window):
    from brats_desktop.core.labels import CLASS_COLOURS

    win = window
    run_segmentation(qtbot, win)
    lut = win.uncertainty.layer.lut
    class_hues = [_hue(rgb)[0] for rgb in CLASS_COLOURS.values()]
    for row in lut[1:, :3]:  # every colour the map can draw: far in hue from NCR blue, edema green, ET yellow
        hue, saturation = _hue(row)
        if saturation > 0.25:  # the ramp's white end has no hue to confuse
            assert min(min(abs(hue - h), 360 - abs(hue - h)) for h in class_hues) >= 45, row

    win.uncertainty.dock.raise_()
    bar = win.uncertainty.panel.colour_bar
    qtbot.waitUntil(bar.isVisible, timeout=2000)
    y = int(bar.bar_rect().center().y())

    def colour_at(value: float):
        QApplication.processEvents()
        return pixels(bar)[y, int(round(bar.x_of(value))), :3].astype(int)

    def grey(rgb) -> bool:
        return max(rgb) - min(rgb) < 30

    assert grey(colour_at(0.25)) and grey(colour_at(0.45))  # below the 0.50 threshold: not drawn
    high = colour_at(0.7)
    assert not grey(high) and high[0] > high[1] + 60 and high[2] > high[1] + 60  # magenta
    slider = win.uncertainty.panel.threshold_slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_PageDown)  # 0.50 -> 0.40: 0.45 is drawn now, and the bar says so
    assert not grey(colour_at(0.45)) and grey(colour_at(0.35))
