"""The 3-D view: tumour surfaces per class, a translucent brain and the current slice planes.

Drawn with ``pyqtgraph.opengl`` (a ``GLViewWidget``: left drag rotates, wheel zooms,
middle or Ctrl+left drag pans; a click on a surface moves the crosshair there). The
surfaces come from :class:`~brats_desktop.app.views.mesh_worker.SurfaceModel`, rebuilt
in a background thread; the class toggles, colours and layer visibility of the Layers
dock decide what is drawn, so hiding a class or a layer hides its surface at once.

OpenGL is not everywhere (remote sessions, the offscreen platform of CI), and creating
a GL widget without it can abort the process. :func:`opengl_status` probes first, with a
throw-away context, and the view then shows a message instead; the rest of the app
does not depend on it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QGuiApplication, QMouseEvent, QOffscreenSurface, QOpenGLContext
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from brats_desktop.core.labels import CLASS_COLOURS, EDEMA
from brats_desktop.core.meshes import Mesh, nearest_hit, voxel_of_point

from brats_desktop.app.state import LabelLayer, ViewerState
from brats_desktop.app.views.mesh_worker import SurfaceModel

# Platforms that never offer OpenGL to widgets; probing them is pointless.
NO_GL_PLATFORMS = ("offscreen", "minimal", "vnc", "linuxfb")
DISABLE_ENV = "BRATS_NO_OPENGL"  # set to 1 to turn the 3-D view off (e.g. a broken driver)

_status: tuple[bool, str] | None = None


def share_opengl_contexts() -> None:
    """Make every OpenGL context of the process share resources; call before the QApplication.

    pyqtgraph compiles each shader program once per process and reuses its id in every
    GLViewWidget. A widget whose context is new (a second window, a view re-created after
    a reparent) would otherwise draw with ids that mean nothing in its context
    (``GLError: invalid value`` in ``glUseProgram``).
    """
    from PySide6.QtCore import QCoreApplication

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


def opengl_status() -> tuple[bool, str]:
    """(True, "") when 3-D rendering can work here, else (False, why). Probed once.

    Needs a QGuiApplication. Creating a ``QOpenGLWidget`` where the platform has no
    OpenGL may abort the process, so a bare context on an offscreen surface is tried
    first, and the offscreen/minimal platforms are refused without trying.
    """
    global _status
    if _status is not None:
        return _status
    app = QGuiApplication.instance()
    platform = app.platformName() if app is not None else os.environ.get("QT_QPA_PLATFORM", "")
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        _status = (False, f"turned off by {DISABLE_ENV}")
    elif app is None:
        _status = (False, "no Qt application")
    elif platform in NO_GL_PLATFORMS:
        _status = (False, f"the '{platform}' display has no OpenGL")
    else:
        _status = _probe_context()
    return _status


def _probe_context() -> tuple[bool, str]:
    context = QOpenGLContext()
    if not context.create():
        return False, "no OpenGL context could be created (no GPU driver or remote session?)"
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    try:
        if not surface.isValid() or not context.makeCurrent(surface):
            return False, "the OpenGL context could not be made current"
        fmt = context.format()
        if (fmt.majorVersion(), fmt.minorVersion()) < (2, 0):
            return False, f"OpenGL {fmt.majorVersion()}.{fmt.minorVersion()} is too old (2.0 needed)"
        context.doneCurrent()
    finally:
        surface.destroy()
    try:
        import pyqtgraph.opengl  # noqa: F401  (needs PyOpenGL and a loadable libGL)
    except Exception as exc:  # ImportError, OSError from ctypes, ...
        return False, f"pyqtgraph.opengl cannot be used: {exc}"
    return True, ""


# Display of the surfaces: the core classes solid, edema see-through so the core inside
# shows; label layers under the top visible one faint, so two layers can be compared.
SOLID_ALPHA = 1.0
EDEMA_ALPHA = 0.35
LOWER_LAYER_ALPHA = 0.22
BRAIN_RGBA = (0.9, 0.88, 0.85, 0.18)
# pyqtgraph's "balloon" shader: faces seen edge-on brighter, so the see-through brain keeps
# its outline without greying the tumour colours behind it ("shaded" looked like dark fog).
BRAIN_SHADER = "balloon"
PLANE_RGBA = (1.0, 0.31, 0.31, 0.8)  # the slice views' crosshair colour
CAMERA_ELEVATION = 20.0
# The camera looks from the front (anterior, +y; azimuth 90) turned 20 degrees towards the
# patient's right (+x): the patient's right is on the screen's left, as in the radiological
# slice views, and the face is seen a little from the side, which shows depth.
CAMERA_AZIMUTH = 70.0
CAMERA_FOV = 60.0  # pyqtgraph's field of view is horizontal: the vertical one shrinks in a wide widget
FIT_MARGIN = 1.05


def fit_distance(
    low: np.ndarray, high: np.ndarray, elevation: float, azimuth: float, fov: float, width: int, height: int,
) -> float:
    """Camera distance (mm) at which every corner of the box ``low``–``high`` is inside a ``width``×``height``
    view looking at its centre from ``elevation``/``azimuth`` (pyqtgraph's orbit camera, horizontal ``fov``).

    A fixed distance cropped the brain top and bottom in the worklist's wide, short 3-D quadrant.
    """
    e, a = np.radians(elevation), np.radians(azimuth)
    toward = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])  # centre -> camera
    right = np.array([-np.sin(a), np.cos(a), 0.0])
    up = np.cross(toward, right)
    tan_h = np.tan(np.radians(fov) / 2)
    tan_v = tan_h * max(height, 1) / max(width, 1)
    half = (np.asarray(high, float) - np.asarray(low, float)) / 2
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half  # from the centre
    depth = corners @ toward
    needed = np.maximum(depth + np.abs(corners @ right) / tan_h, depth + np.abs(corners @ up) / tan_v)
    return float(needed.max()) * FIT_MARGIN


def class_rgba(cls: int, top: bool) -> tuple[float, float, float, float]:
    """Colour of class ``cls``'s surface: the 2-D overlay colour, with the 3-D alpha."""
    r, g, b = (c / 255 for c in CLASS_COLOURS[cls])
    if not top:
        return (r, g, b, LOWER_LAYER_ALPHA)
    return (r, g, b, EDEMA_ALPHA if cls == EDEMA else SOLID_ALPHA)


def plane_outline_points(
    cursor: tuple[int, int, int], spacing: tuple[float, float, float],
    low: np.ndarray, high: np.ndarray,
) -> np.ndarray:
    """Segment end points (24 x 3, mm) of the three slice rectangles through ``cursor``.

    The rectangles span the box ``low``-``high`` (mm): the brain's, so they frame the
    head instead of the much larger empty field of view.
    """
    c = (np.asarray(cursor, float) + 0.5) * np.asarray(spacing, float)
    c = np.clip(c, low, high)
    segments = []
    for axis in range(3):
        a, b = [i for i in range(3) if i != axis]
        corners = []
        for u, v in ((0, 0), (1, 0), (1, 1), (0, 1)):
            p = np.empty(3)
            p[axis] = c[axis]
            p[a] = high[a] if u else low[a]
            p[b] = high[b] if v else low[b]
            corners.append(p)
        for i in range(4):
            segments += [corners[i], corners[(i + 1) % 4]]
    return np.asarray(segments, np.float32)


class VolumeView(QWidget):
    """The fourth quadrant: a 3-D rendering of the label surfaces, or why there is none."""

    surfaces_drawn = Signal()  # the GL items now show the model's meshes

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setMinimumSize(160, 160)
        self.available, self.reason = opengl_status()
        self.surfaces = SurfaceModel(state, self)
        self.gl: Any = None  # the GLViewWidget, when OpenGL works
        self._items: dict[tuple[int, int], Any] = {}
        self._item_mesh: dict[tuple[int, int], Mesh] = {}
        self._brain_item: Any = None
        self._brain_mesh: Mesh | None = None
        self._planes_item: Any = None
        self._layers: list[LabelLayer] = []
        self.camera_fitted = True  # the camera is Reset's: resizes re-fit it

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        title = QLabel("<b>3-D</b>")
        self.brain_box = QCheckBox("Brain")
        self.brain_box.setChecked(True)
        self.brain_box.setToolTip("Translucent outer surface of the brain, for orientation")
        self.planes_box = QCheckBox("Slice planes")
        self.planes_box.setChecked(True)
        self.reset_button = QToolButton()
        self.reset_button.setText("Reset")
        self.reset_button.setToolTip("Back to the front view of the whole brain")
        self.status_label = QLabel("")
        bar.addWidget(title)
        bar.addSpacing(8)
        bar.addWidget(self.brain_box)
        bar.addWidget(self.planes_box)
        bar.addWidget(self.status_label, 1)
        bar.addWidget(self.reset_button)
        layout.addLayout(bar)
        self.setStyleSheet("VolumeView { background: #000; } QLabel, QCheckBox { color: #ddd; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)

        if self.available:
            self.gl = _make_gl_view(self._on_picked, self._on_gl_resized, self._on_user_camera)
            layout.addWidget(self.gl, 1)
            self.message = None
        else:
            self.message = QLabel(
                f"3-D view unavailable: {self.reason}.\n"
                "The slice views, segmentation and editing work without it."
            )
            self.message.setObjectName("volume_view_message")
            self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.message.setWordWrap(True)
            layout.addWidget(self.message, 1)
            for control in (self.brain_box, self.planes_box, self.reset_button):
                control.setEnabled(False)

        self.brain_box.toggled.connect(self._update_visibility)
        self.planes_box.toggled.connect(self._update_visibility)
        self.reset_button.clicked.connect(self.reset_camera)
        self.surfaces.changed.connect(self._on_surfaces_changed)
        self.surfaces.busy_changed.connect(self._on_busy_changed)
        self.surfaces.failed.connect(lambda msg: self.status_label.setText(f"surface failed: {msg}"))
        state.patient_changed.connect(self._on_patient_changed)
        state.cursor_changed.connect(self._update_planes)
        state.layers_changed.connect(self._on_layers_changed)
        self._on_layers_changed()
        if state.patient is not None:
            self._on_patient_changed(state.patient)

    # -- public -----------------------------------------------------------------------
    def reset_camera(self) -> None:
        """Look at the whole brain from the front, a little from above and from the right, fitted to the
        widget's shape; it stays fitted through resizes until the user turns or zooms the camera."""
        patient = self.state.patient
        if self.gl is None or patient is None:
            return
        from pyqtgraph import Vector

        low, high = self._frame()
        self.gl.opts["fov"] = CAMERA_FOV
        self.gl.setCameraPosition(
            pos=Vector(*((low + high) / 2)),
            distance=fit_distance(low, high, CAMERA_ELEVATION, CAMERA_AZIMUTH, CAMERA_FOV,
                                  self.gl.width(), self.gl.height()),
            elevation=CAMERA_ELEVATION, azimuth=CAMERA_AZIMUTH,
        )
        self.camera_fitted = True

    def _on_gl_resized(self) -> None:
        if self.camera_fitted:
            self.reset_camera()

    def _on_user_camera(self) -> None:
        self.camera_fitted = False  # the user's own view: a resize keeps it

    def build_now(self) -> None:
        """Build and draw every surface before returning (``--screenshot``, scripts)."""
        if self.gl is not None:
            self.surfaces.build_now()

    def shutdown(self) -> None:
        """Stop the mesh thread (the window's close)."""
        self.surfaces.shutdown()

    def drawn_items(self) -> dict[tuple[str, int], Any]:
        """(layer name, class) → GL mesh item (tests)."""
        names = {id(layer): layer.name for layer in self.state.layers}
        return {(names.get(lid, "?"), cls): item for (lid, cls), item in self._items.items()}

    # -- Qt events --------------------------------------------------------------------
    def showEvent(self, ev) -> None:  # noqa: N802 (Qt override)
        super().showEvent(ev)
        self.surfaces.set_active(self.gl is not None)

    def hideEvent(self, ev) -> None:  # noqa: N802
        super().hideEvent(ev)
        self.surfaces.set_active(False)  # nothing is built for a hidden view

    # -- drawing ----------------------------------------------------------------------
    def _on_patient_changed(self, _patient: object) -> None:
        self._clear_items()
        self._update_planes()
        self.reset_camera()

    def _clear_items(self) -> None:
        if self.gl is None:
            return
        for item in self._items.values():
            self.gl.removeItem(item)
        self._items.clear()
        self._item_mesh.clear()
        if self._brain_item is not None:
            self.gl.removeItem(self._brain_item)
            self._brain_item, self._brain_mesh = None, None

    def _on_layers_changed(self) -> None:
        for layer in self._layers:
            try:
                layer.display_changed.disconnect(self._update_visibility)
            except (RuntimeError, TypeError):  # pragma: no cover - layer gone
                pass
        self._layers = list(self.state.layers)
        for layer in self._layers:
            layer.display_changed.connect(self._update_visibility)

    def _on_busy_changed(self, busy: bool) -> None:
        self.status_label.setText("building surfaces…" if busy else "")

    def _on_surfaces_changed(self) -> None:
        if self.gl is None:
            return
        import pyqtgraph.opengl as gl

        wanted: set[tuple[int, int]] = set()
        for layer in self.state.layers:
            for cls, mesh in self.surfaces.meshes(layer).items():
                key = (id(layer), cls)
                wanted.add(key)
                if self._item_mesh.get(key) is mesh:
                    continue
                if key in self._items:
                    self.gl.removeItem(self._items.pop(key))
                item = gl.GLMeshItem(
                    meshdata=gl.MeshData(vertexes=mesh.vertices, faces=mesh.faces),
                    smooth=True, shader="shaded", color=class_rgba(cls, True), glOptions="opaque",
                )
                self.gl.addItem(item)
                self._items[key], self._item_mesh[key] = item, mesh
        for key in [k for k in self._items if k not in wanted]:
            self.gl.removeItem(self._items.pop(key))
            self._item_mesh.pop(key, None)
        brain = self.surfaces.brain
        if brain is not self._brain_mesh:
            if self._brain_item is not None:
                self.gl.removeItem(self._brain_item)
                self._brain_item = None
            if brain is not None:
                self._brain_item = gl.GLMeshItem(
                    meshdata=gl.MeshData(vertexes=brain.vertices, faces=brain.faces),
                    smooth=True, shader=BRAIN_SHADER, color=BRAIN_RGBA, glOptions="translucent",
                )
                self._brain_item.setDepthValue(20)  # drawn after the tumour: blends over it
                self.gl.addItem(self._brain_item)
            first = self._brain_mesh is None
            self._brain_mesh = brain
            self._update_planes()  # they frame the brain
            if first:
                self.reset_camera()
        self._update_visibility()
        self.surfaces_drawn.emit()

    def _update_visibility(self, *_args: object) -> None:
        """Class toggles, layer visibility and the check boxes decide what is drawn."""
        if self.gl is None:
            return
        layers = {id(layer): layer for layer in self.state.layers}
        visible_layers = [layer for layer in self.state.layers if layer.visible]
        top = visible_layers[-1] if visible_layers else None  # drawn over the others in 2-D
        for (lid, cls), item in self._items.items():
            layer = layers.get(lid)
            shown = layer is not None and layer.visible and cls in layer.visible_classes
            item.setVisible(shown)
            if shown:
                rgba = class_rgba(cls, layer is top)
                item.setColor(rgba)
                item.setGLOptions("opaque" if rgba[3] >= 1.0 else "translucent")
                # Solid surfaces first, see-through ones after (they blend over what is drawn).
                item.setDepthValue(0 if rgba[3] >= 1.0 else 10)
        if self._brain_item is not None:
            self._brain_item.setVisible(self.brain_box.isChecked())
        if self._planes_item is not None:
            self._planes_item.setVisible(self.planes_box.isChecked())
        self.gl.update()

    def _update_planes(self, *_args: object) -> None:
        patient = self.state.patient
        if self.gl is None:
            return
        if patient is None:
            if self._planes_item is not None:
                self._planes_item.setVisible(False)
            return
        import pyqtgraph.opengl as gl

        points = plane_outline_points(self.state.cursor, patient.spacing, *self._frame())
        if self._planes_item is None:
            self._planes_item = gl.GLLinePlotItem(
                pos=points, color=PLANE_RGBA, width=1.5, mode="lines", antialias=True,
                glOptions="translucent",
            )
            self._planes_item.setDepthValue(30)
            self.gl.addItem(self._planes_item)
        else:
            self._planes_item.setData(pos=points)
        self._planes_item.setVisible(self.planes_box.isChecked())

    def _frame(self) -> tuple[np.ndarray, np.ndarray]:
        """The box (mm) the camera and slice planes frame: the brain's, else the whole grid."""
        if self._brain_mesh is not None:
            low, high = self._brain_mesh.bounds()
            return low.astype(float) - 2.0, high.astype(float) + 2.0
        patient = self.state.patient
        ext = np.asarray(patient.shape, float) * np.asarray(patient.spacing, float)
        return np.zeros(3), ext

    # -- picking ----------------------------------------------------------------------
    def _on_picked(self, origin: np.ndarray, direction: np.ndarray) -> None:
        """A click: the crosshair goes to the nearest visible tumour surface under it."""
        patient = self.state.patient
        if patient is None:
            return
        best: float | None = None
        for key, item in self._items.items():
            if not item.visible():
                continue
            t = nearest_hit(self._item_mesh[key], origin, direction)
            if t is not None and (best is None or t < best):
                best = t
        if best is None:
            return
        point = origin + best * direction
        self.state.set_cursor(voxel_of_point(point, patient.spacing, patient.shape))


def _make_gl_view(on_pick, on_resized, on_user_camera) -> Any:
    """A GLViewWidget that reports a click (press and release without a drag) as a ray, its resizes,
    and camera moves by the user (drag, wheel)."""
    import pyqtgraph.opengl as gl

    class _GLView(gl.GLViewWidget):
        def __init__(self) -> None:
            super().__init__()
            self.setBackgroundColor("k")
            self._press: QPointF | None = None

        def resizeEvent(self, ev) -> None:  # noqa: N802
            super().resizeEvent(ev)
            on_resized()

        def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
            self._press = ev.position()
            super().mousePressEvent(ev)

        def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
            super().mouseMoveEvent(ev)
            if ev.buttons() != Qt.MouseButton.NoButton:
                on_user_camera()

        def wheelEvent(self, ev) -> None:  # noqa: N802
            super().wheelEvent(ev)
            on_user_camera()

        def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
            press, self._press = self._press, None
            super().mouseReleaseEvent(ev)
            if (ev.button() == Qt.MouseButton.LeftButton and press is not None
                    and (ev.position() - press).manhattanLength() < 4):
                origin, direction = self.ray_at(ev.position())
                on_pick(origin, direction)

        def ray_at(self, pos: QPointF) -> tuple[np.ndarray, np.ndarray]:
            """Camera position and unit direction (mm) of the line of sight through ``pos``."""
            w, h = max(self.width(), 1), max(self.height(), 1)
            viewport = (0, 0, w, h)
            proj = self.projectionMatrix(viewport, viewport)
            inverse, ok = (proj * self.viewMatrix()).inverted()
            x = 2.0 * pos.x() / w - 1.0
            y = 1.0 - 2.0 * pos.y() / h
            from PySide6.QtGui import QVector4D

            def unproject(z: float) -> np.ndarray:
                p = inverse.map(QVector4D(x, y, z, 1.0))
                return np.array([p.x(), p.y(), p.z()]) / p.w()

            near, far = unproject(-1.0), unproject(1.0)
            direction = far - near
            return near, direction / np.linalg.norm(direction)

    return _GLView()
