"""Choose the enhancing-tumour rule for low-grade tumours on saved out-of-fold predictions.

A low-grade tumour has little or no enhancing tumour; the network still draws a small
enhancing blob, and ET Dice of a blob against an empty reference is 0 (1 when both are
empty). The BraTS winners' answer, :func:`brats_desktop.core.postprocessing.enhancing_volume_rule`:
predicted enhancing tumour below a volume becomes label 1. Its threshold is a trade:
too high and a high-grade tumour's small real enhancement goes too. This script measures
that trade on the fold models' own held-out patients, without predicting again::

    python -m training.crossval --data ../shared/data/brats2013-train \\
        --data ../shared/data/brats2018-train --out runs/acc-axial --score-only --save-predictions
    python -m training.tune_et_rule runs/acc-axial runs/acc-axial:tta-flip --out runs/et-rule.md

``RUN_DIR[:STEM]`` reads ``RUN_DIR/fold-i/pred{-STEM}/*.npz`` (:mod:`training.oof_predictions`;
STEM as crossval names its scorings: ``tta-flip``, ``ens-acc-coronal``, ``sub-flair-t2``;
``pred-…`` and ``oof-…`` are accepted too). Each prediction gets the app's post-processing
(:func:`~brats_desktop.core.postprocessing.postprocess`, label 1 in the references' meaning,
``--ncr-definition`` brats2013 for these folders, as crossval scores), then each candidate
rule: none; the whole case's ET volume below T mL; each 26-connected ET piece below T mL;
and, where the ET probability was saved, ET pieces whose mean ET probability is below p.
References come from the patient folders (``--data``).

The table gives, per candidate, mean Dice of WT/TC/ET over all patients with the paired
difference from no rule (mean ± standard error), the low-grade patients (``low_enhancing``
in ``folds.json``) one by one, and the rest. The rule of best mean ET gain is chosen on
the same predictions it is reported on, which flatters it a little; the nested choice
(the best candidate on the other folds' patients, applied to each fold's own) is the
honest estimate and is shown below the table.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brats_desktop.core.metrics import compare
from brats_desktop.core.postprocessing import (
    NCR_DEFINITIONS,
    PostprocessParams,
    enhancing_volume_rule,
    postprocess,
    uncertain_enhancing_to_necrosis,
)

from . import oof_tuning
from .compare_cv import paired, verdict
from .oof_tuning import (best_option, common_arguments, crop_box, definition_of, emit, floats, log, mean_of,
                         patient_folders, saved_cases)
from .oof_tuning import prediction_folder_name as prediction_folder_name  # where earlier callers import it from

REGIONS = ("WT", "TC", "ET")
DEFAULT_VOLUMES_ML = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_PROBABILITIES = (0.4, 0.5, 0.6)
_ONLY_CONVERSION = PostprocessParams(min_fraction=None)  # postprocess with every step off but label 1's meaning
Log = Callable[[str], None]


@dataclass(frozen=True)
class Rule:
    """One candidate: ``kind`` "none", "total" / "per_lesion" (mL) or "probability" (mean ET probability)."""

    kind: str
    threshold: float = 0.0

    def describe(self) -> str:
        return {"none": "no rule",
                "total": f"ET in all < {self.threshold:g} mL",
                "per_lesion": f"each ET piece < {self.threshold:g} mL",
                "probability": f"ET piece mean p < {self.threshold:g}"}[self.kind]

    def apply(self, labels: np.ndarray, et_probability: np.ndarray | None, spacing: tuple[float, float, float]) -> np.ndarray:
        if self.kind == "none":
            return labels
        if self.kind == "probability":
            if et_probability is None:
                raise ValueError("the probability rule needs the saved ET probability")
            return uncertain_enhancing_to_necrosis(labels, et_probability, self.threshold)
        return enhancing_volume_rule(labels, spacing, self.threshold, per_lesion=self.kind == "per_lesion")


def candidate_rules(volumes_ml: Sequence[float] = DEFAULT_VOLUMES_ML,
                    probabilities: Sequence[float] = DEFAULT_PROBABILITIES) -> list[Rule]:
    """No rule first (ties go to it, then to the earlier, milder candidate)."""
    rules = [Rule("none")]
    rules += [Rule("total", v) for v in volumes_ml if v > 0]
    rules += [Rule("per_lesion", v) for v in volumes_ml if v > 0]
    rules += [Rule("probability", p) for p in probabilities if p > 0]
    return rules


@dataclass
class OofCase:
    """One held-out patient: the post-processed prediction (before any ET rule) and the reference, cropped alike."""

    name: str
    fold: int
    labels: np.ndarray
    et_probability: np.ndarray | None  # uint8 0-255
    reference: np.ndarray
    spacing: tuple[float, float, float]
    model_ncr_definition: str
    low_grade: bool


def load_run(spec: str, folders: dict[str, Path], log: Log = lambda s: None) -> list[OofCase]:
    """Every saved prediction of ``RUN_DIR[:STEM]``, post-processed as the app does, beside its reference."""
    cases: list[OofCase] = []
    for case in saved_cases(spec, folders, "tune_et_rule"):
        saved = case.saved
        source = saved.meta.get("model_ncr_definition", "brats2013")
        # The app's post-processing up to (not including) label 1's change of meaning: the rules decide before it.
        labels = postprocess(saved.raw, target=source, source=source, spacing=saved.spacing)
        box = crop_box(labels, case.reference)
        et = None if saved.et_probability is None else saved.et_probability[box]
        cases.append(OofCase(saved.patient, case.fold, labels[box], et, case.reference[box], saved.spacing,
                             source, case.low_grade))
    log(f"{spec}: {len(cases)} patient(s) from {len({c.fold for c in cases})} fold(s), "
        f"{sum(c.low_grade for c in cases)} low-grade")
    return cases


def finish(case: OofCase, labels: np.ndarray, ncr_definition: str | None) -> np.ndarray:
    """Label 1 given the references' meaning after the rule (nothing to do when the meanings agree)."""
    if ncr_definition is None or ncr_definition == case.model_ncr_definition:
        return labels
    return postprocess(labels, target=ncr_definition, source=case.model_ncr_definition, params=_ONLY_CONVERSION)


