"""What the 3-D region tool would change, shown before the click, and a question before a large change.

One click of the 3-D region tool relabels (with the eraser: removes) a whole connected
piece in 3-D. A speck that looks isolated on one slice can be joined to the main lesion
a few slices away, so while the mouse hovers the piece is highlighted in every view and
its volume is given in the status bar, and a click that would change more than
:data:`LARGE_REGION_ML` asks first (with "don't ask again", kept in QSettings).

The highlight is a display layer (:class:`RegionHighlightLayer`, drawn by the heat-map
overlay machinery), never a label layer: it is not exported, edited or counted unsaved.
"""

from __future__ import annotations

from collections.abc import Callable

from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from brats_desktop.core.components import LESION, component_at
from brats_desktop.core.labels import CLASS_SHORT

from brats_desktop.app.annotation.editor import COMPONENT, LabelEditor
from brats_desktop.app.views.heatmap_layer import HeatmapLayer, mask_outline
from brats_desktop.app.views.heatmap_overlay import HeatmapOverlay

LARGE_REGION_ML = 5.0  # a click changing more than this asks first
ASK_KEY = "annotation/ask_before_large_region"  # QSettings: False once "don't ask again" was ticked
HIGHLIGHT_Z = 180  # above labels, heat maps and outlines; below the brush outline (200)
_FILL_ALPHA, _EDGE_ALPHA = 110, 255


class RegionHighlightLayer(HeatmapLayer):
    """The piece the next click would change: a translucent white fill with an opaque white edge."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__("3-D region preview", threshold=0.25, opacity=1.0, parent=parent)

    def _make_lut(self) -> np.ndarray:
        lut = np.zeros((256, 4), np.uint8)
        lut[1:, :3] = 255
        lut[1:, 3] = _FILL_ALPHA
        lut[255, 3] = _EDGE_ALPHA
        return lut

    def slice_image(self, plane_slice: np.ndarray) -> np.ndarray | None:
        outline = mask_outline(plane_slice)
        if outline is None:
            return None
        inside, edge = outline
        return np.where(edge, np.float32(1.0), np.where(inside, np.float32(0.5), np.float32(0.0)))


class Region:
    """The connected piece at a voxel and how much of it a click with ``label`` would change."""

    def __init__(self, bbox: tuple[slice, ...], mask: np.ndarray, changed_voxels: int, voxel_ml: float,
                 label: int, scope: str) -> None:
        self.bbox = bbox
        self.mask = mask  # bool, inside bbox
        self.changed_voxels = changed_voxels
        self.volume_ml = changed_voxels * voxel_ml
        self.label = label
        self.scope = scope

    def contains(self, voxel: tuple[int, int, int]) -> bool:
        local = tuple(int(v) - s.start for v, s in zip(voxel, self.bbox))
        return all(0 <= c < n for c, n in zip(local, self.mask.shape)) and bool(self.mask[local])

    def describe(self) -> str:
        what = "whole lesion" if self.scope == LESION else "this class only"
        action = "removes it" if self.label == 0 else f"makes it {CLASS_SHORT.get(self.label, self.label)}"
        return f"3-D region ({what}): {self.volume_ml:.2f} mL, a click {action}"


class RegionPreview(QObject):
    """Follows the mouse while the 3-D region tool is on: highlight in every view, text for the status bar."""

    def __init__(self, editor: LabelEditor, views: list[Any], views_added: Any = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.state = editor.state
        self.layer = RegionHighlightLayer(self)
        self.overlays: list[HeatmapOverlay] = []
        self.region: Region | None = None  # what is highlighted now
        self._cache: tuple[Any, ...] | None = None  # (layer, version, label, scope) the region was found for
        self._computed: tuple[Region | None, tuple[Any, ...] | None] = (None, None)  # the latest one found
        self._version = 0
        self._watched: Any = None
        # False while another mouse tool (ruler, AI correct) has the views: then nothing is highlighted.
        self.in_use: Callable[[], bool] = lambda: True
        self.add_views(views)
        if views_added is not None:
            views_added.connect(self.add_views)
        editor.tool_changed.connect(lambda _t: self.clear())
        editor.label_changed.connect(lambda _l: self.clear())
        editor.active_layer_changed.connect(self._on_active_layer)
        self.state.patient_changed.connect(lambda _p: self._reset_buffer())
        self._on_active_layer(editor.layer)

    def add_views(self, views: list[Any]) -> None:
        for view in views:
            overlay = HeatmapOverlay(view, self.layer)
            overlay.item.setZValue(HIGHLIGHT_Z)
            self.overlays.append(overlay)
            view.hovered.connect(self.update)

    # ------------------------------------------------------------------ what a click would change
    @property
    def active(self) -> bool:
        return (self.editor.tool == COMPONENT and self.editor.layer is not None and self.state.patient is not None
                and self.in_use())

    def region_at(self, voxel: tuple[int, int, int] | None) -> Region | None:
        """The piece a click at ``voxel`` would change (cached while the labels, label and scope stay)."""
        if voxel is None or not self.active:
            return None
        layer = self.editor.layer
        key = (layer, self._version, self.editor.label, self.editor.component_scope)
        for known, known_key in ((self.region, self._cache), self._computed):
            if known is not None and known_key == key and known.contains(voxel):
                return known
        found = component_at(layer.data, voxel, self.editor.component_scope)
        if found is None:
            return None
        bbox, mask = found
        changed = int(np.count_nonzero(mask & (layer.data[bbox] != self.editor.label)))
        patient = self.state.patient
        region = Region(bbox, mask, changed, patient.voxel_volume_ml, self.editor.label, self.editor.component_scope)
        self._computed = (region, key)  # the status-bar text and the highlight ask for the same hover
        return region

    def text_at(self, voxel: tuple[int, int, int]) -> str | None:
        region = self.region_at(voxel)
        return region.describe() if region is not None else None

    def update(self, voxel: tuple[int, int, int] | None) -> None:
        """The mouse is over ``voxel`` (None: left the image): highlight what a click there would change."""
        region = self.region_at(voxel)
        if region is self.region:
            return
        self._show(region)

    def clear(self) -> None:
        self._show(None)

    # ------------------------------------------------------------------ drawing
    def _show(self, region: Region | None) -> None:
        data = self.layer.data
        if self.region is not None and data is not None:
            data[self.region.bbox] = 0.0
        self.region = region
        if region is not None:
            layer = self.editor.layer
            self._cache = (layer, self._version, region.label, region.scope)
            if data is None or data.shape != layer.data.shape:
                data = np.zeros(layer.data.shape, np.float32)
            data[region.bbox][region.mask] = 1.0
            self.layer.set_data(data)
        elif data is not None:
            self.layer.set_data(data)

    def _reset_buffer(self) -> None:
        self.region = None
        self._cache = None
        self.layer.set_data(None)

    def _on_active_layer(self, layer: Any) -> None:
        if self._watched is not None:
            try:
                self._watched.labels_changed.disconnect(self._on_labels_changed)
            except (RuntimeError, TypeError):  # pragma: no cover - already gone
                pass
        self._watched = layer
        if layer is not None:
            layer.labels_changed.connect(self._on_labels_changed)
        self.clear()

    def _on_labels_changed(self, _bbox: object) -> None:
        self._version += 1  # the piece under the mouse may have grown, shrunk or gone
        self.clear()
