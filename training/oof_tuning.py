"""What the tuners of saved out-of-fold predictions share: finding the files, checking them, the CLI's common part.

``RUN_DIR[:STEM]`` names a ``training.crossval`` run and one of its scorings
(:func:`prediction_folder_name`); :func:`saved_cases` reads every held-out patient's file
with its reference, refusing a file whose patient its fold's model trained on.
:mod:`training.tune_et_rule` and :mod:`training.tune_tumour_threshold` build on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from brats_desktop.core.history import bbox_of_mask
from brats_desktop.core.postprocessing import NCR_DEFINITIONS

from .oof_predictions import SavedPrediction, load_prediction, read_reference

DEFAULT_DATA = (Path("../shared/data/brats2013-train"), Path("../shared/data/brats2018-train"))
LOW_GRADE_STRATUM = "low_enhancing"  # training.folds.stratum_of
# The two lower-grade TCGA cases of brats2018-train: low-grade where folds.json holds no strata.
KNOWN_LOW_GRADE = frozenset({"Brats18_TCIA10_628_1", "Brats18_TCIA10_637_1"})
_MARGIN = 8  # voxels kept around prediction and reference (post-processing looks 3 beyond the tumour)


@dataclass
class SavedCase:
    """One held-out patient's saved prediction, the fold that held it out, and its reference."""

    saved: SavedPrediction
    fold: int
    low_grade: bool
    reference: np.ndarray


def prediction_folder_name(stem: str) -> str:
    """``""`` -> ``pred``; ``tta-flip``, ``-tta-flip``, ``pred-tta-flip``, ``oof-tta-flip`` -> ``pred-tta-flip``."""
    stem = stem.strip()
    for prefix in ("pred", "oof"):
        if stem == prefix or stem.startswith(prefix + "-"):
            stem = stem[len(prefix):]
    stem = stem.lstrip("-")
    return f"pred-{stem}" if stem else "pred"


def crop_box(*arrays: np.ndarray, margin: int = _MARGIN) -> tuple[slice, ...]:
    """The box of every labelled voxel of ``arrays`` plus ``margin``: the rules and Dice see nothing beyond it."""
    tight = bbox_of_mask(*arrays)
    if tight is None:
        return tuple(slice(0, 1) for _ in arrays[0].shape)
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(tight, arrays[0].shape))


def saved_cases(spec: str, folders: dict[str, Path], tool: str) -> Iterator[SavedCase]:
    """Every saved prediction of ``RUN_DIR[:STEM]`` beside its reference; SystemExit (naming ``tool``
    and the file) on a file of a patient in no fold, in the wrong fold, without a folder, or of another shape."""
    run, _, stem = spec.partition(":")
    run_dir = Path(run)
    folds_file = run_dir / "folds.json"
    if not folds_file.exists():
        raise SystemExit(f"{tool}: {folds_file} not found: RUN_DIR must be a training.crossval run")
    stored = json.loads(folds_file.read_text(encoding="utf-8"))
    fold_of = {name: i for i, fold in enumerate(stored["folds"]) for name in fold}
    strata = stored.get("strata") or {n: LOW_GRADE_STRATUM for n in KNOWN_LOW_GRADE}
    sub = prediction_folder_name(stem)
    found = False
    for path in sorted(run_dir.glob(f"fold-*/{sub}/*.npz")):
        if path.name.startswith("."):  # a writer's temporary file
            continue
        saved = load_prediction(path)
        if saved.patient not in fold_of:
            raise SystemExit(f"{tool}: {path}: {saved.patient} is in no fold of {folds_file}")
        if path.parent.parent.name != f"fold-{fold_of[saved.patient]}":
            raise SystemExit(f"{tool}: {path}: {saved.patient} is held out by fold {fold_of[saved.patient]}, "
                             "not by this fold: its model trained on it")
        if saved.patient not in folders:
            raise SystemExit(f"{tool}: {path}: no patient folder {saved.patient} under --data")
        reference = read_reference(folders[saved.patient])
        if reference.shape != saved.raw.shape:
            raise SystemExit(f"{tool}: {path}: prediction {saved.raw.shape} and reference "
                             f"{reference.shape} ({folders[saved.patient]}) differ in shape")
        found = True
        yield SavedCase(saved, fold_of[saved.patient], strata.get(saved.patient) == LOW_GRADE_STRATUM, reference)
    if not found:
        raise SystemExit(f"{tool}: no saved predictions in {run_dir}/fold-*/{sub}/ "
                         "(python -m training.crossval --score-only --save-predictions)")


Rows = Mapping[str, Mapping[str, float]]  # patient -> {"dice_WT": ..., ...}
Option = TypeVar("Option", bound=Hashable)


class HeldOut(Protocol):
    name: str
    fold: int


def mean_of(rows: Rows, names: Sequence[str], key: str) -> float:
    """Mean of ``key`` over the patients ``names`` (nan for none)."""
    return float(np.mean([rows[n][key] for n in names])) if names else float("nan")


def best_option(scores: Mapping[Option, Rows], names: Sequence[str], key: str) -> Option:
    """The option of highest mean ``key`` over ``names``; ties (to 1e-9) go to the earlier, milder one."""
    options = list(scores)
    gains = [round(mean_of(scores[o], names, key), 9) for o in options]
    return options[int(np.argmax(gains))]


def nested_choice(cases: Sequence[HeldOut], scores: Mapping[Option, Rows], key: str
                  ) -> tuple[dict[str, Mapping[str, float]], dict[int, Option]]:
    """Each fold's patients scored with the option :func:`best_option` picks on the other folds' patients
    (the first option where there are no others): the honest estimate of choosing on the folds."""
    rows: dict[str, Mapping[str, float]] = {}
    chosen: dict[int, Option] = {}
    first = next(iter(scores))
    for fold in sorted({c.fold for c in cases}):
        others = [c.name for c in cases if c.fold != fold]
        chosen[fold] = best_option(scores, others, key) if others else first
        rows.update({c.name: scores[chosen[fold]][c.name] for c in cases if c.fold == fold})
    return rows, chosen


def common_arguments(p: argparse.ArgumentParser) -> None:
    """The runs, ``--data``, ``--ncr-definition`` and ``--out`` every tuner takes."""
    p.add_argument("runs", nargs="+", metavar="RUN_DIR[:STEM]", help="crossval run(s) scored with --save-predictions")
    p.add_argument("--data", type=Path, action="append",
                   help="patient folders the folds name (default: ../shared/data/brats2013-train and brats2018-train)")
    p.add_argument("--ncr-definition", choices=(*NCR_DEFINITIONS, "raw"), default="brats2013",
                   help="meaning of label 1 in the references (these folders: brats2013, as crossval scores)")
    p.add_argument("--out", type=Path, help="also write the tables to this markdown file")


def patient_folders(args: argparse.Namespace) -> dict[str, Path]:
    """The labelled patient folders under ``--data`` (or the default training data), by name."""
    from .cohort import real_patient_folders

    return {f.name: f for f in real_patient_folders(args.data or list(DEFAULT_DATA))}


def definition_of(args: argparse.Namespace) -> str | None:
    return None if args.ncr_definition == "raw" else args.ncr_definition


def emit(text: str, out: Path | None) -> None:
    """Print the tables and, with ``--out``, write them."""
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


def floats(text: str) -> tuple[float, ...]:
    """"0.5,1" -> (0.5, 1.0); "" -> () (a rule left out)."""
    return tuple(float(v) for v in text.split(",") if v.strip()) if text.strip() else ()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
