"""One report per case of a cohort (its correction when there is one, else the AI prediction).

Qt-free: :func:`case_report` reads the case and returns the page's data and where it goes;
``brats-predict COHORT --report`` and the app's File → Export → Reports for All Cases… render
and write it (``report.pdf.write_report``), then the review summary (``report.summary``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from brats_desktop.core.cohort import read_label_file
from brats_desktop.core.label_meaning import resolve_ncr_definition
from brats_desktop.core.naming import output_stem
from brats_desktop.core.nifti_io import unused_path
from brats_desktop.core.patient import load_patient
from brats_desktop.core.postprocessing import NCR_DEFINITIONS
from brats_desktop.core.provenance import Provenance, algorithm_of

from .data import ReportData, report_data

REPORT = "report"


def cases_with_results(cohort: Any) -> list[Any]:
    """The readable cases that have a prediction (those a report can be made of)."""
    return [r for r in cohort.cases if r.ok and cohort.has_prediction(r)]


def report_target(folder: Path, patient: Any) -> Path:
    """``<case id>_report.pdf`` in ``folder``, never over a file."""
    return unused_path(folder, output_stem(patient.name, patient.files, patient.convention, REPORT), ".pdf")


def case_report(cohort: Any, record: Any, model_for: Any, ncr_definition: str | None) -> tuple[ReportData, Path]:
    """The report data of one case and its target (in the cohort's output folder of that case)."""
    corrected = cohort.has_correction(record)
    patient = load_patient(record.folder, skip_unreadable=True)
    labels = read_label_file(cohort.corrected_path(record) if corrected else cohort.prediction_path(record), patient)
    model = model_for(patient)
    definition, _ = resolve_ncr_definition(ncr_definition, patient)  # "auto": the case's own meaning
    data = report_data(
        patient, labels, "Corrected" if corrected else "Prediction",
        Provenance.CORRECTED if corrected else Provenance.AUTOMATIC,
        algorithm_of(model) if model is not None else None, ground_truth=patient.ground_truth,
        model_inputs=list(getattr(model, "modalities", []) or []),
        ncr_meaning=NCR_DEFINITIONS.get(definition or "", ""))
    return data, report_target(cohort.output_folder(record), patient)
