"""Patient-level folds of the click model, then the final model on every patient, in one resumable chain.

    nice -n 10 python -m training.interactive_cv --data ../shared/data/brats2013-train \\
        --data ../shared/data/brats2018-train --out runs/click-cv --minutes 11 --final-minutes 20

The folds are the automatic model's cross-validation folds (:func:`training.folds.make_folds`,
same strata, same seed 42; or ``--folds-from`` another run's ``folds.json``), so each
patient's out-of-fold click model never trained on it. Layout: ``folds.json``,
``fold-i/split.json``, ``fold-i/model.pt`` (+ ``history.csv``, ``val.csv``), ``final/model.pt``.
A finished run (``done``) is skipped; an interrupted one resumes from its ``last_state.pt``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from .cohort import real_patient_folders
from .crossval import patient_strata
from .folds import make_folds, save_folds, splits_of


def run(out: Path, data: list[Path], extra: list[str]) -> None:
    if (out / "done").exists():
        return
    cmd = [sys.executable, "-m", "training.interactive_train", "--out", str(out)]
    for root in data:
        cmd += ["--data", str(root)]
    cmd += extra
    if (out / "last_state.pt").exists():
        cmd.append("--resume")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "stdout.log", "a", encoding="utf-8") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1])
    if rc != 0:
        raise SystemExit(f"interactive_cv: {out} failed (exit {rc}); see {out / 'stdout.log'}")


def summarise(out: Path) -> str:
    """Per fold, the held-out windows' Dice after 3 robot clicks (engine's locality rule) of the untrained
    (warm-started) model and of the trained one, and the mean difference: the evidence for shipping either."""
    import csv

    rows = []
    for fold in sorted(out.glob("fold-*")):
        path = fold / "val.csv"
        if not (fold / "done").exists() or not path.exists():
            continue
        with open(path, newline="", encoding="utf-8") as fh:
            val = list(csv.DictReader(fh))
        first, last = val[0], val[-1]
        rows.append((fold.name, first, last))
    regions = ("WT", "TC", "ET")
    lines = ["| fold | no clicks WT/TC/ET | untrained, 3 clicks | trained, 3 clicks | steps |", "|---|---|---|---|---|"]
    diffs = []
    for name, first, last in rows:
        def trio(row, key):
            return " / ".join(f"{float(row[f'{key}_{r}']):.3f}" for r in regions)
        lines.append(f"| {name} | {trio(first, 'before')} | {trio(first, 'local')} | {trio(last, 'local')} | {last['step']} |")
        diffs.append([float(last[f"local_{r}"]) - float(first[f"local_{r}"]) for r in regions])
    if diffs:
        import numpy as np

        d = np.asarray(diffs)
        se = d.std(axis=0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.full(3, np.nan)
        lines.append("| trained - untrained (mean ± s.e. over folds) | | | "
                     + " / ".join(f"{m:+.3f} ± {e:.3f}" for m, e in zip(d.mean(axis=0), se)) + " | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.interactive_cv", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, action="append", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--folds-from", type=Path)
    p.add_argument("--minutes", type=float, default=11.0)
    p.add_argument("--final-minutes", type=float, default=20.0, help="0: no final model")
    p.add_argument("--only", type=int, action="append", help="train only these folds")
    p.add_argument("--summary", action="store_true", help="only write cv.md from the finished folds' val.csv")
    args, extra = p.parse_known_args(argv)
    if args.summary:
        text = summarise(args.out)
        (args.out / "cv.md").write_text(text, encoding="utf-8")
        print(text, end="")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    folds_json = args.out / "folds.json"
    if not folds_json.exists():
        if args.folds_from:
            stored = json.loads(args.folds_from.read_text(encoding="utf-8"))
            save_folds(splits_of(stored["folds"], args.seed), stored["strata"], args.out)
        else:
            strata = patient_strata(real_patient_folders(args.data))
            save_folds(make_folds(strata, args.folds, args.seed), strata, args.out)
    n = len(json.loads(folds_json.read_text(encoding="utf-8"))["folds"])
    for i in range(n):
        if args.only and i not in args.only:
            continue
        fold = args.out / f"fold-{i}"
        run(fold, args.data, ["--split", str(fold / "split.json"), "--minutes", str(args.minutes), *extra])
    if args.final_minutes > 0 and not args.only:
        run(args.out / "final", args.data, ["--minutes", str(args.final_minutes), *extra])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
