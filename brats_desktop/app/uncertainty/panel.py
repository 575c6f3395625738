"""The Uncertainty dock (show, opacity, threshold, Next Uncertain Region) and the uncertain-volume table of the Metrics dock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.app.uncertainty.colour_bar import UncertaintyColourBar

if TYPE_CHECKING:
    from brats_desktop.app.views.heatmap_layer import HeatmapLayer

VOLUME_ROWS: tuple[tuple[str, str], ...] = (
    ("BG", "Background by argmax: possibly missed tumour"),
    ("NCR", "Necrotic / non-enhancing core (class 1)"),
    ("ED", "Edema (class 2)"),
    ("ET", "Enhancing tumour (class 3)"),
    ("Tumour", "NCR + ED + ET"),
)
ROW_HEIGHT = 22
EXPLANATION = (
    "Normalised entropy of the model's class probabilities: 0 = sure of one class, "
    "1 = all four classes equally likely. Only values at or above the threshold are drawn and counted."
)


def _slider(maximum: int = 100) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, maximum)
    return s


class UncertaintyPanel(QWidget):
    """Display controls of the heat-map layer and the jump to uncertain regions.

    It shows what :meth:`show_result` is given and emits ``next_requested``; the controller decides.
    """

    next_requested = Signal()

    def __init__(self, layer: "HeatmapLayer", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("UncertaintyPanel")
        self.layer = layer
        self._message, self._region_text, self._volumes = "", "", None
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.show_box = QCheckBox("Show uncertainty map")
        self.show_box.setChecked(layer.visible)
        self.opacity_slider = _slider()
        self.opacity_slider.setValue(round(layer.opacity * 100))
        self.threshold_slider = _slider()
        self.threshold_slider.setValue(round(layer.threshold * 100))
        self.threshold_label = QLabel()
        self.colour_bar = UncertaintyColourBar(layer)
        self.next_button = QPushButton("Next Uncertain Region (U)")
        self.region_label = QLabel()
        self.region_label.setWordWrap(True)
        self.volume_label = QLabel()  # the Metrics dock's table in one line, beside the threshold
        self.volume_label.setWordWrap(True)
        note = QLabel(EXPLANATION)
        note.setWordWrap(True)
        note.setStyleSheet("color: gray;")

        form = QFormLayout()
        form.addRow(self.show_box)
        form.addRow("Opacity", self.opacity_slider)
        form.addRow(self.threshold_label, self.threshold_slider)
        form.addRow(self.colour_bar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addWidget(self.volume_label)
        layout.addWidget(self.next_button)
        layout.addWidget(self.region_label)
        layout.addWidget(note)
        layout.addStretch(1)

        self.show_box.toggled.connect(layer.set_visible)
        self.opacity_slider.valueChanged.connect(lambda v: layer.set_opacity(v / 100))
        self.threshold_slider.valueChanged.connect(lambda v: layer.set_threshold(v / 100))
        self.next_button.clicked.connect(self.next_requested)
        layer.display_changed.connect(self._sync)
        self._sync()

    def show_result(self, message: str, region_text: str, volumes: dict[str, float] | None) -> None:
        """The map's summary, the current region's description and the uncertain volumes (mL)."""
        self._message, self._region_text, self._volumes = message, region_text, volumes
        self._sync()

    def _sync(self) -> None:
        layer = self.layer
        for widget, value in (
            (self.show_box, layer.visible),
            (self.opacity_slider, round(layer.opacity * 100)),
            (self.threshold_slider, round(layer.threshold * 100)),
        ):
            widget.blockSignals(True)
            widget.setChecked(value) if isinstance(widget, QCheckBox) else widget.setValue(value)
            widget.blockSignals(False)
        self.threshold_label.setText(f"Threshold {layer.threshold:.2f}")
        self.summary.setText(self._message)
        has_map = layer.data is not None
        for widget in (self.show_box, self.opacity_slider, self.threshold_slider, self.next_button):
            widget.setEnabled(has_map)
        self.region_label.setText(self._region_text)
        vols = self._volumes
        self.volume_label.setVisible(vols is not None)
        if vols is not None:
            self.volume_label.setText(
                f"Uncertain volume: NCR {vols['NCR']:.2f}, ED {vols['ED']:.2f}, ET {vols['ET']:.2f}, "
                f"background {vols['BG']:.2f} mL (table in Metrics)."
            )


class UncertainVolumesWidget(QWidget):
    """Uncertain volume per argmax class (mL) at the current threshold: lives in the Metrics dock."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("UncertainVolumes")
        self.title = QLabel()
        self.table = QTableWidget(len(VOLUME_ROWS), 1)
        self.table.setVerticalHeaderLabels([r for r, _ in VOLUME_ROWS])
        self.table.setHorizontalHeaderLabels(["Uncertain (mL)"])
        for r, (_, tip) in enumerate(VOLUME_ROWS):
            self.table.verticalHeaderItem(r).setToolTip(tip)
            item = QTableWidgetItem()
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(r, 0, item)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader().sizeHint().height()
        self.table.setFixedHeight(header + ROW_HEIGHT * len(VOLUME_ROWS) + 2 * self.table.frameWidth() + 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table)
        self.show_volumes(None, 0.0)

    def show_volumes(self, vols: dict[str, float] | None, threshold: float) -> None:
        """Uncertain volume per class at ``threshold`` (the one they were counted at); None hides the table."""
        self.setVisible(vols is not None)
        if vols is None:
            return
        self.title.setText(f"Uncertainty ≥ {threshold:.2f} by predicted class:")
        for r, (key, _) in enumerate(VOLUME_ROWS):
            self.table.item(r, 0).setText(f"{vols[key]:.2f}")

    def value(self, key: str) -> str:
        """Displayed text of one row (tests)."""
        return self.table.item([r for r, _ in VOLUME_ROWS].index(key), 0).text()
