"""Saving edited label layers, and the Save / Discard / Cancel question before edits are lost.

All writing goes through :func:`brats_desktop.core.nifti_io.write_label_map`: the
patient's label convention, the source grid's affine and header, an atomic
replace, and a refusal to touch the patient's input files. Here we add what the
user sees: where to save (a name beside the patient that no file uses yet, or the
file this layer was saved to before), a question before replacing a file, an error
dialog naming the file and the problem, and the layer's unsaved flag.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from brats_desktop.core.atomic import remove_stale_partials
from brats_desktop.core.errors import ExportError
from brats_desktop.core.naming import kind_slug, output_path
from brats_desktop.core.nifti_io import write_label_map

from brats_desktop.app.dialogs import Dialogs
from brats_desktop.app.state import LabelLayer, ViewerState

SAVE = "save"
DISCARD = "discard"
CANCEL = "cancel"
QUIT = "quit"  # the action text of closing the window: unwritten predictions are asked about too


class AnnotationSaver(QObject):
    """Save / Save As for label layers; remembers where each layer was saved this session."""

    saved = Signal(object, object)  # layer, Path
    discarded = Signal()  # the user chose Discard: edits may be dropped

    def __init__(self, state: ViewerState, dialogs: Dialogs, parent_widget: QWidget | None = None) -> None:
        super().__init__(parent_widget)
        self._state = state
        self._dialogs = dialogs
        self._widget = parent_widget
        self._paths: dict[LabelLayer, Path] = {}
        # Predictions produced in this session that no file holds yet (not edits: not "modified").
        self._unwritten: set[LabelLayer] = set()
        state.patient_changed.connect(self._on_patient_changed)

    def saved_path(self, layer: LabelLayer) -> Path | None:
        """Where ``layer`` was last saved (None: never saved in this session)."""
        return self._paths.get(layer)

    def remember(self, layer: LabelLayer, path: Path | None) -> None:
        """Set where a layer saves to (used when a recovered layer comes back)."""
        if path is None:
            self._paths.pop(layer, None)
        else:
            self._paths[layer] = Path(path)

    def mark_unwritten(self, layer: LabelLayer) -> None:
        """A prediction was just produced: quitting asks before it is lost, until a file holds it."""
        self._unwritten.add(layer)

    def note_written(self, layer: LabelLayer, path: Path) -> None:
        """A file now holds exactly this layer (Export, the worklist's prediction file)."""
        self._unwritten.discard(layer)

    def unwritten(self) -> list[LabelLayer]:
        """Predictions on screen, unedited, that no file holds (edited ones count as modified)."""
        return [layer for layer in self._state.layers if layer in self._unwritten and not layer.modified]

    def suggested_path(self, layer: LabelLayer) -> Path:
        """A new file beside the patient, named after patient and layer, that no file uses yet.

        The one scheme of :mod:`brats_desktop.core.naming` (Export and ``brats-predict``
        use it too); the name never ends in ``seg``, so the folder still opens as one
        patient with one segmentation next time.
        """
        patient = self._state.patient
        if patient is None:
            raise ValueError("no patient is open")
        folder = patient.folder or Path.home()
        return output_path(folder, patient.name, patient.files, patient.convention, kind_slug(layer.name))

    def save(self, layer: LabelLayer) -> bool:
        """Save to the layer's file of this session, or ask where (Save As) the first time."""
        path = self._paths.get(layer)
        if path is None:
            return self.save_as(layer)
        return self._write(layer, path)

    def save_as(self, layer: LabelLayer) -> bool:
        """Ask for a file name; ask again before replacing an existing file."""
        suggested = self._paths.get(layer) or self.suggested_path(layer)
        path = self._dialogs.save_path(self._widget, f"Save {layer.name} As", suggested)
        if path is None:
            return False
        if not path.name.lower().endswith((".nii", ".nii.gz")):
            path = path.with_name(path.name + ".nii.gz")
        patient = self._state.patient
        if patient is not None and path.resolve() in patient.input_paths:
            # Refuse before "Replace file?": a Yes there must never be answered with a refusal.
            self._dialogs.error(
                self._widget, f"Could not save {layer.name}",
                f"{path} is an input file of {patient.name}; it is never overwritten. Choose another name.",
            )
            return False
        if path.exists() and not self._dialogs.confirm(
            self._widget, "Replace file?", f"{path} already exists.\nReplace it with {layer.name}?"
        ):
            return False
        return self._write(layer, path)

    def save_modified(self) -> bool:
        """Save every layer with unsaved edits; False when one was cancelled or failed."""
        for layer in self._state.layers:
            if layer.modified and not self.save(layer):
                return False
        return True

    def resolve_unsaved(self, action: str = "continue") -> bool:
        """Before edits would be lost: ask Save / Discard / Cancel; True when it is fine to go on.

        On quit, a prediction that no file holds counts too: running the model again takes
        a while, and nothing else would tell the user it is about to go.
        """
        modified = [layer for layer in self._state.layers if layer.modified]
        unwritten = self.unwritten() if action == QUIT else []
        if not modified and not unwritten:
            return True
        patient = self._state.patient
        who = f" of {patient.name}" if patient is not None else ""
        lines = []
        if modified:
            names = ", ".join(layer.name for layer in modified)
            lines.append(f"{names}{who} has unsaved changes.")
        if unwritten:
            names = ", ".join(layer.name for layer in unwritten)
            lines.append(f"{names}{who} has not been saved or exported: no file holds it.")
        answer = self._dialogs.unsaved_changes(
            self._widget, "\n".join(lines) + f"\nSave {'them' if len(modified) + len(unwritten) > 1 else 'it'} "
            f"before you {action}?"
        )
        if answer == SAVE:
            return self.save_modified() and all(self.save(layer) for layer in unwritten)
        if answer == DISCARD:
            self.discarded.emit()
            return True
        return False

    def _write(self, layer: LabelLayer, path: Path) -> bool:
        patient = self._state.patient
        if patient is None:
            return False
        remove_stale_partials(path.parent)  # what a save killed half-way left there
        try:
            written = write_label_map(
                layer.data, patient.grid, path, patient.convention,
                protected=patient.input_paths, overwrite=True,
            )
        except (ExportError, OSError, ValueError) as exc:
            text = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            self._dialogs.error(self._widget, f"Could not save {layer.name}", text)
            return False
        self._paths[layer] = written
        self._unwritten.discard(layer)
        layer.set_modified(False)
        self.saved.emit(layer, written)
        return True

    def _on_patient_changed(self, _patient: object) -> None:
        shown = self._state.layers
        for layer in list(self._paths):
            if layer not in shown:
                del self._paths[layer]
        self._unwritten.intersection_update(shown)
