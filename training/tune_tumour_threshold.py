"""Choose how a tier decides whole tumour, on saved out-of-fold class probabilities.

The two-plane Accurate tier under-draws the whole tumour: out of fold its members'
mean misses about 2.6 tumour voxels for each one it draws too many, mostly at the edge,
where the axial and the coronal model disagree and their mean splits the vote. Deciding
whole tumour first (:func:`brats_desktop.core.decision.decide_labels`: a voxel is tumour
when its background probability is below a threshold) moves that edge outward without
retraining. This script measures each threshold on the fold models' own held-out
patients, without predicting again::

    python -m training.crossval --data ../shared/data/brats2013-train \\
        --data ../shared/data/brats2018-train --out runs/acc-w24 --score-only --save-predictions \\
        --ensemble-with runs/acc-coronal
    python -m training.tune_tumour_threshold runs/acc-axial runs/acc-w24:ens-acc-coronal \
        --baseline runs/acc-axial --out runs/tumour-first.md

``RUN_DIR[:STEM]`` as :mod:`training.oof_tuning` reads it; the files must hold every
class's probability (``--save-predictions`` writes them). Each decision gets the app's
whole post-processing (label 1 in the references' meaning, ``--ncr-definition``), then
Dice against the reference. 0.5 needs no choosing (tumour where the tumour classes
together are likelier than background); for higher thresholds the nested choice (the
threshold of best mean WT/TC/ET Dice on the other folds' patients, applied to each fold's
own) is the honest estimate.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brats_desktop.core.decision import decide_labels
from brats_desktop.core.metrics import compare
from brats_desktop.core.postprocessing import postprocess

from . import oof_tuning
from .compare_cv import paired, verdict
from .oof_tuning import (common_arguments, crop_box, definition_of, emit, floats, log, mean_of, patient_folders,
                         saved_cases)

REGIONS = ("WT", "TC", "ET")
DEFAULT_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
Threshold = float | None  # None: the plain argmax


@dataclass
class ThresholdCase:
    """One held-out patient: the saved probabilities and the reference, cropped alike."""

    name: str
    fold: int
    probabilities: np.ndarray  # uint8 (classes, box)
    raw: np.ndarray  # the argmax the scoring took at full precision (the quantised probabilities may tie)
    reference: np.ndarray
    spacing: tuple[float, float, float]
    model_ncr_definition: str
    low_grade: bool


def load_cases(spec: str, folders: dict[str, Path]) -> list[ThresholdCase]:
    """Every saved prediction of ``RUN_DIR[:STEM]`` with its probabilities, beside its reference."""
    cases = []
    for case in saved_cases(spec, folders, "tune_tumour_threshold"):
        saved = case.saved
        if saved.probabilities is None:
            raise SystemExit(f"tune_tumour_threshold: {saved.patient}'s file in {spec} holds no class probabilities "
                             "(written before they were kept): move its folder aside and score again with "
                             "--save-predictions")
        # Every voxel some threshold could make tumour: its background probability is below 1.
        reachable = (saved.probabilities[0] < 255).astype(np.uint8)
        box = crop_box(reachable, case.reference, saved.raw)
        cases.append(ThresholdCase(saved.patient, case.fold, saved.probabilities[(slice(None), *box)],
                                   saved.raw[box], case.reference[box], saved.spacing,
                                   saved.meta.get("model_ncr_definition", "brats2013"), case.low_grade))
    return cases


def score_thresholds(cases: Sequence[ThresholdCase], thresholds: Sequence[Threshold], ncr_definition: str | None
                     ) -> dict[Threshold, dict[str, dict[str, float]]]:
    """``{threshold: {patient: {"dice_WT", "dice_TC", "dice_ET", "mean"}}}`` after the app's post-processing."""
    out: dict[Threshold, dict[str, dict[str, float]]] = {}
    for threshold in thresholds:
        rows = {}
        for case in cases:
            raw = decide_labels(case.probabilities, threshold, plain=case.raw)
            labels = postprocess(raw, target=ncr_definition or case.model_ncr_definition,
                                 source=case.model_ncr_definition, spacing=case.spacing)
            c = compare(labels, case.reference)
            row = {f"dice_{r}": c[r].dice for r in REGIONS}
            row["mean"] = float(np.mean([row[f"dice_{r}"] for r in REGIONS]))
            rows[case.name] = row
        out[threshold] = rows
    return out


