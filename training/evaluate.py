"""``brats-evaluate``: per-patient and mean Dice and HD95 of a model on labelled patient folders.

Example::

    brats-evaluate ../shared/data/brainles-sample-case --out runs/eval-brainles
    brats-evaluate --model runs/bundled/best.pt /data/BraTS2021 --record

Patients are read with the app's loader, predicted as the app does (:func:`models.tta.predict_with_tta`,
``--tta``) and post-processed with :func:`brats_desktop.core.postprocessing.postprocess` (the
app's rules; ``--ncr-definition`` gives label 1 the references' meaning) and scored with
:mod:`brats_desktop.core.metrics` and :mod:`brats_desktop.core.lesionwise`:

* Dice and HD95 (mm) for the classes NCR, ED, ET and the BraTS regions WT (1+2+4), TC (1+4), ET (4);
* lesion-wise Dice and HD95 of WT, TC, ET with the lesion counts (TP, FN, FP), the
  figures BraTS ranks by since 2023 (``--lesion-method``: the 2023 challenge code, or
  ``panoptica`` as the PyPI ``brats-evaluation`` package computes them).

``--ncr-definition auto`` (default) takes the meaning of label 1 of each folder from what
its names tell (:func:`brats_desktop.core.label_meaning.ncr_definition_for`: ``BraTS20_…``
2013-2020, ``BraTS-GLI-…`` 2021+), else the current protocol (brats2021); each row says
which it used and why. Means are per definition: a cohort mixing both gets one mean row
per definition and no overall mean, since the TC/NCR figures of the two do not measure
the same thing.

Writes ``evaluation.csv`` (one row per patient, then the mean row(s)), ``evaluation.json``
and ``evaluation.png`` (box plots per region of Dice, lesion-wise Dice and HD95).
``--record`` also stores the result in the model file's metadata (``metrics.evaluation``).
``--interactive N`` instead measures AI-assisted correction with the robot user
(:mod:`training.interactive_eval`).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
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
from brats_desktop.core.label_meaning import AUTO, resolve_ncr_definition
from brats_desktop.core.lesionwise import LESION_REGIONS, LESIONWISE_METHODS, lesionwise_regions
from brats_desktop.core.metrics import compare, hd95
from brats_desktop.core.patient import load_patient
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION, NCR_DEFINITIONS, PostprocessParams, postprocess
from models.checkpoint import LoadedModel, ModelLoadError, default_model_path, load_model, save_model
from models.inference import MissingModalityError, model_ncr_definition
from models.runtime import predict_patient
from models.tiers import Tier
from models.tta import TTA_CHOICES, resolve_tta

from .interactive_eval import add_arguments as add_interactive_arguments
from .interactive_eval import run as run_interactive

KEYS = ("NCR", "ED", "ET", "WT", "TC")
LESION_COLUMNS = tuple(f"lw_{m}_{r}" for r in LESION_REGIONS for m in ("dice", "hd95", "tp", "fn", "fp"))
CSV_COLUMNS = (
    ("patient",) + tuple(f"dice_{k}" for k in KEYS) + tuple(f"hd95_{k}" for k in KEYS) + LESION_COLUMNS
    + ("ncr_definition", "ncr_definition_from", "seconds")
)
DEFAULT_LESION_METHOD = "brats2023"
# (folder, patient, raw argmax, mean softmax or None): crossval --save-predictions keeps them
PredictionHook = Callable[[Path, Any, np.ndarray, "np.ndarray | None"], None]


def score(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, float, float], lesion_method: str | None = None
) -> dict[str, float]:
    """Dice and HD95 per class and region (core.metrics; Dice 1.0 when both are empty), plus lesion-wise if asked."""
    confusions = compare(pred, ref)
    out: dict[str, float] = {f"dice_{k}": confusions[k].dice for k in KEYS}
    out.update({f"hd95_{k}": hd95(_mask(pred, k), _mask(ref, k), spacing) for k in KEYS})
    if lesion_method:
        for region, s in lesionwise_regions(pred, ref, spacing, lesion_method).items():
            out.update({f"lw_dice_{region}": s.dice, f"lw_hd95_{region}": s.hd95,
                        f"lw_tp_{region}": s.tp, f"lw_fn_{region}": s.fn, f"lw_fp_{region}": s.fp})
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
    lesion_method: str | None = None,
    tta: str = "none",
    report_definition: bool = False,
    ensemble: Sequence[LoadedModel] = (),
    modalities: Sequence[str] | None = None,
    on_prediction: PredictionHook | None = None,
    params: PostprocessParams | None = None,
    background_below: float | None = None,
) -> list[dict[str, Any]]:
    """Predict and post-process as the app does, and score each folder; unusable folders are reported and skipped.

    The prediction is :func:`models.runtime.predict_patient`'s (the app's and ``brats-predict``'s
    one path): ``model`` and ``ensemble`` run as the members of a tier, so a tier's decision
    is made in one place and the scores are those of what users get.

    ``ncr_definition`` should match the reference's meaning of label 1: a key of
    NCR_DEFINITIONS, ``"auto"`` (per patient, see :func:`resolve_ncr_definition`) or None
    (raw argmax). ``lesion_method`` None skips the lesion-wise scores. The defaults
    give the rows of earlier versions (``training.crossval`` caches them per fold and
    writes one CSV from all folds); ``report_definition`` adds the ``ncr_definition``
    and ``ncr_definition_from`` columns. ``ensemble``: further models whose softmax is
    averaged with ``model``'s (:func:`models.tta.predict_ensemble`). ``modalities``: the
    model sees only these sequences of each patient (a patient lacking one is reported
    and skipped). ``on_prediction(folder, patient, raw, probabilities)`` receives each
    argmax before post-processing with its mean softmax ((classes, X, Y, Z) float16). ``params``: the post-processing
    rules (None: the app's default; a tier's: :meth:`models.tiers.Tier.postprocess_params`).
    ``background_below``: a tier's whole-tumour-first decision (:func:`brats_desktop.core.decision.decide_labels`).
    """
    rows: list[dict[str, Any]] = []
    scoring = Tier(key="evaluation", members=[model, *ensemble], tta=tta, background_below=background_below)
    for folder in folders:
        try:
            patient = load_patient(folder)
            images = patient.images
            if modalities is not None:
                lacking = [m for m in modalities if m not in images]
                if lacking:
                    log(f"skipping {folder}: no {', '.join(m.upper() for m in lacking)} (scoring the subset "
                        f"{', '.join(m.upper() for m in modalities)})")
                    continue
                images = {m: images[m] for m in modalities}
            definition, source = resolve_ncr_definition(ncr_definition, patient)
            t0 = time.perf_counter()
            # The app's own path (members averaged, the tier's decision), on the images scored.
            run = predict_patient(scoring, dataclasses.replace(patient, images=images), device=device,
                                  batch_size=batch_size, ncr_definition=None, tta=tta)
            raw, probabilities = run.raw_labels, run.probabilities
            pred = postprocess(raw, target=definition, source=model_ncr_definition(model), params=params,
                               spacing=patient.spacing)
            seconds = time.perf_counter() - t0
            if on_prediction is not None:
                on_prediction(Path(folder), patient, raw, probabilities)
        except (PatientLoadError, MissingModalityError) as exc:
            log(f"skipping {folder}: {exc}")
            continue
        assert patient.ground_truth is not None
        row: dict[str, Any] = {"patient": patient.name}
        row.update(score(pred, patient.ground_truth, patient.spacing, lesion_method))
        if report_definition or ncr_definition == AUTO:
            row["ncr_definition"] = definition or "raw"
            row["ncr_definition_from"] = source
        row["seconds"] = seconds
        rows.append(row)
        lw = f" lesion-wise Dice WT {row['lw_dice_WT']:.3f}" if "lw_dice_WT" in row else ""
        log(
            f"{patient.name}: Dice WT {row['dice_WT']:.3f} TC {row['dice_TC']:.3f} ET {row['dice_ET']:.3f} "
            f"HD95 WT {row['hd95_WT']:.1f} mm{lw} (label 1: {definition or 'raw'}; {seconds:.1f} s)"
        )
    return rows


def _numeric(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [c for c in CSV_COLUMNS[1:] if rows and all(isinstance(r.get(c), (int, float)) for r in rows)]


def mean_row(rows: Sequence[dict[str, Any]], name: str = "mean") -> dict[str, Any]:
    """Mean of every numeric column over ``rows`` (mean lesion counts per case); the definition if they share one."""
    out: dict[str, Any] = {"patient": name}
    for col in _numeric(rows):
        out[col] = float(np.mean([r[col] for r in rows]))
    definitions = {r.get("ncr_definition") for r in rows}
    if len(definitions) == 1:
        out["ncr_definition"] = definitions.pop()
    return out


def group_means(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One mean row per meaning of label 1 (``"mean"`` alone when all rows share one): never a silent mix."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r.get("ncr_definition", "")), []).append(r)
    if len(groups) <= 1:
        return {key: mean_row(rows) for key in groups} or {"": mean_row(rows)}
    return {key: mean_row(group, f"mean {key}") for key, group in groups.items()}


def write_results(
    rows: Sequence[dict[str, Any]],
    out: Path,
    model: LoadedModel,
    ncr_definition: str | None = DEFAULT_NCR_DEFINITION,
    lesion_method: str | None = DEFAULT_LESION_METHOD,
    tta: str = "none",
    ensemble: Sequence[LoadedModel] = (),
    background_below: float | None = None,
) -> tuple[Path, Path]:
    """evaluation.csv (patients + mean row(s)), evaluation.json and evaluation.png in ``out``.

    ``background_below``: the tier's whole-tumour-first threshold the labels were decided with (None: argmax).
    """
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "evaluation.csv", out / "evaluation.json"
    means = group_means(rows)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in [*rows, *means.values()]:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    payload = {
        "model": model.name,
        "model_path": str(model.path) if model.path else None,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dice_convention": "1.0 when prediction and reference are both empty, 0.0 when only one is",
        "ncr_definition": ncr_definition or "raw",
        "lesion_method": lesion_method,
        "lesion_penalty_mm": 374.0,
        "tta": tta,
        "ensemble_with": [str(m.path or m.name) for m in ensemble],
        "background_below": background_below,
        "cases": list(rows),
        "mean": next(iter(means.values())) if len(means) == 1 else None,
        "means": means,
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    from .plots import plot_region_boxes

    groups = ", ".join(f"{k} ({sum(1 for r in rows if str(r.get('ncr_definition', '')) == k)})" for k in means if k)
    mixed = " — TC boxes pool both meanings" if len(means) > 1 else ""
    plot_region_boxes(rows, out / "evaluation.png",
                      title=f"{model.name}{f' + {len(ensemble)} more' if ensemble else ''}: {len(rows)} patient(s)" + (f", label 1: {groups}{mixed}" if groups else ""))
    return csv_path, json_path


def record_in_model(path: Path, rows: Sequence[dict[str, Any]], ncr_definition: str | None = DEFAULT_NCR_DEFINITION) -> None:
    """Store the evaluation in the model file's metadata (re-saved through the safe format)."""
    model = load_model(path, fuse=False)
    metrics = dict(model.metadata.get("metrics") or {})
    evaluation = dict(metrics.get("evaluation") or {})
    for row in rows:
        entry = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "patient"}
        evaluation[row["patient"]] = {"ncr_definition": ncr_definition or "raw"} | entry
    metrics["evaluation"] = evaluation
    model.metadata["metrics"] = metrics
    save_model(path, model.network, model.metadata)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="brats-evaluate", description="Dice and HD95 of a model on labelled patients.")
    p.add_argument("data", nargs="+", type=Path, help="patient folders or folders of patient folders")
    p.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    tier_group = p.add_mutually_exclusive_group()
    for tier in ("accurate", "fast"):
        tier_group.add_argument(f"--{tier}", dest="tier", action="store_const", const=tier,
                                help=f"score the {tier.capitalize()} tier of models/bundled/tiers.json (its members "
                                "averaged, its TTA unless --tta names one, its enhancing rule), as the app runs it")
    p.add_argument("--out", type=Path, help="output folder (default runs/eval-<time>)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--record", action="store_true", help="store the results in the model file's metadata")
    p.add_argument("--ncr-definition", choices=(AUTO, *NCR_DEFINITIONS, "raw"), default=AUTO,
                   help="meaning of label 1 in the references: auto (default: from each folder's names, e.g. "
                   "BraTS20_... = brats2013, BraTS-GLI-... = brats2021; brats2021 when nothing tells), brats2021 "
                   "(necrosis inside the enhancing rim; BraTS 2021+ files), brats2013 (necrotic + non-enhancing "
                   "core; BraTS 2013-2020), or raw (the network's argmax, no post-processing)")
    p.add_argument("--lesion-method", choices=(*LESIONWISE_METHODS, "none"), default=DEFAULT_LESION_METHOD,
                   help="lesion-wise scoring: brats2023 (the BraTS 2023/2024 code: close lesions grouped, "
                   "lesions <= 50 mm3 ignored; default), panoptica (as PyPI brats-evaluation), or none")
    p.add_argument("--tta", choices=TTA_CHOICES, default="auto",
                   help="test-time augmentation as in the app (auto: none on CPU, flip on a GPU)")
    p.add_argument("--ensemble-with", type=Path, action="append", default=[], metavar="MODEL",
                   help="average the class probabilities of --model with this model's (repeatable; "
                   "each keeps its own preprocessing; an evaluation of ensembles, not what the app runs)")
    add_interactive_arguments(p)
    args = p.parse_args(argv)
    if args.interactive is not None and (args.record or args.ensemble_with):
        p.error("--interactive scores click correction, not the automatic model: not with --record or --ensemble-with")
    if args.record and args.ensemble_with:
        p.error("--record stores one model's scores in its file: not with --ensemble-with")
    if args.tier and (args.model or args.ensemble_with or args.record or args.interactive is not None):
        p.error("--accurate/--fast score a bundled tier: not with --model, --ensemble-with, --record or --interactive")
    if args.threads:
        torch.set_num_threads(args.threads)
    path = args.model or default_model_path()
    params, below = None, None
    try:
        if args.tier:
            from models.tiers import load_tier

            tier = load_tier(args.tier)
            model, partners, params, path = tier.primary, tier.members[1:], tier.postprocess_params(), tier.path
            below = tier.background_below
            args.tta = tier.tta if args.tta == "auto" else args.tta
            print(f"brats-evaluate: {tier.label}", file=sys.stderr)
        else:
            model = load_model(path)
            partners = [load_model(extra) for extra in args.ensemble_with]
    except ModelLoadError as exc:
        print(f"brats-evaluate: {exc}", file=sys.stderr)
        return 2
    folders = labelled_folders(args.data)
    out = args.out or Path(__file__).resolve().parents[1] / "runs" / f"eval-{_dt.datetime.now():%Y%m%d-%H%M%S}"

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.interactive is not None:
        return run_interactive(args, model, folders, out, log)
    tta = resolve_tta(args.tta, args.device)
    definition = None if args.ncr_definition == "raw" else args.ncr_definition
    lesion_method = None if args.lesion_method == "none" else args.lesion_method
    rows = evaluate_folders(model, folders, args.device, args.batch_size, log, definition, lesion_method, tta,
                            report_definition=True, ensemble=partners, params=params, background_below=below)
    if not rows:
        print("brats-evaluate: no patient could be evaluated", file=sys.stderr)
        return 1
    csv_path, json_path = write_results(rows, out, model, definition, lesion_method, tta, partners, below)
    for m in group_means(rows).values():
        lw = f"; lesion-wise Dice WT {m['lw_dice_WT']:.3f} TC {m['lw_dice_TC']:.3f} ET {m['lw_dice_ET']:.3f}" \
            if "lw_dice_WT" in m else ""
        n = sum(1 for r in rows if r.get("ncr_definition") == m.get("ncr_definition", r.get("ncr_definition")))
        log(f"{m['patient']} over {n} patient(s) (label 1: {m.get('ncr_definition', 'mixed')}): "
            f"Dice WT {m['dice_WT']:.3f} TC {m['dice_TC']:.3f} ET {m['dice_ET']:.3f}{lw}")
    log(f"wrote {csv_path}, {json_path} and {out / 'evaluation.png'}")
    if args.record:
        record_in_model(path, rows, definition)
        log(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
