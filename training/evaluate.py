"""``brats-evaluate``: per-patient and mean Dice and HD95 of a model on labelled patient folders.

Example::

    brats-evaluate ../shared/data/brainles-sample-case --out runs/eval-brainles
    brats-evaluate --model runs/bundled/best.pt /data/BraTS2021 --record

Patients are read with the app's loader, predicted with :func:`models.inference.predict_volume`
and post-processed with :func:`models.inference.postprocess_prediction` (exactly what the app
shows; ``--ncr-definition`` gives label 1 the references' meaning) and scored with :mod:`brats_desktop.core.metrics`:
Dice for the classes NCR, ED, ET and the BraTS regions WT (1+2+4), TC (1+4), ET (4),
plus the 95th-percentile Hausdorff distance in mm. Writes ``evaluation.csv`` (one row
per patient and a final ``mean`` row) and ``evaluation.json``. ``--record`` also stores
the result in the model file's metadata (``metrics.evaluation``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brats_desktop.core.discovery import discover_patient, find_patient_folders
from brats_desktop.core.errors import PatientLoadError
from brats_desktop.core.labels import CLASS_SHORT, REGIONS, TUMOUR_CLASSES, region_mask
from brats_desktop.core.metrics import compare, hd95
from brats_desktop.core.patient import load_patient
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION, NCR_DEFINITIONS
from models.checkpoint import LoadedModel, ModelLoadError, default_model_path, load_model, save_model
from models.inference import MissingModalityError, postprocess_prediction, predict_volume

KEYS = ("NCR", "ED", "ET", "WT", "TC")
CSV_COLUMNS = ("patient",) + tuple(f"dice_{k}" for k in KEYS) + tuple(f"hd95_{k}" for k in KEYS) + ("seconds",)


def score(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, float, float]) -> dict[str, float]:
    """Dice and HD95 per class and region (core.metrics; Dice 1.0 when both are empty)."""
    confusions = compare(pred, ref)
    out = {f"dice_{k}": confusions[k].dice for k in KEYS}
    out.update({f"hd95_{k}": hd95(_mask(pred, k), _mask(ref, k), spacing) for k in KEYS})
    return out


def _mask(labels: np.ndarray, key: str) -> np.ndarray:
    """Boolean mask of a class (NCR, ED) or BraTS region (WT, TC, ET) from core.labels' definitions."""
    if key in REGIONS:
        return region_mask(labels, key)
    return labels == {CLASS_SHORT[c]: c for c in TUMOUR_CLASSES}[key]


def labelled_folders(paths: Sequence[Path]) -> list[Path]:
    """Patient folders with a segmentation under each path (a patient folder or a cohort root)."""
    out: list[Path] = []
    for path in paths:
        if not Path(path).is_dir():
            raise SystemExit(f"brats-evaluate: {path}: folder does not exist")
        for folder in find_patient_folders(path):
            if discover_patient(folder).segmentation is None:
                print(f"brats-evaluate: skipping {folder}: no segmentation to compare with", file=sys.stderr)
                continue
            out.append(folder)
    if not out:
        raise SystemExit(f"brats-evaluate: no labelled patient folders in {', '.join(map(str, paths))}")
    return out


def evaluate_folders(
    model: LoadedModel,
    folders: Sequence[Path],
    device: str = "cpu",
    batch_size: int = 16,
    log: Callable[[str], None] = lambda s: None,
    ncr_definition: str | None = DEFAULT_NCR_DEFINITION,
) -> list[dict[str, Any]]:
    """Predict, post-process as the app does, and score each folder; unusable folders are reported and skipped.

    ``ncr_definition`` should match the reference's meaning of label 1 (None: raw argmax).
    """
    rows: list[dict[str, Any]] = []
    for folder in folders:
        try:
            patient = load_patient(folder)
            t0 = time.perf_counter()
            pred = predict_volume(model, patient.images, device=device, batch_size=batch_size)
            pred = postprocess_prediction(model, pred, ncr_definition)
            seconds = time.perf_counter() - t0
        except (PatientLoadError, MissingModalityError) as exc:
            log(f"skipping {folder}: {exc}")
            continue
        assert patient.ground_truth is not None
        row: dict[str, Any] = {"patient": patient.name}
        row.update(score(pred, patient.ground_truth, patient.spacing))
        row["seconds"] = seconds
        rows.append(row)
        log(
            f"{patient.name}: Dice WT {row['dice_WT']:.3f} TC {row['dice_TC']:.3f} ET {row['dice_ET']:.3f} "
            f"HD95 WT {row['hd95_WT']:.1f} mm ({seconds:.1f} s)"
        )
    return rows


