"""View → Layout (three planes + 3-D, one large, modality grid) and linked zoom/pan at one scale.

Real events throughout: Ctrl+wheel and right/middle drags on a view's viewport, layout
shortcuts on the window, actions from the View → Layout menu.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QDockWidget

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.views.layouts import GRID_MODALITIES, LAYOUTS, SETTINGS_KEY, layout_key
from brats_desktop.core.patient import patient_from_arrays
from tests.viewer_support import ScriptedDialogs, isolated_settings, pixels

SHAPE = (64, 56, 40)
SPACING = (1.0, 1.0, 2.0)  # coronal/sagittal slices are 80 mm tall, axial 56 mm: scales used to differ
LESION = (40, 30, 20)


def make_patient():
    """Four modalities that differ (each a ramp along another axis) and a labelled lesion."""
    x, y, z = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in SHAPE), indexing="ij")
    images = {"t1": 10 + x, "t1ce": 10 + y * 2, "t2": 10 + z * 3, "flair": 80 - x}
    labels = np.zeros(SHAPE, np.uint8)
    cx, cy, cz = LESION
    labels[cx - 8:cx + 8, cy - 8:cy + 8, cz - 5:cz + 5] = 2
    labels[cx - 3:cx + 3, cy - 3:cy + 3, cz - 2:cz + 2] = 3
    return patient_from_arrays("Layout test", images, labels, spacing=SPACING)


def open_window(qtbot, settings, patient=True) -> MainWindow:
    window = MainWindow(settings=settings, dialogs=ScriptedDialogs())
    qtbot.addWidget(window)
    window.resize(1300, 900)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()  # shortcuts need the active window (X11 without a window manager too)
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    if patient:
        window.show_patient(make_patient())
    QApplication.processEvents()
    return window


@pytest.fixture
def window(qtbot, tmp_path):
    return open_window(qtbot, isolated_settings(tmp_path))


def mm_per_px(view) -> tuple[float, float]:
    (x0, x1), (y0, y1) = view.viewbox.viewRange()
    rect = view.viewbox.boundingRect()
    return abs(x1 - x0) / rect.width(), abs(y1 - y0) / rect.height()


def centre(view) -> tuple[float, float]:
    (x0, x1), (y0, y1) = view.viewbox.viewRange()
    return (x0 + x1) / 2, (y0 + y1) / 2


def wheel(view, steps: int, modifiers=Qt.KeyboardModifier.ControlModifier) -> None:
    vp = view.viewport()
    pos = QPointF(vp.width() / 2, vp.height() / 2)
    event = QWheelEvent(pos, QPointF(vp.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, event)
    QApplication.processEvents()


def drag(view, button: Qt.MouseButton, start: QPointF, end: QPointF, steps: int = 6) -> None:
    """Press, move in steps with the button held, release: what a hand on the mouse sends."""
    vp = view.viewport()
    nb, mods = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier

    def send(kind, pos, btn, held):
        QApplication.sendEvent(vp, QMouseEvent(kind, pos, QPointF(vp.mapToGlobal(pos.toPoint())), btn, held, mods))

    send(QEvent.Type.MouseButtonPress, start, button, button)
    for i in range(1, steps + 1):
        send(QEvent.Type.MouseMove, start + (end - start) * (i / steps), nb, button)
    send(QEvent.Type.MouseButtonRelease, end, button, nb)
    QApplication.processEvents()


def assert_equal_scale(views) -> float:
    scales = [mm_per_px(v) for v in views]
    first = scales[0][0]
    for sx, sy in scales:
        assert sx == pytest.approx(first, rel=0.01) and sy == pytest.approx(first, rel=0.01)
    return first


# -- equal scale ----------------------------------------------------------------------
def test_three_planes_show_equal_mm_per_pixel_and_whole_slices_by_default(window):
    views = [window.axial_view, window.coronal_view, window.sagittal_view]
    assert_equal_scale(views)
    ext = np.asarray(SHAPE) * np.asarray(SPACING)
    for view in views:
        (x0, x1), (y0, y1) = view.viewbox.viewRange()
        col, row = view.plane.col_axis, view.plane.row_axis
        assert min(x0, x1) <= 0.01 and max(x0, x1) >= ext[col] - 0.01
        assert min(y0, y1) <= 0.01 and max(y0, y1) >= ext[row] - 0.01


def test_ctrl_wheel_on_one_view_zooms_every_view_equally(window, qtbot):
    views = [window.axial_view, window.coronal_view, window.sagittal_view]
    before = assert_equal_scale(views)
    wheel(window.coronal_view, 2)
    after = assert_equal_scale(views)
    assert after < before * 0.9  # zoomed in, all three by the same factor
    wheel(window.sagittal_view, -4)
    assert assert_equal_scale(views) > after


def test_right_drag_zoom_is_linked(window):
    views = [window.axial_view, window.coronal_view, window.sagittal_view]
    before = assert_equal_scale(views)
    vp = window.axial_view.viewport()
    mid = QPointF(vp.width() / 2, vp.height() / 2)
    drag(window.axial_view, Qt.MouseButton.RightButton, mid, mid + QPointF(0, -80))
    after = assert_equal_scale(views)
    assert abs(after - before) / before > 0.05


def test_middle_drag_pan_moves_the_shared_axis_in_the_other_views(window):
    axial, coronal, sagittal = window.axial_view, window.coronal_view, window.sagittal_view
    mpp = mm_per_px(axial)[0]
    ax0, cor0, sag0 = centre(axial), centre(coronal), centre(sagittal)
    vp = axial.viewport()
    start = QPointF(vp.width() / 2, vp.height() / 2)
    drag(axial, Qt.MouseButton.MiddleButton, start, start + QPointF(60, 40))
    ax1, cor1, sag1 = centre(axial), centre(coronal), centre(sagittal)
    # The axial view moved along both of its axes (x is R-L, flipped on screen; y is A-P).
    assert abs(ax1[0] - ax0[0]) == pytest.approx(60 * mpp, rel=0.15)
    assert abs(ax1[1] - ax0[1]) == pytest.approx(40 * mpp, rel=0.15)
    # Coronal shares R-L with axial; sagittal's horizontal axis is axial's A-P.
    assert cor1[0] == pytest.approx(ax1[0], abs=0.5)
    assert sag1[0] == pytest.approx(ax1[1], abs=0.5)
    # Superior-inferior is in neither pan: it stayed.
    assert cor1[1] == pytest.approx(cor0[1], abs=0.5) and sag1[1] == pytest.approx(sag0[1], abs=0.5)
    assert mm_per_px(coronal)[0] == pytest.approx(mpp, rel=0.01)  # a pan is not a zoom


def test_reset_zoom_shortcut_brings_back_the_equal_fit(window, qtbot):
    views = [window.axial_view, window.coronal_view, window.sagittal_view]
    fit = assert_equal_scale(views)
    wheel(window.axial_view, 3)
    assert mm_per_px(window.axial_view)[0] < fit * 0.9
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert assert_equal_scale(views) == pytest.approx(fit, rel=0.01)
    ext = np.asarray(SHAPE) * np.asarray(SPACING)
    assert centre(window.coronal_view) == pytest.approx((ext[0] / 2, ext[2] / 2), abs=0.5)


# -- layouts ----------------------------------------------------------------------------
def layout_action(window, text: str):
    menu = window.layouts.menu
    assert menu in [a.menu() for a in window.menu("View").actions() if a.menu() is not None]
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def test_default_layout_is_three_planes_and_3d_with_case_info_in_a_dock(window):
    assert window.layouts.current == "3d"
    for view in (window.axial_view, window.coronal_view, window.sagittal_view):
        assert view.isVisible()
    volume = window.layouts.volume_view
    assert volume.isVisible()
    if volume.available:
        assert volume.gl.isVisible()
    else:  # offscreen CI: the quadrant says why, and nothing is built for it
        assert "OpenGL" in volume.message.text() and volume.message.isVisible()
        assert not volume.surfaces.active
    dock = next(d for d in window.findChildren(QDockWidget) if d.windowTitle() == "Case")
    assert window.info_panel in dock.widget().findChildren(type(window.info_panel))
    assert "Layout test" in window.info_panel.text.text()


def test_large_layout_from_the_menu_is_remembered(qtbot, tmp_path):
    settings = isolated_settings(tmp_path)
    window = open_window(qtbot, settings)
    layout_action(window, "Large Coronal").trigger()
    assert window.layouts.current == "large-coronal"
    assert not window.layouts.volume_view.isVisible()
    big, small = window.coronal_view, window.axial_view
    assert big.width() > 1.5 * small.width() and big.height() > 1.5 * small.height()
    # The small planes share one scale; the large one shows the same field of view at twice
    # their pixels per mm, and stays linked when a small view zooms.
    small_mpp = assert_equal_scale([window.axial_view, window.sagittal_view])
    assert mm_per_px(big)[0] == pytest.approx(small_mpp / 2, rel=0.01)
    assert centre(big)[0] == pytest.approx(centre(window.axial_view)[0], abs=0.5)
    wheel(window.sagittal_view, 2)
    zoomed = assert_equal_scale([window.axial_view, window.sagittal_view])
    assert zoomed < small_mpp * 0.9 and mm_per_px(big)[0] == pytest.approx(zoomed / 2, rel=0.01)
    assert settings.value(SETTINGS_KEY) == "large-coronal"
    window.layouts.set_layout("3d", remember=False)  # back to equal views: magnification gone
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert_equal_scale([window.axial_view, window.coronal_view, window.sagittal_view])
    window.close()
    again = open_window(qtbot, settings, patient=False)
    assert again.layouts.current == "large-coronal"
    assert layout_action(again, "Large Coronal").isChecked()
    assert again.coronal_view.isVisible() and not again.layouts.volume_view.isVisible()


def test_modality_grid_by_shortcut_shows_each_modality_with_overlays(window, qtbot):
    qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert window.layouts.current == "grid-axial"
    grid = window.layouts.grid_views["axial"]
    assert [v.fixed_modality for v in grid] == list(GRID_MODALITIES)
    assert all(v.isVisible() for v in grid) and not window.axial_view.isVisible()
    assert all(v in window.views for v in grid)  # tools and Reset Zoom reach them
    assert_equal_scale(grid)
    QApplication.processEvents()
    # Each view shows its own modality: T1 brightens towards the patient's right (high x),
    # FLAIR towards the left.
    right, left = (58, 10, LESION[2]), (6, 10, LESION[2])

    def grey(view, voxel):
        p = view.widget_pos_of(voxel)
        return int(pixels(view)[int(p.y()), int(p.x())][:3].mean())

    t1, flair = grid[0], grid[3]
    assert grey(t1, right) > grey(t1, left) + 60
    assert grey(flair, left) > grey(flair, right) + 60
    # The overlay (edema green) at the lesion in every view.
    window.state.set_cursor(LESION)
    QApplication.processEvents()
    for view in grid:
        p = view.widget_pos_of((LESION[0] + 6, LESION[1] + 5, LESION[2]))  # off the crosshair
        r, g, b, _ = pixels(view)[int(p.y()), int(p.x())]
        assert g > r + 40 and g > b + 40, view.fixed_modality
    # One crosshair: a click in the T2 view moves every view's slice.
    target = (20, 12, LESION[2])
    qtbot.mouseClick(grid[2].viewport(), Qt.MouseButton.LeftButton, pos=grid[2].widget_pos_of(target).toPoint())
    assert window.state.cursor[:2] == target[:2]
    # Linked zoom inside the grid.
    wheel(grid[3], 2)
    assert_equal_scale(grid)
    assert centre(grid[0]) == pytest.approx(centre(grid[3]), abs=0.5)


def test_grid_view_of_a_missing_modality_says_so(qtbot, tmp_path):
    window = open_window(qtbot, isolated_settings(tmp_path), patient=False)
    p = make_patient()
    del p.images["t1"]
    window.show_patient(p)
    window.layouts.set_layout("grid-coronal")
    titles = {v.fixed_modality: v._title.text() for v in window.layouts.grid_views["coronal"]}
    assert "T1 (not loaded)" in titles["t1"]
    assert titles["flair"].startswith("FLAIR") and "not loaded" not in titles["flair"]
    # The black T1 panel draws its note and nothing else: no labels, crosshair or letters on it.
    window.state.set_cursor(LESION)
    QApplication.processEvents()
    views = {v.fixed_modality: v for v in window.layouts.grid_views["coronal"]}

    def coloured(view) -> int:
        rgb = pixels(view)[24:, :, :3].astype(int)  # below the title line
        return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 40).sum())

    assert coloured(views["flair"]) > 100  # the lesion, crosshair and letters on an image
    assert coloured(views["t1"]) == 0


def test_layout_names_and_aliases():
    assert layout_key("grid") == "grid-axial" and layout_key("3D") == "3d"
    assert set(LAYOUTS) >= {"3d", "large-axial", "grid-sagittal"}
    with pytest.raises(ValueError, match="unknown layout 'quad'"):
        layout_key("quad")


def test_screenshot_renders_the_grid_layout_and_refuses_unknown_layouts(qtbot, tmp_path, capsys):
    from brats_desktop.app.main import main

    out = tmp_path / "grid.png"
    assert main(["--screenshot", str(out), "--size", "900x700", "--layout", "grid"]) == 0
    assert out.stat().st_size > 1000
    assert main(["--screenshot", str(out), "--layout", "quad"]) == 2
    assert "unknown layout 'quad'" in capsys.readouterr().err
