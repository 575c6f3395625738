"""The brain mask drawn as an outline over the registered sequences (import QC).

A failed skull strip or registration shows at a glance as an outline that cuts into the
brain or hugs the skull. The mask is a display layer, not a label layer: it must never be
exported, edited, compared or counted as unsaved work, so it reuses the heat-map overlay
machinery (kept out of ``ViewerState.layers``) with a one-colour outline instead of a
colour map.
"""

from __future__ import annotations

import numpy as np

from brats_desktop.app.views.heatmap_layer import HeatmapLayer, mask_outline

OUTLINE_RGBA = (0, 230, 255, 255)  # cyan: unlike every tumour class colour and visible on grey


class BrainOutlineLayer(HeatmapLayer):
    """A 0/1 brain mask whose slices are drawn as their boundary pixels."""

    def __init__(self, name: str = "Brain mask", parent=None) -> None:
        super().__init__(name, threshold=0.5, opacity=1.0, parent=parent)

    def _make_lut(self) -> np.ndarray:
        lut = np.zeros((256, 4), np.uint8)
        lut[1:] = OUTLINE_RGBA
        return lut

    def slice_image(self, plane_slice: np.ndarray) -> np.ndarray | None:
        outline = mask_outline(plane_slice)
        return None if outline is None else outline[1].astype(np.float32)
