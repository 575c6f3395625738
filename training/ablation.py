"""Measure what each departure of the ``default`` config from the tutorial's ``seed`` buys.

Example (the run reported in the README)::

    python -m training.ablation --data ../shared/data/brats2013-train --synthetic 40 \\
        --split runs/bundled-v2/split.json --epochs 6 --samples-per-epoch 800 --jobs 2 \\
        --evaluate ../shared/data/brainles-sample-case --out runs/ablation

Every variant is ``default`` with one change undone (``--set`` overrides of
``brats-train``), trained with the same data, split, seed and budget of training
slices; ``seed`` is the tutorial's recipe itself. Each variant's best checkpoint (by
validation) is then scored with ``brats-evaluate``'s functions on the real validation
patients of the split, on the ``--evaluate`` folders, which no variant trained on, and
on held-out synthetic test cases of the split (more cases, but not real MRI).
Results: ``ablation.csv`` and ``ablation.md`` (a table) in ``--out``. Variants whose
folder already holds a finished run are not trained again, so an interrupted ablation
resumes.

A short budget ranks changes; it does not give converged Dice. One run is one training
seed per variant; repeat with ``--seed`` (and another ``--out``) to see the run-to-run
noise, which is several hundredths.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from brats_desktop.core.lifetime import dies_with_this_process
from models.checkpoint import load_model
from models.inference import postprocess_prediction, predict_volume

from .cohort import synthetic_case
from .evaluate import evaluate_folders, labelled_folders, score
from .split import Split

REPO_ROOT = Path(__file__).resolve().parents[1]

# name -> (what the variant undoes, brats-train arguments relative to the default config)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "default": ("nothing: the default config", []),
    "no-context": ("2.5-D context -> plain 2-D slices", ["--set", "pre_context=0"]),
    "resize-128": (
        "native-resolution brain box -> whole slice resized to 128x128",
        ["--set", "pre_crop=full", "--set", "pre_margin=0", "--set", "pre_resize=[128,128]", "--set", "patch_size=null"],
    ),
    "slices-60-135": (
        "all slices with empty-slice subsampling -> axial slices 60-134 only, all kept",
        ["--set", "slice_range=[60,135]", "--set", "empty_slice_fraction=1.0"],
    ),
    "ce-loss": ("Dice + cross-entropy -> cross-entropy", ["--set", "loss=ce"]),
    "no-augment": ("augmentation -> none", ["--set", "augment=null"]),
    "max-norm": ("z-score inside the brain -> division by the volume maximum", ["--set", "pre_normalisation=max_volume"]),
    "seed": ("everything: the tutorial's recipe (base 32, 128x128, slices 60-134, CE, no augmentation)", ["--config", "seed"]),
    # The real training cases have FLAIR + T1CE only, so modalities are compared on the synthetic cohort alone.
    "synthetic-2mod": ("(reference for the next row) synthetic cohort only, FLAIR + T1CE", ["--synthetic-only"]),
    "synthetic-4mod": ("two modalities -> all four (synthetic cohort only)", ["--synthetic-only", "--modalities", "flair,t1ce,t1,t2"]),
}
COLUMNS = (
    "variant", "undoes", "epochs", "train_slices", "train_slices_per_s", "minutes",
    "val_WT", "val_TC", "val_ET", "val_mean", "test_WT", "test_TC", "test_ET", "test_mean",
    "syn_WT", "syn_TC", "syn_ET", "syn_mean",
)


def seed_epochs(split: Split, budget: int, slices_per_patient: int = 75) -> int:
    """Epochs of the tutorial's patient batching that see about ``budget`` training slices."""
    return max(1, round(budget / (len(split.train) * slices_per_patient)))


def train_variant(name: str, extra: list[str], args: argparse.Namespace, epochs: int, out: Path) -> int:
    """One ``brats-train`` process with ``--threads`` torch threads; its log goes to ``out/train.log``."""
    out.mkdir(parents=True, exist_ok=True)
    synthetic_only = "--synthetic-only" in extra
    extra = [a for a in extra if a != "--synthetic-only"]
    cmd = [sys.executable, "-m", "training.train", *extra, "--out", str(out), "--epochs", str(epochs),
           "--threads", str(args.threads), "--synthetic", str(args.synthetic),
           "--synthetic-val", str(args.synthetic_val), "--seed", str(args.seed),
           "--name", f"ablation-{name}", "--no-progress"]
    if "--config" not in extra:
        cmd += ["--samples-per-epoch", str(args.samples_per_epoch)]
    if not synthetic_only:  # the same real + synthetic split for every variant
        cmd += ["--split", str(args.split), "--real-fraction", str(args.real_fraction)]
        for root in args.data:
            cmd += ["--data", str(root)]
    with open(out / "train.log", "w", encoding="utf-8") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        rc = subprocess.run(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, **dies_with_this_process()).returncode
    if rc == 0:
        (out / "finished").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"), encoding="utf-8")
    return rc


def mean_dice(rows: list[dict[str, Any]]) -> dict[str, float]:
    if not rows:
        return {k: float("nan") for k in ("WT", "TC", "ET", "mean")}
    out = {k: sum(r[f"dice_{k}"] for r in rows) / len(rows) for k in ("WT", "TC", "ET")}
    out["mean"] = (out["WT"] + out["TC"] + out["ET"]) / 3
    return out


