"""A scalar heat-map display layer (0-1 values) beside the label layers, with its own display settings.

Label layers (:class:`~brats_desktop.app.state.LabelLayer`) hold uint8 classes that
editors paint and exports write; a heat map is a float map nobody paints, drawn with
a colour map, an opacity and a threshold below which it is transparent. It is kept
out of ``ViewerState.layers`` so the label tools (export, metrics, annotation) never
meet a non-label layer; views draw it through :class:`HeatmapOverlay`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal

from brats_desktop.app.layer_display import LayerDisplayMixin

DEFAULT_COLORMAP = "magenta-white"
# Dark purple-magenta -> magenta -> white, rising in lightness: a hue no label class uses (NCR blue,
# edema green, enhancing yellow). The inferno map used before ended in orange, which read as
# enhancing tumour; viridis would pass through all three class colours.
MAGENTA_WHITE: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (120, 20, 170)),
    (0.5, (220, 60, 230)),
    (1.0, (255, 235, 255)),
)


def mask_outline(plane_slice: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(inside, edge) of one slice of a 0/1 mask, None where the slice holds none of it.

    Outline layers draw the edge strongly and the inside faintly or not at all, so the
    image under a mask stays readable.
    """
    inside = plane_slice >= 0.5
    if not inside.any():
        return None
    from scipy import ndimage  # not at start-up: only outline layers need it

    return inside, inside & ~ndimage.binary_erosion(inside)


class HeatmapLayer(QObject, LayerDisplayMixin):
    """A float32 map in [0, 1] on the patient's canonical grid, or None when there is none."""

    data_changed = Signal()
    display_changed = Signal()  # visibility, opacity, threshold or colour map

    def __init__(
        self,
        name: str,
        threshold: float = 0.5,
        opacity: float = 0.6,
        colormap: str = DEFAULT_COLORMAP,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self._data: np.ndarray | None = None
        self._threshold = float(threshold)
        self._opacity = float(opacity)
        self._visible = True
        self._colormap = colormap
        self._lut = self._make_lut()

    # -- data -------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray | None:
        return self._data

    def set_data(self, data: np.ndarray | None) -> None:
        self._data = None if data is None else np.ascontiguousarray(data, dtype=np.float32)
        self.data_changed.emit()

    def value_at(self, voxel: tuple[int, int, int]) -> float | None:
        return None if self._data is None else float(self._data[voxel])

    # -- display ----------------------------------------------------------------------
    # visible / opacity: LayerDisplayMixin
    @property
    def threshold(self) -> float:
        """Values below it are not drawn (and, for uncertainty, not counted)."""
        return self._threshold

    def set_threshold(self, threshold: float) -> None:
        threshold = min(1.0, max(0.0, float(threshold)))
        if threshold != self._threshold:
            self._threshold = threshold
            self.display_changed.emit()

    @property
    def lut(self) -> np.ndarray:
        """256x4 uint8 RGBA over values 0-1; row 0 transparent (where values fall below the threshold)."""
        return self._lut

    def _make_lut(self) -> np.ndarray:
        if self._colormap == DEFAULT_COLORMAP:
            positions = [p for p, _ in MAGENTA_WHITE]
            colours = [(*rgb, 255) for _, rgb in MAGENTA_WHITE]
            cmap = pg.ColorMap(positions, colours)
        else:  # any pyqtgraph map by name
            cmap = pg.colormap.get(self._colormap)
        lut = cmap.getLookupTable(0.0, 1.0, nPts=256, alpha=True).astype(np.uint8)
        lut[0, 3] = 0
        return lut

    def slice_image(self, plane_slice: np.ndarray) -> np.ndarray | None:
        """What to draw for one 2-D slice of the data: below-threshold values set to 0; None if nothing shows."""
        shown = plane_slice >= np.float32(self._threshold)
        if not shown.any():
            return None
        # Values just above 0 must not fall on the transparent row 0: at least 1/255.
        return np.where(shown, np.maximum(plane_slice, np.float32(1.0 / 255)), np.float32(0.0))
