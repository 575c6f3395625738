"""The 3-D view: background surface builds (latest request wins, debounced, only while shown),
the message where OpenGL is missing, and, where OpenGL works, what is drawn and clicks on it.

Tests that draw need OpenGL and skip cleanly without it (CI runs offscreen); to run them:
``xvfb-run -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb pytest tests/test_volume_view.py``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QWheelEvent
from PySide6.QtWidgets import QApplication

from brats_desktop.app.state import ViewerState
from brats_desktop.app.views.mesh_worker import MeshWorker, SurfaceModel
from brats_desktop.app.views.volume_view import opengl_status
from brats_desktop.core.patient import patient_from_arrays
from tests.test_layouts import LESION, SHAPE, SPACING, make_patient, open_window
from tests.viewer_support import isolated_settings


def gl_or_skip() -> None:
    ok, reason = opengl_status()
    if not ok:
        pytest.skip(f"needs OpenGL: {reason}")


# -- worker ---------------------------------------------------------------------------
def test_worker_runs_the_latest_request_and_drops_the_ones_it_replaced(qtbot):
    worker = MeshWorker()
    started, gate = threading.Event(), threading.Event()
    ran: list[str] = []
    results: list[object] = []
    worker.built.connect(lambda _rid, result: results.append(result))

    def job(name: str, block: bool = False):
        def run() -> str:
            if block:
                started.set()
                gate.wait(10)
            ran.append(name)
            return name
        return run

    try:
        worker.submit(job("first", block=True))
        assert started.wait(10)
        worker.submit(job("stale"))
        last = worker.submit(job("latest"))
        assert worker.busy
        gate.set()
        qtbot.waitUntil(lambda: len(results) == 2, timeout=10000)
        assert ran == ["first", "latest"] and results == ["first", "latest"]
        assert last == 3
        qtbot.waitUntil(lambda: not worker.busy, timeout=5000)
    finally:
        gate.set()
        worker.shutdown()


def test_a_failing_job_is_reported_and_the_thread_keeps_working(qtbot):
    worker = MeshWorker()
    failures: list[str] = []
    results: list[object] = []
    worker.failed.connect(lambda _rid, msg: failures.append(msg))
    worker.built.connect(lambda _rid, result: results.append(result))
    try:
        with qtbot.waitSignal(worker.failed, timeout=10000):
            worker.submit(lambda: 1 / 0)
        assert failures and failures[0].startswith("ZeroDivisionError")
        with qtbot.waitSignal(worker.built, timeout=10000):
            worker.submit(lambda: "fine")
        assert results == ["fine"]
    finally:
        worker.shutdown()


# -- surface model (no OpenGL needed) ---------------------------------------------------------
@pytest.fixture
def model(qtbot):
    state = ViewerState()
    surfaces = SurfaceModel(state, debounce_ms=30)
    builds: list[int] = []
    surfaces.worker.built.connect(lambda rid, _r: builds.append(rid))
    yield state, surfaces, builds
    surfaces.shutdown()


def settle(qtbot, surfaces) -> None:
    qtbot.waitUntil(lambda: surfaces.is_current() and not surfaces.busy, timeout=20000)
    QApplication.processEvents()  # the test's own slots on worker.built, posted with the model's


def test_surfaces_follow_the_labels_one_rebuild_per_burst_of_edits(qtbot, model):
    state, surfaces, builds = model
    surfaces.set_active(True)
    state.set_patient(make_patient())
    settle(qtbot, surfaces)
    qtbot.waitUntil(lambda: len(builds) == 1)  # our slot on worker.built runs after the model's
    layer = state.layers[0]
    assert set(surfaces.meshes(layer)) == {2, 3}
    assert surfaces.brain is not None
    # Enhancing tumour surface sits at the enhancing block (mm = (voxel + 0.5) * spacing).
    lo, hi = surfaces.meshes(layer)[3].bounds()
    centre_mm = np.asarray(LESION) * np.asarray(SPACING)  # voxels [c-3, c+3) span (c-3)*s to (c+3)*s mm
    assert np.allclose((lo + hi) / 2, centre_mm, atol=1.5)
    before = len(builds)
    # A stroke: several dabs of necrosis in quick succession (no event loop in between).
    for dz in range(4):
        layer.data[10:14, 10:14, 10 + dz] = 1
        layer.notify_changed((slice(10, 14), slice(10, 14), slice(10 + dz, 11 + dz)))
    settle(qtbot, surfaces)
    qtbot.wait(150)  # room for a (wrong) second rebuild to show up
    assert len(builds) == before + 1  # debounced: the four dabs cost one rebuild
    meshes = surfaces.meshes(layer)
    assert set(meshes) == {1, 2, 3}
    lo, hi = meshes[1].bounds()
    assert np.all(lo > np.array([9, 9, 19]) ) and np.all(hi < np.array([15, 15, 30]))
    # Erasing the enhancing block removes its surface.
    layer.data[layer.data == 3] = 0
    layer.notify_changed(None)
    settle(qtbot, surfaces)
    assert 3 not in surfaces.meshes(layer)


def test_nothing_is_built_while_inactive(qtbot, model):
    state, surfaces, builds = model
    state.set_patient(make_patient())
    qtbot.wait(200)
    assert builds == [] and surfaces.meshes(state.layers[0]) == {} and not surfaces.is_current()
    surfaces.set_active(True)
    settle(qtbot, surfaces)
    assert set(surfaces.meshes(state.layers[0])) == {2, 3}


def test_a_new_patient_never_shows_the_old_patients_surfaces(qtbot, model):
    state, surfaces, _ = model
    surfaces.set_active(True)
    state.set_patient(make_patient())
    other = np.zeros(SHAPE, np.uint8)
    other[5:12, 5:12, 5:10] = 3
    state.set_patient(patient_from_arrays("Other", {"flair": np.ones(SHAPE, np.float32)}, other, spacing=SPACING))
    settle(qtbot, surfaces)
    meshes = surfaces.meshes(state.layers[0])
    assert set(meshes) == {3}
    assert np.all(meshes[3].bounds()[1] < np.array([13, 13, 21]))


# -- the view ---------------------------------------------------------------------------
def test_without_opengl_the_quadrant_says_so_and_builds_nothing(qtbot, tmp_path):
    if QGuiApplication.platformName() != "offscreen":
        pytest.skip("checks the offscreen fallback")
    assert opengl_status() == (False, "the 'offscreen' display has no OpenGL")
    window = open_window(qtbot, isolated_settings(tmp_path))
    view = window.layouts.volume_view
    assert view.gl is None and "3-D view unavailable" in view.message.text()
    assert not view.reset_button.isEnabled()
    qtbot.wait(400)
    assert not view.surfaces.active and view.surfaces.meshes(window.state.layers[0]) == {}


@pytest.fixture
def gl_window(qtbot, tmp_path):
    gl_or_skip()
    window = open_window(qtbot, isolated_settings(tmp_path), patient=False)
    view = window.layouts.volume_view
    with qtbot.waitSignal(view.surfaces_drawn, timeout=20000, check_params_cb=lambda *a: bool(view.drawn_items())):
        window.show_patient(make_patient())
    qtbot.waitUntil(lambda: view.surfaces.is_current(), timeout=20000)
    QApplication.processEvents()
    return window, view


def test_class_toggles_layer_visibility_and_brain_box_drive_the_3d_view(qtbot, gl_window):
    window, view = gl_window
    layer = window.state.layers[0]
    items = view.drawn_items()
    assert set(items) == {(layer.name, 2), (layer.name, 3)}
    assert all(item.visible() for item in items.values())
    layer.set_class_visible(3, False)
    assert not items[(layer.name, 3)].visible() and items[(layer.name, 2)].visible()
    layer.set_visible(False)
    assert not any(item.visible() for item in items.values())
    layer.set_visible(True)
    layer.set_class_visible(3, True)
    assert all(item.visible() for item in items.values())
    assert view._brain_item.visible()
    qtbot.mouseClick(view.brain_box, Qt.MouseButton.LeftButton)
    assert not view.brain_box.isChecked() and not view._brain_item.visible()


def test_click_on_a_surface_moves_the_crosshair_there(qtbot, gl_window):
    window, view = gl_window
    view.brain_box.setChecked(False)
    gl = view.gl
    # Where the enhancing block's centre appears on screen (the camera looks at it through
    # the edema, which is see-through but still a surface in front: either may be hit).
    centre = (np.asarray(LESION, float)) * np.asarray(SPACING)
    w, h = gl.width(), gl.height()
    from PySide6.QtGui import QVector4D

    clip = (gl.projectionMatrix((0, 0, w, h), (0, 0, w, h)) * gl.viewMatrix()).map(QVector4D(*centre, 1.0))
    x = (clip.x() / clip.w() + 1) / 2 * w
    y = (1 - clip.y() / clip.w()) / 2 * h
    window.state.set_cursor((0, 0, 0))
    qtbot.mouseClick(gl, Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))
    cursor = np.asarray(window.state.cursor)
    labels = window.state.layers[0].data
    near = labels[max(cursor[0] - 2, 0):cursor[0] + 3, max(cursor[1] - 2, 0):cursor[1] + 3,
                  max(cursor[2] - 2, 0):cursor[2] + 3]
    assert (near > 0).any(), f"crosshair {tuple(cursor)} is not on the tumour surface"


def test_wheel_zooms_and_reset_brings_the_camera_back(qtbot, gl_window):
    _window, view = gl_window
    gl = view.gl
    distance = gl.opts["distance"]
    pos = QPointF(gl.width() / 2, gl.height() / 2)
    QApplication.sendEvent(gl, QWheelEvent(pos, QPointF(gl.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                                           QPoint(0, 360), Qt.MouseButton.NoButton,
                                           Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))
    assert gl.opts["distance"] < distance * 0.9
    qtbot.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    assert gl.opts["distance"] == pytest.approx(distance)


def test_an_idle_worker_thread_ends_and_a_new_job_starts_it_again(qtbot, monkeypatch):
    import brats_desktop.app.views.mesh_worker as mesh_worker

    monkeypatch.setattr(mesh_worker, "IDLE_EXIT_S", 0.05)
    worker = MeshWorker()
    try:
        with qtbot.waitSignal(worker.built, timeout=10000):
            worker.submit(lambda: "one")
        qtbot.waitUntil(lambda: not worker._thread.isRunning(), timeout=5000)
        with qtbot.waitSignal(worker.built, timeout=10000) as blocker:
            worker.submit(lambda: "two")
        assert blocker.args[1] == "two"
    finally:
        worker.shutdown()


def _corners_on_screen(view) -> np.ndarray:
    """Normalised device coordinates (x, y) of the framed box's 8 corners, through the GL view's own matrices."""
    from PySide6.QtGui import QVector4D

    gl = view.gl
    w, h = gl.width(), gl.height()
    matrix = gl.projectionMatrix((0, 0, w, h), (0, 0, w, h)) * gl.viewMatrix()
    low, high = view._frame()
    out = []
    for corner in np.array(np.meshgrid(*zip(low, high), indexing="ij")).reshape(3, -1).T:
        clip = matrix.map(QVector4D(*corner, 1.0))
        out.append((clip.x() / clip.w(), clip.y() / clip.w()))
    return np.abs(np.array(out))


def test_the_camera_fits_the_brain_to_a_wide_short_quadrant_and_refits_on_resize(qtbot, gl_window):
    """The worklist makes the 3-D quadrant wide and short: Reset (and a resize) must still show the whole brain."""
    window, view = gl_window
    gl = view.gl
    window.resize(1400, 520)  # a worklist dock below the views leaves this much height
    qtbot.waitUntil(lambda: gl.width() > 2 * gl.height(), timeout=5000)
    qtbot.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    ndc = _corners_on_screen(view)
    assert ndc.max() <= 1.0, "part of the brain box is outside the 3-D view"
    assert ndc[:, 1].max() > 0.8  # fitted by its height, not left tiny
    window.resize(700, 1000)  # tall and narrow: the width limits now, refitted without Reset
    qtbot.waitUntil(lambda: gl.height() > gl.width(), timeout=5000)
    QApplication.processEvents()
    ndc = _corners_on_screen(view)
    assert ndc.max() <= 1.0 and ndc[:, 0].max() > 0.8
    # A camera the user zoomed stays as it is through a resize.
    pos = QPointF(gl.width() / 2, gl.height() / 2)
    QApplication.sendEvent(gl, QWheelEvent(pos, QPointF(gl.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                                           QPoint(0, 360), Qt.MouseButton.NoButton,
                                           Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))
    zoomed = gl.opts["distance"]
    window.resize(1400, 520)
    qtbot.waitUntil(lambda: gl.width() > 2 * gl.height(), timeout=5000)
    assert gl.opts["distance"] == pytest.approx(zoomed)
