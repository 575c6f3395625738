"""File → Export Label Layer…: a label layer as NIfTI on the patient's grid, in its convention.

Mixed into :class:`~brats_desktop.app.main_window.MainWindow`; features export through
``app.patients.export_layer`` (one path: atomic write, never over an input file, asks
before replacing). A layer a Run produced (``layer.producer``) gets the JSON sidecar of
:mod:`brats_desktop.core.prediction_sidecar` beside it: its tier, models, TTA, and whether
it was edited after the Run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brats_desktop.core.errors import ExportError
from brats_desktop.core.naming import kind_slug, output_path
from brats_desktop.core.nifti_io import write_label_map

from brats_desktop.app.state import GROUND_TRUTH, LabelLayer


class LayerExportMixin:
    """``export_layer`` (mixed into the main window)."""

    _last_touched: LabelLayer | None = None

    def _watch_touched_layers(self) -> None:
        """After the features are built: follow what the user produces, opens or edits."""
        segment, annotation, label_files = (self.app.feature(n) for n in ("segment", "annotation", "label_files"))
        if segment is not None:
            segment.prediction_applied.connect(self._note_touched)
        if annotation is not None:
            annotation.editor.stroke_finished.connect(self._note_touched)
            annotation.editor.active_layer_changed.connect(self._note_touched)
        if label_files is not None:
            label_files.layers_opened.connect(self._note_touched)

    def _note_touched(self, layer: object, *_args: object) -> None:
        """Remember the layer last produced, opened or edited: what Export offers first."""
        if isinstance(layer, list):
            layer = layer[-1] if layer else None
        if isinstance(layer, LabelLayer):
            self._last_touched = layer

    def default_export_layer(self) -> LabelLayer | None:
        """The layer last produced (Run), opened or edited if it is still shown, else the top one."""
        layers = self.state.layers
        if self._last_touched in layers:
            return self._last_touched
        return layers[-1] if layers else None

    def _write_producer_sidecar(self, layer: LabelLayer, written: Path) -> str:
        """``<mask>.json``: what produced the layer, and whether it still holds the Run's labels.

        Returns "" or, when the sidecar could not be written (the mask is), a note for the status bar.
        """
        from brats_desktop.core.prediction_sidecar import sidecar_record, write_sidecar

        segment = self.app.feature("segment")
        run = getattr(segment, "last_run", None)
        ran = getattr(run, "labels", None)
        edited = None if ran is None or ran.shape != layer.data.shape else not np.array_equal(ran, layer.data)
        patient = self.state.patient
        record = sidecar_record(written, layer.producer or {}, patient=patient.name, layer=layer.name,
                                label_convention=patient.convention.value,
                                ncr_definition=getattr(run, "ncr_definition", None),
                                device=getattr(run, "device", None), edited=edited)
        try:
            write_sidecar(written, record, protected=patient.input_paths)
        except (ExportError, OSError) as exc:  # the mask is written; say what is missing beside it
            return f" (its sidecar JSON could not be written: {exc})"
        return ""

    def export_layer(self, name: str | None = None) -> Path | None:
        """Write a label layer as NIfTI on the patient's grid and in its label convention."""
        patient, layers = self.state.patient, self.state.layers
        if patient is None or not layers:
            self.dialogs.error(self, "Export", "There is no label layer to export.")
            return None
        if name is None:
            # The layer just produced or edited is the default (first in the list), not the reference.
            default = self.default_export_layer()
            names = [layer.name for layer in layers]
            if default is not None:
                names.remove(default.name)
                names.insert(0, default.name)
            name = names[0] if len(names) == 1 else self.dialogs.choose(
                self, "Export Label Layer", "Layer:", names
            )
            if name is None:
                return None
        layer = self.state.layer(name)
        if layer is None:
            self.dialogs.error(self, "Export", f"There is no layer named {name!r}.")
            return None
        folder = patient.folder or Path.home()
        # One default name per kind of output, shared with Save and brats-predict (core.naming).
        edited = not (layer.kind == GROUND_TRUTH and patient.ground_truth is not None
                      and np.array_equal(layer.data, patient.ground_truth))
        suggested = output_path(folder, patient.name, patient.files, patient.convention,
                                kind_slug(layer.name, edited=edited))
        target = self.dialogs.save_path(self, f"Export {layer.name} as NIfTI", suggested)
        if target is None:
            return None
        if not target.name.lower().endswith((".nii", ".nii.gz")):
            target = target.with_name(target.name + ".nii.gz")
        if target.resolve() in patient.input_paths:
            self.dialogs.error(
                self, "Export",
                f"{target.name} is an input file of this patient; it is never overwritten. "
                "Choose another name.",
            )
            return None
        overwrite = False
        if target.exists():
            if not self.dialogs.confirm(self, "Replace file?", f"{target.name} already exists. Replace it?"):
                return None
            overwrite = True
        try:
            written = write_label_map(
                layer.data, patient.grid, target, patient.convention,
                protected=patient.input_paths, overwrite=overwrite,
            )
        except (ExportError, OSError) as exc:
            self.dialogs.error(self, "Export failed", str(exc))
            return None
        note = self._write_producer_sidecar(layer, written) if layer.producer else ""
        layer.set_modified(False)
        annotation = self.app.feature("annotation")
        if annotation is not None:  # a file holds this prediction now: quitting need not ask
            annotation.saver.note_written(layer, written)
        self.statusBar().showMessage(f"Exported {layer.name} to {written}{note}", 8000)
        self.exported.emit(written)
        return written
