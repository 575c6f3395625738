"""A ruler on any 2-D view: drag from one point to another, read the distance in mm.

Rulers belong to a patient and a slice (as in ITK-SNAP): each is drawn only on the
view and slice it was drawn on, and stays with its patient for the session (opening
another patient and coming back shows them again) until Measure → Clear Rulers.
Points are continuous canonical voxel coordinates (voxel centres at integers), so a
ruler is not snapped to the voxel grid; lengths use the patient's voxel spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QMouseEvent

from brats_desktop.core.measurements import distance_mm
from brats_desktop.core.patient import Patient

from brats_desktop.app.views.slice_items import SliceItemOverlay
from brats_desktop.app.state import ViewerState, Voxel
from brats_desktop.app.views.slice_view import NavigateTool, SliceView, ViewTool

Point3 = tuple[float, float, float]
# Orange-red: the error map's false negatives are cyan and ET is yellow, so neither reads as a ruler.
RULER_COLOUR = (255, 70, 0)
RULER_Z = 150  # above overlays and crosshair


@dataclass(frozen=True)
class Ruler:
    """Two points on one slice of one plane (canonical voxel coordinates) and its length."""

    axis: int  # canonical axis normal to the plane it was drawn on
    p0: Point3
    p1: Point3
    length_mm: float

    @property
    def slice_index(self) -> int:
        return int(round(self.p0[self.axis]))


def patient_key(patient: Patient | None) -> str | None:
    """What rulers are filed under: the patient's folder, else its name (demo)."""
    if patient is None:
        return None
    return str(patient.folder.resolve()) if patient.folder is not None else f"memory:{patient.name}"


class RulerStore(QObject):
    """Rulers per patient for the session; observes the state to know whose are on screen."""

    rulers_changed = Signal()  # the current patient's rulers, or the one being drawn, changed

    def __init__(self, state: ViewerState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._by_patient: dict[str, list[Ruler]] = {}
        self.preview: Ruler | None = None  # being dragged
        state.patient_changed.connect(self._on_patient_changed)

    def rulers(self) -> list[Ruler]:
        """The rulers of the patient on screen."""
        key = patient_key(self.state.patient)
        return list(self._by_patient.get(key, [])) if key is not None else []

    def make(self, axis: int, p0: Point3, p1: Point3) -> Ruler:
        spacing = self.state.patient.spacing if self.state.patient is not None else (1.0, 1.0, 1.0)
        return Ruler(axis, p0, p1, distance_mm(p0, p1, spacing))

    def add(self, ruler: Ruler) -> None:
        key = patient_key(self.state.patient)
        if key is None:
            return
        self._by_patient.setdefault(key, []).append(ruler)
        self.preview = None
        self.rulers_changed.emit()

    def set_preview(self, ruler: Ruler | None) -> None:
        self.preview = ruler
        self.rulers_changed.emit()

    def clear(self) -> int:
        """Remove the current patient's rulers; returns how many there were."""
        key = patient_key(self.state.patient)
        gone = len(self._by_patient.pop(key, [])) if key is not None else 0
        self.preview = None
        self.rulers_changed.emit()
        return gone

    def _on_patient_changed(self, _patient: object) -> None:
        self.preview = None
        self.rulers_changed.emit()


def continuous_point(view: SliceView, event: QMouseEvent) -> Point3 | None:
    """Canonical voxel coordinates (not rounded) under the mouse on ``view``'s slice; None outside the image."""
    patient = view.state.patient
    pos = event.position()
    if patient is None or view.voxel_at(pos) is None:
        return None
    p = view.viewbox.mapSceneToView(view.mapToScene(pos.toPoint()))
    plane, sp = view.plane, patient.spacing
    point = [float(c) for c in view.state.cursor]
    # Item pixel (c + 0.5) * spacing is the centre of voxel c in view coordinates.
    point[plane.col_axis] = p.x() / sp[plane.col_axis] - 0.5
    point[plane.row_axis] = p.y() / sp[plane.row_axis] - 0.5
    return (point[0], point[1], point[2])


class RulerTool(ViewTool):
    """Left-drag draws a ruler; Shift+click still moves the crosshair."""

    cursor_shape = Qt.CursorShape.CrossCursor

    def __init__(self, store: RulerStore) -> None:
        self.store = store
        self._navigate = NavigateTool(store.state)
        self._navigating = False
        self._start: Point3 | None = None
        self._axis = 2

    def press(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        self._navigating = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self._navigating:
            self._navigate.press(view, voxel, event)
            return
        self._start = continuous_point(view, event)
        self._axis = view.plane.axis

    def move(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        if self._navigating:
            self._navigate.move(view, voxel, event)
            return
        end = continuous_point(view, event)
        if self._start is not None and end is not None:
            self.store.set_preview(self.store.make(self._axis, self._start, end))

    def release(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        if self._navigating:
            self._navigating = False
            return
        end = continuous_point(view, event)
        start, self._start = self._start, None
        if start is None or end is None or start == end:
            self.store.set_preview(None)  # a click is not a ruler
            return
        self.store.add(self.store.make(self._axis, start, end))


class RulerOverlay(SliceItemOverlay):
    """The rulers of one view's plane and slice, as pyqtgraph line and text items."""

    z_value = RULER_Z

    def __init__(self, view: SliceView, store: RulerStore) -> None:
        super().__init__(view)
        self.store = store
        store.rulers_changed.connect(self.redraw)
        view.state.patient_changed.connect(lambda _p: self.redraw())

    def redraw(self) -> None:
        patient = self._clear()
        if patient is None:
            return
        rulers = self.store.rulers() + ([self.store.preview] if self.store.preview is not None else [])
        for ruler in rulers:
            if ruler.axis == self.view.plane.axis and ruler.slice_index == self._index:
                self._draw(ruler, patient.spacing)

    def _draw(self, ruler: Ruler, spacing: tuple[float, float, float]) -> None:
        plane = self.view.plane
        sx, sy = spacing[plane.col_axis], spacing[plane.row_axis]
        xs = [(p[plane.col_axis] + 0.5) * sx for p in (ruler.p0, ruler.p1)]
        ys = [(p[plane.row_axis] + 0.5) * sy for p in (ruler.p0, ruler.p1)]
        pen = pg.mkPen(RULER_COLOUR, width=2)
        line = pg.PlotDataItem(xs, ys, pen=pen, symbol="+", symbolSize=9, symbolPen=pen, symbolBrush=pg.mkBrush(RULER_COLOUR))
        text = f"{ruler.length_mm:.1f} mm"
        label = pg.TextItem(text, color=RULER_COLOUR, anchor=(0.5, 1.2), fill=pg.mkBrush(0, 0, 0, 170))
        label.setPos(QPointF(xs[1], ys[1]))
        for item in (line, label):
            self._add(item)
        self.labels.append(text)
