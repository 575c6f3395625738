"""One 2-D view of the patient along one plane, with label overlays and a crosshair.

Display convention: **radiological** — the patient's right is on the screen's left in
axial and coronal views, anterior is on the left in sagittal views, superior/anterior
up. Orientation letters on every view say so. Arrays are canonical RAS+ (see
DEVELOPERS.md), and the view flips its x axis (``invertX``) instead of the data.

Mouse input goes through a replaceable *tool* (:class:`ViewTool`): the default
:class:`NavigateTool` moves the shared cursor; the annotation tools paint. The view
itself only translates widget positions to voxels, so tools never see pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QTransform, QWheelEvent
from PySide6.QtWidgets import QApplication, QGraphicsSimpleTextItem, QWidget

from brats_desktop.core.discovery import MODALITY_LABELS
from brats_desktop.core.coordinates import slice_caption

from brats_desktop.app.views import pg_setup  # noqa: F401  (row-major axis order before any widget)
from brats_desktop.app.state import BBox, LabelLayer, ViewerState, Voxel
from brats_desktop.app.views.window_level import WindowLevelDrag


@dataclass(frozen=True)
class Plane:
    """A slicing plane: the canonical axis it cuts, the axes on screen and their letters."""

    name: str
    axis: int  # canonical axis normal to the plane (the slice index)
    col_axis: int  # canonical axis along the screen's x
    row_axis: int  # canonical axis along the screen's y (up)
    letters: tuple[str, str, str, str]  # screen left, right, top, bottom


AXIAL = Plane("Axial", 2, 0, 1, ("R", "L", "A", "P"))
CORONAL = Plane("Coronal", 1, 0, 2, ("R", "L", "S", "I"))
SAGITTAL = Plane("Sagittal", 0, 1, 2, ("A", "P", "S", "I"))
PLANES: tuple[Plane, ...] = (AXIAL, CORONAL, SAGITTAL)
CONVENTION_TEXT = "Radiological display: patient's right on screen left"
# What the mouse and the view's own keys do, beside the code below that does it, so
# Help → Keyboard and Mouse Reference (app/help_dialogs.py) cannot drift from it.
MOUSE_GESTURES: tuple[tuple[str, str], ...] = (
    ("Left click / drag", "Move the crosshair (the other views follow); with a paint tool: paint"),
    ("Ctrl + left drag", "Window/level: drag right for a wider window, up for a brighter image"),
    ("Right drag", "Zoom"),
    ("Middle drag", "Pan"),
    ("Ctrl + wheel", "Zoom"),
    ("Wheel", "Next / previous slice"),
    ("Page Up / Page Down, arrow keys", "Next / previous slice (in the view that has focus)"),
)


def extract_slice(volume: np.ndarray, plane: Plane, index: int) -> np.ndarray:
    """2-D view ``[row, col]`` of ``volume`` at ``index`` (no copy): rows run along ``row_axis``."""
    return _slice(volume, plane.axis, index)


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Transposed so that rows follow the higher remaining axis (screen y), columns the lower."""
    if axis == 2:
        return volume[:, :, index].T
    if axis == 1:
        return volume[:, index, :].T
    return volume[index, :, :].T


def outline_of(labels: np.ndarray) -> np.ndarray:
    """Keep only the label pixels that touch a different label (4-neighbourhood)."""
    edge = np.zeros(labels.shape, dtype=bool)
    dv = labels[1:, :] != labels[:-1, :]
    dh = labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= dv
    edge[:-1, :] |= dv
    edge[:, 1:] |= dh
    edge[:, :-1] |= dh
    return np.where(edge, labels, 0).astype(np.uint8)


def overlay_z(layer: LabelLayer, index: int) -> float:
    """Stacking of a layer's overlay: layer order, outline layers above every filled one.

    A filled layer drawn over an outline would tint the contour into a colour of no
    class; the legend (``views/layer_legend.py``) relies on outlines staying pure.
    """
    return 1 + index + (50 if layer.outline else 0)


