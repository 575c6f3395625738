"""Offering autosaved labels back: at start, and whenever their patient opens, however it opens.

A recovery file (:mod:`.recovery`) outlives a crash. The user must be asked about it
the next time its patient is on screen, whether that happens through the command line,
File → Open, Open Recent, a dropped folder or the worklist's N / P / double-click: all
of them end in the window's ``patient_loaded``, so that one signal is the one place the
offer is made. The question is asked on the next event-loop pass, after whoever opened
the patient has put its own layers in (the worklist's "Prediction"): the restored layers
then replace those, not the other way round.

Rule: a recovery file is removed only after the user chose (Discard, a save, No to the
restore question) or when an unreadable file is reported; never because a patient
opened.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from brats_desktop.core.errors import PatientLoadError
from brats_desktop.core.patient import Patient, load_patient

from brats_desktop.app.annotation.recovery import Recovery, RecoveryStore
from brats_desktop.app.state import GROUND_TRUTH, LAYER_KINDS, LabelLayer

RESTORE_TITLE = "Restore unsaved work?"


def patient_ident(patient: Patient | None) -> tuple[str | None, str] | None:
    """(resolved folder or None, name): what a recovery file is keyed by."""
    if patient is None:
        return None
    folder = str(patient.folder.resolve()) if patient.folder is not None else None
    return folder, patient.name


class RecoveryOffer(QObject):
    """Asks Restore / No for a patient's recovery file; puts restored layers back as unsaved edits."""

    def __init__(self, annotation) -> None:  # AnnotationController (it imports this module)
        super().__init__(annotation)
        self._annotation = annotation
        self._app = annotation.app
        self._state = annotation.state
        self._restoring = False  # restore() opens the patient itself: no second question then
        self._asked_for: set[tuple[str | None, str]] = set()  # questions queued, not yet asked
        if self._app.patients is not None:
            self._app.patients.patient_loaded.connect(self._on_patient_loaded)

    @property
    def store(self) -> RecoveryStore:
        return self._annotation.recovery  # looked up each time: tests point it elsewhere

    # ------------------------------------------------------------------ at start
    def offer_pending(self) -> bool:
        """At start: offer each recovery file left by a crash; True when one was restored.

        A declined or unreadable file is removed so it is not offered again. The
        patient is loaded synchronously: the restored layers need its grid.
        """
        restored = False
        for path in self.store.pending():
            rec = self._read(path)
            if rec is None:
                continue
            if restored:
                continue  # one patient at a time; the others are offered when they open
            if not self._ask(rec):
                self.store.remove_file(path)
                continue
            restored = self.restore(rec)
        return restored

    # ------------------------------------------------------------------ on open
    def _on_patient_loaded(self, patient: Patient) -> None:
        ident = patient_ident(patient)
        if self._restoring or ident is None or ident in self._asked_for:
            return
        json_path, _ = self.store.paths(self.store.key(*ident))
        if not json_path.exists():
            return
        self._asked_for.add(ident)
        QTimer.singleShot(0, lambda: self._offer_for(patient, ident, json_path))

    def _offer_for(self, patient: Patient, ident: tuple[str | None, str], json_path: Path) -> None:
        self._asked_for.discard(ident)
        # Another patient opened meanwhile: the file stays for when this one opens again.
        if self._state.patient is not patient or not json_path.exists():
            return
        rec = self._read(json_path)
        if rec is None:
            return
        if self._ask(rec):
            self.apply(rec)
        else:
            self.store.remove_file(json_path)

    # ------------------------------------------------------------------ restoring
    def _read(self, path: Path) -> Recovery | None:
        try:
            return self.store.read(path)
        except ValueError as exc:
            self._app.dialogs.error(self._app.window, "Recovery file unreadable", str(exc))
            self.store.remove_file(path)
            return None

    def _ask(self, rec: Recovery) -> bool:
        return self._app.dialogs.confirm(
            self._app.window, RESTORE_TITLE,
            "BraTS Desktop did not close normally last time.\n"
            f"Restore the unsaved labels of {rec.describe()}?\n\n"
            "No deletes the autosaved copy.",
            default_yes=True,
        )

    def restore(self, rec: Recovery) -> bool:
        """Open the recovery's patient (unless it is open) and put its layers back as unsaved edits."""
        current = patient_ident(self._state.patient)
        if rec.patient_folder is not None and (current is None or current[0] != rec.patient_folder):
            try:
                patient = load_patient(rec.patient_folder, skip_unreadable=True)
            except PatientLoadError as exc:
                self._app.dialogs.error(self._app.window, "Cannot restore", f"{exc.path}: {exc.problem}")
                return False
            self._restoring = True
            try:
                self._app.patients.show_patient(patient)
            finally:
                self._restoring = False
        return self.apply(rec)

    def apply(self, rec: Recovery) -> bool:
        """Put the recovered layers on the open patient (which must be the recovery's)."""
        patient = self._state.patient
        if patient is None or patient.shape != rec.shape or (
            rec.patient_folder is None and patient.name != rec.patient_name
        ):
            self._app.dialogs.error(
                self._app.window, "Cannot restore",
                f"{rec.path}: the recovered labels belong to {rec.patient_name}, which is not open.",
            )
            return False
        annotation = self._annotation
        last: LabelLayer | None = None
        for item in rec.layers:
            kind = item.kind if item.kind in LAYER_KINDS else "annotation"
            layer = self._state.replace_layer(
                item.name, item.data, kind,
                Path(item.source_path) if item.source_path else None, modified=True,
            )
            layer.set_modified(True)
            if item.saved_path:
                annotation.saver.remember(layer, Path(item.saved_path))
            if last is None or kind != GROUND_TRUTH:
                last = layer
        if last is not None:
            annotation.editor.set_layer(last)
        self._app.show_message(f"Restored unsaved labels of {rec.patient_name}", 8000)
        return True
