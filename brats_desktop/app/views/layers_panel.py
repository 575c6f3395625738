"""Per-layer display controls: visibility, per-class toggles with colour swatches, opacity, outline."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.labels import CLASS_COLOURS, CLASS_NAMES, CLASS_SHORT, TUMOUR_CLASSES

from brats_desktop.app.state import GROUND_TRUTH, LabelLayer, ViewerState


def colour_swatch(rgb: tuple[int, int, int], size: int = 14) -> QLabel:
    """A small square in ``rgb``: legends show the very colours their overlay draws."""
    r, g, b = rgb
    label = QLabel()
    label.setFixedSize(size, size)
    label.setStyleSheet(f"background: rgb({r},{g},{b}); border: 1px solid #444;")
    return label


def swatch(cls: int, size: int = 14) -> QLabel:
    """A small square in the class colour (the same colours as the overlay)."""
    return colour_swatch(CLASS_COLOURS[cls], size)


class LayerControls(QFrame):
    """Controls of one :class:`LabelLayer` in two compact rows; they write to the layer, the views follow.

    Row 1: show/hide with the layer's name, its kind, outline mode. Row 2: the three
    classes (colour swatch + short name, full name in the tooltip) and opacity. Two rows
    instead of seven keep two layers (ground truth and prediction) fully in view in the
    Layers dock at the default window size, without scrolling.
    """

    def __init__(self, layer: LabelLayer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer = layer
        self.setObjectName(f"layer_{layer.name}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.setSpacing(2)

        top = QHBoxLayout()
        self.visible = QCheckBox(layer.name)
        self.visible.setToolTip(f"Show or hide the layer {layer.name!r}")
        font = self.visible.font()
        font.setBold(True)
        self.visible.setFont(font)
        self.visible.setChecked(layer.visible)
        self.visible.toggled.connect(layer.set_visible)
        top.addWidget(self.visible)
        # What made a prediction ("— Accurate"), the kind beside it; the tooltip says more.
        self.origin = QLabel()
        self.origin.setWordWrap(True)  # a stand-in model's Dice is long: wrap rather than widen the dock
        top.addWidget(self.origin, 1)
        self.kind = QLabel(f"({layer.kind})")
        self.kind.setStyleSheet("color: gray;")
        top.addWidget(self.kind)
        self._show_origin()
        self.outline = QCheckBox("Outline")
        self.outline.setToolTip("Draw only the boundary of each class")
        self.outline.setChecked(layer.outline)
        self.outline.toggled.connect(layer.set_outline)
        # Follows the layer as well: a default set in code (the ground truth outlined beside a
        # prediction, views/layer_legend.py) must show here.
        layer.display_changed.connect(self._on_display_changed)
        top.addWidget(self.outline)
        layout.addLayout(top)

        row = QHBoxLayout()
        row.setSpacing(4)
        self.class_boxes: dict[int, QCheckBox] = {}
        for cls in TUMOUR_CLASSES:
            box = QCheckBox(CLASS_SHORT[cls])
            box.setToolTip(f"{CLASS_SHORT[cls]}: {CLASS_NAMES[cls]}")
            box.setChecked(cls in layer.visible_classes)
            box.toggled.connect(lambda on, c=cls: layer.set_class_visible(c, on))
            self.class_boxes[cls] = box
            row.addWidget(swatch(cls, 12))
            row.addWidget(box)
            row.addSpacing(4)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(layer.opacity * 100))
        self.opacity.setToolTip("Opacity of the layer")
        self.opacity.setMinimumWidth(60)
        self.opacity.valueChanged.connect(lambda v: layer.set_opacity(v / 100.0))
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity, 1)
        layout.addLayout(row)

    def _show_origin(self) -> None:
        layer = self.layer
        self.origin.setText(f"— {layer.origin}" if layer.origin else "")
        self.origin.setVisible(bool(layer.origin))
        tip = layer.origin_tip or f"Show or hide the layer {layer.name!r}"
        for widget in (self.visible, self.origin, self.kind):
            widget.setToolTip(tip)

    def _on_display_changed(self) -> None:
        self._show_origin()
        # Setting a control to the layer's own value feeds back a no-op to the layer.
        self.outline.setChecked(self.layer.outline)
        self.visible.setChecked(self.layer.visible)
        self.opacity.setValue(round(self.layer.opacity * 100))
        for cls, box in self.class_boxes.items():
            box.setChecked(cls in self.layer.visible_classes)


class LayersScrollArea(QScrollArea):
    """The Layers dock's scroll area: asks for room for up to :attr:`rows_wanted` layers.

    A plain QScrollArea asks for a fixed, small height, so the main window gave the
    Layers dock about four rows and hid the rest behind a scrollbar. This one asks
    (minimum size hint) for the height of ``rows_wanted`` layer boxes, so the usual
    ground truth + prediction pair shows whole; more layers scroll.
    """

    rows_wanted = 2

    def __init__(self, panel: "LayersPanel", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(panel)
        self._panel = panel
        self._box_height: int | None = None  # one layer box, measured once
        panel.rebuilt.connect(self.updateGeometry)

    def _wanted_height(self) -> int:
        """Height of :attr:`rows_wanted` layer boxes, whether or not the layers exist yet.

        Constant, so the docks do not jump when a prediction arrives (the room for it is
        already there) and a screenshot is the same size with or without one.
        """
        if self._box_height is None:
            sample = LayerControls(LabelLayer("Ground truth", np.zeros((1, 1, 1), np.uint8), GROUND_TRUTH))
            self._box_height = sample.sizeHint().height()
            sample.deleteLater()
        layout = self._panel.layout()
        margins = layout.contentsMargins()
        boxes = [c.sizeHint().height() for c in self._panel.controls[: self.rows_wanted]]
        boxes += [self._box_height] * (self.rows_wanted - len(boxes))
        height = sum(boxes) + layout.spacing() * (len(boxes) - 1)
        return height + margins.top() + margins.bottom()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """Two whole layers even when the docks are squeezed: the main window honours minimums."""
        hint = super().minimumSizeHint()
        return QSize(hint.width(), max(hint.height(), self._wanted_height()))

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        return QSize(hint.width(), max(hint.height(), self._wanted_height()))


class LayersPanel(QWidget):
    """One :class:`LayerControls` box per label layer, rebuilt when layers come and go."""

    rebuilt = Signal()  # the layer boxes were recreated (their number may have changed)

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(4)
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
        if self.isVisible():
            # Shown and placed now: a box added to a visible layout is otherwise shown by a
            # queued call, after the repaint that already dropped the old boxes, so the dock
            # was painted empty while the next case was put on screen.
            for box in self.controls:
                box.show()
            self._layout.activate()
        self.rebuilt.emit()