def describe(threshold: Threshold) -> str:
    return "argmax" if threshold is None else f"background < {threshold:g}"


def nested_choice(cases: Sequence[ThresholdCase], scores: dict[Threshold, dict[str, dict[str, float]]]
                  ) -> tuple[dict[str, dict[str, float]], dict[int, Threshold]]:
    """Each fold's patients scored with the threshold of best mean Dice on the other folds' (ties: the earlier)."""
    return oof_tuning.nested_choice(cases, scores, "mean")  # type: ignore[return-value]


def _summary(d: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{r} {d[f'dice_{r}']['candidate']:.3f} vs {d[f'dice_{r}']['reference']:.3f} "
                     f"({d[f'dice_{r}']['diff']:+.3f} ± {d[f'dice_{r}']['diff_se']:.3f}, {verdict(d[f'dice_{r}'])})"
                     for r in REGIONS)


def threshold_table(name: str, cases: Sequence[ThresholdCase], scores: dict[Threshold, dict[str, dict[str, float]]],
                    baseline: tuple[str, dict[str, dict[str, float]]] | None = None) -> str:
    """Markdown: per decision the mean Dice and its paired difference from the argmax; then the nested choice.

    ``baseline`` (name, rows of another run's argmax on the same patients): each decision against it too.
    """
    everyone = [c.name for c in cases]
    low = [c.name for c in cases if c.low_grade]
    keys = [f"dice_{r}" for r in REGIONS]
    plain = scores[None]
    lines = [f"### `{name}`: {len(everyone)} out-of-fold patients", "",
             "| decision | Dice WT | TC | ET | ΔWT ± se | ΔTC ± se | ΔET ± se | low-grade WT | low-grade ET |",
             "| --- " * 9 + "|"]
    for threshold, rows in scores.items():
        d = paired(plain, rows, keys)
        lines.append(f"| {describe(threshold)} | " + " | ".join(f"{mean_of(rows, everyone, k):.3f}" for k in keys) + " | "
                     + " | ".join(f"{d[k]['diff']:+.3f} ± {d[k]['diff_se']:.3f}" for k in keys) + " | "
                     + " / ".join(f"{rows[n]['dice_WT']:.3f}" for n in low) + " | "
                     + " / ".join(f"{rows[n]['dice_ET']:.3f}" for n in low) + " |")
    nested, chosen = nested_choice(cases, scores)
    lines += ["", "Δ: paired difference from the argmax, mean ± its standard error over the patients.", "",
              "Nested over folds (each fold scored with the decision of best mean WT/TC/ET Dice on the other folds): "
              + _summary(paired(plain, nested, keys)) + ". Chosen per fold: "
              + ", ".join(f"fold {k}: {describe(v)}" for k, v in chosen.items()) + "."]
    if baseline is not None:
        other, rows = baseline
        shared = [n for n in everyone if n in rows]
        lines += ["", f"Against `{other}` (its argmax), on the {len(shared)} patients both scored:", ""]
        for threshold, mine in scores.items():
            lines.append(f"- {describe(threshold)}: " + _summary(paired({n: rows[n] for n in shared},
                                                                        {n: mine[n] for n in shared}, keys)))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.tune_tumour_threshold", description=__doc__.split("\n\n")[0])
    common_arguments(p)
    p.add_argument("--thresholds", type=floats, default=DEFAULT_THRESHOLDS, metavar="T,T",
                   help="background probabilities below which a voxel is tumour "
                   f"(default {','.join(map(str, DEFAULT_THRESHOLDS))}; the plain argmax is always scored)")
    p.add_argument("--baseline", metavar="RUN_DIR[:STEM]",
                   help="also compare every decision with this run's plain argmax (e.g. the Fast recipe's folds)")
    args = p.parse_args(argv)
    folders = patient_folders(args)
    definition = definition_of(args)
    thresholds: list[Threshold] = [None, *sorted(set(args.thresholds))]
    baseline = None
    if args.baseline:
        baseline = (args.baseline, score_thresholds(load_cases(args.baseline, folders), [None], definition)[None])
    parts = []
    for spec in args.runs:
        cases = load_cases(spec, folders)
        log(f"{spec}: {len(cases)} patient(s)")
        parts.append(threshold_table(spec, cases, score_thresholds(cases, thresholds, definition), baseline))
    emit("\n".join(parts), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
