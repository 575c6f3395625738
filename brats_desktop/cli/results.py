"""``brats-predict --dicom-seg`` and ``--report``: the app's DICOM export and patient report, from the command line.

Same code as File → Export → DICOM Segmentation… and File → Export Report… (the Qt-free
``dicom_export`` and ``report.data``; the PDF through Qt's writer on an offscreen
QGuiApplication). :func:`check_dicom_source` runs before the prediction, so a patient
without a usable source series is refused before minutes of work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brats_desktop.core.errors import ExportError
from brats_desktop.core.naming import CORRECTED, PREDICTION, output_stem
from brats_desktop.core.nifti_io import unused_path
from brats_desktop.core.postprocessing import NCR_DEFINITIONS
from brats_desktop.core.provenance import Algorithm, Provenance, algorithm_of
from brats_desktop.preprocess.record import read_record

class ResultsError(Exception):
    """Why a DICOM export or report cannot be made; printed by the CLI without a traceback."""


def check_dicom_source(folder: Path) -> dict:
    """The import record of ``folder`` when its source DICOM series is there unchanged, else ResultsError."""
    from brats_desktop.dicom_export import INSTALL_HINT, missing_dependencies, source_status

    missing = missing_dependencies()
    if missing:
        raise ResultsError(f"{', '.join(missing)} not installed. {INSTALL_HINT}")
    record = read_record(folder)
    ok, why = source_status(record)
    if not ok:
        raise ResultsError(f"{folder}: --dicom-seg: {why}")
    from brats_desktop.dicom_export.source import SourceSeriesError, load_source_series

    try:
        load_source_series(record)
    except SourceSeriesError as exc:
        raise ResultsError(str(exc)) from exc
    return record


def write_dicom(patient: Any, labels: np.ndarray, record: dict, out_dir: Path, model: Any,
                ncr_definition: str | None, provenance: Provenance = Provenance.AUTOMATIC) -> dict[str, str]:
    """SEG + SR of ``labels`` beside the prediction; returns their paths for the JSON record."""
    from brats_desktop.dicom_export.export import dicom_targets, export_dicom
    from brats_desktop.dicom_export.source import SourceSeriesError

    stem = output_stem(patient.name, patient.files, patient.convention,
                       PREDICTION if provenance is Provenance.AUTOMATIC else CORRECTED)
    seg, sr = dicom_targets(out_dir, stem)
    try:
        done = export_dicom(labels, patient.grid, record, seg, sr, provenance, algorithm_of(model), ncr_definition)
    except (SourceSeriesError, ExportError, ValueError) as exc:
        raise ResultsError(f"DICOM export: {exc}") from exc
    return {"seg": str(done.seg_path), "sr": str(done.sr_path), "source_series": done.source}


def write_patient_report(patient: Any, labels: np.ndarray, out_dir: Path, model: Any, ncr_definition: str | None,
                         provenance: Provenance = Provenance.AUTOMATIC, layer: str = "Prediction") -> Path:
    """The one-page PDF of ``labels`` in ``out_dir`` (``<case id>_report.pdf``, never over a file)."""
    from brats_desktop.report.data import report_data
    from brats_desktop.report.pdf import ensure_gui_application, write_report

    ensure_gui_application()
    algorithm: Algorithm | None = algorithm_of(model) if model is not None else None
    data = report_data(
        patient, labels, layer, provenance, algorithm, ground_truth=patient.ground_truth,
        model_inputs=list(getattr(model, "modalities", []) or []),
        ncr_meaning=NCR_DEFINITIONS.get(ncr_definition or "", ""), record=read_record(patient.files.folder
                                                                                      if patient.files else None),
    )
    from brats_desktop.report.cohort import report_target

    target = report_target(out_dir, patient)
    try:
        return write_report(data, target)
    except ExportError as exc:
        raise ResultsError(str(exc)) from exc


def cohort_reports(cohort: Any, model_for: Any, ncr_definition: str | None) -> dict[str, Any]:
    """One report per case that has a prediction (its correction when there is one), plus the review summary PDF."""
    from brats_desktop.report.cohort import case_report, cases_with_results
    from brats_desktop.report.pdf import ensure_gui_application, write_report
    from brats_desktop.report.summary import write_summary

    ensure_gui_application()
    written, failed = [], []
    for record in cases_with_results(cohort):
        try:
            data, target = case_report(cohort, record, model_for, ncr_definition)
            written.append(str(write_report(data, target)))
        except Exception as exc:  # noqa: BLE001 - one bad case must not stop the others; it is listed
            failed.append({"case": record.key, "error": str(exc)})
    summary = write_summary(cohort, unused_path(cohort.output_dir, "review-summary", ".pdf"))
    return {"reports": written, "summary": str(summary), **({"failed": failed} if failed else {})}
