"""Annotation as a window feature: dock, menus, shortcuts, paint tool, autosave, restore.

Everything goes through the app context (``menu``, ``add_dock``, ``views``, ``dialogs``,
``state``); the window asks it, like every feature, before edits would be lost
(:meth:`AnnotationController.may_discard`).

Recovery rule: a recovery file exists while (and only while) the open patient has
unsaved changes; it lags the edits by at most one autosave interval. A save, a
Discard, or the last modified layer becoming clean removes it; a patient opening never
does: a file left by a crash waits until the user answers the restore question
(:mod:`.recovery_offer`).
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from brats_desktop.core.labels import CLASS_SHORT

from brats_desktop.app.annotation.editor import BRUSH, FILL, LabelEditor
from brats_desktop.app.annotation.saver import AnnotationSaver
from brats_desktop.app.annotation.panel import AnnotationPanel
from brats_desktop.app.annotation.paint_tool import PaintTool
from brats_desktop.app.annotation.recovery import AUTOSAVE_INTERVAL_MS, AutosaveTimer, RecoveredLayer, Recovery, RecoveryStore
from brats_desktop.app.annotation.recovery_offer import RecoveryOffer, patient_ident
from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.state import LabelLayer


# What each single key does, as the keyboard reference shows it.
KEY_TEXT: dict[str, str] = {
    "1": f"Paint class 1 ({CLASS_SHORT[1]})",
    "2": f"Paint class 2 ({CLASS_SHORT[2]})",
    "3": f"Paint class 3 ({CLASS_SHORT[3]})",
    "4": f"Paint {CLASS_SHORT[3]} (its value 4 in BraTS 2017–2021 files)",
    "0": "Eraser",
    "E": "Eraser",
    "[": "Smaller brush",
    "]": "Larger brush",
    "B": "Brush tool",
    "F": "Fill slice region tool",
}


class AnnotationController(Feature):
    """Owns the label editor and everything the user touches to annotate."""

    name = "annotation"

    def __init__(
        self,
        app: AppContext | QMainWindow,
        recovery: RecoveryStore | None = None,
        autosave_interval_ms: int = AUTOSAVE_INTERVAL_MS,
    ) -> None:
        super().__init__(app)
        app = self.app
        self.state = app.state
        self.editor = LabelEditor(self.state, self)
        self.paint_tool = PaintTool(self.editor)
        self.panel = AnnotationPanel(self.editor)
        self.dock = app.add_dock(self.panel, "Annotate", scroll=True, task_tab=True)
        self.saver = AnnotationSaver(self.state, app.dialogs, app.window)
        self.recovery = recovery if recovery is not None else RecoveryStore()
        self.autosave = AutosaveTimer(
            lambda: self.write_recovery(background=True), autosave_interval_ms, self
        )
        # Recovery files are offered whenever their patient opens (one place for every open path).
        self.recovery_offer = RecoveryOffer(self)
        self._dirty_ident: tuple[str | None, str] | None = None  # patient whose edits are unsaved
        self.autosave.failed.connect(self._on_autosave_failed)
        self._build_actions()

        self.editor.active_layer_changed.connect(self._on_active_layer_changed)
        self.editor.history_changed.connect(self._update_actions)
        self.editor.stroke_finished.connect(self._on_stroke_finished)
        self.state.patient_changed.connect(self._on_patient_changed)
        self.state.layers_changed.connect(self._update_actions)
        self.state.modified_changed.connect(self._on_modified_changed)
        self.saver.discarded.connect(self._on_discarded)
        self._on_patient_changed(self.state.patient)
        segment = app.feature("segment")
        if segment is not None:  # a re-run's prediction replaces the labels as one undoable step
            segment.replace_labels = self.editor.replace_labels
            # Built before annotation: its predictions are asked about on quit until a file holds them.
            segment.prediction_applied.connect(self.saver.mark_unwritten)

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        w = self.app.window  # parent of the actions
        edit = self.app.menu("Edit")
        self.undo_action = QAction("&Undo Stroke", w)
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.undo_action.triggered.connect(self.editor.undo)
        self.redo_action = QAction("&Redo Stroke", w)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.triggered.connect(self.editor.redo)
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        edit.addSeparator()
        self.new_layer_action = QAction("&New Annotation Layer", w)
        self.new_layer_action.triggered.connect(self._on_new_layer)
        edit.addAction(self.new_layer_action)

        file_menu = self.app.menu("File")
        self.save_action = QAction("&Save Annotation", w)
        self.save_action.setShortcut(QKeySequence("Ctrl+S"))
        self.save_action.triggered.connect(self.save)
        self.save_as_action = QAction("Save Annotation &As…", w)
        self.save_as_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.save_as_action.triggered.connect(self.save_as)
        first = file_menu.actions()
        before = next((a for a in first if a.isSeparator()), None)
        for action in (self.save_action, self.save_as_action):
            file_menu.insertAction(before, action) if before is not None else file_menu.addAction(action)

        # Single keys: a focused text or number field takes its own keys first (Qt's
        # ShortcutOverride), so typing a number into a spin box never changes the class.
        self.key_actions: dict[str, QAction] = {}
        bindings = {
            "1": lambda: self.editor.set_label(1),
            "2": lambda: self.editor.set_label(2),
            "3": lambda: self.editor.set_label(3),
            "4": lambda: self.editor.set_label(3),  # ET's value in BraTS 2017-2021 files (the class button says so)
            "0": lambda: self.editor.set_label(0),
            "E": lambda: self.editor.set_label(0),
            "[": lambda: self.editor.grow_brush(-1),
            "]": lambda: self.editor.grow_brush(+1),
            "B": lambda: self.editor.set_tool(BRUSH),
            "F": lambda: self.editor.set_tool(FILL),
        }
        for key, slot in bindings.items():
            # The text is what Help → Keyboard and Mouse Reference lists for the key.
            action = QAction(KEY_TEXT.get(key, f"Annotation key {key}"), w)
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(slot)
            self.app.add_shortcut(action, section="Annotate (keys)")
            self.key_actions[key] = action
        self._update_actions()

    def _update_actions(self, *_args: object) -> None:
        self.undo_action.setEnabled(self.editor.can_undo)
        self.redo_action.setEnabled(self.editor.can_redo)
        has_layer = self.editor.layer is not None
        self.save_action.setEnabled(has_layer)
        self.save_as_action.setEnabled(has_layer)
        self.new_layer_action.setEnabled(self.state.patient is not None)

    # ------------------------------------------------------------------- saving
    def save(self) -> bool:
        """Save the edited layer (Save As the first time)."""
        layer = self.editor.layer
        return layer is not None and self.saver.save(layer)

    def save_as(self) -> bool:
        layer = self.editor.layer
        return layer is not None and self.saver.save_as(layer)

    def may_discard(self, action: str) -> bool:
        """Save / Discard / Cancel when layers hold unsaved edits; True when the patient may go."""
        return self.resolve_unsaved(action)

    def resolve_unsaved(self, action: str = "continue") -> bool:
        """Save / Discard / Cancel when edits would be lost; True when the caller may go on."""
        self.editor.end_stroke()
        return self.saver.resolve_unsaved(action)

    # ----------------------------------------------------------------- recovery
    def _current_id(self) -> tuple[str | None, str] | None:
        return patient_ident(self.state.patient)

    def write_recovery(self, background: bool = False) -> Path | Future | None:
        """Write the modified layers of the open patient to its recovery file (autosave).

        The arrays are copied here, on the GUI thread (a few ms); with ``background``
        the compression and writing run on the store's worker thread (a Future).
        """
        ident, patient = self._current_id(), self.state.patient
        if ident is None or patient is None:
            return None
        modified = [layer for layer in self.state.layers if layer.modified]
        if not modified:
            self.recovery.remove(*ident)
            return None
        layers = [
            RecoveredLayer(
                layer.name, layer.kind, patient.convention.value, layer.data.copy(),
                str(layer.source_path) if layer.source_path else None,
                str(self.saver.saved_path(layer)) if self.saver.saved_path(layer) else None,
            )
            for layer in modified
        ]
        rec = Recovery(ident[0], ident[1], patient.shape, time.time(), layers)
        if background:
            return self.recovery.write_in_background(rec)
        try:
            return self.recovery.write(rec)
        except OSError as exc:  # never let a failing autosave interrupt the user's work
            self.app.show_message(f"Autosave failed: {exc}", 8000)
            return None

    def offer_restore(self) -> bool:
        """At start: offer each recovery file left by a crash; True when one was restored."""
        return self.recovery_offer.offer_pending()

    def restore(self, rec: Recovery) -> bool:
        """Open the recovery's patient and put its layers back as unsaved edits."""
        return self.recovery_offer.restore(rec)

    # ------------------------------------------------------------------- events
    def _on_active_layer_changed(self, layer: LabelLayer | None) -> None:
        if layer is None:
            self.paint_tool.uninstall()
        else:
            self.paint_tool.install(self.app.views)
        self._update_actions()

    def _on_new_layer(self) -> None:
        if self.state.patient is not None:
            self.editor.new_annotation_layer()

    def _on_stroke_finished(self, _layer: object, bbox: object) -> None:
        if bbox is not None:
            self.autosave.mark_dirty()
        self._update_actions()

    def _on_modified_changed(self, modified: bool) -> None:
        if modified:
            self._dirty_ident = self._current_id()
            self.autosave.mark_dirty()
            return
        self.autosave.mark_clean()
        # Only edits of this patient that became clean (saved, undone) drop its recovery
        # file; a patient merely opening never does: its file waits for the user's answer.
        ident, self._dirty_ident = self._dirty_ident, None
        if ident is not None and ident == self._current_id():
            self.recovery.remove(*ident)

    def _on_autosave_failed(self, message: str) -> None:
        self.app.show_message(f"Autosave failed: {message}", 15000)

    def _on_discarded(self) -> None:
        self.autosave.mark_clean()
        ident = self._current_id()
        if ident is not None:
            self.recovery.remove(*ident)

    def _on_patient_changed(self, _patient: object) -> None:
        # A new patient starts clean; a previous one put back after a failed load may not be.
        self.autosave.mark_clean()
        self._dirty_ident = None
        if self.state.has_unsaved_changes:
            self._dirty_ident = self._current_id()
            self.autosave.mark_dirty()
        self._update_actions()



