"""A cohort: a folder of patient folders, where its outputs go, and the review kept beside them.

Qt-free, shared by the app's worklist, ``brats-predict COHORT`` and the bench. What a
reviewer does to a case (status, comment, who and when, volumes before and after
correction, Dice) lives in one JSON sidecar in the cohort's output folder, written
atomically and indented so a person can read it, and read back when the cohort is
opened again. Nothing here ever writes inside a patient folder except the prediction
and corrected label maps named by :mod:`brats_desktop.core.naming` (and only when the
output folder is the cohort itself).

Layout: the output folder is the cohort root by default; then each case's outputs go
beside its images (``<patient folder>/<case id>_prediction.nii.gz``), as the app's own
export does. With a chosen output folder (a read-only cohort, or to keep inputs
pristine) they go there, flat: ``<output>/<case id>_prediction.nii.gz``, the layout
challenge submissions use. The sidecar is ``<output>/brats-review.json``.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import remove_stale_partials, write_atomically
from .discovery import PatientFiles, _has_images, default_convention, discover_patient
from .errors import PatientLoadError
from .label_files import read_label_file
from .labels import LabelConvention
from .metrics import class_volumes_ml, dice_scores
from .naming import CORRECTED, PREDICTION, output_stem
from .patient import Patient, load_patient

SIDECAR_NAME = "brats-review.json"
SIDECAR_FORMAT = "brats-desktop-review"
SIDECAR_VERSION = 1
SUMMARY_NAME = "review-summary.csv"

TODO = "to do"
IN_PROGRESS = "in progress"
DONE = "done"
FLAGGED = "flagged"
STATUSES: tuple[str, ...] = (TODO, IN_PROGRESS, DONE, FLAGGED)
REGION_KEYS: tuple[str, ...] = ("WT", "TC", "ET")


class CohortError(Exception):
    """The cohort cannot be used as given (not a folder, a single patient, unwritable output ...)."""


def now_iso() -> str:
    """UTC time to the second, the way the sidecar and the summary record it."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def current_user() -> str:
    """Who is reviewing: the login name (the sidecar says who set a status)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): still record something
        return "unknown"


def is_writable(folder: Path) -> bool:
    """Writable for us *and* not marked read-only: root ignores mode bits, we respect them."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


# --------------------------------------------------------------------------- review state


@dataclass
class Review:
    """What the reviewer decided about one case, and the numbers that went with it."""

    status: str = TODO
    comment: str = ""
    user: str = ""
    updated: str = ""
    ai_volumes_ml: dict[str, float] | None = None  # WT/TC/ET of the model's prediction
    corrected_volumes_ml: dict[str, float] | None = None  # WT/TC/ET of the saved correction
    dice_ai_vs_gt: dict[str, float] | None = None
    dice_corrected_vs_gt: dict[str, float] | None = None
    dice_ai_vs_corrected: dict[str, float] | None = None
    ai_tier: str | None = None  # which model tier made the AI prediction ("fast", "accurate", "any_sequence")
    ai_model: str | None = None  # ... in words, e.g. "Accurate (3 models: axial + coronal + sagittal, flip TTA)"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Review":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        review = cls(**known)
        if review.status not in STATUSES:
            review.status = TODO
        return review

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")} | {"status": self.status}


def region_volumes(labels: np.ndarray, voxel_ml: float) -> dict[str, float]:
    """WT/TC/ET volumes in mL, rounded to 0.01 mL (what a person reads in the worklist)."""
    volumes = class_volumes_ml(labels, voxel_ml)
    return {k: round(volumes[k], 2) for k in REGION_KEYS}


