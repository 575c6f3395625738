"""The clicks and scribbles of the AI correction, drawn on the slice views until accepted or cleared.

A click is a round marker in its class colour (background: white, with a cross), on
the slice it was given on; a scribble is its path. Answered guidance is filled;
guidance still waiting for the engine is hollow, so the user sees that a run is on its
way. A scribble drawn in another plane shows where it crosses this slice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyqtgraph as pg

from brats_desktop.core.labels import BACKGROUND, CLASS_COLOURS

from brats_desktop.app.views.slice_items import SliceItemOverlay
from brats_desktop.app.views.slice_view import SliceView

MARKERS_Z = 160  # above the label overlays, the crosshair and the rulers
BACKGROUND_COLOUR = (245, 245, 245)
OUTLINE = (20, 20, 20)
MARKER_PX = 10
PREVIEW_ALPHA = 170

Shown = Callable[[], list[tuple[Any, bool]]]  # (Click | Scribble, answered)


def marker_colour(label: int) -> tuple[int, int, int]:
    return BACKGROUND_COLOUR if label == BACKGROUND else CLASS_COLOURS[label]


class GuidanceOverlay(SliceItemOverlay):
    """The guidance of the edited layer that lies on ``view``'s slice."""

    z_value = MARKERS_Z

    def __init__(self, view: SliceView, shown: Shown) -> None:
        super().__init__(view)
        self._shown = shown
        self.preview: tuple[list[tuple[int, int, int]], int] = ([], 0)  # scribble being dragged
        view.state.patient_changed.connect(lambda _p: self.redraw())

    def set_preview(self, path: list[tuple[int, int, int]], label: int) -> None:
        self.preview = (path, label)
        self.redraw()

    def redraw(self) -> None:
        patient = self._clear()
        if patient is None:
            return
        for item, answered in self._shown():
            if hasattr(item, "voxel"):
                self._draw_points([item.voxel], item.label, answered, "click")
            else:
                self._draw_path(list(item.voxels), item.label, answered)
        path, label = self.preview
        if path:
            self._draw_path(path, label, False, "preview")

    # ------------------------------------------------------------------ drawing
    def _xy(self, voxel: tuple[int, int, int]) -> tuple[float, float]:
        plane, sp = self.view.plane, self.view.state.patient.spacing
        return ((voxel[plane.col_axis] + 0.5) * sp[plane.col_axis], (voxel[plane.row_axis] + 0.5) * sp[plane.row_axis])

    def _on_slice(self, voxels: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        axis = self.view.plane.axis
        return [v for v in voxels if v[axis] == self._index]

    def _draw_points(self, voxels: list[tuple[int, int, int]], label: int, answered: bool, kind: str) -> None:
        here = self._on_slice(voxels)
        if not here:
            return
        colour = marker_colour(label)
        xs, ys = zip(*(self._xy(v) for v in here))
        if answered:
            pen, brush = pg.mkPen(OUTLINE, width=1.5), pg.mkBrush(*colour)
        else:
            pen, brush = pg.mkPen(colour, width=2.5), pg.mkBrush(0, 0, 0, 0)
        symbol = "x" if label == BACKGROUND and kind == "click" else "o"
        size = MARKER_PX if kind == "click" else MARKER_PX // 2
        self._add(pg.ScatterPlotItem(list(xs), list(ys), size=size, symbol=symbol, pen=pen, brush=brush, pxMode=True))
        self.labels.extend(f"{kind} {label} {'answered' if answered else 'waiting'}" for _ in here)

    def _draw_path(self, voxels: list[tuple[int, int, int]], label: int, answered: bool, kind: str = "scribble") -> None:
        axis = self.view.plane.axis
        if not voxels or any(v[axis] != voxels[0][axis] for v in voxels):
            self._draw_points(voxels, label, answered, kind)  # drawn in another plane: where it crosses
            return
        if voxels[0][axis] != self._index:
            return
        colour = marker_colour(label)
        xs, ys = zip(*(self._xy(v) for v in voxels))
        width = 4 if answered else 3
        under = pg.PlotDataItem(list(xs), list(ys), pen=pg.mkPen(OUTLINE, width=width + 2))
        style = pg.QtCore.Qt.PenStyle.SolidLine if answered else pg.QtCore.Qt.PenStyle.DashLine
        line = pg.PlotDataItem(list(xs), list(ys), pen=pg.mkPen((*colour, 255 if answered else PREVIEW_ALPHA),
                                                              width=width, style=style))
        self._add(under)
        self._add(line)
        self.labels.append(f"{kind} {label} {'answered' if answered else 'waiting'}")
