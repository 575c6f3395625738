"""Slice views: orientation on screen, crosshair linking, slice stepping, overlays, tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.views.slice_view import AXIAL, CORONAL, SAGITTAL, SliceView, ViewTool, outline_of
from brats_desktop.app.state import ViewerState
from brats_desktop.core.labels import CLASS_COLOURS, EDEMA
from brats_desktop.core.patient import load_patient, patient_from_arrays
from tiny_cases import MARK, SHAPE, make_folder, ras_image, ras_labels
from viewer_support import ScriptedDialogs, isolated_settings, pixels

NAMES = {"flair": "P_flair.nii.gz", "t1": "P_t1.nii.gz", "seg": "P_seg.nii.gz"}


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.show_patient(load_patient(make_folder(tmp_path / "P", NAMES, "2020")))
    return win


def bright_spot(view: SliceView) -> tuple[float, float]:
    """Centre (x, y) in widget pixels of the saturated voxel, as a fraction of the size."""
    img = pixels(view)[..., :3].astype(int)
    white = (img.min(axis=2) > 240)
    ys, xs = np.nonzero(white)
    assert xs.size > 0, "the bright voxel is not on screen"
    return xs.mean() / img.shape[1], ys.mean() / img.shape[0]


@pytest.mark.parametrize(
    ("plane", "expect_left", "expect_top"),
    [(AXIAL, True, True), (CORONAL, True, True), (SAGITTAL, True, True)],
)
def test_asymmetric_voxel_appears_where_the_letters_say(qtbot, plane, expect_left, expect_top) -> None:
    """MARK is right, anterior, superior: radiological display puts R and A on the left, S/A up."""
    vol = ras_image()
    state = ViewerState()
    view = SliceView(state, plane)
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    qtbot.waitExposed(view)
    state.set_patient(patient_from_arrays("m", {"flair": vol}), cursor=MARK)
    state.set_window("flair", 0.0, 400.0)
    x, y = bright_spot(view)
    assert (x < 0.5) == expect_left and (y < 0.5) == expect_top
    # The same place the view reports for that voxel.
    pos = view.widget_pos_of(MARK)
    assert abs(pos.x() / view.width() - x) < 0.05 and abs(pos.y() / view.height() - y) < 0.05
    assert view.voxel_at(pos) == MARK
    assert [lbl.text() for lbl in view._letters] == list(plane.letters)


def test_ras_and_lps_folders_render_identically(qtbot, tmp_path: Path) -> None:
    renders, titles, title_boxes = [], [], []
    for orientation in ("RAS", "LPS"):
        state = ViewerState()
        views = [SliceView(state, p) for p in (AXIAL, CORONAL, SAGITTAL)]
        for v in views:
            qtbot.addWidget(v)
            v.resize(300, 300)
            v.show()
        patient = load_patient(make_folder(tmp_path / orientation, NAMES, "2020", orientation))
        state.set_patient(patient, cursor=(5, 4, 3))
        renders.append([pixels(v) for v in views])
        titles.append([v._title.text() for v in views])
        title_boxes.append([v.mapFromScene(v._title.sceneBoundingRect()).boundingRect() for v in views])
    # The images are the same; only the titles differ, as they give the file's own voxel index
    # (LPS flips i and j: canonical x = 5 of 12 is i = 6, y = 4 of 10 is j = 5).
    for a, b, box_a, box_b in zip(*renders, *title_boxes):
        box = box_a.united(box_b).adjusted(-1, -1, 1, 1)
        for img in (a, b):
            img[max(box.top(), 0): box.bottom() + 1, max(box.left(), 0): box.right() + 1] = 0
        np.testing.assert_array_equal(a, b)
    assert renders[0][0].std() > 0  # something was drawn
    assert [t.split("  ")[1] for t in titles[0]] == ["k = 3 (0–7)", "j = 4 (0–9)", "i = 5 (0–11)"]
    assert [t.split("  ")[1] for t in titles[1]] == ["k = 3 (0–7)", "j = 5 (0–9)", "i = 6 (0–11)"]


def test_closing_a_view_leaves_its_deleted_scene_items_alone(qtbot) -> None:
    """pyqtgraph's close() clears the scene and then resizes the view: the resize must not
    reach the orientation letters and title it has just deleted (that read freed memory and
    crashed the test run in teardown)."""
    state = ViewerState()
    view = SliceView(state, AXIAL)
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    qtbot.waitExposed(view)
    state.set_patient(patient_from_arrays("m", {"flair": ras_image()}), cursor=MARK)
    with qtbot.captureExceptions() as exceptions:
        view.close()
    assert view.closed and not exceptions


@pytest.mark.parametrize("width", [170, 260, 500])
def test_title_and_top_letter_never_overlap(qtbot, width: int) -> None:
    """The file-index title ("Axial  k = 77 (0–154)") reaches the centred top letter in a narrow
    view (a 1000 px window, the modality grid): the letter then moves below the title."""
    state = ViewerState()
    view = SliceView(state, AXIAL)
    qtbot.addWidget(view)
    view.resize(width, 300)
    view.show()
    qtbot.waitExposed(view)
    state.set_patient(patient_from_arrays("m", {"flair": ras_image()}), cursor=MARK)
    title, top = view._title.sceneBoundingRect(), view._letters[2].sceneBoundingRect()
    assert not title.intersects(top)
    assert abs(top.center().x() - view.mapToScene(QPoint(view.viewport().width() // 2, 0)).x()) <= 1
    if width >= 500:  # room enough: the letter stays at the top edge
        assert abs(top.top() - title.top()) <= 1


def test_click_in_one_view_moves_the_other_two(qtbot, window: MainWindow) -> None:
    state = window.state
    before_sagittal = pixels(window.sagittal_view)
    target = (2, 8, state.cursor[2])
    pos = window.axial_view.widget_pos_of(target).toPoint()
    qtbot.mouseClick(window.axial_view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert state.cursor == target
    assert window.sagittal_view.slice_index == 2
    assert window.coronal_view.slice_index == 8
    assert not np.array_equal(before_sagittal, pixels(window.sagittal_view))
    # And from the coronal view back: z changes, axial follows.
    pos = window.coronal_view.widget_pos_of((5, 8, 1)).toPoint()
    qtbot.mouseClick(window.coronal_view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert state.cursor == (5, 8, 1)
    assert window.axial_view.slice_index == 1


def test_drag_moves_the_crosshair_continuously(qtbot, window: MainWindow) -> None:
    view = window.axial_view
    z = window.state.cursor[2]
    start, end = view.widget_pos_of((1, 1, z)).toPoint(), view.widget_pos_of((9, 6, z)).toPoint()
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    assert window.state.cursor[:2] == (1, 1)
    qtbot.mouseMove(view.viewport(), end)
    assert window.state.cursor[:2] == (9, 6)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)


def wheel(view: SliceView, dy: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    centre = QPointF(view.width() / 2, view.height() / 2)
    event = QWheelEvent(
        centre, QPointF(view.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, dy),
        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(view.viewport(), event)


def test_wheel_and_keys_step_slices(qtbot, window: MainWindow) -> None:
    state, view = window.state, window.axial_view
    state.set_cursor((5, 5, 3))
    wheel(view, 120)
    assert state.cursor[2] == 4
    wheel(view, -240)
    assert state.cursor[2] == 2
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    assert state.cursor[2] == 3
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert state.cursor == (5, 5, 1)
    for _ in range(20):
        qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert state.cursor[2] == 0  # clamped at the first slice
    qtbot.keyClick(window.sagittal_view, Qt.Key.Key_Up)
    assert state.cursor[0] == 6


def test_ctrl_wheel_zooms_without_changing_slice(qtbot, window: MainWindow) -> None:
    view = window.coronal_view
    before_range = view.viewbox.viewRange()
    cursor = window.state.cursor
    wheel(view, 240, Qt.KeyboardModifier.ControlModifier)
    after = view.viewbox.viewRange()
    assert window.state.cursor == cursor
    assert (after[0][1] - after[0][0]) < (before_range[0][1] - before_range[0][0])
    view.reset_zoom()
    reset = view.viewbox.viewRange()
    assert reset[0][1] - reset[0][0] >= before_range[0][1] - before_range[0][0] - 1e-6


def colour_fraction(img: np.ndarray, rgb: tuple[int, int, int]) -> float:
    """Share of pixels whose colour leans clearly towards ``rgb`` (green: g >> r, b)."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    if rgb == CLASS_COLOURS[EDEMA]:
        return float(np.mean((g > r + 40) & (g > b + 40)))
    raise NotImplementedError


