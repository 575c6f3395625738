"""``brats-predict RAW_DIR --preprocess``: import, segment, and write the result on both grids.

Kept beside the pipeline so ``cli/predict.py`` needs only a few lines: :func:`import_for_cli`
turns a raw folder into a BraTS folder (proposed roles, progress on stderr), and
:func:`write_native_prediction` puts the written prediction back on the T1CE's own grid.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from . import INSTALL_HINT, missing_dependencies


class PreprocessError(Exception):
    """Why a raw folder cannot be imported, for the user."""


def import_for_cli(root: Path, output: Path | None = None, quiet: bool = False) -> Any:
    """Preprocess ``root`` with the proposed roles; returns the ``ImportResult``."""
    missing = missing_dependencies()
    if missing:
        raise PreprocessError(f"{', '.join(missing)} not installed. {INSTALL_HINT}")
    from .pipeline import ImportFailed, preprocess
    from .series import ROLE_LABELS, discover_series

    scan = discover_series(root)
    for s in scan.problems():
        print(f"brats-predict: warning: {s.source}: {s.problem} (left out)", file=sys.stderr)
    for path, why in scan.unreadable:
        print(f"brats-predict: warning: {path}: {why} (left out)", file=sys.stderr)
    chosen = scan.chosen()
    if not chosen:
        raise PreprocessError(scan.no_mr_message() or f"{root}: no T1, T1CE, T2 or FLAIR series recognised")
    if not quiet:
        for role, s in chosen.items():
            print(f"brats-predict: {ROLE_LABELS[role]:5s} <- {s.description} ({s.reason})", file=sys.stderr)
    start = time.perf_counter()

    def progress(done: int, total: int, text: str) -> None:
        if not quiet:
            print(f"brats-predict: [{time.perf_counter() - start:5.1f} s] {text}", file=sys.stderr)

    try:
        result = preprocess(scan, chosen, output, progress=progress)
    except ImportFailed as exc:
        raise PreprocessError(str(exc)) from exc
    for warning in result.warnings:
        print(f"brats-predict: warning: {warning}", file=sys.stderr)
    return result


def write_native_prediction(prediction: Path, patient_folder: Path, overwrite: bool = False) -> Path:
    """The prediction file (on the BraTS grid) re-written on the original T1CE grid beside it."""
    import numpy as np

    from brats_desktop.core.labels import to_internal
    from brats_desktop.core.naming import output_path
    from brats_desktop.core.nifti_io import read_volume
    from brats_desktop.core.patient import load_patient

    from .native import write_native_labels
    from .record import read_record

    record = read_record(patient_folder)
    if record is None:
        raise PreprocessError(f"{patient_folder}: no import record; cannot map back to the scanner's grid")
    patient = load_patient(patient_folder, skip_unreadable=True)
    file_labels, source = read_volume(prediction, dtype=np.uint8)
    internal = to_internal(file_labels, patient.convention)
    target = output_path(prediction.parent, patient.name, patient.files, patient.convention, "prediction-native")
    return write_native_labels(internal, source, record, target, patient.convention,
                               protected=patient.input_paths, overwrite=overwrite)
