"""Patient-level k-fold cross-validation of a training recipe on real labelled patients.

Example (the runs reported in the README and the model card; 10 minutes per fold on one
core, no validation during training since the folds are scored afterwards)::

    nice python -m training.crossval --data ../shared/data/brats2013-train \\
        --data ../shared/data/brats2018-train --folds 5 \\
        --out runs/cv-real --time-limit 10 --threads 1 --val-every 0 \\
        -- --config default --set select_by=last --epochs 200

A recipe that needs another input (``--modalities flair,t1ce,t2``) or adds the synthetic
cohort is run with ``--folds-from`` the first run's ``folds.json``, so it is scored on the
same held-out patients; :mod:`training.compare_cv` then compares the runs patient by patient.

Steps, each resumable (an interrupted run picks up where it stopped):

1. folds: patients dealt into ``--folds`` stratified folds (:mod:`training.folds`),
   saved as ``folds.json`` and one ``fold-i/split.json`` per fold;
2. training: ``brats-train --split fold-i/split.json`` per fold (arguments after ``--``
   go to it unchanged); a fold with ``done`` is skipped, one with ``last_state.pt``
   resumes;
3. scoring: each fold's best checkpoint predicts its own validation patients, which it
   never trained on, post-processed as the app does with label 1 meaning what the
   references mean (``--ncr-definition``, BraTS 2013-2020 for these folders); per-patient
   rows go to ``cv.csv``, per-fold and mean +- sd Dice/HD95 of WT/TC/ET to ``cv.md``.
   ``--tta flip`` scores the same fold models with test-time augmentation instead
   (``fold-i/oof-tta-flip.json``, ``cv-tta-flip.csv``/``.md``), so an inference setting is
   judged on the folds without training again. ``--ensemble-with OTHER_RUN`` scores the
   mean softmax of this run's and another run's fold-i model (same folds, checked), an
   honest out-of-fold ensemble (``fold-i/oof-ens-OTHER_RUN.json``, ``cv-ens-OTHER_RUN.md``).
   ``--subset flair,t2`` scores the fold models seeing only those sequences of each
   patient (a modality-dropout model; ``fold-i/oof-sub-flair-t2.json``,
   ``cv-sub-flair-t2.md``, which says how many patients had them all).
   ``--save-predictions`` also keeps each held-out patient's raw argmax and mean ET
   probability (``fold-i/pred{same name}/<patient>.npz``, :mod:`training.oof_predictions`),
   so rules after the argmax (:mod:`training.tune_et_rule`) are tuned without predicting
   again; patients already scored whose file is missing are predicted again for it.

The out-of-fold predictions are the instrument that chooses settings (post-processing,
ablations): every patient is scored by a model that never saw it.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brats_desktop.core.discovery import MODALITIES
from brats_desktop.core.lifetime import dies_with_this_process
from brats_desktop.core.postprocessing import NCR_DEFINITIONS

from .cohort import real_patient_folders
from .folds import make_folds, save_folds, splits_of, stratum_of
from .oof_predictions import predictions_dir, read_reference, save_prediction

REGIONS = ("WT", "TC", "ET")


def patient_strata(folders: list[Path]) -> dict[str, str]:
    """Stratum per patient folder name, from its own segmentation (only the label file is read)."""
    return {folder.name: stratum_of(read_reference(folder)) for folder in folders}


def train_fold(fold_dir: Path, data: list[Path], train_args: list[str], time_limit: float | None, threads: int | None,
               val_every: int = 1) -> None:
    """One fold's ``brats-train`` in a child process (own memory, own resume file); raises on failure."""
    if (fold_dir / "done").exists():
        return
    cmd = [sys.executable, "-m", "training.train"]
    if (fold_dir / "last_state.pt").exists():
        # The state holds the config, not the data: the fold's patients and split come again
        # (without them brats-train has no data, or would deal a new split).
        cmd += ["--resume", str(fold_dir / "last_state.pt")]
    for root in data:
        cmd += ["--data", str(root)]
    cmd += ["--split", str(fold_dir / "split.json"), "--out", str(fold_dir), *train_args]
    if time_limit:
        cmd += ["--time-limit", str(time_limit)]
    if threads:
        cmd += ["--threads", str(threads)]
    cmd += ["--val-every", str(val_every), "--no-progress"]
    with open(fold_dir / "train.log", "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1],
                             **dies_with_this_process())
    if rc != 0:
        raise SystemExit(f"crossval: training {fold_dir.name} failed (exit {rc}); see {fold_dir / 'train.log'}")
    (fold_dir / "done").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"), encoding="utf-8")


