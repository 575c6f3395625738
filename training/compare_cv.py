"""Paired comparison of cross-validation runs: which recipe the folds prefer, patient by patient.

Two recipes trained on the same folds (``crossval --folds-from``) are scored on the same
held-out patients, so their difference is measured per patient: the mean difference,
its standard error, and on how many patients the candidate wins. That is the evidence a
setting (T2 as input, the synthetic cohort, ...) has to show before it goes into the
bundled model: a mean difference within twice its standard error (sd / sqrt(n), a paired
test at about 5 %) is reported as "no clear difference", not as a gain.

Example::

    python -m training.compare_cv runs/cv-real runs/cv-t2 runs/cv-syn --out runs/cv-compare.md
    python -m training.compare_cv runs/cv-real runs/cv-real:oof-tta-flip   # same models, TTA
    python -m training.compare_cv runs/eval-bundled/evaluation.json runs/cv-real  # shipped vs folds

The first run is the reference; each other run is compared with it on the patients both
scored (a run needing T2 has no rows for the patients without it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REGIONS = ("WT", "TC", "ET")
METRICS = tuple(f"dice_{r}" for r in REGIONS) + tuple(f"lw_dice_{r}" for r in REGIONS)


def load_rows(run: Path | str) -> dict[str, dict[str, Any]]:
    """Out-of-fold rows of a crossval run by patient: every ``fold-i/oof.json``.

    ``RUN:NAME`` reads ``fold-i/NAME.json`` instead: the same fold models scored another
    way (``crossval --score-only --tta flip`` writes ``oof-tta-flip.json``). A
    ``brats-evaluate`` ``evaluation.json`` is read as one model's rows, so a shipped model
    can be compared with the out-of-fold models on the patients it never saw.
    """
    if str(run).endswith(".json") and Path(run).is_file():
        cases = json.loads(Path(run).read_text(encoding="utf-8")).get("cases", [])
        if not cases:
            raise SystemExit(f"compare_cv: {run} has no per-case rows (not a brats-evaluate evaluation.json?)")
        return {row["patient"]: row for row in cases}
    folder, _, name = str(run).partition(":")
    pattern = f"fold-*/{name or 'oof'}.json"
    rows: dict[str, dict[str, Any]] = {}
    for oof in sorted(Path(folder).glob(pattern)):
        for row in json.loads(oof.read_text(encoding="utf-8")):
            rows[row["patient"]] = row
    if not rows:
        raise SystemExit(f"compare_cv: {folder} has no scored folds ({pattern})")
    return rows


def paired(reference: dict[str, dict[str, Any]], candidate: dict[str, dict[str, Any]],
           metrics: Sequence[str] = METRICS) -> dict[str, dict[str, float]]:
    """Per metric on the shared patients: both means, the mean and sd of (candidate - reference), wins, losses."""
    shared = sorted(set(reference) & set(candidate))
    out: dict[str, dict[str, float]] = {}
    for key in metrics:
        pairs = [(reference[p].get(key), candidate[p].get(key)) for p in shared]
        pairs = [(float(a), float(b)) for a, b in pairs if a is not None and b is not None]
        if not pairs:
            continue
        a, b = np.array(pairs).T
        d = b - a
        out[key] = {
            "n": float(len(d)), "reference": float(a.mean()), "candidate": float(b.mean()),
            "diff": float(d.mean()), "diff_sd": float(d.std()),
            "diff_se": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf"),
            "wins": float(np.sum(d > 0.005)), "losses": float(np.sum(d < -0.005)),
        }
    return out


def verdict(s: dict[str, float]) -> str:
    """"better", "worse" or "no clear difference": the mean difference against twice its standard error."""
    if abs(s["diff"]) <= 2 * s["diff_se"]:
        return "no clear difference"
    return "better" if s["diff"] > 0 else "worse"


def table(names: Sequence[str], runs: Sequence[dict[str, dict[str, Any]]]) -> str:
    """Markdown: one row per candidate and metric, against the first run."""
    lines = [
        f"Reference: `{names[0]}`. Differences are candidate − reference per patient (mean ± sd); "
        "wins/losses count patients that moved by more than 0.005; the verdict compares the mean "
        "difference with twice its standard error.",
        "",
        "| candidate | metric | patients | reference | candidate | difference | standard error | wins / losses | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rows in zip(names[1:], runs[1:]):
        for key, s in paired(runs[0], rows).items():
            lines.append(
                f"| {name} | {key} | {int(s['n'])} | {s['reference']:.3f} | {s['candidate']:.3f} | "
                f"{s['diff']:+.3f} ± {s['diff_sd']:.3f} | {s['diff_se']:.3f} | {int(s['wins'])} / {int(s['losses'])} | "
                f"{verdict(s)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.compare_cv", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+",
                   help="crossval output folders (RUN:NAME reads fold-*/NAME.json) or brats-evaluate "
                   "evaluation.json files; the first is the reference")
    p.add_argument("--out", type=Path, help="also write the table here")
    args = p.parse_args(argv)
    if len(args.runs) < 2:
        p.error("give a reference run and at least one candidate")
    text = table([str(r) for r in args.runs], [load_rows(r) for r in args.runs])
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
