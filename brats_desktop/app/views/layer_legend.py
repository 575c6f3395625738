"""Distinguishable layers: ground truth drawn as outlines when a prediction is shown, and a legend.

Two filled label layers at half opacity blend into colours that belong to no class
(yellow over blue reads as grey-green). ITK-SNAP and Slicer users compare a
segmentation with a reference by drawing one as contours over the other filled, so
that is the default here: when a prediction layer appears next to a ground-truth
layer, the ground truth switches to outline mode, once; the user may switch it back
in the Layers dock and it stays so. The views draw outline layers above filled ones
(``slice_view.overlay_z``), so a filled prediction never tints the contour.

:class:`LayerLegendWidget` says, at the top of the Layers dock, which layer is drawn how.
"""

from __future__ import annotations

import weakref

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from brats_desktop.app.state import GROUND_TRUTH, PREDICTION, LabelLayer, ViewerState

OUTLINE_OPACITY = 1.0
OUTLINE_GLYPH = "□"
FILLED_GLYPH = "■"


class DistinctLayerStyles(QObject):
    """Gives each ground-truth layer outline mode once, when it is shown with a prediction."""

    def __init__(self, state: ViewerState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._styled: weakref.WeakSet[LabelLayer] = weakref.WeakSet()
        state.layers_changed.connect(self._on_layers_changed)
        self._on_layers_changed()

    def _on_layers_changed(self) -> None:
        layers = self.state.layers
        if not any(layer.kind == PREDICTION for layer in layers):
            return
        for layer in layers:
            if layer.kind == GROUND_TRUTH and layer not in self._styled:
                self._styled.add(layer)  # a default, applied once: a user's choice afterwards stays
                layer.set_outline(True)
                # A one-pixel contour at half opacity all but vanishes into the fill beside it.
                layer.set_opacity(OUTLINE_OPACITY)


def describe_layer(layer: LabelLayer) -> str:
    """How a layer is drawn, in words: 'outlines' or 'filled, 50 %'."""
    if layer.outline:
        return "outlines"
    return f"filled, {round(layer.opacity * 100)} %"


class LayerLegendWidget(QLabel):
    """One line at the top of the Layers dock: for each shown layer a filled or hollow square,
    its name (and kind) and how it is drawn, e.g. "■ Prediction: filled, 50 %   □ Ground truth: outlines".

    One line whatever the number of layers, so a prediction appearing never makes the dock
    (and with it a crowded window) taller; what does not fit is cut, and the tooltip lists
    every layer on its own line.
    """

    SEPARATOR = "   "

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LayerLegend")
        self.state = state
        self.setContentsMargins(6, 2, 6, 2)
        self.setWordWrap(False)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widens the dock
        self._entries: list[str] = []
        self._watched: list[LabelLayer] = []
        state.layers_changed.connect(self._rebuild)
        self._rebuild()

    def texts(self) -> list[str]:
        """The legend entries, top layer first, without their squares (for tests and screenshots)."""
        return list(self._entries)

    def _rebuild(self) -> None:
        for layer in self._watched:
            try:
                layer.display_changed.disconnect(self._refresh)
            except (RuntimeError, TypeError):  # pragma: no cover - layer already gone
                pass
        self._watched = self.state.layers
        for layer in self._watched:
            layer.display_changed.connect(self._refresh)
        self._refresh()

    def _refresh(self) -> None:
        shown = [layer for layer in reversed(self._watched) if layer.visible]  # top layer first
        self._entries, marked = [], []
        for layer in shown:
            # The kind only when the name does not already say it ("Prediction (prediction)").
            name = layer.name if layer.name.lower() == layer.kind else f"{layer.name} ({layer.kind})"
            entry = f"{name}: {describe_layer(layer)}"
            self._entries.append(entry)
            marked.append(f"{OUTLINE_GLYPH if layer.outline else FILLED_GLYPH} {entry}")
        self.setText(self.SEPARATOR.join(marked))
        self.setToolTip("\n".join(marked))
        # Kept in the layout while empty (blank line), so showing a layer never changes the dock's height.