def region_dice(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """WT/TC/ET Dice (BraTS convention: empty against empty is 1.0)."""
    scores = dice_scores(pred, ref)
    return {k: round(float(scores[k]), 4) for k in REGION_KEYS}


# --------------------------------------------------------------------------- cases


@dataclass
class CaseRecord:
    """One row of the worklist: a patient folder (or a folder that failed to open, with why)."""

    key: str  # the folder relative to the cohort root, POSIX style: the sidecar's key
    folder: Path
    files: PatientFiles | None = None
    error: str | None = None  # why the folder cannot be opened; None when it looks fine
    stem_name: str = ""  # the name output files start from (the case id, made unique)
    review: Review = field(default_factory=Review)
    # Files found unreadable when the case was read (it opens without them): key ("flair" … or "seg")
    # -> "<file name>: <problem>". Known only once something read the case (open, Segment All).
    damaged: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def modalities(self) -> tuple[str, ...]:
        """The readable modalities (a damaged file, once found, is not listed)."""
        if self.files is None:
            return ()
        return tuple(m for m in self.files.images if m not in self.damaged)

    @property
    def has_ground_truth(self) -> bool:
        return self.files is not None and self.files.segmentation is not None and "seg" not in self.damaged

    @property
    def problem(self) -> str:
        """What the worklist's Problem column and the summary say: why it cannot open, or which files it lacks."""
        if self.error is not None:
            return self.error
        return "; ".join(self.damaged.values())

    def note_damaged(self, damaged: dict[str, str]) -> None:
        """Remember which files a read of this case had to leave out (replaces what an earlier read found)."""
        self.damaged = dict(damaged)

    @property
    def convention(self) -> LabelConvention:
        return default_convention(self.files) if self.files is not None else LabelConvention.BRATS2020

    @property
    def ok(self) -> bool:
        return self.error is None and self.files is not None


def discover_cases(root: Path, exclude: tuple[Path, ...] = ()) -> list[CaseRecord]:
    """Every patient folder under ``root`` (one or two levels down), failures included with their reason.

    A sub-folder with MRI files is a case; one without, whose own sub-folders have them,
    is a container (``MICCAI_BraTS2020_TrainingData``); any other folder is listed as a
    case that cannot be opened, so nothing disappears silently. Hidden folders and the
    output folder (``exclude``) are skipped.
    """
    excluded = {p.resolve() for p in exclude}

    def candidates(folder: Path) -> list[Path]:
        try:
            return sorted(
                p for p in folder.iterdir()
                if p.is_dir() and not p.name.startswith(".") and p.resolve() not in excluded
            )
        except OSError as exc:
            raise CohortError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc

    folders: list[Path] = []
    for child in candidates(root):
        if _has_images(child):
            folders.append(child)
            continue
        nested = [g for g in candidates(child) if _has_images(g)]
        folders.extend(candidates(child) if nested else [child])
    records = []
    for folder in folders:
        key = folder.relative_to(root).as_posix()
        try:
            records.append(CaseRecord(key, folder, discover_patient(folder)))
        except PatientLoadError as exc:
            records.append(CaseRecord(key, folder, None, exc.problem))
    _assign_stems(records)
    return records


def _assign_stems(records: list[CaseRecord]) -> None:
    """Output names from the case id; two folders with the same id fall back to their folder keys."""
    from .naming import case_id

    ids = [case_id(r.name, r.files) for r in records]
    for record, cid in zip(records, ids):
        record.stem_name = cid if ids.count(cid) == 1 else record.key.replace("/", "_")


# --------------------------------------------------------------------------- the cohort


class Cohort:
    """A cohort folder, its output folder and the review sidecar there."""

    def __init__(self, root: Path | str, output_dir: Path | str | None = None) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise CohortError(f"{root}: not a folder")
        if _has_images(self.root):
            raise CohortError(
                f"{root}: this is one patient folder, not a cohort (a folder of patient folders); "
                "open it with File → Open Patient Folder…"
            )
        self.output_dir = Path(output_dir).resolve() if output_dir is not None else self.root
        exclude = (self.output_dir,) if self.output_dir != self.root else ()
        self.cases: list[CaseRecord] = discover_cases(self.root, exclude)
        if not self.cases:
            raise CohortError(f"{root}: no patient folders found (expected one folder per patient)")
        self._extra: dict[str, Any] = {}  # sidecar entries of folders no longer here: kept, not lost
        self.sidecar_problem: str | None = None
        self.load_review()

    # ---------------------------------------------------------------- paths
    @property
    def separate_output(self) -> bool:
        return self.output_dir != self.root

    @property
    def sidecar_path(self) -> Path:
        return self.output_dir / SIDECAR_NAME

    @property
    def output_writable(self) -> bool:
        return is_writable(self.output_dir) if self.output_dir.exists() else is_writable(self.output_dir.parent)

    def case(self, key: str) -> CaseRecord:
        for record in self.cases:
            if record.key == key:
                return record
        raise KeyError(key)

    def output_folder(self, record: CaseRecord) -> Path:
        """Where ``record``'s prediction and correction go: beside its images, or the output folder."""
        return self.output_dir if self.separate_output else record.folder

    def output_file(self, record: CaseRecord, kind: str) -> Path:
        """The one file of ``kind`` (prediction, corrected) for this case; it may not exist yet."""
        stem = output_stem(record.stem_name, None, record.convention, kind)
        return self.output_folder(record) / f"{stem}.nii.gz"

    def prediction_path(self, record: CaseRecord) -> Path:
        return self.output_file(record, PREDICTION)

    def corrected_path(self, record: CaseRecord) -> Path:
        return self.output_file(record, CORRECTED)

    def has_prediction(self, record: CaseRecord) -> bool:
        return self.prediction_path(record).is_file()

    def has_correction(self, record: CaseRecord) -> bool:
        return self.corrected_path(record).is_file()

    def pending(self) -> list[CaseRecord]:
        """Cases segment-all still has to do: openable, no prediction file yet (so a rerun resumes)."""
        return [r for r in self.cases if r.ok and not self.has_prediction(r)]

    def unrecorded(self) -> list[CaseRecord]:
        """Cases with a prediction file but no AI volumes in the review (its writer was killed in between)."""
        return [r for r in self.cases if r.ok and r.review.ai_volumes_ml is None and self.has_prediction(r)]

    def remove_leftovers(self) -> list[Path]:
        """Delete temporary files that killed writers left in the output folders (see core.atomic)."""
        folders = {self.output_dir} | {self.output_folder(r) for r in self.cases}
        return [p for folder in sorted(folders) for p in remove_stale_partials(folder)]

    # ---------------------------------------------------------------- review state
    def load_review(self) -> None:
        """Read the sidecar if there is one; a damaged one is set aside by name, never overwritten."""
        path = self.sidecar_path
        if not path.is_file():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != SIDECAR_FORMAT:
                raise ValueError("not a BraTS Desktop review file")
            cases = data.get("cases", {})
            if not isinstance(cases, dict):
                raise ValueError("'cases' is not an object")
        except (OSError, ValueError, AttributeError) as exc:
            self.sidecar_problem = f"{path}: cannot read the review file ({exc}); it was left as it is"
            return
        by_key = {r.key: r for r in self.cases}
        for key, entry in cases.items():
            if key in by_key and isinstance(entry, dict):
                by_key[key].review = Review.from_json(entry)
            else:
                self._extra[key] = entry

    def to_json(self) -> dict[str, Any]:
        cases = dict(self._extra)
        for record in self.cases:
            cases[record.key] = record.review.to_json()
        return {
            "format": SIDECAR_FORMAT,
            "version": SIDECAR_VERSION,
            "cohort": str(self.root),
            "updated": now_iso(),
            "cases": cases,
        }

    def save_review(self) -> Path:
        """Write the sidecar atomically (temporary file, fsync, rename)."""
        if self.sidecar_problem is not None:
            raise CohortError(self.sidecar_problem)
        text = json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"
        return atomic_write_text(self.sidecar_path, text)

    def set_status(self, record: CaseRecord, status: str | None = None, comment: str | None = None,
                   user: str | None = None) -> None:
        """Change status and/or comment, stamping who and when."""
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
            record.review.status = status
        if comment is not None:
            record.review.comment = comment
        record.review.user = user or current_user()
        record.review.updated = now_iso()

    def record_prediction(self, record: CaseRecord, labels: np.ndarray, patient: Patient,
                          producer: dict[str, Any] | None = None) -> None:
        """Keep the AI prediction's volumes and Dice against the ground truth in the review
        (and, with ``producer`` = ``PredictionRun.producer``, which tier made it)."""
        review = record.review
        if producer:
            review.ai_tier, review.ai_model = producer.get("tier"), producer.get("model_label")
        review.ai_volumes_ml = region_volumes(labels, patient.voxel_volume_ml)
        review.dice_ai_vs_gt = (
            region_dice(labels, patient.ground_truth) if patient.ground_truth is not None else None
        )

    def record_correction(self, record: CaseRecord, corrected: np.ndarray, patient: Patient,
                          ai: np.ndarray | None) -> None:
        """Keep the corrected layer's volumes and its Dice against the AI and the ground truth."""
        review = record.review
        review.corrected_volumes_ml = region_volumes(corrected, patient.voxel_volume_ml)
        review.dice_corrected_vs_gt = (
            region_dice(corrected, patient.ground_truth) if patient.ground_truth is not None else None
        )
        if ai is not None:
            review.dice_ai_vs_corrected = region_dice(ai, corrected)
            if review.ai_volumes_ml is None:
                self.record_prediction(record, ai, patient)

    def merge_prediction_records(self, results: list[dict[str, Any]]) -> None:
        """Fold ``brats-predict`` results (volumes, Dice) into the review of their cases."""
        by_key = {r.key: r for r in self.cases}
        for result in results:
            record = by_key.get(result.get("case", ""))
            if record is None:
                continue
            if "skipped_files" in result:  # what the read found damaged, whether or not it then segmented
                record.note_damaged(damaged_from_records(result["skipped_files"]))
            if "error" in result or "volumes_ml" not in result:
                continue
            record.review.ai_volumes_ml = result["volumes_ml"]
            record.review.dice_ai_vs_gt = result.get("dice_regions")
            if result.get("model_label"):  # a record-only job (status "existing") does not know: keep the old
                record.review.ai_tier, record.review.ai_model = result.get("tier"), result["model_label"]

    # ---------------------------------------------------------------- summary
    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per case: status, comment, AI and corrected volumes, Dice AI vs corrected and vs GT."""
        rows = []
        for record in self.cases:
            r = record.review
            row: dict[str, Any] = {
                "case": record.stem_name or record.name,
                "folder": record.key,
                "status": r.status,
                "comment": r.comment,
                "user": r.user,
                "updated": r.updated,
                "ground_truth": "yes" if record.has_ground_truth else "no",
                "prediction": "yes" if record.ok and self.has_prediction(record) else "no",
                "corrected": "yes" if record.ok and self.has_correction(record) else "no",
            }
            for prefix, values in (
                ("ai_ml", r.ai_volumes_ml), ("corrected_ml", r.corrected_volumes_ml),
                ("dice_ai_vs_corrected", r.dice_ai_vs_corrected), ("dice_ai_vs_gt", r.dice_ai_vs_gt),
                ("dice_corrected_vs_gt", r.dice_corrected_vs_gt),
            ):
                for k in REGION_KEYS:
                    row[f"{prefix}_{k}"] = "" if values is None or k not in values else values[k]
            row["problem"] = record.problem
            rows.append(row)
        return rows

    def export_summary(self, path: Path | str) -> Path:
        """Write the review summary CSV atomically; returns the path."""
        rows = self.summary_rows()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return atomic_write_text(Path(path), buffer.getvalue())


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, fsync, rename: never half a file."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    return write_atomically(Path(path), write, CohortError)


# --------------------------------------------------------------------------- loading one case


@dataclass
class CaseData:
    """Everything the viewer shows for one case, read off the GUI thread (and kept by the prefetcher)."""

    key: str
    patient: Patient
    prediction: np.ndarray | None = None  # the AI prediction, internal labels
    corrected: np.ndarray | None = None  # the saved correction, internal labels
    prediction_path: Path | None = None
    corrected_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. display windows computed by the app


def skipped_file_records(patient: Patient) -> list[dict[str, str]]:
    """The files a read left out, as JSON-ready records (``key``, ``file``, ``problem``) for results and CSVs."""
    records = []
    for key in [*(patient.files.images if patient.files is not None else ()), "seg"]:
        problem = patient.skipped(key)
        if problem is not None:
            records.append({"key": key, "file": str(problem.path), "problem": problem.problem})
    return records


def damaged_from_records(records: list[dict[str, str]]) -> dict[str, str]:
    """``skipped_file_records`` as :attr:`CaseRecord.damaged` keeps them: key -> "<file name>: <problem>"."""
    return {r["key"]: f"{Path(r['file']).name}: {r['problem']}" for r in records}


def load_case(cohort: Cohort, record: CaseRecord, workers: int = 4) -> CaseData:
    """Read a case's images, ground truth, prediction and correction (raises PatientLoadError).

    A damaged file is left out (``patient.problems``), as Open Patient Folder does; only a
    case with no usable image at all fails.
    """
    patient = load_patient(record.folder, workers=workers, skip_unreadable=True)
    data = CaseData(record.key, patient)
    for kind, path in ((PREDICTION, cohort.prediction_path(record)), (CORRECTED, cohort.corrected_path(record))):
        if path.is_file():
            labels = read_label_file(path, patient)
            if kind == PREDICTION:
                data.prediction, data.prediction_path = labels, path
            else:
                data.corrected, data.corrected_path = labels, path
    return data