def score_rules(cases: Sequence[OofCase], rules: Sequence[Rule], ncr_definition: str | None = "brats2013"
                ) -> dict[Rule, dict[str, dict[str, float]]]:
    """Dice of WT/TC/ET per rule and patient: ``{rule: {patient: {"dice_WT": ...}}}`` (core.metrics: empty/empty = 1)."""
    out: dict[Rule, dict[str, dict[str, float]]] = {}
    seen: dict[tuple[str, bytes], dict[str, float]] = {}
    plain = {case.name: finish(case, case.labels, ncr_definition) for case in cases}
    for rule in rules:
        rows: dict[str, dict[str, float]] = {}
        for case in cases:
            if rule.kind == "probability" and case.et_probability is None:
                raise SystemExit(f"tune_et_rule: {case.name}: no ET probability saved; leave out the probability rule")
            pred = finish(case, rule.apply(case.labels, case.et_probability, case.spacing), ncr_definition)
            key = (case.name, hashlib.blake2b(pred.tobytes(), digest_size=16).digest())
            if key not in seen:
                confusions = compare(pred, case.reference)
                seen[key] = {f"dice_{r}": confusions[r].dice for r in REGIONS}
            rows[case.name] = {**seen[key], "changed": float(not np.array_equal(pred, plain[case.name]))}
        out[rule] = rows
    return out


def best_rule(scores: dict[Rule, dict[str, dict[str, float]]], names: Sequence[str]) -> Rule:
    """The rule of highest mean ET Dice over ``names`` (ties: the earlier one, so no rule wins a tie)."""
    return best_option(scores, names, "dice_ET")


def nested_choice(cases: Sequence[OofCase], scores: dict[Rule, dict[str, dict[str, float]]]
                  ) -> tuple[dict[str, dict[str, float]], dict[int, Rule]]:
    """Each fold's patients scored with the rule chosen on the other folds' patients (rows as :func:`score_rules`)."""
    return oof_tuning.nested_choice(cases, scores, "dice_ET")  # type: ignore[return-value]


def _diff(reference: dict[str, dict[str, float]], candidate: dict[str, dict[str, float]], names: Sequence[str],
          key: str = "dice_ET") -> str:
    if not names:
        return "–"
    s = paired({n: reference[n] for n in names}, {n: candidate[n] for n in names}, [key])[key]
    se = "–" if not np.isfinite(s["diff_se"]) else f"{s['diff_se']:.3f}"
    return f"{s['diff']:+.3f} ± {se}"