def synthetic_scores(model: Any, names: list[str], cache: Path | None) -> list[dict[str, Any]]:
    """Dice on held-out synthetic test cases (many cases, so less noisy than one real case; not real MRI)."""
    rows = []
    for name in names:
        case = synthetic_case(int(name.rsplit("-", 1)[1]), model.modalities, cache_dir=cache)
        pred = postprocess_prediction(model, predict_volume(model, case.images), "brats2021")
        rows.append(score(pred, case.labels, case.spacing))
    return rows


def summarise(
    name: str, out: Path, val_folders: list[Path], test_folders: list[Path], test_definition: str,
    synthetic_test: list[str], cache: Path | None,
) -> dict[str, Any]:
    """Score the variant's best checkpoint on real validation and test folders, post-processed as the app does.

    Label 1 is given each reference's meaning: BraTS 2013 for the validation cases,
    BraTS 2021 for the test folders (brainles-sample-case follows the 2023 protocol).
    """
    history = list(csv.DictReader(open(out / "history.csv", encoding="utf-8")))
    model = load_model(out / "best.pt")
    val = mean_dice(evaluate_folders(model, val_folders, ncr_definition="brats2013"))
    test = mean_dice(evaluate_folders(model, test_folders, ncr_definition=test_definition))
    syn = mean_dice(synthetic_scores(model, synthetic_test, cache))
    slices_per_s = [float(r["train_slices_per_s"]) for r in history]
    seconds = sum(float(r["seconds"]) for r in history)
    return {
        "variant": name,
        "undoes": VARIANTS[name][0],
        "epochs": len(history),
        "train_slices": round(sum(s * float(r["seconds"]) for s, r in zip(slices_per_s, history))),
        "train_slices_per_s": sum(slices_per_s) / len(slices_per_s),
        "minutes": seconds / 60,
        **{f"val_{k}": v for k, v in val.items()},
        **{f"test_{k}": v for k, v in test.items()},
        **{f"syn_{k}": v for k, v in syn.items()},
    }


def write_table(rows: list[dict[str, Any]], out: Path) -> None:
    with open(out / "ablation.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    lines = [
        "| variant | undoes | slices/s | val WT | val TC | val ET | test WT | test TC | test ET | test mean | synthetic mean |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['undoes']} | {r['train_slices_per_s']:.1f} | {r['val_WT']:.3f} | {r['val_TC']:.3f} | "
            f"{r['val_ET']:.3f} | {r['test_WT']:.3f} | {r['test_TC']:.3f} | {r['test_ET']:.3f} | {r['test_mean']:.3f} | "
            f"{r['syn_mean']:.3f} |"
        )
    (out / "ablation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", action="append", type=Path, required=True, help="labelled training cohort (repeatable)")
    p.add_argument("--synthetic", type=int, default=40)
    p.add_argument("--synthetic-val", type=int, default=2)
    p.add_argument("--split", type=Path, required=True, help="split.json shared by every variant")
    p.add_argument("--real-fraction", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--samples-per-epoch", type=int, default=800)
    p.add_argument("--evaluate", action="append", type=Path, default=[], help="labelled test folders never trained on")
    p.add_argument("--synthetic-test", type=int, default=6, help="held-out synthetic test cases of the split to score")
    p.add_argument("--test-ncr-definition", default="brats2021", help="meaning of label 1 in the --evaluate references")
    p.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--jobs", type=int, default=1, help="variants trained at once")
    p.add_argument("--seed", type=int, default=42, help="training seed of every variant (repeat with others for noise)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "ablation")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.variants.split(",")] if args.variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"ablation: unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    split = Split.load(args.split)
    budget = args.epochs * args.samples_per_epoch

    def run(name: str) -> tuple[str, int]:
        out = args.out / name
        if (out / "finished").exists():
            return name, 0
        extra = VARIANTS[name][1]
        epochs = seed_epochs(split, budget) if "--config" in extra else args.epochs
        print(f"[{time.strftime('%H:%M:%S')}] training {name}", file=sys.stderr, flush=True)
        return name, train_variant(name, extra, args, epochs, out)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(run, names))
    failed = [n for n, rc in results if rc != 0]
    for n in failed:
        print(f"ablation: {n} failed; see {args.out / n / 'train.log'}", file=sys.stderr)
    torch.set_num_threads(max(1, args.threads * args.jobs))
    val_folders = []
    for root in args.data:
        val_folders += [f for f in labelled_folders([root]) if f.name in split.val]
    test_folders = labelled_folders(args.evaluate) if args.evaluate else []
    synthetic_test = [n for n in split.test if n.startswith("synthetic-")][: args.synthetic_test]
    cache = REPO_ROOT / "runs" / "synthetic-cache"
    rows = [
        summarise(n, args.out / n, val_folders, test_folders, args.test_ncr_definition, synthetic_test, cache)
        for n in names
        if n not in failed
    ]
    write_table(rows, args.out)
    print((args.out / "ablation.md").read_text(encoding="utf-8"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
