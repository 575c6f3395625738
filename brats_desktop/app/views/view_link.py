"""Linked zoom and pan of the slice views, at one scale (millimetres per screen pixel).

Each :class:`~brats_desktop.app.views.slice_view.SliceView` fits its own slice on its
own, so axial (240x240 mm) and coronal/sagittal (240x155 mm) slices used to show at
different scales, and zooming one view left the others behind. A :class:`ViewCamera`
holds the one scale and one viewing centre (a point in canonical RAS+ millimetres) for
every attached view: each view shows the centre's two in-plane coordinates at the
shared scale. A zoom or pan made with the mouse in one view (pyqtgraph's
``sigRangeChangedManually``) becomes the camera's, and every view follows:
panning the axial view left-right moves the coronal view left-right too, the axes
that the planes share move together, as in ITK-SNAP.

Until the user zooms or pans, the camera *fits*: the scale is the smallest at which
every visible view shows its whole slice, recomputed when views are resized or the
layout changes.

A view can be *magnified* (:meth:`ViewCamera.set_magnification`): the one large view of
the "Large Axial/Coronal/Sagittal" layouts shows the same field of view as the small ones
at twice their pixels per mm, and zooms and pans with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from brats_desktop.app.state import ViewerState

if TYPE_CHECKING:  # pragma: no cover
    from brats_desktop.app.views.slice_view import SliceView


class ViewCamera(QObject):
    """One mm-per-pixel scale and one viewing centre (RAS+ mm) shared by slice views."""

    changed = Signal()  # scale or centre changed (views already follow)

    def __init__(self, state: ViewerState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._views: list[SliceView] = []
        self._mm_per_px = 1.0
        self._centre = np.zeros(3)
        self._fitted = True
        self._applying = False
        self._magnification: dict[int, float] = {}  # id(view) -> factor (1 when absent)
        state.patient_changed.connect(self._on_patient_changed)

    # -- public -----------------------------------------------------------------------
    @property
    def mm_per_px(self) -> float:
        """Millimetres of patient per screen pixel, the same in every attached view."""
        return self._mm_per_px

    @property
    def centre(self) -> tuple[float, float, float]:
        """The point (canonical RAS+ mm, voxel-corner origin) at the middle of every view."""
        return (float(self._centre[0]), float(self._centre[1]), float(self._centre[2]))

    @property
    def fitted(self) -> bool:
        """True until the user zooms or pans: resizes then keep the whole slices in view."""
        return self._fitted

    @property
    def views(self) -> list["SliceView"]:
        return list(self._views)

    def attach(self, view: "SliceView") -> None:
        """Link ``view`` to this camera (its Reset Zoom resets every linked view)."""
        if view in self._views:
            return
        self._views.append(view)
        view.camera = self
        view.viewbox.sigRangeChangedManually.connect(self._on_range_changed_manually)
        view.viewbox.sigResized.connect(self._on_resized)
        if self._fitted:
            self.reset()
        else:
            self._apply(view)

    def detach(self, view: "SliceView") -> None:
        if view not in self._views:
            return
        self._views.remove(view)
        view.camera = None
        for signal, slot in (
            (view.viewbox.sigRangeChangedManually, self._on_range_changed_manually),
            (view.viewbox.sigResized, self._on_resized),
        ):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # pragma: no cover - view already gone
                pass

    def magnification(self, view: "SliceView") -> float:
        return self._magnification.get(id(view), 1.0)

    def set_magnification(self, view: "SliceView", factor: float) -> None:
        """Show ``view`` at ``factor`` times the shared pixels per mm (same centre, linked)."""
        self._magnification[id(view)] = float(factor)
        if self._fitted:
            self.reset()
        else:
            self._apply(view)

    def mm_per_px_of(self, view: "SliceView") -> float:
        """The scale ``view`` is drawn at (the shared one over its magnification)."""
        return self._mm_per_px / self.magnification(view)

    def reset(self) -> None:
        """Centre the volume and choose the largest scale showing every visible slice whole."""
        patient = self.state.patient
        if patient is None:
            return
        extent = np.asarray(patient.shape, float) * np.asarray(patient.spacing, float)
        needs = []
        for view in self._visible_views():
            w, h = self._size(view)
            plane = view.plane
            need = max(extent[plane.col_axis] / w, extent[plane.row_axis] / h)
            needs.append(need * self.magnification(view))
        if needs:
            self._mm_per_px = max(needs)
        self._centre = extent / 2
        self._fitted = True
        self._apply_all()

    def set_view(
        self, mm_per_px: float | None = None, centre: tuple[float, float, float] | None = None,
    ) -> None:
        """Zoom and/or pan every view (stops fitting on resize)."""
        if mm_per_px is not None:
            self._mm_per_px = max(float(mm_per_px), 1e-3)
        if centre is not None:
            self._centre = np.asarray(centre, float)
        self._fitted = False
        self._apply_all()

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 zooms in) about the common centre."""
        self.set_view(mm_per_px=self._mm_per_px / factor)

    # -- applying -----------------------------------------------------------------------
    @staticmethod
    def _size(view: "SliceView") -> tuple[float, float]:
        rect = view.viewbox.boundingRect()
        return max(rect.width(), 1.0), max(rect.height(), 1.0)

    def _visible_views(self) -> list["SliceView"]:
        return [v for v in self._views if v.isVisible() and v.viewbox.boundingRect().width() > 1]

    def _apply_all(self) -> None:
        for view in self._views:
            self._apply(view)
        self.changed.emit()

    def _apply(self, view: "SliceView") -> None:
        if self.state.patient is None:
            return
        w, h = self._size(view)
        cx, cy = self._centre[view.plane.col_axis], self._centre[view.plane.row_axis]
        mpp = self.mm_per_px_of(view)
        half_w, half_h = w * mpp / 2, h * mpp / 2
        self._applying = True
        try:
            view.viewbox.setRange(
                xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0.0,
            )
        finally:
            self._applying = False

    # -- events -------------------------------------------------------------------------
    def _on_range_changed_manually(self, *_args: object) -> None:
        """A mouse zoom or pan in one view: it becomes the camera's, the others follow."""
        view = next((v for v in self._views if v.viewbox is self.sender()), None)
        if view is None or self._applying or self.state.patient is None:
            return
        (x0, x1), (y0, y1) = view.viewbox.viewRange()
        w, _h = self._size(view)
        self._mm_per_px = abs(x1 - x0) / w * self.magnification(view)
        self._centre[view.plane.col_axis] = (x0 + x1) / 2
        self._centre[view.plane.row_axis] = (y0 + y1) / 2
        self._fitted = False
        self._apply_all()

    def _on_resized(self, *_args: object) -> None:
        if self._applying:
            return
        if self._fitted:
            self.reset()
        else:
            view = next((v for v in self._views if v.viewbox is self.sender()), None)
            if view is not None:
                self._apply(view)

    def _on_patient_changed(self, _patient: object) -> None:
        self.reset()