class ViewTool:
    """Mouse behaviour of the slice views (left button); subclass and pass to ``set_tool``.

    ``voxel`` is the canonical (x, y, z) under the mouse, or None outside the image.
    A press is always followed by a release on the same view; moves in between are
    drags. Right/middle buttons and Ctrl+wheel stay with the view (zoom and pan).
    """

    cursor_shape: Qt.CursorShape = Qt.CursorShape.CrossCursor

    def press(self, view: "SliceView", voxel: Voxel | None, event: QMouseEvent) -> None:
        """Left button went down."""

    def move(self, view: "SliceView", voxel: Voxel | None, event: QMouseEvent) -> None:
        """Mouse moved with the left button held."""

    def release(self, view: "SliceView", voxel: Voxel | None, event: QMouseEvent) -> None:
        """Left button went up (ends a stroke)."""

    def right_click(self, view: "SliceView", voxel: Voxel | None, event: QMouseEvent) -> None:
        """Right button pressed and released without a drag (a right drag zooms); most tools ignore it."""


class NavigateTool(ViewTool):
    """Click or drag to move the shared crosshair; the other views follow."""

    def __init__(self, state: ViewerState) -> None:
        self.state = state

    def press(self, view: "SliceView", voxel: Voxel | None, event: QMouseEvent) -> None:
        if voxel is not None:
            self.state.set_cursor(voxel)

    move = press