def rule_table(name: str, cases: Sequence[OofCase], scores: dict[Rule, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per rule, then the choice (same predictions) and the nested choice (over folds)."""
    everyone = [c.name for c in cases]
    low = [c.name for c in cases if c.low_grade]
    rest = [c.name for c in cases if not c.low_grade]
    none = scores[Rule("none")]
    low_head = " | ".join(f"ET {n}" for n in low)
    lines = [
        f"### `{name}`: {len(everyone)} out-of-fold patients ({len(low)} low-grade, {len(rest)} others)",
        "",
        f"| rule | all: Dice WT | TC | ET | ΔET ± se | {low_head}{' | ' if low else ''}others: ET | ΔET ± se | patients changed |",
        "| --- " * (8 + len(low)) + "|",
    ]
    moved_wt_tc = []
    for rule, rows in scores.items():
        means = " | ".join(f"{mean_of(rows, everyone, f'dice_{r}'):.3f}" for r in REGIONS)
        lows = " | ".join(f"{rows[n]['dice_ET']:.3f}" for n in low)
        changed = int(sum(rows[n]["changed"] for n in everyone))
        lines.append(f"| {rule.describe()} | {means} | {_diff(none, rows, everyone)} | {lows}{' | ' if low else ''}"
                     f"{mean_of(rows, rest, 'dice_ET'):.3f} | {_diff(none, rows, rest)} | {changed} |")
        if any(abs(mean_of(rows, everyone, f"dice_{r}") - mean_of(none, everyone, f"dice_{r}")) > 1e-9 for r in ("WT", "TC")):
            moved_wt_tc.append(rule.describe())
    best = best_rule(scores, everyone)
    s = paired(none, scores[best], ["dice_ET"])["dice_ET"]
    nested, chosen = nested_choice(cases, scores)
    n = paired(none, nested, ["dice_ET"])["dice_ET"]
    et_ml = {c.name: np.count_nonzero(c.reference == 3) * float(np.prod(c.spacing)) / 1000.0 for c in cases}
    empty = [n for n, v in et_ml.items() if v == 0]
    smallest = min((n for n in et_ml if et_ml[n] > 0), key=et_ml.__getitem__, default=None)
    lines += [
        "",
        f"{len(empty)} of {len(cases)} references have no enhancing tumour: only there can relabelling all of a case's "
        "ET gain (Dice 1 when both are empty); elsewhere a rule gains only by removing false ET pieces."
        + (f" Smallest enhancing tumour of the others: {et_ml[smallest]:.2f} mL ({smallest})." if smallest else ""),
        "",
        "Δ: paired difference from no rule, mean ± its standard error over the patients of the column. "
        + ("WT and TC do not move: the rules turn label 3 into label 1, both inside the tumour core. "
           if not moved_wt_tc else f"WT/TC move under: {', '.join(moved_wt_tc)}. "),
        "",
        f"- Best mean ET Dice on these predictions: **{best.describe()}**, ET {s['candidate']:.3f} vs {s['reference']:.3f} "
        f"({s['diff']:+.3f} ± {s['diff_se']:.3f}, {verdict(s)}; {int(s['wins'])} patients better, "
        f"{int(s['losses'])} worse). Chosen on the same predictions it is scored on: slightly optimistic.",
        f"- Nested over folds (each fold scored with the rule chosen on the other folds): ET {n['candidate']:.3f} "
        f"vs {n['reference']:.3f} ({n['diff']:+.3f} ± {n['diff_se']:.3f}, {verdict(n)}); low-grade "
        f"{mean_of(nested, low, 'dice_ET'):.3f} vs {mean_of(none, low, 'dice_ET'):.3f}, others "
        f"{mean_of(nested, rest, 'dice_ET'):.3f} vs {mean_of(none, rest, 'dice_ET'):.3f}. Chosen per fold: "
        + ", ".join(f"fold {k}: {r.describe()}" for k, r in chosen.items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.tune_et_rule", description=__doc__.split("\n\n")[0])
    common_arguments(p)
    p.add_argument("--volumes-ml", type=floats, default=DEFAULT_VOLUMES_ML, metavar="T,T",
                   help=f"volume thresholds in mL, total and per piece (default {','.join(map(str, DEFAULT_VOLUMES_ML))})")
    p.add_argument("--probabilities", type=floats, default=DEFAULT_PROBABILITIES, metavar="P,P",
                   help="mean ET probability thresholds; empty string: leave the rule out "
                   f"(default {','.join(map(str, DEFAULT_PROBABILITIES))}, where the probability was saved)")
    args = p.parse_args(argv)
    folders = patient_folders(args)
    parts = []
    for spec in args.runs:
        cases = load_run(spec, folders, log)
        have_p = all(c.et_probability is not None for c in cases)
        if args.probabilities and not have_p:
            log(f"{spec}: some predictions lack the ET probability: the probability rule is left out")
        rules = candidate_rules(args.volumes_ml, args.probabilities if have_p else ())
        parts.append(rule_table(spec, cases, score_rules(cases, rules, definition_of(args))))
    emit("\n".join(parts), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