def mean_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"patient": "mean"}
    for col in CSV_COLUMNS[1:]:
        out[col] = float(np.mean([r[col] for r in rows])) if rows else float("nan")
    return out


def write_results(
    rows: Sequence[dict[str, Any]], out: Path, model: LoadedModel, ncr_definition: str | None = DEFAULT_NCR_DEFINITION
) -> tuple[Path, Path]:
    """evaluation.csv (patients + mean row) and evaluation.json in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "evaluation.csv", out / "evaluation.json"
    mean = mean_row(rows)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in [*rows, mean]:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    payload = {
        "model": model.name,
        "model_path": str(model.path) if model.path else None,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dice_convention": "1.0 when prediction and reference are both empty, 0.0 when only one is",
        "ncr_definition": ncr_definition or "raw",
        "cases": list(rows),
        "mean": mean,
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return csv_path, json_path


def record_in_model(path: Path, rows: Sequence[dict[str, Any]], ncr_definition: str | None = DEFAULT_NCR_DEFINITION) -> None:
    """Store the evaluation in the model file's metadata (re-saved through the safe format)."""
    model = load_model(path, fuse=False)
    metrics = dict(model.metadata.get("metrics") or {})
    evaluation = dict(metrics.get("evaluation") or {})
    for row in rows:
        entry = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "patient"}
        evaluation[row["patient"]] = entry | {"ncr_definition": ncr_definition or "raw"}
    metrics["evaluation"] = evaluation
    model.metadata["metrics"] = metrics
    save_model(path, model.network, model.metadata)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="brats-evaluate", description="Dice and HD95 of a model on labelled patients.")
    p.add_argument("data", nargs="+", type=Path, help="patient folders or folders of patient folders")
    p.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    p.add_argument("--out", type=Path, help="output folder (default runs/eval-<time>)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--record", action="store_true", help="store the results in the model file's metadata")
    p.add_argument("--ncr-definition", choices=(*NCR_DEFINITIONS, "raw"), default=DEFAULT_NCR_DEFINITION,
                   help="meaning of label 1 in the references: brats2021 (necrosis inside the enhancing rim; "
                   "BraTS 2021+ files), brats2013 (necrotic + non-enhancing core; BraTS 2013-2020), or raw "
                   "(the network's argmax, no post-processing)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = args.model or default_model_path()
    try:
        model = load_model(path)
    except ModelLoadError as exc:
        print(f"brats-evaluate: {exc}", file=sys.stderr)
        return 2
    folders = labelled_folders(args.data)
    out = args.out or Path(__file__).resolve().parents[1] / "runs" / f"eval-{_dt.datetime.now():%Y%m%d-%H%M%S}"

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    definition = None if args.ncr_definition == "raw" else args.ncr_definition
    rows = evaluate_folders(model, folders, args.device, args.batch_size, log, definition)
    if not rows:
        print("brats-evaluate: no patient could be evaluated", file=sys.stderr)
        return 1
    csv_path, json_path = write_results(rows, out, model, definition)
    m = mean_row(rows)
    log(f"mean over {len(rows)} patient(s): Dice WT {m['dice_WT']:.3f} TC {m['dice_TC']:.3f} ET {m['dice_ET']:.3f}")
    log(f"wrote {csv_path} and {json_path}")
    if args.record:
        record_in_model(path, rows, definition)
        log(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