class _OverlayImageItem(pg.ImageItem):
    """An overlay ImageItem that, after an edit, asks Qt to repaint only the changed rectangle.

    pyqtgraph's ``setImage`` marks the whole item dirty, so every brush dab would repaint
    the whole view (base and overlays, ~5 ms per move on 2 cores). The slice is still
    converted in full (a 240x240 lookup, well under a millisecond); only the repaint is
    limited, so the region drawn stays exact.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._dirty_rect: QRectF | None = None  # before super(): its __init__ calls update()
        super().__init__(*args, **kwargs)

    def set_image_in(self, image: np.ndarray, rect: QRectF, **kwargs) -> None:
        """``setImage`` that repaints only ``rect`` (item pixel coordinates)."""
        self._dirty_rect = rect
        try:
            self.setImage(image, **kwargs)
        finally:
            self._dirty_rect = None

    def update(self, *args) -> None:  # pyqtgraph calls self.update() at the end of setImage
        if self._dirty_rect is not None and not args:
            super().update(self._dirty_rect)
        else:
            super().update(*args)


class _Overlay:
    """The ImageItem of one label layer in one view, kept in sync with its display settings."""

    def __init__(self, layer: LabelLayer, item: pg.ImageItem) -> None:
        self.layer = layer
        self.item = item
        self.lut = layer.lookup_table()


class SliceView(pg.GraphicsView):
    """Base image + one overlay per label layer + crosshair for one plane of the state."""

    hovered = Signal(object)  # Voxel under the mouse, or None when it leaves the image
    slice_rendered = Signal()  # after the images of this view were updated

    def __init__(
        self, state: ViewerState, plane: Plane, parent: QWidget | None = None,
        modality: str | None = None,
    ) -> None:
        super().__init__(parent, background="k")
        self.state = state
        self.plane = plane
        # A view of the modality grid shows one modality whatever the displayed one is.
        self.fixed_modality = modality
        # Shared zoom and pan (views/view_link.py ViewCamera), set by ViewCamera.attach.
        self.camera = None
        self._tool: ViewTool = NavigateTool(state)
        self._dragging = False
        self._window_drag: WindowLevelDrag | None = None  # Ctrl+left-drag in progress
        self._right_press: QPointF | None = None  # where a right press began: a click, or a zoom drag
        self._index = -1

        self.viewbox = pg.ViewBox(lockAspect=True, invertX=True, enableMenu=False)
        self.viewbox.setDefaultPadding(0.0)
        self.setCentralItem(self.viewbox)
        self._base = pg.ImageItem(axisOrder="row-major")
        self._base.setZValue(0)
        self.viewbox.addItem(self._base)
        pen = pg.mkPen((255, 80, 80, 170), width=1)
        self._vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self._hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self._vline, self._hline):
            line.setZValue(100)
            self.viewbox.addItem(line, ignoreBounds=True)
        self._overlays: list[_Overlay] = []
        self._scale = (1.0, 1.0)

        self._letters = [self._make_label(t, big=True) for t in plane.letters]
        self._title = self._make_label(plane.name)
        # The view paints its whole background itself: Qt need not paint what lies below.
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(160, 160)
        self.viewport().setCursor(self._tool.cursor_shape)

        state.patient_changed.connect(self._on_patient_changed)
        state.modalities_changed.connect(self._on_modalities_changed)
        state.cursor_changed.connect(self._on_cursor_changed)
        state.modality_changed.connect(self._on_modality_changed)
        state.window_changed.connect(self._on_window_changed)
        state.layers_changed.connect(self._on_layers_changed)
        if state.patient is not None:
            self._on_patient_changed(state.patient)

    # -- public -----------------------------------------------------------------------
    @property
    def tool(self) -> ViewTool:
        return self._tool

    def set_tool(self, tool: ViewTool) -> None:
        """Replace what the left mouse button does (navigation, painting ...)."""
        self._tool = tool
        self._dragging = False
        self.viewport().setCursor(tool.cursor_shape)

    @property
    def slice_index(self) -> int:
        """Index of the displayed slice along :attr:`plane`'s axis."""
        return self.state.cursor[self.plane.axis]

    def voxel_at(self, pos: QPointF) -> Voxel | None:
        """Canonical voxel under a widget position, or None outside the image."""
        if self.state.patient is None:
            return None
        p = self._base.mapFromScene(self.mapToScene(pos.toPoint()))
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        shape = self.state.patient.shape
        if not (0 <= col < shape[self.plane.col_axis] and 0 <= row < shape[self.plane.row_axis]):
            return None
        v = list(self.state.cursor)
        v[self.plane.col_axis], v[self.plane.row_axis] = col, row
        return (v[0], v[1], v[2])

    def widget_pos_of(self, voxel: Voxel) -> QPointF:
        """Widget position of a voxel's centre (for tests and tools that draw)."""
        x = voxel[self.plane.col_axis] + 0.5
        y = voxel[self.plane.row_axis] + 0.5
        scene = self._base.mapToScene(QPointF(x, y))
        return QPointF(self.mapFromScene(scene))

    def reset_zoom(self) -> None:
        """Fit the whole slice in the view (with a camera: every linked view, at one mm/pixel)."""
        if self.camera is not None:
            self.camera.reset()
            return
        self.viewbox.autoRange(padding=0.0)

    def render_slice(self) -> None:
        """Redraw base image and overlays for the current slice index."""
        patient = self.state.patient
        if patient is None:
            return
        self._index = self.slice_index
        self._render_base()
        for overlay in self._overlays:
            self._render_overlay(overlay)
        self.slice_rendered.emit()

    # -- rendering --------------------------------------------------------------------
    def _render_base(self) -> None:
        volume = self.state.volume(self.fixed_modality)
        # A modality the patient lacks (modality grid) shows its "(not loaded)" title and nothing
        # else: labels, crosshair and letters on a black panel read as if drawn on an image.
        self._show_contents(volume is not None or self.state.patient is None)
        if volume is None:
            self._base.clear()
            return
        self._base.setImage(
            np.ascontiguousarray(_slice(volume, self.plane.axis, self._index)),
            autoLevels=False,
            levels=self.state.window(self.fixed_modality),
        )

    def _render_overlay(self, overlay: _Overlay, bbox: BBox | None = None) -> None:
        """Show the layer's current slice; with ``bbox``, repaint only that region (edits)."""
        layer = overlay.layer
        overlay.item.setOpacity(layer.opacity)
        labels = None
        if layer.visible:
            # One contiguous copy (pyqtgraph would make it anyway): any() on it is ~30x
            # faster than on the strided axial view.
            labels = np.ascontiguousarray(_slice(layer.data, self.plane.axis, self._index))
        if labels is None or not labels.any():
            # Hidden layer, or no label on this slice (most slices): hiding the item
            # spares a fully transparent image draw on every repaint.
            overlay.item.setVisible(False)
            return
        overlay.item.setVisible(True)
        if layer.outline:
            labels = outline_of(labels)
        rect = self._region_rect(bbox, labels.shape) if bbox is not None else None
        if rect is not None and isinstance(overlay.item, _OverlayImageItem):
            overlay.item.set_image_in(labels, rect, autoLevels=False, levels=None, lut=overlay.lut)
        else:
            overlay.item.setImage(labels, autoLevels=False, levels=None, lut=overlay.lut)

    def _region_rect(self, bbox: BBox, shape: tuple[int, ...]) -> QRectF | None:
        """In-plane rectangle of a 3-D bbox in image pixels, one pixel wider (outline mode)."""
        cols, rows = bbox[self.plane.col_axis], bbox[self.plane.row_axis]
        c0 = 0 if cols.start is None else cols.start
        c1 = shape[1] if cols.stop is None else cols.stop
        r0 = 0 if rows.start is None else rows.start
        r1 = shape[0] if rows.stop is None else rows.stop
        if c1 <= c0 or r1 <= r0:
            return None
        return QRectF(c0 - 1, r0 - 1, c1 - c0 + 2, r1 - r0 + 2)

    def _place_crosshair(self) -> None:
        c = self.state.cursor
        sx, sy = self._scale
        self._vline.setPos((c[self.plane.col_axis] + 0.5) * sx)
        self._hline.setPos((c[self.plane.row_axis] + 0.5) * sy)
        if self.state.patient is None:  # a cursor moved before any patient: no file to count in
            text = self._title_prefix() + self.plane.name
        else:
            # The file's own voxel index (0-based, as nibabel/ITK-SNAP/FSLeyes and the status bar count).
            text = (self._title_prefix()
                    + f"{self.plane.name}  {slice_caption(self.state.patient.grid, self.plane.axis, self.state.cursor)}")
        if text != self._title.text():
            self._title.setText(text)
            self._place_top_letter()  # a longer title may now reach the top letter

    def _title_prefix(self) -> str:
        """The fixed modality's name (modality grid), flagged when the patient lacks it."""
        if self.fixed_modality is None:
            return ""
        name = MODALITY_LABELS.get(self.fixed_modality, self.fixed_modality)
        missing = self.state.patient is not None and self.state.volume(self.fixed_modality) is None
        return f"{name} (not loaded)  " if missing else f"{name}  "

    # -- state handlers ---------------------------------------------------------------
    def _on_patient_changed(self, patient: object) -> None:
        self._sync_overlays()
        if self.state.patient is None:
            self._show_contents(True)
            self._base.clear()
            for overlay in self._overlays:
                overlay.item.clear()
            self._title.setText(self.plane.name)
            return
        spacing = self.state.patient.spacing
        self._scale = (spacing[self.plane.col_axis], spacing[self.plane.row_axis])
        transform = QTransform.fromScale(*self._scale)
        self._base.setTransform(transform)
        for overlay in self._overlays:
            overlay.item.setTransform(transform)
        self.render_slice()
        self._place_crosshair()
        self.reset_zoom()

    def _on_modalities_changed(self) -> None:
        self._render_base()
        if self.fixed_modality is not None:
            self._place_crosshair()  # "(not loaded)" goes once the rest of the patient is in

    def _on_cursor_changed(self, cursor: Voxel) -> None:
        if cursor[self.plane.axis] != self._index:
            self.render_slice()
        self._place_crosshair()

    def _on_modality_changed(self, _modality: str) -> None:
        if self.fixed_modality is None:
            self._render_base()

    def _on_window_changed(self, modality: str, low: float, high: float) -> None:
        if modality == (self.fixed_modality or self.state.modality):
            self._base.setLevels((low, high))

    def _on_layers_changed(self) -> None:
        self._sync_overlays()
        if self.state.patient is not None:
            for overlay in self._overlays:
                self._render_overlay(overlay)

    def _sync_overlays(self) -> None:
        """One overlay item per layer, in layer order, stacked above the image."""
        layers = self.state.layers
        if [o.layer for o in self._overlays] == layers:
            return
        kept = {id(o.layer): o for o in self._overlays}
        new: list[_Overlay] = []
        for z, layer in enumerate(layers):
            overlay = kept.pop(id(layer), None)
            if overlay is None:
                item = _OverlayImageItem(axisOrder="row-major")
                item.setTransform(QTransform.fromScale(*self._scale))
                self.viewbox.addItem(item, ignoreBounds=True)
                overlay = _Overlay(layer, item)
                layer.labels_changed.connect(self._on_labels_changed)
                layer.display_changed.connect(self._on_display_changed)
            overlay.item.setZValue(overlay_z(layer, z))
            new.append(overlay)
        for gone in kept.values():
            self.viewbox.removeItem(gone.item)
            for signal, slot in (
                (gone.layer.labels_changed, self._on_labels_changed),
                (gone.layer.display_changed, self._on_display_changed),
            ):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):  # pragma: no cover - layer already gone
                    pass
        self._overlays = new

    def _overlay_of(self, layer: object) -> _Overlay | None:
        return next((o for o in self._overlays if o.layer is layer), None)

    def _on_labels_changed(self, bbox: BBox | None) -> None:
        overlay = self._overlay_of(self.sender())
        if overlay is None or self.state.patient is None:
            return
        if bbox is not None:
            sl = bbox[self.plane.axis]
            start = 0 if sl.start is None else sl.start
            stop = self.state.patient.shape[self.plane.axis] if sl.stop is None else sl.stop
            if not start <= self._index < stop:
                return
        self._render_overlay(overlay, bbox)

    def _on_display_changed(self) -> None:
        overlay = self._overlay_of(self.sender())
        if overlay is None or self.state.patient is None:
            return
        overlay.lut = overlay.layer.lookup_table()
        overlay.item.setZValue(overlay_z(overlay.layer, self._overlays.index(overlay)))
        self._render_overlay(overlay)

    # -- Qt events --------------------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        # A view of the modality grid has its own modality (fixed_modality).
        modality = getattr(self, "fixed_modality", None) or self.state.modality
        if (ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & Qt.KeyboardModifier.ControlModifier
                and self.state.volume(modality) is not None):
            # Window/level whatever the tool is (views/window_level.py): never paints.
            self._window_drag = WindowLevelDrag(self.state, modality, ev.position(), self.viewport().size())
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            ev.accept()
            return
        if ev.button() == Qt.MouseButton.RightButton:
            self._right_press = ev.position()
        if ev.button() == Qt.MouseButton.LeftButton:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self._dragging = True
            self._tool.press(self, self.voxel_at(ev.position()), ev)
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        voxel = self.voxel_at(ev.position())
        self.hovered.emit(voxel)
        if self._window_drag is not None:
            self._window_drag.move(ev.position())
            ev.accept()
            return
        if self._dragging:
            self._tool.move(self, voxel, ev)
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and self._window_drag is not None:
            self._window_drag.move(ev.position())
            self._window_drag = None
            self.viewport().setCursor(self._tool.cursor_shape)
            ev.accept()
            return
        if ev.button() == Qt.MouseButton.LeftButton and self._dragging:
            self._dragging = False
            self._tool.release(self, self.voxel_at(ev.position()), ev)
            ev.accept()
            return
        if ev.button() == Qt.MouseButton.RightButton and self._right_press is not None:
            moved = (ev.position() - self._right_press).manhattanLength()
            self._right_press = None
            if moved < QApplication.startDragDistance():
                self._tool.right_click(self, self.voxel_at(ev.position()), ev)
        super().mouseReleaseEvent(ev)

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self.hovered.emit(None)
        super().leaveEvent(ev)

    def wheelEvent(self, ev: QWheelEvent) -> None:  # noqa: N802
        """Wheel steps slices; Ctrl+wheel zooms (pyqtgraph's ViewBox zoom)."""
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev)
            return
        delta = ev.angleDelta().y() or ev.angleDelta().x()
        if delta:
            steps = int(delta / 120) or (1 if delta > 0 else -1)
            self.state.step(self.plane.axis, steps)
        ev.accept()

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        """Page Up/Down and the arrow keys step slices (Up/Right/PageUp forward)."""
        key = ev.key()
        forward = (Qt.Key.Key_PageUp, Qt.Key.Key_Up, Qt.Key.Key_Right)
        backward = (Qt.Key.Key_PageDown, Qt.Key.Key_Down, Qt.Key.Key_Left)
        if key in forward or key in backward:
            self.state.step(self.plane.axis, 1 if key in forward else -1)
            ev.accept()
            return
        super().keyPressEvent(ev)

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        # pyqtgraph resizes during its own __init__ (no letters yet) and again inside close(),
        # after scene().clear() has deleted the letter and title items: touching them then
        # reads freed C++ objects (RuntimeError, or a segfault when the memory is reused).
        if hasattr(self, "_letters") and not getattr(self, "closed", False):
            self._place_letters()

    def _show_contents(self, shown: bool) -> None:
        if self.viewbox.isVisible() != shown:
            self.viewbox.setVisible(shown)
            for letter in self._letters:
                letter.setVisible(shown)

    # -- orientation letters ----------------------------------------------------------
    def _make_label(self, text: str, big: bool = False) -> QGraphicsSimpleTextItem:
        """A text item in scene (= viewport pixel) coordinates: outside the ViewBox, so
        zoom and pan leave it in place. Scene items, unlike QLabel children over the
        viewport, do not force a costly repaint of the whole view on every slice move."""
        item = QGraphicsSimpleTextItem(text)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(15 if big else 12)
        item.setFont(font)
        item.setBrush(QColor(255, 210, 127))
        item.setZValue(1000)
        self.scene().addItem(item)
        return item

    def _place_letters(self) -> None:
        w, h, m = self.viewport().width(), self.viewport().height(), 4
        left, right, top, bottom = self._letters

        def put(item: QGraphicsSimpleTextItem, x: float, y: float) -> None:
            item.setPos(self.mapToScene(QPoint(int(x), int(y))))

        def size(item: QGraphicsSimpleTextItem) -> tuple[float, float]:
            r = item.boundingRect()
            return r.width(), r.height()

        put(left, m, (h - size(left)[1]) / 2)
        put(right, w - size(right)[0] - m, (h - size(right)[1]) / 2)
        put(bottom, (w - size(bottom)[0]) / 2, h - size(bottom)[1] - m)
        put(self._title, m, m)
        self._place_top_letter()

    def _place_top_letter(self) -> None:
        """Top letter centred, or below the title when the title reaches it (a narrow view,
        e.g. at 1000 px wide or in the modality grid): they used to print over each other."""
        if getattr(self, "closed", False):
            return
        w, m = self.viewport().width(), 4
        top = self._letters[2]
        top_w = top.boundingRect().width()
        x = (w - top_w) / 2
        title = self._title.boundingRect()
        y = m + title.height() if m + title.width() + 6 > x else m
        top.setPos(self.mapToScene(QPoint(int(x), int(y))))
