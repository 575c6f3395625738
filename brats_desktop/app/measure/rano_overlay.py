"""RANO lines on the axial view: each enhancing lesion's long and perpendicular diameters.

Drawn on the axial slice where the lesion was measured (its largest cross-section),
as pyqtgraph items: the long diameter solid, the perpendicular one dashed, and a
label "L1 32.0 × 18.5 mm". Other slices show nothing, like a radiologist's marks.
Only measurable lesions (both diameters >= 10 mm, as RANO counts them) are drawn, plus
the one chosen in the table: a prediction's few-voxel specks would bury the view in labels.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt

from brats_desktop.core.measurements import Lesion

from brats_desktop.app.views.slice_items import SliceItemOverlay
from brats_desktop.app.views.slice_view import SliceView

# White: apart from the label colours, the orange-red ruler, the red crosshair, the magenta-white heat map and
# the error map (magenta false positives, cyan false negatives), which can be on at the same time.
RANO_COLOUR = (255, 255, 255)
RANO_Z = 140


class RanoOverlay(SliceItemOverlay):
    """Lines of the lesions measured on the axial slice the view shows."""

    z_value = RANO_Z

    def __init__(self, view: SliceView) -> None:
        super().__init__(view)
        self.lesions: list[Lesion] = []
        self.visible = True
        self.selected: int | None = None  # lesion number chosen in the table: drawn even if small

    def set_lesions(self, lesions: list[Lesion]) -> None:
        self.lesions = list(lesions)
        self.redraw()

    def set_selected(self, number: int | None) -> None:
        self.selected = number
        self.redraw()

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        self.redraw()

    def redraw(self) -> None:
        patient = self._clear()
        if patient is None or not self.visible:
            return
        sx, sy = patient.spacing[0], patient.spacing[1]
        for lesion in self.lesions:
            if lesion.z != self._index or not (lesion.measurable or lesion.number == self.selected):
                continue
            for (a, b), style in ((lesion.long_axis, Qt.PenStyle.SolidLine), (lesion.short_axis, Qt.PenStyle.DashLine)):
                pen = pg.mkPen(RANO_COLOUR, width=2, style=style)
                xs, ys = [(a[0] + 0.5) * sx, (b[0] + 0.5) * sx], [(a[1] + 0.5) * sy, (b[1] + 0.5) * sy]
                self._add(pg.PlotDataItem(xs, ys, pen=pen))
            text = f"L{lesion.number} {lesion.long_mm:.1f} × {lesion.short_mm:.1f} mm"
            # Below the lesion (screen y runs posterior-down), on a dark box: readable over any label colour.
            label = pg.TextItem(text, color=RANO_COLOUR, anchor=(0.5, -0.3), fill=pg.mkBrush(0, 0, 0, 170))
            ends = (*lesion.long_axis, *lesion.short_axis)
            cx = sum(p[0] for p in lesion.long_axis) / 2
            label.setPos(QPointF((cx + 0.5) * sx, (min(p[1] for p in ends) + 0.5) * sy))
            self._add(label)
            self.labels.append(text)
