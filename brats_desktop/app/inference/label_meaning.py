"""What label 1 means for Segment: the patient's files, the user's choice, the model's training.

One part of :class:`~brats_desktop.app.inference.controller.SegmentController`: the
Label 1 (Necrosis) Means menu, re-labelling an unedited prediction without a re-run, and
the Metrics dock's note when prediction and ground truth mean different things.
"""

from __future__ import annotations

from brats_desktop.core.label_meaning import MEANING_TITLES
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION, NCR_DEFINITIONS

from brats_desktop.app.inference.settings_keys import LABEL1_MEANING, NCR_DEFINITION_KEY


class LabelMeaningMixin:
    """The meaning of label 1 of predictions and of the ground truth (mixed into SegmentController)."""

    @property
    def ncr_definition(self) -> str:
        """The meaning of label 1 that predictions get (core.postprocessing.NCR_DEFINITIONS)."""
        checked = self.ncr_group.checkedAction()
        return str(checked.data()) if checked is not None else DEFAULT_NCR_DEFINITION

    def set_ncr_definition(self, key: str) -> None:
        """The user chooses what label 1 means; an unedited prediction on screen is re-labelled at once.

        The choice holds for this patient even where its files imply the other meaning,
        and is remembered for patients whose files tell nothing.
        """
        if key not in NCR_DEFINITIONS:
            raise ValueError(f"unknown label definition {key!r}")
        self._settings.setValue(NCR_DEFINITION_KEY, key)
        implied = self._patient_evidence[0] if self._patient_evidence else None
        self._ncr_override = key if implied is not None and key != implied else None
        self._use_ncr_definition(key)

    def _use_ncr_definition(self, key: str) -> None:
        """Check ``key`` in the menu and re-label an unedited prediction (no re-run) to it."""
        self.ncr_actions[key].setChecked(True)
        run, layer = self.last_run, self.prediction_layer()
        if run is None or layer is None or getattr(run, "raw_labels", None) is None or run.ncr_definition == key:
            self._update_meaning_notes()
            return
        if layer.modified:
            self._status("The prediction has edits: the new label-1 meaning applies from the next run.", 6000)
            self._update_meaning_notes()
            return
        run.relabel(key)
        self._apply(run)
        self._status(f"Prediction re-labelled: {NCR_DEFINITIONS[key]}", 6000)

    def remembered_ncr_definition(self) -> str:
        """The menu choice kept in QSettings, for patients whose files tell nothing (also Segment All's fallback)."""
        stored = str(self._settings.value(NCR_DEFINITION_KEY, DEFAULT_NCR_DEFINITION))
        return stored if stored in NCR_DEFINITIONS else DEFAULT_NCR_DEFINITION

    def prediction_meaning(self) -> str | None:
        """What label 1 of the prediction on screen means (None: no prediction from this session's runs).

        A model trained with the 2021+ meaning cannot be converted back, so its label 1
        keeps that meaning whatever was asked.
        """
        run = self.last_run
        if run is None or self.prediction_layer() is None:
            return None
        source = getattr(run, "model_ncr_definition", "brats2013")
        target = getattr(run, "ncr_definition", None)
        if target is None or source == "brats2021":
            return source
        return target

    def ground_truth_meaning(self) -> str | None:
        """What label 1 of the open patient's ground truth means, when its files tell (else None)."""
        patient = self._state.patient
        if patient is None or patient.ground_truth is None or self._patient_evidence is None:
            return None
        return self._patient_evidence[0]

    def _update_meaning_notes(self) -> None:
        """Metrics dock: what label 1 means and why; one warning line when prediction and ground truth differ."""
        patient = self._state.patient
        if patient is None:
            self.metrics_panel.set_label_meaning(None)
            self.metrics_panel.set_meaning_warning(None)
            self.ncr_source_action.setText("Open a patient: its file names may tell")
            return
        predicted = self.prediction_meaning()
        key = predicted or self.ncr_definition
        self._state.set_ncr_definition(key)
        evidence = self._patient_evidence
        if self._ncr_override is not None:
            why = "your choice for this patient"
            if evidence is not None:
                why += f", although its files imply {MEANING_TITLES[evidence[0]]} ({evidence[1]})"
        elif evidence is not None:
            why = f"as this patient's files imply ({evidence[1]})"
        else:
            why = "this patient's files do not tell, so your last choice applies"
        self.ncr_source_action.setText(
            f"This patient: {MEANING_TITLES[evidence[0]]} ({evidence[1].split(':')[0]})" if evidence
            else "This patient's files do not tell: your last choice applies"
        )
        whose = "the prediction" if predicted else "predictions"
        self.metrics_panel.set_label_meaning(
            f"Label 1 (NCR) of {whose}: {LABEL1_MEANING[key]}, {why}. "
            "Change it with Segment → Label 1 (Necrosis) Means."
        )
        reference = self.ground_truth_meaning()
        if predicted is not None and reference is not None and predicted != reference:
            self.metrics_panel.set_meaning_warning(
                f"Label 1 means {MEANING_TITLES[predicted]} in the prediction but {MEANING_TITLES[reference]} "
                "in the ground truth: NCR and TC Dice are not comparable."
            )
        else:
            self.metrics_panel.set_meaning_warning(None)
