"""The error map drawn on a slice view: false positives and false negatives in two colours.

One ``pg.ImageItem`` per view, above the label layers and below the crosshair. It is
not a :class:`~brats_desktop.app.state.LabelLayer` on purpose: a derived map must not
be exported, edited, saved or counted as unsaved work; it only follows the
:class:`ErrorMapModel` and the view's slice.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QTransform

from brats_desktop.core.error_map import error_lookup_table

from brats_desktop.app.compare.model import ErrorMapModel
from brats_desktop.app.views.slice_view import SliceView, extract_slice

ERROR_Z = 90  # over every label layer (1 + n, outlines 50 + n), under the crosshair (100)
ERROR_OPACITY = 0.85


class ErrorOverlay:
    """Keeps one view's error-map item in step with the model and the view's slice."""

    def __init__(self, view: SliceView, model: ErrorMapModel) -> None:
        self.view = view
        self.model = model
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(ERROR_Z)
        self.item.setOpacity(ERROR_OPACITY)
        self.item.setVisible(False)
        self._lut = error_lookup_table()
        view.viewbox.addItem(self.item, ignoreBounds=True)
        view.slice_rendered.connect(self.render)
        model.errors_changed.connect(self.render)
        model.settings_changed.connect(self.render)
        view.state.patient_changed.connect(self._on_patient_changed)
        self._on_patient_changed()

    def slice_errors(self) -> np.ndarray | None:
        """The error values on the view's current slice (row = screen y), or None when not shown."""
        errors = self.model.errors if self.model.shown else None
        if errors is None or self.view.state.patient is None:
            return None
        return np.ascontiguousarray(extract_slice(errors, self.view.plane, self.view.slice_index))

    def render(self, *_args: object) -> None:
        values = self.slice_errors()
        if values is None or not values.any():
            self.item.setVisible(False)  # nothing to draw: spare a transparent image per repaint
            return
        self.item.setImage(values, autoLevels=False, levels=None, lut=self._lut)
        self.item.setVisible(True)

    def _on_patient_changed(self, *_args: object) -> None:
        patient = self.view.state.patient
        if patient is not None:
            plane = self.view.plane
            spacing = patient.spacing
            self.item.setTransform(QTransform.fromScale(spacing[plane.col_axis], spacing[plane.row_axis]))
        self.render()
