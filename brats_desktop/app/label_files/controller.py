"""``window.label_files``: label maps opened as layers of the patient on screen.

Three ways in, one reader (:func:`brats_desktop.core.label_files.read_label_file`, which the
worklist uses for its predictions and corrections too):

* File → Open Segmentation… (Ctrl+L): any label NIfTI on the patient's voxel grid;
* a label file dropped on the window while a patient is open (a folder, or an MRI volume,
  still opens a patient);
* a patient folder opened from disk that holds the app's own outputs (Save's
  ``…-annotation``, Export's and ``brats-predict``'s ``…-prediction``, the worklist's
  ``…-corrected``): they come back as layers, as the worklist shows a case's outputs, and
  Save writes each back to its file.

A file that does not fit (another grid, fractional or unknown label values, not NIfTI)
gets a message naming it and the problem; nothing on screen changes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence

from brats_desktop.core.discovery import nifti_stem
from brats_desktop.core.errors import PatientLoadError
from brats_desktop.core.label_files import (
    OutputFile, find_outputs, is_image_file, other_patient_folder, read_label_file,
)
from brats_desktop.core.naming import PREDICTION as PREDICTION_KIND
from brats_desktop.core.patient import Patient

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.state import ANNOTATION, PREDICTION, LabelLayer

NIFTI_FILTER = "NIfTI label maps (*.nii.gz *.nii);;All files (*)"
MESSAGE_MS = 8000


def nifti_files(paths: list[Path]) -> list[Path]:
    """Dropped paths that are NIfTI files but not MRI volumes: label maps to open as layers."""
    return [p for p in paths if p.is_file() and nifti_stem(p) is not None and not is_image_file(p)]


class LabelFilesController(Feature):
    """Open Segmentation…, label-file drops, and a folder's own outputs offered back as layers."""

    name = "label_files"
    layers_opened = Signal(list)  # the LabelLayers just added

    def __init__(self, app: AppContext) -> None:
        super().__init__(app)
        self.state = self.app.state
        self.open_action = QAction("Open &Segmentation…", self.app.window)
        self.open_action.setShortcut(QKeySequence("Ctrl+L"))
        self.open_action.setToolTip("Open a label map (NIfTI) on the open patient's grid as a new layer")
        self.open_action.triggered.connect(lambda: self.open_segmentation())
        file_menu = self.app.menu("File")
        actions = file_menu.actions()
        recent = next((i for i, a in enumerate(actions)
                       if a.menu() is not None and a.text().replace("&", "") == "Open Recent"), None)
        before = actions[recent + 1] if recent is not None and recent + 1 < len(actions) else None
        file_menu.insertAction(before, self.open_action)
        # Every open path ends in patient_loaded; the worklist's cases are skipped (it shows
        # their outputs itself). Built before the annotation feature: the folder's outputs are
        # in before its recovery question, so restored edits land on the layer of their file.
        if self.app.patients is not None:
            self.app.patients.patient_loaded.connect(self._on_patient_loaded)
        self.state.patient_changed.connect(self._update_action)
        self._update_action()

    def _update_action(self, *_args: object) -> None:
        self.open_action.setEnabled(self.state.patient is not None)

    # ------------------------------------------------------------------ opening files
    def open_segmentation(self, path: Path | str | None = None) -> LabelLayer | None:
        """File → Open Segmentation…: ask for a file (beside the patient) unless given; None if not opened."""
        patient = self.state.patient
        if patient is None:
            self.app.dialogs.error(self.app.window, "Open Segmentation", "Open a patient first: "
                                       "a label map is shown on a patient's images.")
            return None
        if path is None:
            path = self.app.dialogs.open_file(
                self.app.window, "Open Segmentation", patient.folder or Path.home(), NIFTI_FILTER,
            )
            if path is None:
                return None
        layers = self.open_files([Path(path)])
        return layers[0] if layers else None

    def open_files(self, paths: list[Path]) -> list[LabelLayer]:
        """Open each file as a layer of the open patient; one message lists the files that did not fit."""
        patient = self.state.patient
        if patient is None:
            return []
        outputs = {f.path.resolve(): f for f in find_outputs(patient)}
        opened: list[LabelLayer] = []
        problems: list[str] = []
        for path in paths:
            other = other_patient_folder(path, patient)
            if other is not None and not self.app.dialogs.confirm(
                self.app.window, "Another patient's labels?",
                f"{path.name} is in {other}, another patient's folder.\n"
                f"Open it as a layer on {patient.name} anyway?",
            ):
                continue
            try:
                labels = read_label_file(path, patient, any_convention=path.resolve() not in outputs)
            except PatientLoadError as exc:
                problems.append(f"• {path.name}: {exc.problem}")
                continue
            except OSError as exc:
                problems.append(f"• {path.name}: {exc.strerror or exc}")
                continue
            opened.append(self._add_layer(path, labels, outputs.get(path.resolve())))
        if problems:
            folders = {str(p.parent) for p in paths}
            where = f"\n\n(in {folders.pop()})" if len(folders) == 1 else ""
            self.app.dialogs.error(
                self.app.window, "Segmentation not opened",
                f"Not opened as a layer of {patient.name}:\n\n" + "\n".join(problems) + where
                + f"\n\nA label map must be on the patient's voxel grid ({'×'.join(map(str, patient.shape))}) "
                "with labels 0, 1, 2 and 3 or 4.",
            )
        if opened:
            names = ", ".join(layer.name for layer in opened)
            self.app.show_message(f"Opened {names} as a layer of {patient.name}", MESSAGE_MS)
            self.layers_opened.emit(opened)
        return opened

    def _add_layer(self, path: Path, labels, output: OutputFile | None) -> LabelLayer:
        """A new layer named after the file (never over a layer that exists: that one may hold edits)."""
        patient = self.state.patient
        assert patient is not None
        if output is not None:
            name = output.layer_name
            kind = PREDICTION if output.kind == PREDICTION_KIND else ANNOTATION
        else:
            name = nifti_stem(path) or path.name
            kind = PREDICTION if "prediction" in name.lower() else ANNOTATION
        existing = self.state.layer(name)
        if existing is not None and not existing.modified and existing.source_path == path:
            self.state.replace_layer(name, labels, existing.kind, path, modified=False)
            layer = existing
        else:
            base, n = name, 1
            while self.state.layer(name) is not None:
                n += 1
                name = f"{base} ({n})"
            layer = self.state.add_layer(LabelLayer(name, labels, kind, path, patient.convention))
        if output is not None:
            # The app's own file, in the patient's convention: Save writes it back there.
            self.app.feature("annotation").saver.remember(layer, path)
        return layer

    # ------------------------------------------------------------------ drops
    def open_dropped(self, paths: list[Path]) -> bool:
        """Label files dropped while a patient is open become layers; False when the drop is not ours."""
        if self.state.patient is None:
            return False
        files = nifti_files(paths)
        if not files:
            return False
        self.open_files(files)
        return True

    # ------------------------------------------------------------------ a folder's own outputs
    def _on_patient_loaded(self, patient: Patient) -> None:
        # Next pass: whoever opened the patient has put in its own layers by then.
        QTimer.singleShot(0, lambda: self.open_outputs(patient))

    def open_outputs(self, patient: Patient) -> list[LabelLayer]:
        """The app's outputs beside ``patient`` (if it is still on screen) as layers."""
        if self.state.patient is not patient:
            return []
        cohort = self.app.feature("cohort")
        if cohort is not None and cohort.showing(patient):
            return []
        # A file some layer already stands for (a restored autosave of it) is not opened twice.
        saver = self.app.feature("annotation").saver
        shown = {p.resolve() for layer in self.state.layers
                 for p in (layer.source_path, saver.saved_path(layer)) if p is not None}
        outputs = [f for f in find_outputs(patient) if f.path.resolve() not in shown]
        if not outputs:
            return []
        return self.open_files([f.path for f in outputs])
