"""Per-layer display controls: visibility, per-class toggles with colour swatches, opacity, outline."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.labels import CLASS_COLOURS, CLASS_NAMES, CLASS_SHORT, TUMOUR_CLASSES

from brats_desktop.app.state import LabelLayer, ViewerState


def swatch(cls: int, size: int = 14) -> QLabel:
    """A small square in the class colour (the same colours as the overlay)."""
    r, g, b = CLASS_COLOURS[cls]
    label = QLabel()
    label.setFixedSize(size, size)
    label.setStyleSheet(f"background: rgb({r},{g},{b}); border: 1px solid #444;")
    return label


class LayerControls(QGroupBox):
    """Controls of one :class:`LabelLayer`; they write to the layer, the views follow."""

    def __init__(self, layer: LabelLayer, parent: QWidget | None = None) -> None:
        super().__init__(f"{layer.name} ({layer.kind})", parent)
        self.layer = layer
        self.setObjectName(f"layer_{layer.name}")
        layout = QVBoxLayout(self)
        self.visible = QCheckBox("Show layer")
        self.visible.setChecked(layer.visible)
        self.visible.toggled.connect(layer.set_visible)
        layout.addWidget(self.visible)

        self.class_boxes: dict[int, QCheckBox] = {}
        for cls in TUMOUR_CLASSES:
            row = QHBoxLayout()
            row.addWidget(swatch(cls))
            box = QCheckBox(f"{CLASS_SHORT[cls]} — {CLASS_NAMES[cls]}")
            box.setChecked(cls in layer.visible_classes)
            box.toggled.connect(lambda on, c=cls: layer.set_class_visible(c, on))
            self.class_boxes[cls] = box
            row.addWidget(box, 1)
            layout.addLayout(row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(layer.opacity * 100))
        self.opacity.valueChanged.connect(lambda v: layer.set_opacity(v / 100.0))
        row.addWidget(self.opacity, 1)
        layout.addLayout(row)

        self.outline = QCheckBox("Outline only")
        self.outline.setChecked(layer.outline)
        self.outline.toggled.connect(layer.set_outline)
        layout.addWidget(self.outline)


class LayersPanel(QWidget):
    """One :class:`LayerControls` box per label layer, rebuilt when layers come and go."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._layout = QVBoxLayout(self)
        self._empty = QLabel("No label layers: this patient has no segmentation yet.")
        self._empty.setWordWrap(True)
        self.controls: list[LayerControls] = []
        state.layers_changed.connect(self._rebuild)
        self._rebuild(force=True)

    def controls_for(self, name: str) -> LayerControls | None:
        return next((c for c in self.controls if c.layer.name == name), None)

    def _rebuild(self, force: bool = False) -> None:
        if not force and [c.layer for c in self.controls] == self.state.layers:
            return
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget()
            if widget is not None and widget is not self._empty:
                # Detach now: deleteLater alone leaves the old box painted over the new ones
                # until the event loop runs deferred deletes (seen in --screenshot output).
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self.controls = [LayerControls(layer) for layer in reversed(self.state.layers)]
        for box in self.controls:
            self._layout.addWidget(box)
        self._empty.setVisible(not self.controls)
        self._layout.addWidget(self._empty)
        self._layout.addStretch(1)
