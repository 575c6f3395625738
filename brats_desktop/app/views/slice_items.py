"""Base of the measurement overlays that draw pyqtgraph items on one slice of one view.

The ruler and the RANO lines both keep the items they put on the view's viewbox,
redraw when the cursor moves to another slice of their plane, and stack above the
label overlays; that bookkeeping lives here once.
"""

from __future__ import annotations

import pyqtgraph as pg

from brats_desktop.core.patient import Patient

from brats_desktop.app.state import Voxel
from brats_desktop.app.views.slice_view import SliceView


class SliceItemOverlay:
    """Items drawn on the slice ``view`` shows; subclasses implement :meth:`redraw`."""

    z_value: float = 0.0  # stacking above the image and label overlays

    def __init__(self, view: SliceView) -> None:
        self.view = view
        self._items: list[pg.GraphicsObject] = []
        self.labels: list[str] = []  # texts drawn now (tests, screenshots)
        self._index = -1
        view.state.cursor_changed.connect(self._on_cursor_changed)

    def redraw(self) -> None:
        raise NotImplementedError

    def _on_cursor_changed(self, cursor: Voxel) -> None:
        if cursor[self.view.plane.axis] != self._index:
            self.redraw()

    def _clear(self) -> Patient | None:
        """Remove what is drawn, note the slice now shown; returns the patient (None: draw nothing)."""
        for item in self._items:
            self.view.viewbox.removeItem(item)
        self._items, self.labels = [], []
        self._index = self.view.state.cursor[self.view.plane.axis]
        return self.view.state.patient

    def _add(self, item: pg.GraphicsObject) -> None:
        item.setZValue(self.z_value)
        self.view.viewbox.addItem(item, ignoreBounds=True)
        self._items.append(item)
