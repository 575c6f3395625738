"""File → Export Label Layer…: a label layer as NIfTI on the patient's grid, in its convention.

Mixed into :class:`~brats_desktop.app.main_window.MainWindow`; features export through
``app.patients.export_layer`` (one path: atomic write, never over an input file, asks
before replacing).
"""

from __future__ import annotations

from pathlib import Path

from brats_desktop.core.errors import ExportError
from brats_desktop.core.naming import kind_slug, output_path
from brats_desktop.core.nifti_io import write_label_map


class LayerExportMixin:
    """``export_layer`` (mixed into the main window)."""

    def export_layer(self, name: str | None = None) -> Path | None:
        """Write a label layer as NIfTI on the patient's grid and in its label convention."""
        patient, layers = self.state.patient, self.state.layers
        if patient is None or not layers:
            self.dialogs.error(self, "Export", "There is no label layer to export.")
            return None
        if name is None:
            name = layers[0].name if len(layers) == 1 else self.dialogs.choose(
                self, "Export Label Layer", "Layer:", [layer.name for layer in layers]
            )
            if name is None:
                return None
        layer = self.state.layer(name)
        if layer is None:
            self.dialogs.error(self, "Export", f"There is no layer named {name!r}.")
            return None
        folder = patient.folder or Path.home()
        # One default name per kind of output, shared with Save and brats-predict (core.naming).
        suggested = output_path(folder, patient.name, patient.files, patient.convention, kind_slug(layer.name))
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
        layer.set_modified(False)
        self.statusBar().showMessage(f"Exported {layer.name} to {written}", 8000)
        self.exported.emit(written)
        return written
