"""Choose the post-processing thresholds on out-of-fold predictions, not by eye.

Two steps, so the expensive one (the network) runs once:

1. ``save`` — predict every validation patient of every cross-validation fold with that
   fold's model (a model never trained on it) and keep the raw argmax beside the
   reference, one ``<patient>.npz`` each (uint8 ``raw`` and ``reference`` cropped to
   the tumours' box, ``spacing``, ``ncr_definition`` of the reference,
   ``model_ncr_definition``). Resumable: existing files are kept.
2. ``grid`` — apply every combination of :class:`~brats_desktop.core.postprocessing.PostprocessParams`
   candidates to every saved case and score it like ``brats-evaluate`` (global Dice and
   HD95 of WT/TC/ET, lesion-wise Dice and HD95); writes ``grid.csv`` (every combination,
   best first), ``grid.md`` (the top of the table beside the current default) and
   ``best.json`` (the winner, ready for ``DEFAULT_POSTPROCESSING``). Cases whose
   post-processed labels are identical for two combinations are scored once.

Usage::

    python -m training.tune_postprocessing save --cv runs/cv-real \\
        --data ../shared/data/brats2013-train --data ../shared/data/brats2018-train --out runs/oof-real
    python -m training.tune_postprocessing grid runs/oof-real --objective lesionwise

``save --model M --folder F ...`` does the same for one model and explicit folders
(:func:`save_oof_predictions`). Selection on the same folds one then reports on is
optimistic; the grid is small (tens of combinations) to keep that small.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brats_desktop.core.labels import region_mask
from brats_desktop.core.lesionwise import LESION_REGIONS, lesionwise_regions
from brats_desktop.core.metrics import compare, hd95
from brats_desktop.core.postprocessing import DEFAULT_POSTPROCESSING, PostprocessParams, postprocess

from .oof_tuning import crop_box

Log = Callable[[str], None]

# The candidates (PostprocessParams fields). The first value of each is "off".
DEFAULT_GRID: dict[str, tuple[Any, ...]] = {
    "min_fraction": (None, 0.1, 0.25),
    "min_core_voxels": (0, 25, 50, 100, 200),
    "et_min_voxels": (0, 100, 300),
    "max_distance_mm": (None, 40.0),
}
OBJECTIVES = ("lesionwise", "global")
_MARGIN = 8  # voxels around the tumours kept in the saved crop (post-processing and metrics look no further)


# --------------------------------------------------------------------------- 1. out-of-fold predictions


def save_oof_predictions(
    model_path: Path | str,
    folders: Iterable[Path],
    out_dir: Path | str,
    *,
    device: str = "cpu",
    batch_size: int = 16,
    tta: str = "none",
    ncr_definition: str = "auto",
    log: Log = lambda s: print(s, file=sys.stderr, flush=True),
) -> list[Path]:
    """Predict each labelled folder with ``model_path`` and save the raw argmax beside its reference.

    ``ncr_definition`` is the meaning of label 1 in the references (``auto``: from each
    folder's names, as ``brats-evaluate``). Unreadable or unlabelled folders are
    reported and skipped; an existing ``<patient>.npz`` is kept (resume).
    """
    from brats_desktop.core.errors import PatientLoadError
    from brats_desktop.core.patient import load_patient
    from models.checkpoint import load_model
    from models.inference import MissingModalityError, model_ncr_definition
    from models.tta import predict_with_tta

    from brats_desktop.core.label_meaning import resolve_ncr_definition

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(model_path)
    written: list[Path] = []
    for folder in folders:
        try:
            patient = load_patient(folder)
        except PatientLoadError as exc:
            log(f"skipping {folder}: {exc}")
            continue
        target = out / f"{patient.name}.npz"
        if target.exists():
            written.append(target)
            continue
        if patient.ground_truth is None:
            log(f"skipping {folder}: no segmentation to compare with")
            continue
        try:
            raw = predict_with_tta(model, patient.images, tta=tta, device=device, batch_size=batch_size,
                                   probabilities=False).labels
        except MissingModalityError as exc:
            log(f"skipping {folder}: {exc}")
            continue
        definition, source = resolve_ncr_definition(ncr_definition, patient)
        box = crop_box(raw, patient.ground_truth, margin=_MARGIN)
        tmp = target.with_name(target.name + ".part.npz")
        np.savez_compressed(
            tmp, raw=raw[box].astype(np.uint8), reference=patient.ground_truth[box].astype(np.uint8),
            spacing=np.asarray(patient.spacing, dtype=float), ncr_definition=str(definition or "raw"),
            ncr_definition_from=source, model_ncr_definition=model_ncr_definition(model),
            model=str(model_path), tta=tta,
        )
        tmp.replace(target)
        written.append(target)
        log(f"{patient.name}: saved {target} (label 1: {definition})")
    return written


def save_cv_oof(
    cv_dir: Path, data: Sequence[Path], out_dir: Path, *, ncr_definition: str = "auto", tta: str = "none",
    log: Log = lambda s: print(s, file=sys.stderr, flush=True),
) -> list[Path]:
    """:func:`save_oof_predictions` for every finished fold of ``training.crossval`` (its ``folds.json``, ``fold-i/best.pt``)."""
    from .cohort import real_patient_folders

    folds = json.loads((Path(cv_dir) / "folds.json").read_text(encoding="utf-8"))["folds"]
    by_name = {f.name: f for f in real_patient_folders(list(data))}
    written: list[Path] = []
    for i, names in enumerate(folds):
        model = Path(cv_dir) / f"fold-{i}" / "best.pt"
        if not model.exists():
            log(f"fold {i}: no {model}; skipped")
            continue
        missing = [n for n in names if n not in by_name]
        if missing:
            log(f"fold {i}: {len(missing)} patient(s) not under --data: {', '.join(missing)}")
        written += save_oof_predictions(model, [by_name[n] for n in names if n in by_name], out_dir,
                                        ncr_definition=ncr_definition, tta=tta, log=log)
    return written


# --------------------------------------------------------------------------- 2. grid search


@dataclass
class OofCase:
    name: str
    raw: np.ndarray
    reference: np.ndarray
    spacing: tuple[float, float, float]
    ncr_definition: str | None
    model_ncr_definition: str


def load_cases(oof_dir: Path | str) -> list[OofCase]:
    """Every ``*.npz`` written by :func:`save_oof_predictions` in ``oof_dir``."""
    cases = []
    for path in sorted(Path(oof_dir).glob("*.npz")):
        if path.name.endswith(".part.npz"):
            continue
        with np.load(path) as z:
            definition = str(z["ncr_definition"])
            cases.append(OofCase(
                path.stem, z["raw"], z["reference"], tuple(float(v) for v in z["spacing"]),  # type: ignore[arg-type]
                None if definition == "raw" else definition, str(z["model_ncr_definition"]),
            ))
    return cases


def score_case(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, float, float]) -> dict[str, float]:
    """Global Dice/HD95 and lesion-wise Dice/HD95 (BraTS 2023 rule) of WT, TC, ET."""
    confusions = compare(pred, ref)
    out: dict[str, float] = {}
    for region in LESION_REGIONS:
        out[f"dice_{region}"] = confusions[region].dice
        out[f"hd95_{region}"] = hd95(region_mask(pred, region), region_mask(ref, region), spacing)
    for region, s in lesionwise_regions(pred, ref, spacing, "brats2023").items():
        out[f"lw_dice_{region}"] = s.dice
        out[f"lw_hd95_{region}"] = s.hd95
    return out


def parameter_grid(grid: dict[str, Sequence[Any]] | None = None) -> list[PostprocessParams]:
    """Every combination of the candidate values (``grid`` overrides :data:`DEFAULT_GRID` per field)."""
    values = dict(DEFAULT_GRID)
    values.update(grid or {})
    names = list(values)
    return [PostprocessParams(**dict(zip(names, combo))) for combo in itertools.product(*(values[n] for n in names))]


def grid_search(
    cases: Sequence[OofCase],
    params: Sequence[PostprocessParams],
    objective: str = "lesionwise",
    log: Log = lambda s: None,
) -> list[dict[str, Any]]:
    """Mean scores over ``cases`` for each candidate, best ``objective`` first.

    ``lesionwise``: mean lesion-wise Dice of WT, TC, ET (what BraTS ranks by); ``global``:
    mean Dice of WT, TC, ET. Ties keep the simpler candidate (earlier in the grid).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not cases:
        raise ValueError("no out-of-fold cases to tune on")
    cache: dict[tuple[str, bytes], dict[str, float]] = {}
    table: list[dict[str, Any]] = []
    for k, p in enumerate(params):
        per_case = []
        for case in cases:
            pred = postprocess(case.raw, target=case.ncr_definition, source=case.model_ncr_definition,
                               params=p, spacing=case.spacing)
            key = (case.name, hashlib.blake2b(pred.tobytes(), digest_size=16).digest())
            if key not in cache:
                cache[key] = score_case(pred, case.reference, case.spacing)
            per_case.append(cache[key])
        row: dict[str, Any] = {**dataclasses.asdict(p), "rank": 0, "order": k}
        for col in per_case[0]:
            row[col] = float(np.mean([s[col] for s in per_case]))
        row["mean_dice"] = float(np.mean([row[f"dice_{r}"] for r in LESION_REGIONS]))
        row["mean_lw_dice"] = float(np.mean([row[f"lw_dice_{r}"] for r in LESION_REGIONS]))
        row["is_default"] = p == DEFAULT_POSTPROCESSING
        table.append(row)
        log(f"[{k + 1}/{len(params)}] {p.describe()}: Dice {row['mean_dice']:.4f} lesion-wise {row['mean_lw_dice']:.4f}")
    key = "mean_lw_dice" if objective == "lesionwise" else "mean_dice"
    table.sort(key=lambda r: (-round(r[key], 6), r["order"]))
    for i, row in enumerate(table, start=1):
        row["rank"] = i
    return table


def write_grid(table: Sequence[dict[str, Any]], out_dir: Path, n_cases: int, objective: str, top: int = 10) -> Path:
    """grid.csv, grid.md and best.json in ``out_dir``; returns the markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(table[0])
    with open(out_dir / "grid.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in table:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    # the grid's own fields, and any other the table varies (the rest stay at their defaults)
    names = [f.name for f in dataclasses.fields(PostprocessParams)
             if f.name in DEFAULT_GRID or len({r[f.name] for r in table}) > 1]
    lines = [
        f"Post-processing grid on {n_cases} out-of-fold case(s), ranked by {objective} "
        f"({'mean lesion-wise Dice' if objective == 'lesionwise' else 'mean Dice'} of WT, TC, ET).",
        "",
        "| rank | " + " | ".join(names) + " | Dice WT | TC | ET | LW Dice WT | TC | ET | LW HD95 WT | TC | ET |",
        "| --- " * (len(names) + 10) + "|",
    ]
    shown = list(table[:top]) + [r for r in table[top:] if r["is_default"]]
    for r in shown:
        mark = " (default)" if r["is_default"] else ""
        lines.append(
            f"| {r['rank']}{mark} | " + " | ".join(str(r[n]) for n in names) + " | "
            + " | ".join(f"{r[f'dice_{g}']:.3f}" for g in LESION_REGIONS) + " | "
            + " | ".join(f"{r[f'lw_dice_{g}']:.3f}" for g in LESION_REGIONS) + " | "
            + " | ".join(f"{r[f'lw_hd95_{g}']:.1f}" for g in LESION_REGIONS) + " |"
        )
    md = out_dir / "grid.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    best = {n: table[0][n] for n in names}
    (out_dir / "best.json").write_text(json.dumps(
        {"objective": objective, "cases": n_cases, "params": best,
         "scores": {k: v for k, v in table[0].items() if k not in names}}, indent=2) + "\n", encoding="utf-8")
    return md


def _values(text: str) -> tuple[Any, ...]:
    """'none,0.1,0.25' -> (None, 0.1, 0.25); integers stay integers."""
    out: list[Any] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("none", "off", ""):
            out.append(None)
        else:
            value = float(part)
            out.append(int(value) if value.is_integer() and "." not in part else value)
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.tune_postprocessing", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="predict out-of-fold cases and save raw labels + references")
    s.add_argument("--cv", type=Path, help="a training.crossval output folder (folds.json, fold-i/best.pt)")
    s.add_argument("--data", type=Path, action="append", default=[], help="cohort roots the folds name (with --cv)")
    s.add_argument("--model", type=Path, help="one model (instead of --cv)")
    s.add_argument("--folder", type=Path, action="append", default=[], help="patient folders for --model")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--ncr-definition", default="auto", help="meaning of label 1 in the references (auto: from names)")
    s.add_argument("--tta", default="none", choices=("none", "flip"))
    s.add_argument("--threads", type=int)
    g = sub.add_parser("grid", help="grid-search the post-processing thresholds on saved cases")
    g.add_argument("oof_dir", type=Path)
    g.add_argument("--out", type=Path, help="where to write grid.csv/md and best.json (default: OOF_DIR)")
    g.add_argument("--objective", choices=OBJECTIVES, default="lesionwise")
    for name, values in DEFAULT_GRID.items():
        g.add_argument(f"--{name.replace('_', '-')}", type=_values, default=values,
                       help=f"candidates, comma-separated, 'none' = off (default: {','.join(map(str, values))})")
    args = p.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.command == "save":
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        if args.cv:
            written = save_cv_oof(args.cv, args.data, args.out, ncr_definition=args.ncr_definition, tta=args.tta, log=log)
        elif args.model and args.folder:
            written = save_oof_predictions(args.model, args.folder, args.out, ncr_definition=args.ncr_definition,
                                           tta=args.tta, log=log)
        else:
            p.error("save needs --cv (with --data) or --model with --folder")
        log(f"{len(written)} case(s) in {args.out}")
        return 0 if written else 1
    cases = load_cases(args.oof_dir)
    if not cases:
        log(f"{args.oof_dir}: no saved cases (*.npz); run 'save' first")
        return 1
    grid = {name: getattr(args, name) for name in DEFAULT_GRID}
    table = grid_search(cases, parameter_grid(grid), args.objective, log)
    md = write_grid(table, args.out or args.oof_dir, len(cases), args.objective)
    print(md.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