def scores_name(tta: str, ensemble_with: Sequence[Path] = (), subset: Sequence[str] | None = None) -> str:
    """Stem of the per-fold cache and the tables: ``oof``/``cv`` for one pass, ``oof-tta-flip``/``cv-tta-flip`` with TTA.

    With ``ensemble_with`` the other runs' names follow ``-ens-`` (``oof-ens-cv-b``,
    ``cv-ens-cv-b.md``), so ``compare_cv run:oof-ens-cv-b`` can read them; a ``subset``
    of sequences follows ``-sub-`` (``oof-sub-flair-t2``).
    """
    ens = "".join(f"-{Path(d).name}" for d in ensemble_with)
    sub = f"-sub-{'-'.join(subset)}" if subset else ""
    return ("" if tta == "none" else f"-tta-{tta}") + (f"-ens{ens}" if ens else "") + sub


def parse_subset(text: str) -> list[str]:
    """``"flair,t2"`` -> ["flair", "t2"] (known sequence names, each once, in the order given)."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in MODALITIES]
    if not names or unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"--subset needs sequence names from {', '.join(MODALITIES)}, each once, comma-separated; got {text!r}")
    return names


def check_subset(model: Any, path: Path, subset: Sequence[str]) -> None:
    """Refuse a model that cannot read the subset: it needs a sequence outside it and was not trained without one."""
    from models.inference import accepts_missing_modalities

    needed = list(model.modalities)
    if not set(needed) & set(subset):
        raise SystemExit(f"crossval: {path} reads {', '.join(needed)}, none of which is in --subset {','.join(subset)}")
    lacking = [m for m in needed if m not in subset]
    if lacking and not accepts_missing_modalities(model):
        raise SystemExit(f"crossval: {path} needs {', '.join(lacking)}, which --subset {','.join(subset)} leaves out, "
                         "and it was not trained with modality dropout (metadata optional_modalities)")


def check_same_folds(out: Path, others: Sequence[Path]) -> None:
    """Refuse an ensemble partner whose folds differ: its fold-i model may have trained on fold i's patients."""
    mine = json.loads((out / "folds.json").read_text(encoding="utf-8"))["folds"]
    for other in others:
        path = Path(other) / "folds.json"
        if not path.exists():
            raise SystemExit(f"crossval: {path} not found: --ensemble-with needs a cross-validation run on the same folds")
        theirs = json.loads(path.read_text(encoding="utf-8"))["folds"]
        if [sorted(f) for f in theirs] != [sorted(f) for f in mine]:
            raise SystemExit(f"crossval: {path} deals the patients into other folds than {out / 'folds.json'}; "
                             "its models would score patients they trained on")


def score_fold(fold_dir: Path, folders: list[Path], ncr_definition: str | None, threads: int | None,
               tta: str = "none", ensemble_with: Sequence[Path] = (), *, subset: Sequence[str] | None = None,
               save_predictions: bool = False) -> list[dict[str, Any]]:
    """Out-of-fold rows of one fold (cached in ``fold-i/oof.json``, ``oof-tta-flip.json`` with TTA).

    ``ensemble_with``: other runs on the same folds (:func:`check_same_folds`) whose
    model of this fold is averaged with this one's. ``subset``: the sequences the model
    may see. ``save_predictions``: keep each patient's raw argmax and ET probability
    (:mod:`training.oof_predictions`); a patient in the cache without its file is
    predicted again for it (the cached rows stay), one the cache lacks was skipped and stays so.
    """
    name = scores_name(tta, ensemble_with, subset)
    cache = fold_dir / f"oof{name}.json"
    cached: list[dict[str, Any]] | None = json.loads(cache.read_text(encoding="utf-8")) if cache.exists() else None
    todo = list(folders)
    if cached is not None:
        scored = {row["patient"] for row in cached}
        pred_dir = predictions_dir(fold_dir, name)
        todo = [f for f in folders if save_predictions and f.name in scored
                and not (pred_dir / f"{f.name}.npz").exists()]
        if not todo:
            return cached
    import torch

    from models.checkpoint import load_model

    from .evaluate import DEFAULT_LESION_METHOD, evaluate_folders

    if threads:
        torch.set_num_threads(threads)
    model = load_model(fold_dir / "best.pt")
    partners = [load_model(Path(d) / fold_dir.name / "best.pt") for d in ensemble_with]
    if subset:
        paths = [fold_dir / "best.pt", *(Path(d) / fold_dir.name / "best.pt" for d in ensemble_with)]
        for member, path in zip([model, *partners], paths):
            check_subset(member, path, subset)
    hook = _prediction_saver(fold_dir, name, tta, ensemble_with, subset, model) if save_predictions else None
    rows = evaluate_folders(model, todo, "cpu", 16, lambda s: print(f"  {fold_dir.name} {s}", file=sys.stderr), ncr_definition,
                            DEFAULT_LESION_METHOD, tta=tta, ensemble=partners, modalities=subset, on_prediction=hook)
    if cached is not None:  # predicted again only for the files: the cached rows stay the fold's scores
        return cached
    for row in rows:
        row["fold"] = fold_dir.name
    cache.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return rows


