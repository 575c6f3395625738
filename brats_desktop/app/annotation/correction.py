"""Faster correction: the 3-D region tool and Fill Between Slices, wired into the window.

- **3-D region tool** (key ``C``, or the tool button): a click gives the whole
  connected piece under the mouse the chosen class in one undo step; with the
  eraser (``0``/``E``) it removes it, e.g. a false-positive blob far from the
  tumour. "Whole lesion" takes every class of the blob; "Clicked class only"
  relabels one class (an edema island that should be core).
- **Fill Between Slices** (Edit menu, ``Ctrl+I``): paint a class on two or more
  slices of one plane, then fill the slices between them by shape-based
  interpolation (:mod:`brats_desktop.core.interpolation`), one undo step. The plane
  is the one of the latest brush stroke. Every class with gaps is filled unless
  "Fill only the chosen class" is ticked: in a prediction, two lesions of one class
  on distant slices would otherwise be joined.

The editing itself lives in :class:`~brats_desktop.app.annotation.editor.LabelEditor`
(``COMPONENT`` tool, ``interpolate_slices``); this module adds the actions, keys and
the controls under the Annotate dock's tools.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QLabel, QMainWindow, QPushButton, QVBoxLayout, QWidget,
)

from brats_desktop.core.components import CLASS, LESION
from brats_desktop.core.coordinates import slice_range_text

from brats_desktop.app.annotation.editor import COMPONENT, LabelEditor
from brats_desktop.app.annotation.region_preview import ASK_KEY, LARGE_REGION_ML, RegionPreview
from brats_desktop.app.feature import AppContext, Feature

PLANE_NAMES = {0: "sagittal", 1: "coronal", 2: "axial"}
SCOPE_CHOICES: tuple[tuple[str, str], ...] = (
    ("Whole lesion (all classes)", LESION),
    ("Clicked class only", CLASS),
)
MESSAGE_MS = 10000


class CorrectionWidget(QWidget):
    """The 3-D region scope and the Fill Between Slices button, under the Annotate tools."""

    def __init__(self, editor: LabelEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        self.scope_combo = QComboBox()
        for text, _ in SCOPE_CHOICES:
            self.scope_combo.addItem(text)
        self.scope_combo.setToolTip(
            "What a click of the 3-D region tool (C) takes: the whole blob, or only the clicked class"
        )
        self.scope_combo.currentIndexChanged.connect(
            lambda i: editor.set_component_scope(SCOPE_CHOICES[i][1])
        )
        form.addRow("3-D region", self.scope_combo)
        layout.addLayout(form)
        self.interpolate_button = QPushButton("Fill between slices (Ctrl+I)")
        self.interpolate_button.setToolTip(
            "Paint a class on two or more slices of one plane, then fill the slices between them"
        )
        layout.addWidget(self.interpolate_button)
        self.chosen_class_only = QCheckBox("Fill only the chosen class")
        self.chosen_class_only.setToolTip(
            "Leave the other classes as they are, e.g. when correcting one class of a prediction "
            "whose other classes have separate lesions on distant slices"
        )
        layout.addWidget(self.chosen_class_only)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setStyleSheet("color: gray;")
        layout.addWidget(self.result_label)


class CorrectionActions(Feature):
    """Adds the 3-D region tool and Fill Between Slices to the annotation feature (``window.correction``)."""

    name = "correction"

    def __init__(self, app: AppContext | QMainWindow) -> None:
        super().__init__(app)
        annotation = self.annotation = self.app.feature("annotation")  # built before this one
        self.editor: LabelEditor = annotation.editor
        w = self.app.window  # parent of the actions

        self.component_action = QAction("3-D &Region Tool (relabel or remove a blob)", w)
        self.component_action.setShortcut(QKeySequence("C"))
        self.component_action.triggered.connect(lambda: self.editor.set_tool(COMPONENT))
        self.interpolate_action = QAction("Fill &Between Slices", w)
        self.interpolate_action.setShortcut(QKeySequence("Ctrl+I"))
        self.interpolate_action.triggered.connect(self.interpolate)
        edit = self.app.menu("Edit")
        edit.addSeparator()
        edit.addAction(self.component_action)
        edit.addAction(self.interpolate_action)

        self.widget = CorrectionWidget(self.editor)
        self.widget.interpolate_button.clicked.connect(self.interpolate_action.trigger)
        annotation.panel.add_tool_section(self.widget)

        # What a click of the 3-D region tool would change: highlighted while hovering, asked about when large.
        self.preview = RegionPreview(self.editor, list(self.app.views), self.app.views_added, self)
        annotation.paint_tool.confirm_region = self.confirm_region
        self.preview.in_use = lambda: bool(w.views) and w.views[0].tool is annotation.paint_tool

        self.editor.active_layer_changed.connect(self._update_actions)
        self._update_actions()

    def hover_text(self, voxel) -> str | None:
        """The status bar's part for the voxel under the mouse: the region a click would change, and its volume."""
        return self.preview.text_at(voxel) if self.preview.active else None

    def confirm_region(self, voxel) -> bool:
        """Before a click changes more than LARGE_REGION_ML at once: ask (unless told not to ask again)."""
        region = self.preview.region_at(voxel)
        settings = self.app.settings
        if region is None or region.volume_ml <= LARGE_REGION_ML:
            return True
        if str(settings.value(ASK_KEY, True)).lower() in ("false", "0"):
            return True
        self.preview.update(voxel)  # the user sees what is meant while the question is open
        verb = "remove" if region.label == 0 else "relabel"
        answer, stop_asking = self.app.dialogs.confirm_or_stop_asking(
            self.app.window, "Change a large region?",
            f"This click would {verb} {region.volume_ml:.1f} mL in 3-D (highlighted), more than "
            f"{LARGE_REGION_ML:g} mL: a piece that looks separate on this slice may be joined to the "
            "lesion on another. Go ahead? (Ctrl+Z undoes it.)",
        )
        if answer and stop_asking:
            settings.setValue(ASK_KEY, False)
        return answer

    def interpolate(self) -> None:
        """Fill between the painted slices of the latest stroke's plane; say what happened."""
        axis = self.editor.last_axis
        label = self.editor.label
        only = self.widget.chosen_class_only.isChecked() and label != 0  # the eraser is no class
        result = self.editor.interpolate_slices(axis, (label,) if only else None)
        if result is None:
            text = "Fill between slices: choose a layer to edit first."
        elif result.bbox is None:
            text = (
                f"Nothing to fill on {PLANE_NAMES[axis]} slices: paint a class on two slices "
                "with empty slices between them."
            )
        else:
            # Counted as the view titles count (the file's own 0-based index), not 1-based.
            patient = self.app.state.patient
            where = (slice_range_text(patient.grid, axis, result.slices) if patient is not None
                     else f"{result.slices[0]}–{result.slices[-1]}")
            text = (
                f"Filled {len(result.slices)} {PLANE_NAMES[axis]} slices ({where}), "
                f"{result.voxels} voxels. Ctrl+Z undoes."
            )
        self.widget.result_label.setText(text)
        self.app.show_message(text, MESSAGE_MS)

    def _update_actions(self, *_args: object) -> None:
        has_layer = self.editor.layer is not None
        self.interpolate_action.setEnabled(has_layer)
        self.widget.interpolate_button.setEnabled(has_layer)
