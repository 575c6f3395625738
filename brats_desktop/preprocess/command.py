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


def earlier_import(root: Path, output: Path | None) -> Any:
    """The complete import of ``root`` already at ``output`` (default ``<root>-brats``), or None.

    Complete means renamed into place with its record naming ``root`` as the source: the
    import builds a hidden folder and renames it whole, so a killed one leaves nothing here.
    """
    from .pipeline import ImportResult
    from .record import read_record

    folder = output if output is not None else root.parent / f"{root.name}-brats"
    if not folder.is_dir():
        return None
    record = read_record(folder)
    if record is None or record.get("source") != str(root.resolve()):
        return None
    return ImportResult(folder, record, list(record.get("warnings", [])), None)


def write_native_prediction(prediction: Path, patient_folder: Path, overwrite: bool = False) -> Path:
    """The prediction file (on the BraTS grid) re-written on the original T1CE grid beside it."""
    import numpy as np

    from brats_desktop.core.labels import to_internal
    from brats_desktop.core.naming import output_path, output_stem
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
    kind = "prediction-native"
    target = (prediction.parent / f"{output_stem(patient.name, patient.files, patient.convention, kind)}.nii.gz"
              if overwrite else output_path(prediction.parent, patient.name, patient.files, patient.convention, kind))
    return write_native_labels(internal, source, record, target, patient.convention,
                               protected=patient.input_paths, overwrite=overwrite)
