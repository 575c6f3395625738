"""Draws a :class:`HeatmapLayer` in one slice view: a pyqtgraph ImageItem with the layer's colour map.

It sits above the label overlays and below the crosshair, follows the shared cursor
(only redrawing when this view's slice changes) and the layer's signals; views need
not know it exists.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QTransform

from brats_desktop.app.views.heatmap_layer import HeatmapLayer
from brats_desktop.app.views.slice_view import SliceView, extract_slice

HEATMAP_Z = 50  # label overlays use 1 + layer index; the crosshair 100


class HeatmapOverlay:
    """One view's picture of one heat-map layer."""

    def __init__(self, view: SliceView, layer: HeatmapLayer) -> None:
        self.view = view
        self.layer = layer
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(HEATMAP_Z)
        self.item.setVisible(False)
        view.viewbox.addItem(self.item, ignoreBounds=True)
        self._index = -1
        state = view.state
        state.patient_changed.connect(self._on_patient_changed)
        state.cursor_changed.connect(self._on_cursor_changed)
        layer.data_changed.connect(self.render)
        layer.display_changed.connect(self.render)
        self._on_patient_changed(state.patient)

    def _on_patient_changed(self, _patient: object) -> None:
        patient = self.view.state.patient
        if patient is not None:
            sp = patient.spacing
            plane = self.view.plane
            self.item.setTransform(QTransform.fromScale(sp[plane.col_axis], sp[plane.row_axis]))
        self.render()

    def _on_cursor_changed(self, cursor: tuple[int, int, int]) -> None:
        if cursor[self.view.plane.axis] != self._index:
            self.render()

    def render(self) -> None:
        """Show the current slice of the layer, or hide the item when nothing is above the threshold."""
        layer, state = self.layer, self.view.state
        data, patient = layer.data, state.patient
        self._index = state.cursor[self.view.plane.axis]
        if data is None or patient is None or not layer.visible or data.shape != patient.shape:
            self.item.setVisible(False)
            return
        image = layer.slice_image(np.ascontiguousarray(extract_slice(data, self.view.plane, self._index)))
        if image is None:
            self.item.setVisible(False)
            return
        self.item.setImage(image, autoLevels=False, levels=(0.0, 1.0), lut=layer.lut)
        self.item.setOpacity(layer.opacity)
        self.item.setVisible(True)
