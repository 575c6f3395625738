"""Annotation controls: layer to edit, class (or eraser), brush/fill, brush size, paint-only-over.

The panel only reads and writes the :class:`LabelEditor`; keyboard shortcuts
(1-3, 0/E, [ ], B/F) live on the main window (``annotation_actions``) and change
the same editor, so panel and keys always agree.

It also shows the edited layer's agreement after each stroke: Dice against the
ground truth (or, when the ground truth itself is edited, against the prediction)
and the edited layer's volumes, from :mod:`brats_desktop.core.metrics`. The
prediction-versus-ground-truth table stays in the metrics panel.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.labels import (
    CLASS_COLOURS,
    CLASS_NAMES,
    CLASS_SHORT,
    ENHANCING,
    TUMOUR_CLASSES,
    LabelConvention,
)
from brats_desktop.core.label_meaning import label1_name
from brats_desktop.core.metrics import class_volumes_ml, dice_scores

from brats_desktop.app.annotation.editor import BRUSH, COMPONENT, FILL, MAX_RADIUS, MIN_RADIUS, LabelEditor
from brats_desktop.app.state import GROUND_TRUTH, PREDICTION, LabelLayer

NO_LAYER_TEXT = "— none (navigate) —"
ONLY_OVER_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("Anywhere", None),
    ("Background only", 0),
    ("NCR only", 1),
    ("Edema only", 2),
    ("Enhancing only", 3),
)


class AnnotationPanel(QWidget):
    """The controls of the label editor, kept in sync with it both ways."""

    def __init__(self, editor: LabelEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AnnotationPanel")
        self.editor = editor
        self._syncing = False
        layout = QVBoxLayout(self)

        row = QHBoxLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip(
            "The layer your strokes change; the file on disk is untouched until you save"
        )
        row.addWidget(self.layer_combo, 1)
        self.new_layer_button = QPushButton("New")
        self.new_layer_button.setToolTip("Add an empty annotation layer and edit it")
        row.addWidget(self.new_layer_button)
        form = QFormLayout()
        form.addRow("Edit layer", row)

        grid = QGridLayout()
        self.class_group = QButtonGroup(self)
        self.class_buttons: dict[int, QToolButton] = {}
        for i, label in enumerate((*TUMOUR_CLASSES, 0)):
            button = QToolButton()
            button.setCheckable(True)
            button.setObjectName(f"class_{label}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            if label in CLASS_COLOURS:
                r, g, b = CLASS_COLOURS[label]
                button.setStyleSheet(f"QToolButton:checked {{ border: 2px solid rgb({r},{g},{b}); }}")
            self.class_group.addButton(button, label)
            self.class_buttons[label] = button
            grid.addWidget(button, i // 2, i % 2)
        form.addRow("Class", grid)

        tools = QHBoxLayout()
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for tool, text in ((BRUSH, "Brush (B)"), (FILL, "Fill slice region (F)"), (COMPONENT, "3-D region (C)")):
            button = QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            tools.addWidget(button)
        form.addRow("Tool", tools)
        self._tool_form = form
        self.extra_tool_buttons: list[QToolButton] = []  # tools of other features (AI correct)
        self.fill_inside_brain = QCheckBox("Fill stays inside the brain")
        self.fill_inside_brain.setToolTip(
            "Fill stops where every image is 0 (the air around a skull-stripped brain); "
            "untick to fill the whole connected region of the slice"
        )
        form.addRow("", self.fill_inside_brain)

        size = QHBoxLayout()
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(MIN_RADIUS, MAX_RADIUS)
        self.size_slider.setToolTip("Brush radius in voxels ([ and ] change it)")
        self.size_label = QLabel()
        self.size_label.setMinimumWidth(60)
        size.addWidget(self.size_slider, 1)
        size.addWidget(self.size_label)
        form.addRow("Brush", size)

        self.only_over_combo = QComboBox()
        for text, _ in ONLY_OVER_CHOICES:
            self.only_over_combo.addItem(text)
        self.only_over_combo.setToolTip(
            "Change only voxels that hold this label, so neighbouring classes survive"
        )
        form.addRow("Paint over", self.only_over_combo)
        layout.addLayout(form)

        self.metrics_label = QLabel()
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.metrics_label)
        self.hint = QLabel("Left-drag paints · Shift+click moves the crosshair · wheel changes slice")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: gray;")
        layout.addWidget(self.hint)
        layout.addStretch(1)

        self.layer_combo.currentIndexChanged.connect(self._on_layer_chosen)
        self.new_layer_button.clicked.connect(self._on_new_layer)
        self.class_group.idClicked.connect(self._on_class_clicked)
        for tool, button in self.tool_buttons.items():
            button.clicked.connect(lambda _=False, t=tool: self.editor.set_tool(t))
        self.size_slider.valueChanged.connect(self.editor.set_radius)
        self.fill_inside_brain.toggled.connect(self.editor.set_fill_inside_brain)
        self.only_over_combo.currentIndexChanged.connect(
            lambda i: self.editor.set_only_over(ONLY_OVER_CHOICES[i][1])
        )

        # Settings only redraw the controls; the readout (a whole-volume comparison,
        # tens of ms) is recomputed when the layers or their labels really changed.
        for signal in (editor.label_changed, editor.tool_changed, editor.radius_changed,
                       editor.only_over_changed, editor.fill_inside_brain_changed):
            signal.connect(self._sync)
        for signal in (editor.active_layer_changed, editor.state.layers_changed,
                       editor.state.patient_changed, editor.state.ncr_definition_changed):
            signal.connect(self._sync_all)
        editor.stroke_finished.connect(self._on_stroke_finished)
        self._sync_all()

    # ------------------------------------------------------------------- sync
    def add_tool_section(self, widget: QWidget) -> None:
        """Controls of another editing tool, under the tool controls and above the agreement readout."""
        layout = self.layout()
        at = layout.indexOf(self.metrics_label)
        layout.insertWidget(at if at >= 0 else layout.count(), widget)

    def _sync(self, *_args: object) -> None:
        """Show the editor's settings (and the current layer list) without feeding back."""
        self._syncing = True
        try:
            layers = self.editor.state.layers
            self.layer_combo.clear()
            self.layer_combo.addItem(NO_LAYER_TEXT)
            for layer in layers:
                self.layer_combo.addItem(f"{layer.name} ({layer.kind})")
            active = self.editor.layer
            self.layer_combo.setCurrentIndex(layers.index(active) + 1 if active in layers else 0)
            self.new_layer_button.setEnabled(self.editor.state.patient is not None)
            self.class_buttons[self.editor.label].setChecked(True)
            if not any(b.isChecked() for b in self.extra_tool_buttons):
                self.tool_buttons[self.editor.tool].setChecked(True)
            self.size_slider.setValue(self.editor.radius)
            self.size_label.setText(f"r = {self.editor.radius} vx")
            values = [v for _, v in ONLY_OVER_CHOICES]
            self.only_over_combo.setCurrentIndex(values.index(self.editor.only_over))
            self.fill_inside_brain.setChecked(self.editor.fill_inside_brain)
            self._label_class_buttons()
        finally:
            self._syncing = False

    def add_tool_button(self, button: QToolButton) -> None:
        """A tool of another feature, on a row under the editor's tools and exclusive with them.

        While it is checked the editor's tool buttons show unchecked; clicking one of
        them unchecks it (its owner follows the button's ``toggled``).
        """
        button.setCheckable(True)
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.tool_group.addButton(button)
        self.extra_tool_buttons.append(button)
        self._tool_form.insertRow(self._tool_form.getWidgetPosition(self.fill_inside_brain)[0], "", button)

    def _label_class_buttons(self) -> None:
        """Class buttons name the label value of the patient's own files (ET is 4 in BraTS 2017-2021 files).

        The key that selects a class is the value shown; 3 also selects ET, so the
        keys stay the same whatever the convention.
        """
        patient = self.editor.state.patient
        convention = patient.convention if patient is not None else LabelConvention.BRATS2023
        for label, button in self.class_buttons.items():
            if label == 0:
                button.setText("Eraser (0/E)")
                button.setToolTip("Erase to background (0); keys 0 or E")
                continue
            value = file_label_value(label, convention)
            keys = f"{value}" if value == label else f"{value} or {label}"
            button.setText(f"{CLASS_SHORT[label]} ({value})")
            name = label1_name(self.editor.state.ncr_definition) if label == 1 else CLASS_NAMES[label]
            button.setToolTip(f"{name}: label {value} in this patient's files; key {keys}")

    def _sync_all(self, *_args: object) -> None:
        self._sync()
        self._update_metrics()

    def _on_layer_chosen(self, index: int) -> None:
        if self._syncing:
            return
        layers = self.editor.state.layers
        self.editor.set_layer(layers[index - 1] if 0 < index <= len(layers) else None)

    def _on_new_layer(self) -> None:
        if self.editor.state.patient is not None:
            self.editor.new_annotation_layer()

    def _on_class_clicked(self, label: int) -> None:
        if not self._syncing:
            self.editor.set_label(label)

    # ---------------------------------------------------------------- metrics
    def _on_stroke_finished(self, _layer: object, _bbox: object) -> None:
        self._update_metrics()

    def reference_for(self, layer: LabelLayer) -> LabelLayer | None:
        """What an edited layer is compared with: the ground truth, else the prediction."""
        layers = self.editor.state.layers
        for kind in (GROUND_TRUTH, PREDICTION):
            ref = next((other for other in layers if other.kind == kind and other is not layer), None)
            if ref is not None:
                return ref
        return None

    def _update_metrics(self) -> None:
        layer, patient = self.editor.layer, self.editor.state.patient
        if layer is None or patient is None:
            self.metrics_label.setText("Choose a layer to edit, or press New for an empty annotation.")
            return
        vols = class_volumes_ml(layer.data, patient.voxel_volume_ml)
        text = f"{layer.name}: WT {vols['WT']:.2f} mL · TC {vols['TC']:.2f} mL · ET {vols['ET']:.2f} mL"
        ref = self.reference_for(layer)
        if ref is not None:
            d = dice_scores(layer.data, ref.data)
            text += f"\nDice vs {ref.name}: WT {d['WT']:.3f} · TC {d['TC']:.3f} · ET {d['ET']:.3f}"
        self.metrics_label.setText(text)


def file_label_value(label: int, convention: LabelConvention) -> int:
    """The value an internal class has in files of ``convention`` (enhancing: 3 or 4)."""
    return convention.enhancing_value if label == ENHANCING else label