def test_overlay_class_toggle_opacity_and_outline_change_the_pixels(qtbot, window: MainWindow) -> None:
    window.state.set_cursor((6, 5, 3))
    solid = np.zeros(SHAPE, np.uint8)
    solid[2:10, 1:9, :] = EDEMA  # a solid block, so its outline is clearly smaller
    window.state.layers[0].set_data(solid, modified=False)
    view = window.axial_view
    controls = window.layers_panel.controls_for("Ground truth")
    assert controls is not None
    base = pixels(view)
    green = colour_fraction(base, CLASS_COLOURS[EDEMA])
    assert green > 0.02, "edema overlay not visible"

    box = controls.class_boxes[EDEMA]
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(5, box.height() // 2))
    assert EDEMA not in window.state.layers[0].visible_classes
    assert colour_fraction(pixels(view), CLASS_COLOURS[EDEMA]) < green / 10
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(5, box.height() // 2))
    np.testing.assert_array_equal(pixels(view), base)

    controls.opacity.setValue(100)
    opaque = pixels(view)
    assert not np.array_equal(opaque, base)
    assert window.state.layers[0].opacity == 1.0

    outline = controls.outline
    qtbot.mouseClick(outline, Qt.MouseButton.LeftButton, pos=QPoint(5, outline.height() // 2))
    assert window.state.layers[0].outline
    outlined = pixels(view)
    assert 0 < colour_fraction(outlined, CLASS_COLOURS[EDEMA]) < colour_fraction(opaque, CLASS_COLOURS[EDEMA])

    qtbot.mouseClick(controls.visible, Qt.MouseButton.LeftButton, pos=QPoint(5, controls.visible.height() // 2))
    assert colour_fraction(pixels(view), CLASS_COLOURS[EDEMA]) == 0.0


def test_outline_keeps_only_boundaries() -> None:
    labels = np.zeros((7, 7), np.uint8)
    labels[1:6, 1:6] = 2
    labels[3, 3] = 3
    out = outline_of(labels)
    assert out[1, 1] == 2 and out[2, 2] == 0  # outer border kept; (2, 2) only touches edema
    assert out[3, 3] == 3 and out[2, 3] == 2
    assert out[0, 0] == 0
    inner = labels.copy()
    inner[3, 3] = 2
    assert outline_of(inner)[3, 3] == 0


def test_labels_changed_redraws_only_when_the_slice_is_touched(qtbot, window: MainWindow) -> None:
    view, layer = window.axial_view, window.state.layers[0]
    window.state.set_cursor((6, 5, 3))
    before = pixels(view)
    layer.data[:, :, 7] = 0  # a slice not on screen
    layer.notify_changed((slice(None), slice(None), slice(7, 8)))
    np.testing.assert_array_equal(pixels(view), before)
    layer.data[:, :, 3] = 0
    layer.notify_changed((slice(None), slice(None), slice(3, 4)))
    assert colour_fraction(pixels(view), CLASS_COLOURS[EDEMA]) == 0.0
    assert window.windowTitle().endswith("*")


class RecordingTool(ViewTool):
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def press(self, view, voxel, event) -> None:
        self.calls.append(("press", voxel))

    def move(self, view, voxel, event) -> None:
        self.calls.append(("move", voxel))

    def release(self, view, voxel, event) -> None:
        self.calls.append(("release", voxel))


def test_replaceable_tool_receives_voxels_instead_of_navigation(qtbot, window: MainWindow) -> None:
    tool = RecordingTool()
    window.set_tool(tool)
    cursor = window.state.cursor
    view = window.coronal_view
    a = view.widget_pos_of((2, cursor[1], 1)).toPoint()
    b = view.widget_pos_of((4, cursor[1], 2)).toPoint()
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(view.viewport(), b)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=b)
    assert tool.calls[0] == ("press", (2, cursor[1], 1))
    assert ("move", (4, cursor[1], 2)) in tool.calls
    assert tool.calls[-1] == ("release", (4, cursor[1], 2))
    assert window.state.cursor == cursor  # navigation is off while another tool is active


def test_hover_shows_voxel_intensities_and_labels(qtbot, window: MainWindow) -> None:
    labels = ras_labels()
    voxel = (5, 4, window.state.cursor[2])
    pos = window.axial_view.widget_pos_of(voxel).toPoint()
    # Record every status message: in a long test run the offscreen platform may send
    # the viewport a Leave right after the synthetic move, which clears the readout.
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    # Move elsewhere first: Qt sends no move event when the (shared, offscreen) cursor
    # already stands at the target from an earlier test.
    qtbot.mouseMove(window.axial_view.viewport(), pos + QPoint(7, 7))
    qtbot.mouseMove(window.axial_view.viewport(), pos)
    text = next((m for m in reversed(messages) if m.startswith("voxel [")), "")
    # The file's own voxel index (an RAS file: the same numbers as the canonical voxel).
    assert f"voxel [{voxel[0]}, {voxel[1]}, {voxel[2]}]" in text and " mm" in text
    flair = window.state.patient.images["flair"][voxel]
    assert f"FLAIR {flair:.4g}" in text and "T1 " in text
    short = {0: "BG", 1: "NCR", 2: "ED", 3: "ET"}[int(labels[voxel])]
    assert f"Ground truth: {short}" in text


def test_views_follow_the_patient_shape(qtbot, window: MainWindow) -> None:
    assert window.axial_view._base.image.shape == (SHAPE[1], SHAPE[0])
    assert window.coronal_view._base.image.shape == (SHAPE[2], SHAPE[0])
    assert window.sagittal_view._base.image.shape == (SHAPE[2], SHAPE[1])
