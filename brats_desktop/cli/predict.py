"""``brats-predict``: segment patient folders without the GUI, by the app's own code path.

    brats-predict PATIENT_DIR [--out FILE.nii.gz] [--fast | --accurate] [--model CKPT] [--device cpu|cuda|auto]
    brats-predict COHORT_DIR  [--out DIR] [--csv FILE.csv] [--fast | --accurate] ...
    brats-predict RAW_DIR --preprocess [--dicom-seg] [--report]

One patient folder: writes the prediction (by default ``<folder>/<case id>_prediction.nii.gz``,
``-prediction`` for BraTS 2023 names, the app's Export/Save name from :mod:`brats_desktop.core.naming`;
``-1`` ... appended when that exists: a default never replaces anything) in the patient's
own label convention on the source affine, and prints ONE JSON object on stdout with
the output path, the tier and its models, the device, the seconds taken and, when the folder has a
segmentation, the Dice per class (NCR, ED, ET) and per region (WT, TC, ET). Beside the
mask, ``<mask name>.json`` (:mod:`brats_desktop.core.prediction_sidecar`) records what made it.

The model tier (:mod:`models.tiers`): ``--fast`` (the bundled model, one pass),
``--accurate`` (the Accurate ensemble of ``models/bundled/tiers.json``), default by device
(Accurate on a CUDA GPU, else Fast). ``--model CKPT`` runs that checkpoint instead
(``--accurate`` then adds flip test-time augmentation to it).

A folder of patient folders: each is processed the same way and a CSV with one row per
patient is written; the JSON object then summarises the run and names the CSV.

Prediction goes through :func:`models.runtime.predict_patient`, which the app's worker
calls too, so both give the same labels for the same folder and checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brats_desktop.core.atomic import remove_stale_partials
from brats_desktop.core.cohort import skipped_file_records
from brats_desktop.core.discovery import find_patient_folders
from brats_desktop.core.errors import ExportError, PatientLoadError
from brats_desktop.core.label_meaning import AUTO, LABEL1_SHORT, mixed_meanings_warning, resolve_ncr_definition
from brats_desktop.core.metrics import dice_scores
from brats_desktop.core.naming import PREDICTION, UNCERTAINTY, output_path, output_stem
from brats_desktop.core.nifti_io import unused_path, write_label_map
from brats_desktop.core.patient import load_patient
from brats_desktop.core.postprocessing import NCR_DEFINITIONS

CLASS_KEYS = ("NCR", "ED", "ET")
REGION_KEYS = ("WT", "TC", "ET")


class CliError(Exception):
    """A problem the user can fix (bad path, missing modality ...); printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="brats-predict",
        description="Segment a brain-tumour MRI patient folder (or a folder of them) with the bundled U-Net.",
    )
    p.add_argument("patient_dir", type=Path, help="a patient folder, or a folder of patient folders")
    p.add_argument(
        "--out",
        type=Path,
        help="output .nii.gz for one patient, or an output folder for many "
        "(default: <patient folder>/<case id>_prediction.nii.gz, or -prediction for BraTS 2023 names, "
        "never replacing a file)",
    )
    p.add_argument("--model", type=Path,
                   help="checkpoint to use instead of the bundled tiers (--accurate then means flip TTA on it)")
    tiers = p.add_mutually_exclusive_group()
    tiers.add_argument("--accurate", dest="tier", action="store_const", const="accurate",
                       help="the Accurate tier: the bundled models models/bundled/tiers.json names for it, averaged "
                       "and decided by its rules (seconds more per case on a CPU; the default on a CUDA GPU)")
    tiers.add_argument("--fast", dest="tier", action="store_const", const="fast",
                       help="the Fast tier: the bundled model alone, one pass (the default without a CUDA GPU)")
    p.set_defaults(tier="auto")
    p.add_argument("--preprocess", action="store_true",
                   help="PATIENT_DIR holds raw scans (DICOM or scanner NIfTI): register to the T1CE, resample to "
                        "1 mm, skull-strip (HD-BET) into a BraTS folder first, then segment and also write the "
                        "prediction on the original T1CE grid (needs brats-desktop[preprocess])")
    p.add_argument("--import-out", type=Path, metavar="DIR",
                   help="with --preprocess: the BraTS folder to create (default: <PATIENT_DIR>-brats beside it)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where to run (auto: CUDA, then Apple MPS, else CPU)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="slices per batch (default: 8 on CPU, 32 on CUDA for 240x240 slices; fewer for larger ones)")
    p.add_argument("--csv", type=Path,
                   help="CSV path for a folder of patients (default: <out or folder>/predictions.csv)")
    p.add_argument("--workers", type=int, default=2,
                   help="with a folder of patients: DataLoader processes decoding the next patients while "
                   "the network runs (0: read in the main process; default 2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--uncertainty", type=Path, metavar="FILE.nii.gz",
                   help="also write the per-voxel uncertainty (normalised entropy 0-1 of the class probabilities, "
                   "averaged over --tta passes) as float32 NIfTI on the source grid; one patient folder only")
    p.add_argument("--tta", choices=("auto", "none", "flip"), default="auto",
                   help="test-time augmentation: flip averages the image with its left-right mirror (about "
                   "twice the time); auto (default): the tier's own (models/bundled/tiers.json), or for --model "
                   "none on CPU, flip on a GPU")
    p.add_argument("--dicom-seg", action="store_true",
                   help="also write the prediction as DICOM SEG on the original T1CE series' grid and a TID 1500 SR "
                   "with the volumes and RANO measurements (<case>_prediction.seg.dcm / .sr.dcm); for patients "
                   "imported from DICOM (--preprocess, or a folder made by File → Import Scans; needs "
                   "brats-desktop[dicom])")
    p.add_argument("--report", action="store_true",
                   help="also write the one-page patient report PDF (<case>_report.pdf); a folder of patients gets "
                   "one per case plus review-summary.pdf")
    p.add_argument("--ncr-definition", choices=(AUTO, *NCR_DEFINITIONS), default=AUTO,
                   help="meaning of label 1: auto (default: each folder's own convention, from its BraTS case ID "
                   "year, 2023 names or labels, as the app and brats-evaluate decide; brats2021 where nothing "
                   "tells), brats2021 (necrosis inside the enhancing rim, the current BraTS protocol) or "
                   "brats2013 (necrotic + non-enhancing core, BraTS 2013-2020)")
    return p


def _load_model(path: Path | None) -> Any:
    """The ``--model`` checkpoint, or None: then each patient gets the best bundled model."""
    from models.checkpoint import ModelLoadError, load_model

    if path is None:
        return None
    try:
        return load_model(path)
    except ModelLoadError as exc:
        raise CliError(str(exc)) from exc


_BUNDLED_CACHE: dict[Path, Any] = {}


def _model_for(model: Any, patient: Any, tier: str = "auto", device: str = "auto") -> Any:
    """``--model`` if given, else the bundled tier (``models.tiers.Tier``) for this patient and device."""
    from models.checkpoint import ModelLoadError
    from models.runtime import select_device
    from models.tiers import load_tier, resolve_tier

    if model is not None:
        return model
    try:
        return load_tier(resolve_tier(tier, select_device(device)), patient, _BUNDLED_CACHE)
    except ModelLoadError as exc:
        raise CliError(f"{exc}; pass a checkpoint with --model") from exc


def _tta_for(model: Any, tier: str, tta: str) -> str:
    """``--accurate`` with ``--model``: flip TTA on that checkpoint (what Accurate adds to one model)."""
    return "flip" if model is not None and tier == "accurate" and tta == "auto" else tta


def _write_sidecar(written: Path, run: Any, patient: Any, definition: str | None) -> Path:
    from brats_desktop.core.prediction_sidecar import sidecar_record, write_sidecar

    record = sidecar_record(written, run.producer, patient=patient.name, ncr_definition=definition,
                            label_convention=patient.convention.value, device=run.device, edited=False)
    try:
        return write_sidecar(written, record, protected=patient.input_paths)
    except ExportError as exc:
        raise CliError(f"cannot write the prediction's sidecar: {exc}") from exc


def _dice_block(pred, ref) -> dict[str, dict[str, float]]:
    scores = dice_scores(pred, ref)
    return {
        "classes": {k: round(float(scores[k]), 6) for k in CLASS_KEYS},
        "regions": {k: round(float(scores[k]), 6) for k in REGION_KEYS},
    }


def _writable(folder: Path) -> bool:
    """Writable for us *and* not marked read-only: root ignores mode bits, we respect them."""
    import os
    import stat

    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def predict_folder(
    folder: Path,
    model: Any,
    *,
    out: Path | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    overwrite: bool = False,
    ncr_definition: str = AUTO,
    tta: str = "auto",
    tier: str = "auto",
    uncertainty: Path | None = None,
    dicom_seg: bool = False,
    report: bool = False,
) -> dict[str, Any]:
    """Segment one patient folder and write the result (and the uncertainty map, SEG/SR, report); returns the record."""
    from models.runtime import MissingModalityError, predict_patient

    from .results import ResultsError, check_dicom_source, write_dicom, write_patient_report

    try:
        import_record = check_dicom_source(folder) if dicom_seg else None  # refuse before the long part
    except ResultsError as exc:
        raise CliError(str(exc)) from exc

    start = time.perf_counter()
    try:
        # A damaged file that the model does not need (or a bad segmentation) does not stop
        # the prediction; it is reported under "skipped_files", so a script sees what was left out.
        patient = load_patient(folder, skip_unreadable=True)
    except PatientLoadError as exc:
        raise CliError(str(exc)) from exc
    for problem in patient.problems:
        print(f"brats-predict: warning: skipped {problem}", file=sys.stderr)
    if out is None:
        if not _writable(folder):
            raise CliError(f"{folder}: the patient folder is read-only; choose where to write with --out")
        target = output_path(folder, patient.name, patient.files, patient.convention, PREDICTION)
    elif out.is_dir():
        target = output_path(out, patient.name, patient.files, patient.convention, PREDICTION)
    else:
        target = out
    if uncertainty is not None and uncertainty.is_file() and not overwrite:  # refuse before the long part
        raise CliError(f"{uncertainty}: already exists (use --overwrite to replace it)")
    definition, source = resolve_ncr_definition(ncr_definition, patient)
    print(f"brats-predict: {patient.name}: {meaning_line(definition, source)}", file=sys.stderr)
    notes: list[str] = []
    try:
        used = _model_for(model, patient, tier, device)
        if getattr(used, "key", None) == "any_sequence":
            print(f"brats-predict: {patient.name}: {used.label}: the any-sequence model stands in", file=sys.stderr)
        run = predict_patient(
            used, patient, device=device, batch_size=batch_size, notify=notes.append, ncr_definition=definition,
            tta=_tta_for(model, tier, tta),
        )
    except MissingModalityError as exc:
        raise CliError(f"{folder}: {exc}{patient.unread_note(exc.missing)}") from exc
    remove_stale_partials(target.parent)  # what a killed run was writing there
    try:
        written = write_label_map(
            run.labels, patient.grid, target, patient.convention,
            protected=patient.input_paths, overwrite=overwrite,
        )
    except FileExistsError as exc:
        raise CliError(f"{target}: already exists (use --overwrite to replace it)") from exc
    except (ExportError, PermissionError) as exc:
        raise CliError(f"{target}: cannot write the prediction ({exc}); choose another place with --out") from exc
    sidecar = _write_sidecar(written, run, patient, definition)
    uncertainty_written = _write_uncertainty(run, patient, uncertainty, overwrite) if uncertainty is not None else None
    extra: dict[str, Any] = {}
    try:
        if import_record is not None:
            extra["dicom"] = write_dicom(patient, run.labels, import_record, written.parent, used, definition)
        if report:
            extra["report"] = str(write_patient_report(patient, run.labels, written.parent, used, definition))
    except ResultsError as exc:
        raise CliError(str(exc)) from exc
    record: dict[str, Any] = {
        "patient": patient.name,
        "input": str(folder),
        "output": str(written),
        "label_convention": patient.convention.value,
        "ncr_definition": definition,
        "ncr_definition_from": source,
        "tta": run.tta,
        "tier": run.tier,
        "model_label": run.model_label,
        "members": [m["file"] for m in run.producer.get("members", [])],
        "sidecar": str(sidecar),
        "model": str(getattr(used, "path", None) or used.name),
        "device": run.device,
        "device_name": run.device_name,
        "seconds": round(time.perf_counter() - start, 3),
        "inference_seconds": round(run.seconds, 3),
    }
    if uncertainty_written is not None:
        record["uncertainty"] = str(uncertainty_written)
    record.update(extra)
    if run.notes or notes:
        record["notes"] = list(dict.fromkeys(run.notes + notes))
    if patient.ground_truth is not None:
        record["dice"] = _dice_block(run.labels, patient.ground_truth)
    if patient.problems:
        record["skipped_files"] = skipped_file_records(patient)
    return record


def meaning_line(definition: str | None, source: str) -> str:
    """"label 1 = NCR/NET (brats2013; Brats18_x_flair.nii.gz: BraTS 2018 naming)": what a person reads per case."""
    short = LABEL1_SHORT.get(definition or "", "raw argmax")
    return f"label 1 = {short} ({definition or 'raw'}; {source})"


def _write_uncertainty(run: Any, patient: Any, target: Path, overwrite: bool) -> Path:
    """``--uncertainty``: the normalised entropy of the run's probabilities on the source grid (a folder: named by core.naming)."""
    from brats_desktop.core.uncertainty import write_uncertainty_map

    if run.probabilities is None:
        raise CliError("this prediction kept no class probabilities, so no uncertainty map can be written")
    if target.is_dir():
        target = output_path(target, patient.name, patient.files, patient.convention, UNCERTAINTY)
    try:
        return write_uncertainty_map(
            run.probabilities, patient.grid, target, protected=patient.input_paths, overwrite=overwrite
        )
    except FileExistsError as exc:
        raise CliError(f"{target}: already exists (use --overwrite to replace it)") from exc
    except (ExportError, PermissionError) as exc:
        raise CliError(f"{target}: cannot write the uncertainty map ({exc})") from exc


def _csv_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {k: record.get(k, "") for k in (
        "patient", "input", "output", "tier", "device", "seconds", "ncr_definition", "ncr_definition_from", "error",
    )}
    row["tier"] = row["tier"] or ""  # None for --model runs
    # Files the read left out (the case was segmented without them, or not at all when the model needs them).
    row["skipped_files"] = "; ".join(f"{Path(s['file']).name}: {s['problem']}" for s in record.get("skipped_files", ()))
    row["status"] = record.get("status") or ("failed" if "error" in record else "done")
    dice = record.get("dice")
    for k in CLASS_KEYS:
        row[f"dice_{k}"] = dice["classes"][k] if dice else ""
    for k in ("WT", "TC"):
        row[f"dice_{k}"] = dice["regions"][k] if dice else ""
    volumes = record.get("volumes_ml") or {}
    for k in ("WT", "TC", "ET"):
        row[f"volume_{k}_ml"] = volumes.get(k, "")
    return row


def predict_cohort(
    root: Path, folders: list[Path], model: Any, args: argparse.Namespace
) -> dict[str, Any] | None:
    """Segment every case of the cohort ``root`` without a prediction yet, by the app's Segment All path.

    :func:`brats_desktop.cohort_predict.segment_cases` does the work (DataLoader workers
    decode NIfTI while the network runs); under ``torchrun`` each rank takes its share and
    rank 0 writes the one merged CSV and the review sidecar. Other ranks return None.
    """
    from brats_desktop.cohort_predict import (
        Ranks, barrier, end_group, gather_results, jobs_for, ranks_from_env, segment_cases, shard, start_group,
    )
    from brats_desktop.core.cohort import Cohort, CohortError

    out_dir = args.out
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise CliError(f"{out_dir}: with a folder of patients, --out must be a folder")
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        cohort = Cohort(root, out_dir)
    except CohortError as exc:
        raise CliError(str(exc)) from exc
    if not cohort.output_writable:
        raise CliError(f"{cohort.output_dir}: the cohort folder is read-only; choose where to write with --out")
    ranks = ranks_from_env()
    start_group(ranks, args.device)
    try:
        start = time.perf_counter()
        cohort.remove_leftovers()  # temporaries of a killed run (only those of dead processes)
        jobs = jobs_for(cohort)  # every rank lists the same cases before anyone writes
        barrier(ranks)
        mine = shard(jobs, ranks)

        def model_for(patient: Any) -> Any:
            return _model_for(model, patient, args.tier, args.device)

        def report(done: int, total: int, result: dict[str, Any]) -> None:
            meaning = (f" ({meaning_line(result['ncr_definition'], result.get('ncr_definition_from', ''))})"
                       if "ncr_definition" in result else "")
            left_out = "".join(f"; left out {Path(s['file']).name} ({s['problem']})"
                               for s in result.get("skipped_files", ()))
            print(f"[{ranks.rank}] {done}/{total} {result['patient']}: {result.get('error', 'done')}{meaning}{left_out}",
                  file=sys.stderr)

        results = segment_cases(
            mine, model_for, device=args.device, batch_size=args.batch_size, ncr_definition=args.ncr_definition,
            num_workers=args.workers, progress=report, tta=_tta_for(model, args.tier, args.tta),
        )
        results = gather_results(results, ranks, [c.key for c in cohort.cases])
        if not ranks.main:
            return None
        todo = {j.key for j in jobs}
        existing = [
            {"case": r.key, "patient": r.name, "input": str(r.folder), "output": str(cohort.prediction_path(r)),
             "status": "existing"}
            for r in cohort.cases if r.ok and r.key not in todo
        ]
        unreadable = [
            {"case": r.key, "patient": r.name, "input": str(r.folder), "error": f"{r.folder}: {r.error}"}
            for r in cohort.cases if not r.ok
        ]
        records = gather_results(results + existing + unreadable, Ranks(), [c.key for c in cohort.cases])
        csv_path = args.csv or unused_path(cohort.output_dir, "predictions", ".csv")
        _write_csv(csv_path, records)
        cohort.merge_prediction_records(results)
        note = None
        if cohort.sidecar_problem is None:
            try:
                cohort.save_review()
            except CohortError as exc:
                note = str(exc)
        done = [r for r in results if "error" not in r and r.get("status") != "existing"]
        existing += [r for r in results if r.get("status") == "existing"]  # recorded now, segmented before
        summary = {
            "csv": str(csv_path),
            "review": str(cohort.sidecar_path),
            "patients": len(records),
            "succeeded": len(done),
            "existing": len(existing),
            "failed": len(records) - len(done) - len(existing),
            # read without a damaged file (segmented if the model did not need it): named in the CSV
            "with_damaged_files": sum(1 for r in results if r.get("skipped_files")),
            "ranks": ranks.world,
            "device": done[0]["device"] if done else None,
            "tiers": sorted({str(r.get("tier")) for r in done if r.get("tier")}),
            "seconds": round(time.perf_counter() - start, 3),
            "results": records,
        }
        if note or cohort.sidecar_problem:
            summary["notes"] = [note or cohort.sidecar_problem]
        mixed = mixed_meanings_warning({r["patient"]: r["ncr_definition"] for r in done})
        if mixed is not None:
            print(f"brats-predict: warning: {mixed}", file=sys.stderr)
            summary["warnings"] = [mixed]
        if args.report:
            from .results import cohort_reports

            summary["reports"] = cohort_reports(cohort, model_for, args.ncr_definition)
        return summary
    finally:
        barrier(ranks)
        end_group(ranks)


def _write_csv(csv_path: Path, records: list[dict[str, Any]]) -> None:
    from brats_desktop.core.cohort import CohortError, atomic_write_text

    rows = [_csv_row(r) for r in records]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    try:
        atomic_write_text(csv_path, buffer.getvalue())
    except CohortError as exc:
        raise CliError(f"{exc}; use --csv") from exc


def run(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Parse ``argv``, do the work, return the JSON object (raises :class:`CliError`)."""
    args = _parser().parse_args(argv)
    root: Path = args.patient_dir
    if not root.exists():
        raise CliError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise CliError(f"{root}: is a file; give the patient's folder (or a folder of patient folders)")
    from models.runtime import select_device

    select_device(args.device)  # refuse an absent --device cuda before reading anything
    if args.preprocess:  # raw scans -> a BraTS folder first, then the same prediction path
        return _predict_raw(root, args)
    folders = find_patient_folders(root)
    if not folders:
        raise CliError(f"{root}: no patient folder with MRI volumes found")
    model = _load_model(args.model)
    if model is None:
        from models.checkpoint import bundled_models, default_model_path

        if not bundled_models():
            raise CliError(f"{default_model_path()}: no bundled model installed; pass a checkpoint with --model")
    if folders == [root]:
        return predict_folder(
            root, model, out=args.out, device=args.device,
            batch_size=args.batch_size, overwrite=args.overwrite, ncr_definition=args.ncr_definition,
            tta=args.tta, tier=args.tier, uncertainty=args.uncertainty, dicom_seg=args.dicom_seg, report=args.report,
        )
    if args.uncertainty is not None:
        raise CliError("--uncertainty takes one patient folder; this is a folder of patients")
    if args.dicom_seg:
        raise CliError("--dicom-seg takes one patient folder (imported from DICOM); this is a folder of patients")
    return predict_cohort(root, folders, model, args)


def _predict_raw(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``--preprocess``: import ``root``, segment the new folder, add the prediction on the native grid."""
    from brats_desktop.preprocess.command import (
        PreprocessError, earlier_import, import_for_cli, write_native_prediction,
    )

    imported = earlier_import(root, args.import_out)
    out, overwrite = args.out, args.overwrite
    if imported is not None:
        # A run stopped (or killed) after its import: the import is minutes, segmenting seconds,
        # so the rerun segments that folder again into the same files rather than importing twice.
        print(f"brats-predict: {imported.folder}: already imported from {root}; using it", file=sys.stderr)
        if out is None:
            patient = load_patient(imported.folder, skip_unreadable=True)
            out = imported.folder / f"{output_stem(patient.name, patient.files, patient.convention, PREDICTION)}.nii.gz"
            overwrite = True  # the import's own output file, rewritten with the same labels
    else:
        try:
            imported = import_for_cli(root, args.import_out)
        except PreprocessError as exc:
            raise CliError(str(exc)) from exc
    record = predict_folder(
        imported.folder, _load_model(args.model), out=out, device=args.device, batch_size=args.batch_size,
        overwrite=overwrite, ncr_definition=args.ncr_definition, tta=args.tta, tier=args.tier,
        uncertainty=args.uncertainty,
        dicom_seg=args.dicom_seg, report=args.report,
    )
    try:
        record["output_native"] = str(write_native_prediction(Path(record["output"]), imported.folder,
                                                              overwrite=overwrite))
    except (PreprocessError, ExportError, OSError) as exc:
        raise CliError(f"cannot write the prediction on the original grid: {exc}") from exc
    record["preprocessed"] = {
        "folder": str(imported.folder),
        "record": str(imported.folder / "brats-import.json"),
        "brain_volume_ml": imported.record["brain_mask"]["volume_ml"],
        "timings_s": imported.record["timings_s"],
        "warnings": imported.warnings,
    }
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: prints one JSON object on success, a one-line error otherwise."""
    from models.runtime import DeviceUnavailableError

    try:
        result = run(argv)
    except (CliError, DeviceUnavailableError) as exc:
        print(f"brats-predict: error: {exc}", file=sys.stderr)
        return 1
    if result is not None:  # under torchrun only rank 0 reports (the merged result)
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