def _prediction_saver(fold_dir: Path, name: str, tta: str, ensemble_with: Sequence[Path],
                      subset: Sequence[str] | None, model: Any) -> Any:
    """The ``evaluate_folders`` hook writing ``fold-i/pred{name}/<patient>.npz``."""
    from models.inference import model_ncr_definition

    meta = {"fold": fold_dir.name, "model": str(fold_dir / "best.pt"), "model_ncr_definition": model_ncr_definition(model),
            "tta": tta, "ensemble_with": ",".join(str(d) for d in ensemble_with), "subset": ",".join(subset or ())}

    def save(folder: Path, patient: Any, raw: np.ndarray, probabilities: np.ndarray | None) -> None:
        save_prediction(predictions_dir(fold_dir, name) / f"{folder.name}.npz", raw, probabilities, patient.spacing, meta)

    return save


def _table(rows: list[dict[str, Any]], n_folds: int, prefix: str, title: str) -> list[str]:
    """One markdown table of ``{prefix}dice_*`` and ``{prefix}hd95_*``: each fold, the fold means, all patients."""
    keys = [f"{prefix}dice_{r}" for r in REGIONS] + [f"{prefix}hd95_{r}" for r in REGIONS]
    lines = [
        f"| {title} | patients | Dice WT | Dice TC | Dice ET | HD95 WT (mm) | HD95 TC | HD95 ET |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def mean_sd(values: Any, key: str) -> str:
        v = np.asarray(values, dtype=float)
        finite = v[np.isfinite(v)]
        fmt = "{:.3f} ± {:.3f}" if "dice" in key else "{:.1f} ± {:.1f}"
        return fmt.format(finite.mean(), finite.std()) if finite.size else "–"

    fold_means: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(n_folds):
        sub = [r for r in rows if r["fold"] == f"fold-{i}"]
        if not sub:
            continue
        for k in keys:
            v = np.array([r[k] for r in sub], dtype=float)
            fold_means[k].append(float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan"))
        lines.append(f"| fold {i} | {len(sub)} | " + " | ".join(mean_sd([r[k] for r in sub], k) for k in keys) + " |")
    n = len(fold_means[keys[0]])
    lines.append(f"| mean ± sd of the {n} fold means | {len(rows)} | " + " | ".join(mean_sd(fold_means[k], k) for k in keys) + " |")
    lines.append(f"| **all patients** | {len(rows)} | " + " | ".join(mean_sd([r[k] for r in rows], k) for k in keys) + " |")
    return lines


def summarise(rows: list[dict[str, Any]], n_folds: int) -> str:
    """Markdown tables of the out-of-fold scores: global Dice/HD95, then lesion-wise (BraTS 2023+) when scored.

    Each fold's row is mean ± sd over its patients; then mean ± sd over the fold means
    (how much the recipe varies with the training patients), then over all patients.
    """
    lines = _table(rows, n_folds, "", "global")
    if rows and all(f"lw_dice_{r}" in row for row in rows for r in REGIONS):
        lines += ["", *_table(rows, n_folds, "lw_", "lesion-wise")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, train_args = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(prog="python -m training.crossval", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, action="append", required=True, help="folder of labelled patients (repeatable)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--time-limit", type=float, help="minutes of training per fold (LR annealed to it)")
    p.add_argument("--threads", type=int, help="torch CPU threads per process")
    p.add_argument("--val-every", type=int, default=1, metavar="N",
                   help="validate during training every N epochs (0: never; needs select_by=last); "
                   "the held-out patients are scored after training either way")
    p.add_argument("--folds-from", type=Path, metavar="FOLDS_JSON",
                   help="reuse another run's folds.json (patients not in --data dropped): paired comparisons")
    p.add_argument("--only", type=int, action="append", help="train only these fold numbers (parallel jobs)")
    p.add_argument("--score-only", action="store_true", help="do not train; score the finished folds")
    p.add_argument("--ncr-definition", choices=(*NCR_DEFINITIONS, "raw"), default="brats2013",
                   help="meaning of label 1 in the references (BraTS 2013-2020 folders: brats2013)")
    p.add_argument("--tta", choices=("none", "flip"), default="none",
                   help="score the fold models with test-time augmentation (own cache and tables; no training)")
    p.add_argument("--ensemble-with", type=Path, action="append", default=[], metavar="CV_DIR",
                   help="score the mean softmax of this run's and CV_DIR's model of each fold (same folds; "
                   "repeatable; own cache and tables; no training)")
    p.add_argument("--subset", type=parse_subset, metavar="SEQ,SEQ",
                   help="score with only these sequences of each patient, e.g. flair,t2 (a modality-dropout model; "
                   "patients lacking one are skipped; own cache and tables; no training)")
    p.add_argument("--save-predictions", action="store_true",
                   help="also keep each held-out patient's raw argmax and ET probability in fold-i/pred*/ "
                   "(for training.tune_et_rule; with --score-only)")
    args = p.parse_args(argv)
    if args.tta != "none" and not args.score_only:
        p.error("--tta scores finished folds: use it with --score-only")
    if args.ensemble_with and not args.score_only:
        p.error("--ensemble-with scores finished folds: use it with --score-only")
    for flag, value in (("--subset", args.subset), ("--save-predictions", args.save_predictions)):
        if value and not args.score_only:
            p.error(f"{flag} scores finished folds: use it with --score-only")
    folders = real_patient_folders(args.data)
    by_name = {f.name: f for f in folders}
    folds_file = args.out / "folds.json"
    if not folds_file.exists() and args.folds_from is not None:
        # Same patient-to-fold assignment as another run, restricted to the patients given here,
        # so two recipes (e.g. with and without T2) are compared on identical held-out patients.
        stored = json.loads(args.folds_from.read_text(encoding="utf-8"))
        kept = [sorted(n for n in fold if n in by_name) for fold in stored["folds"]]
        unknown = sorted(set(by_name) - {n for fold in stored["folds"] for n in fold})
        if unknown:
            raise SystemExit(f"crossval: {args.folds_from} has no fold for {', '.join(unknown)}")
        save_folds(splits_of(kept, args.seed), {n: st for n, st in stored["strata"].items() if n in by_name}, args.out)
        print(f"crossval: folds of {args.folds_from} kept for {len(by_name)} patients -> {folds_file}", file=sys.stderr)
    if folds_file.exists():
        stored = json.loads(folds_file.read_text(encoding="utf-8"))
        folds = splits_of(stored["folds"], args.seed)
    else:
        strata = patient_strata(folders)
        folds = make_folds(strata, args.folds, args.seed)
        save_folds(folds, strata, args.out)
        print(f"crossval: {len(folders)} patients in {len(folds)} folds -> {folds_file}", file=sys.stderr)
    definition = None if args.ncr_definition == "raw" else args.ncr_definition
    if args.ensemble_with:
        check_same_folds(args.out, args.ensemble_with)
    rows: list[dict[str, Any]] = []
    held_out = 0  # patients of the folds scored (the subset's table says how many of them had its sequences)
    for i, split in enumerate(folds):
        fold_dir = args.out / f"fold-{i}"
        if args.only and i not in args.only:
            continue
        if not args.score_only:
            print(f"crossval: training fold {i} ({len(split.train)} train / {len(split.val)} val)", file=sys.stderr)
            train_fold(fold_dir, args.data, train_args, args.time_limit, args.threads, args.val_every)
        if not (fold_dir / "done").exists():
            if (fold_dir / "best.pt").exists():
                # A fold still training (another --only job) has a best.pt of some epoch: scoring it
                # would cache a half-trained model's rows in oof.json for good.
                print(f"crossval: {fold_dir.name} has not finished training (no 'done'): not scored", file=sys.stderr)
            continue
        if args.ensemble_with and not all((Path(d) / fold_dir.name / "done").exists() for d in args.ensemble_with):
            print(f"crossval: {fold_dir.name} is not finished in every --ensemble-with run: not scored", file=sys.stderr)
            continue
        if (fold_dir / "best.pt").exists():
            held_out += len(split.val)
            rows += score_fold(fold_dir, [by_name[n] for n in split.val], definition, args.threads, args.tta,
                               args.ensemble_with, subset=args.subset, save_predictions=args.save_predictions)
    if not rows:
        return 0
    cols = ["fold", "patient"] + [k for k in rows[0] if k not in ("fold", "patient")]
    stem = f"cv{scores_name(args.tta, args.ensemble_with, args.subset)}"
    with open(args.out / f"{stem}.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    table = summarise(rows, len(folds))
    if args.subset:
        table = (f"Sequences {', '.join(m.upper() for m in args.subset)} only: {len(rows)} of {held_out} held-out "
                 f"patients scored ({held_out - len(rows)} lack one of them).\n\n") + table
    (args.out / f"{stem}.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
