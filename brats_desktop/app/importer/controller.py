"""``window.importer``: File → Import Scans…, the import's progress and cancel, the QC outline,
and File → Export Layer on Original Scan Grid….

Flow: choose a folder (``dialogs.choose_folder``) → series found and roles proposed
(``preprocess.series``) → :class:`RoleDialog` (window-modal, ``open()``: the user confirms
or changes roles and the destination) → :class:`ImportWorker` in the background with a
progress bar and Cancel in the status bar → the new folder opens like any patient, in the
modality grid with the brain mask drawn as an outline on every sequence, so a failed
registration or strip shows at a glance.

An opened folder that has an import record (``brats-import.json``) gets the outline and the
native-grid export whenever it is opened, not only right after the import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow, QProgressBar, QPushButton

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.importer.qc_layer import BrainOutlineLayer
from brats_desktop.app.views.heatmap_overlay import HeatmapOverlay
from brats_desktop.core.naming import kind_slug, output_path
from brats_desktop.preprocess import INSTALL_HINT, missing_dependencies
from brats_desktop.preprocess.record import RECORD_NAME, read_record

NATIVE_SUFFIX = "native"  # kind suffix of files on the original grid: <case>_prediction-native.nii.gz
QC_LAYOUT = "grid-axial"


class ImportController(Feature):
    """Owns the import actions, the running worker, the QC outline layer and its overlays."""

    import_started = Signal(object)  # output folder
    import_finished = Signal(object)  # ImportResult (the folder is being opened)
    import_failed = Signal(str)
    import_cancelled = Signal()
    qc_shown = Signal(object)  # the opened imported patient's folder (outline set)

    name = "importer"

    def __init__(self, app: AppContext | QMainWindow) -> None:
        super().__init__(app)
        app = self.app
        self.state = app.state
        self.worker: Any = None
        self.role_dialog: Any = None
        self.scan: Any = None
        self.record: dict | None = None  # import record of the open patient, if it came from an import
        self.extractor = None  # None = HD-BET; tests set a fake brain extractor
        self.last_result: Any = None
        self._open_for_qc: Path | None = None
        self.outline = BrainOutlineLayer(parent=self)
        self.overlays = [HeatmapOverlay(view, self.outline) for view in app.views]
        app.views_added.connect(lambda views: self.overlays.extend(HeatmapOverlay(v, self.outline) for v in views))
        self._build_actions()
        self._build_progress()
        app.patients.patient_loaded.connect(self._on_patient_loaded)
        self.state.patient_changed.connect(self._on_patient_changed)
        self.state.layers_changed.connect(self._update_actions)

    # -- actions ----------------------------------------------------------------------
    def _build_actions(self) -> None:
        w = self.app.window  # parent of actions and dialogs
        file_menu = self.app.menu("File")
        missing = missing_dependencies()
        text = "&Import Scans (DICOM / Raw NIfTI)…"
        if missing:
            text = "Import Scans… (needs: pip install 'brats-desktop[preprocess]')"
        self.import_action = QAction(text, w)
        self.import_action.setShortcut("Ctrl+Shift+M")
        self.import_action.setStatusTip("Register, resample to 1 mm and skull-strip raw scans into a BraTS folder")
        self.import_action.triggered.connect(lambda: self.import_scans())
        self.native_export_action = QAction("Export Layer on &Original Scan Grid…", w)
        self.native_export_action.setStatusTip(
            "Write a label layer on the imported T1CE's own grid, to overlay on the original series")
        self.native_export_action.triggered.connect(lambda: self.export_native())
        self.native_export_action.setEnabled(False)
        self.cancel_action = QAction("Cancel Import", w)
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel)
        export = getattr(w, "export_action", None)
        actions = file_menu.actions()
        after_export = None
        if export is not None and export in actions:
            i = actions.index(export)
            after_export = actions[i + 1] if i + 1 < len(actions) else None
            file_menu.insertAction(export, self.import_action)
            file_menu.insertAction(export, self.cancel_action)
            file_menu.insertSeparator(export)
        else:
            file_menu.addAction(self.import_action)
            file_menu.addAction(self.cancel_action)
        if after_export is not None:
            file_menu.insertAction(after_export, self.native_export_action)
        else:
            file_menu.addAction(self.native_export_action)
        self.outline_action = QAction("Show Brain Mask &Outline (Import QC)", w)
        self.outline_action.setCheckable(True)
        self.outline_action.setChecked(True)
        self.outline_action.setEnabled(False)
        self.outline_action.toggled.connect(self.outline.set_visible)
        self.app.menu("View").addAction(self.outline_action)

    def _build_progress(self) -> None:
        bar = self.app.status_bar()
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(180)
        self.cancel_button = QPushButton("Cancel Import")
        self.cancel_button.clicked.connect(self.cancel)
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            bar.addPermanentWidget(widget)
            widget.setVisible(False)

    # -- import -----------------------------------------------------------------------
    def import_scans(self, folder: Path | str | None = None) -> bool:
        """Ask for the folder (unless given), find its series and open the role dialog."""
        w = self.app.window  # parent of actions and dialogs
        missing = missing_dependencies()
        if missing:
            self.app.dialogs.error(w, "Import Scans", f"{', '.join(missing)} not installed.\n\n{INSTALL_HINT}")
            return False
        if self.worker is not None:
            self.app.dialogs.error(w, "Import Scans", "An import is already running; cancel it or wait for it.")
            return False
        if folder is None:
            start = self.state.patient.folder if self.state.patient is not None else None
            folder = self.app.dialogs.choose_folder(w, "Import Scans — Folder of DICOM or NIfTI Files", start)
            if folder is None:
                return False
        from brats_desktop.preprocess.pipeline import default_output
        from brats_desktop.preprocess.series import discover_series

        folder = Path(folder)
        try:
            scan = discover_series(folder)
        except (OSError, RuntimeError, ValueError) as exc:
            self.app.dialogs.error(w, "Import Scans", f"{folder}: cannot be read ({exc})")
            return False
        refusal = scan.no_mr_message() or (
            None if scan.series else f"{folder}: no DICOM series or NIfTI volume found in this folder")
        if refusal is not None:
            if scan.unreadable:
                refusal += "\n\nFiles that could not be read:\n" + "\n".join(
                    f"• {p.relative_to(folder)}: {why}" for p, why in scan.unreadable)
            self.app.dialogs.error(w, "Import Scans", refusal)
            return False
        self.scan = scan
        from brats_desktop.app.importer.role_dialog import RoleDialog

        self.role_dialog = RoleDialog(scan, default_output(folder), w, needs=self.segmentation_needs())
        self.role_dialog.accepted.connect(self._on_roles_confirmed)
        self.role_dialog.browse_requested.connect(self._on_browse)
        self.role_dialog.open()
        return True

    def segmentation_needs(self) -> list[tuple[str, tuple[str, ...]]]:
        """(model name, sequences it needs) for each model a Run could use: the one loaded, else the bundled ones."""
        segment = self.app.feature("segment")
        user = getattr(segment, "user_model", None)
        if user is not None:
            return [(str(getattr(user, "name", "loaded model")), tuple(user.modalities))]
        from models.catalog import bundled_inputs

        return bundled_inputs()

    def _on_browse(self) -> None:
        dialog = self.role_dialog
        parent = self.app.dialogs.choose_folder(
            dialog, "Import Scans — Where to Write the BraTS Folder", dialog.output().parent)
        if parent is not None:
            dialog.set_output(Path(parent) / dialog.output().name)

    def _on_roles_confirmed(self) -> None:
        dialog = self.role_dialog
        self.start(dialog.roles(), dialog.output())

    def start(self, roles: dict, output: Path) -> bool:
        """Preprocess ``roles`` of the scanned folder into ``output`` in the background."""
        w = self.app.window  # parent of actions and dialogs
        output = Path(output)
        if output.exists():
            self.app.dialogs.error(w, "Import Scans", f"{output}: already exists; nothing is written over. "
                            "Choose a new folder name.")
            return False
        from brats_desktop.app.importer.worker import ImportWorker

        self.worker = ImportWorker(self.scan, roles, output, extractor=self.extractor, parent=self)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.ended.connect(self._on_ended)
        self._show_progress(True)
        self.progress_label.setText("Import: starting…")
        self.worker.start()
        self.import_started.emit(output)
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.progress_label.setText("Import: cancelling…")
            self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        """Cancel and wait (from the window's closeEvent)."""
        if self.worker is not None:
            self.worker.shutdown()

    def wait(self) -> None:
        if self.worker is not None:
            self.worker.wait()

    def _show_progress(self, on: bool) -> None:
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            widget.setVisible(on)
        self.cancel_button.setEnabled(on)
        self.cancel_action.setEnabled(on)
        self.import_action.setEnabled(not on)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self.progress_label.setText(f"Import: {text}")

    def _on_finished(self, result: Any) -> None:
        self.last_result = result
        self._open_for_qc = Path(result.folder).resolve()
        self.app.show_message(f"Imported into {result.folder}", 8000)
        notes = list(result.warnings) + [f"{s['source']}: {s['problem']} (left out)"
                                         for s in result.record.get("skipped", [])]
        if notes:
            self.app.dialogs.error(self.app.window, "Import Scans — Check These",
                                      f"{result.folder} was written, but:\n\n" + "\n".join(notes))
        self.import_finished.emit(result)
        self.app.patients.open_patient(result.folder)

    def _on_failed(self, message: str) -> None:
        self.app.dialogs.error(self.app.window, "Import failed", message)
        self.import_failed.emit(message)

    def _on_cancelled(self) -> None:
        self.app.show_message("Import cancelled; nothing was written", 8000)
        self.import_cancelled.emit()

    def _on_ended(self) -> None:
        worker, self.worker = self.worker, None
        self._show_progress(False)
        if worker is not None:
            worker.deleteLater()

    # -- QC and the open patient -------------------------------------------------------
    def _on_patient_changed(self, _patient: object) -> None:
        self.record = None
        self.outline.set_data(None)
        self._update_actions()

    def _on_patient_loaded(self, patient: Any) -> None:
        folder = getattr(patient, "folder", None)
        self.record = read_record(folder)
        self.outline.set_data(self._brain_mask(patient) if self.record is not None else None)
        self.outline_action.setEnabled(self.outline.data is not None)
        self._update_actions()
        if self.record is not None:
            if folder is not None and self._open_for_qc == Path(folder).resolve():
                self._open_for_qc = None
                self.app.set_layout(QC_LAYOUT, remember=False)
            self.qc_shown.emit(folder)

    def _brain_mask(self, patient: Any) -> np.ndarray | None:
        from brats_desktop.core.nifti_io import read_volume

        name = (self.record or {}).get("files", {}).get("brainmask")
        path = Path(patient.folder) / name if name else None
        if path is None or not path.is_file():
            return None
        try:
            mask, _source = read_volume(path, dtype=np.float32)
        except Exception:  # noqa: BLE001 - QC is optional; the patient still opens
            return None
        return mask if mask.shape == patient.shape else None

    def _update_actions(self) -> None:
        self.native_export_action.setEnabled(self.record is not None and bool(self.state.layers))

    # -- export on the original grid -------------------------------------------------
    def export_native(self, name: str | None = None) -> Path | None:
        """Write a label layer on the imported T1CE's own grid (nearest neighbour), atomically."""
        w, patient = self.app.window, self.state.patient
        if patient is None or self.record is None:
            self.app.dialogs.error(w, "Export on Original Scan Grid",
                            f"This patient did not come from File → Import Scans (no {RECORD_NAME} in its folder).")
            return None
        missing = missing_dependencies()
        if missing:
            self.app.dialogs.error(w, "Export on Original Scan Grid", INSTALL_HINT)
            return None
        layers = self.state.layers
        if not layers:
            self.app.dialogs.error(w, "Export on Original Scan Grid", "There is no label layer to export.")
            return None
        if name is None:
            name = layers[0].name if len(layers) == 1 else self.app.dialogs.choose(
                w, "Export on Original Scan Grid", "Layer:", [layer.name for layer in layers])
            if name is None:
                return None
        layer = self.state.layer(name)
        if layer is None:
            return None
        kind = f"{kind_slug(layer.name)}-{NATIVE_SUFFIX}"
        suggested = output_path(patient.folder, patient.name, patient.files, patient.convention, kind)
        target = self.app.dialogs.save_path(w, f"Export {layer.name} on the Original T1CE Grid", suggested)
        if target is None:
            return None
        if not target.name.lower().endswith((".nii", ".nii.gz")):
            target = target.with_name(target.name + ".nii.gz")
        overwrite = False
        if target.resolve() in patient.input_paths:
            self.app.dialogs.error(w, "Export", f"{target.name} is an input file of this patient; it is never overwritten.")
            return None
        if target.exists():
            if not self.app.dialogs.confirm(w, "Replace file?", f"{target.name} already exists. Replace it?"):
                return None
            overwrite = True
        from brats_desktop.core.errors import ExportError
        from brats_desktop.preprocess.native import write_native_labels

        try:
            written = write_native_labels(layer.data, patient.grid, self.record, target, patient.convention,
                                          protected=patient.input_paths, overwrite=overwrite)
        except (ExportError, OSError, ValueError, KeyError) as exc:
            self.app.dialogs.error(w, "Export failed", str(exc))
            return None
        self.app.show_message(f"Exported {layer.name} on the original grid to {written}", 8000)
        return written

    # -- scripts ----------------------------------------------------------------------
    def import_now(self, folder: Path, output: Path | None = None) -> Any:
        """Synchronous import with the proposed roles (``--import DIR --screenshot``)."""
        from brats_desktop.preprocess.pipeline import preprocess
        from brats_desktop.preprocess.series import discover_series

        result = preprocess(discover_series(folder), output=output, extractor=self.extractor)
        self._open_for_qc = Path(result.folder).resolve()
        return result
