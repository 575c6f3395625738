"""The "Compare" dock: which layers, which region, the FP/FN legend, and the stepping buttons."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.error_map import ERROR_COLOURS, FALSE_NEGATIVE, FALSE_POSITIVE, TARGET_NAMES

from brats_desktop.app.compare.model import ErrorMapModel
from brats_desktop.app.views.layers_panel import colour_swatch


def error_swatch(value: int, size: int = 14) -> QLabel:
    """A square in an error colour (the overlay's colours)."""
    return colour_swatch(ERROR_COLOURS[value], size)


class ComparePanel(QWidget):
    """Controls of the :class:`ErrorMapModel`; reads it back on every change, never keeps its own copy."""

    def __init__(self, model: ErrorMapModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ComparePanel")
        self.model = model
        self._syncing = False
        layout = QVBoxLayout(self)

        self.show_box = QCheckBox("Show error map")
        self.show_box.setToolTip("False positives and false negatives of the test layer, in two colours")
        layout.addWidget(self.show_box)

        form = QFormLayout()
        self.test_combo = QComboBox()
        self.test_combo.setToolTip("The layer being checked (e.g. the prediction, or the AI's labels)")
        self.reference_combo = QComboBox()
        self.reference_combo.setToolTip("What it is checked against (the ground truth, or your corrected labels)")
        self.target_combo = QComboBox()
        for key, name in TARGET_NAMES.items():
            self.target_combo.addItem(name, key)
        form.addRow("Test", self.test_combo)
        form.addRow("Reference", self.reference_combo)
        form.addRow("Region", self.target_combo)
        layout.addLayout(form)

        self.legend_labels: dict[int, QLabel] = {}
        for value in (FALSE_POSITIVE, FALSE_NEGATIVE):
            row = QHBoxLayout()
            row.addWidget(error_swatch(value))
            text = QLabel()
            text.setWordWrap(True)
            row.addWidget(text, 1)
            self.legend_labels[value] = text
            layout.addLayout(row)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)

        grid = QGridLayout()
        self.prev_error_button = QPushButton("◀ Error (,)")
        self.next_error_button = QPushButton("Next error (.) ▶")
        self.prev_lesion_button = QPushButton("◀ Lesion (Shift+L)")
        self.next_lesion_button = QPushButton("Next lesion (L) ▶")
        self.next_error_button.setToolTip("Crosshair to the next-largest connected error region")
        self.next_lesion_button.setToolTip("Crosshair to the next-largest lesion of the test layer")
        grid.addWidget(self.prev_error_button, 0, 0)
        grid.addWidget(self.next_error_button, 0, 1)
        grid.addWidget(self.prev_lesion_button, 1, 0)
        grid.addWidget(self.next_lesion_button, 1, 1)
        layout.addLayout(grid)
        self.position_label = QLabel()
        self.position_label.setWordWrap(True)
        layout.addWidget(self.position_label)
        layout.addStretch(1)

        self.show_box.toggled.connect(self._on_show_toggled)
        self.test_combo.currentIndexChanged.connect(self._on_layers_chosen)
        self.reference_combo.currentIndexChanged.connect(self._on_layers_chosen)
        self.target_combo.currentIndexChanged.connect(self._on_target_chosen)
        model.settings_changed.connect(self._sync)
        model.errors_changed.connect(self._sync_summary)
        model.state.layers_changed.connect(self._sync)
        self._sync()

    def show_message(self, text: str) -> None:
        """The latest Next Error / Next Lesion answer (also in the status bar)."""
        self.position_label.setText(text)

    # ------------------------------------------------------------------- sync
    def _sync(self, *_args: object) -> None:
        self._syncing = True
        try:
            names = [layer.name for layer in self.model.state.layers]
            for combo, layer in (
                (self.test_combo, self.model.test_layer),
                (self.reference_combo, self.model.reference_layer),
            ):
                combo.clear()
                combo.addItems(names)
                combo.setCurrentIndex(names.index(layer.name) if layer is not None and layer.name in names else -1)
            self.target_combo.setCurrentIndex(self.target_combo.findData(self.model.target))
            self.show_box.setChecked(self.model.shown)
            ready = self.model.ready
            for widget in (self.show_box, self.prev_error_button, self.next_error_button):
                widget.setEnabled(ready)
            has_layer = self.model.lesion_layer() is not None
            self.prev_lesion_button.setEnabled(has_layer)
            self.next_lesion_button.setEnabled(has_layer)
            test, ref = self.model.test_layer, self.model.reference_layer
            t = test.name if test is not None else "test"
            r = ref.name if ref is not None else "reference"
            self.legend_labels[FALSE_POSITIVE].setText(f"False positive: in {t}, not in {r}")
            self.legend_labels[FALSE_NEGATIVE].setText(f"False negative: in {r}, missed by {t}")
        finally:
            self._syncing = False
        self._sync_summary()

    def _sync_summary(self) -> None:
        if not self.model.shown or not self.model.ready:
            self.summary_label.setText("" if self.model.ready else "Needs two different label layers.")
            return
        s = self.model.summary()
        if s is not None:
            self.summary_label.setText(
                f"{self.model.target}: false positives {s.false_positive_ml:.2f} mL, "
                f"false negatives {s.false_negative_ml:.2f} mL"
            )

    # ----------------------------------------------------------------- events
    def _on_show_toggled(self, on: bool) -> None:
        if not self._syncing:
            self.model.set_shown(on)

    def _on_layers_chosen(self, _index: int) -> None:
        if self._syncing:
            return
        layers = {layer.name: layer for layer in self.model.state.layers}
        self.model.set_layers(
            layers.get(self.test_combo.currentText()), layers.get(self.reference_combo.currentText())
        )

    def _on_target_chosen(self, index: int) -> None:
        if not self._syncing and index >= 0:
            self.model.set_target(self.target_combo.itemData(index))
