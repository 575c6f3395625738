"""The operations of the fault-injection runs and the invariants checked after each kill.

Shared by ``tests/test_crash_safety.py`` (a few kill points per operation, in CI) and
``bench/crash_sweep.py`` (every crash point and random times, once per release).
Each :class:`Operation` builds its inputs in a fresh folder, names the command to run,
and :meth:`Operation.check` returns the invariants the killed run broke (an empty list
is a pass), after running the operation again where the invariant is about the rerun:

* no input changed (SHA-256 before and after);
* no half-written output: every NIfTI / JSON / CSV / NPZ / checkpoint present loads whole;
  temporaries are gone after the next start (or were never visible to discovery);
* the review sidecar loads and holds every change acknowledged before the kill;
* an autosave acknowledged before the kill is offered on the next start;
* the rerun finishes the rest exactly once: files present after the kill are not
  rewritten, every case ends with its prediction and its review entry;
* no process of the run outlives it by more than a few seconds (checked in
  :func:`faultinject.run_operation` for the killed run and every rerun).
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faultinject import (
    Run, changed_inputs, environment, hashes, incomplete_outputs, leftovers, python, run_operation,
)

DRIVER = str(Path(__file__).resolve().parent / "crash_driver.py")
CASES = ("case1", "case2", "case3", "case4")
STROKES = 3
STROKE_LABEL = 2
REVIEW_STATUSES = ("done", "flagged", "to do")  # never "in progress": opening a case already sets that


def stroke_voxel(i: int) -> tuple[int, int, int]:
    """Where stroke ``i`` paints (one voxel each, distinct, inside the 40x36x24 test patients)."""
    return (6 + (i % 24), 8 + 2 * (i // 24), 12)


@dataclass
class Context:
    """One kill point's world: its folder, inputs and their hashes, the child environment."""

    root: Path
    env: dict[str, str]
    inputs: list[Path]
    before: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def trace(self) -> Path:
        return self.root / "trace.txt"


class Operation:
    """One user-visible operation; subclasses fill in the inputs, the command and the checks."""

    name = ""
    fast_kill_points: tuple[tuple[int, str], ...] = ()  # (N, name filter) for CI
    timeout_s = 240.0

    def __init__(self, template: Path) -> None:
        self.template = template  # built once, copied for every kill point

    # -- to implement ---------------------------------------------------------------------------
    def build(self, folder: Path) -> None:
        """Write the inputs under ``folder`` (once per session; copied per kill point)."""

    def inputs(self, root: Path) -> list[Path]:
        return [root / "cohort"]

    def argv(self, ctx: Context) -> list[str]:
        raise NotImplementedError

    def check(self, ctx: Context, run: Run) -> list[str]:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def prepare(self, root: Path) -> Context:
        if not (self.template / ".built").exists():
            self.template.mkdir(parents=True, exist_ok=True)
            self.build(self.template)
            (self.template / ".built").write_text("")
        shutil.copytree(self.template, root, ignore=shutil.ignore_patterns(".built"))
        ctx = Context(root, environment(root / "home"), self.inputs(root))
        ctx.before = hashes(ctx.inputs)
        return ctx

    def kill(self, ctx: Context, *, kill_at: int | None = None, match: str = "",
             kill_after_s: float | None = None) -> Run:
        return run_operation(self.argv(ctx), ctx.env, ctx.trace, kill_at=kill_at, match=match,
                             kill_after_s=kill_after_s, timeout_s=self.timeout_s)

    def rerun(self, ctx: Context, argv: list[str] | None = None) -> Run:
        return run_operation(argv or self.argv(ctx), ctx.env, ctx.root / "trace-rerun.txt",
                             timeout_s=self.timeout_s)

    def common(self, ctx: Context, run: Run, outputs: list[Path]) -> list[str]:
        """Inputs unchanged, outputs whole, no orphan: true after every kill of every operation."""
        problems = [f"orphaned process: {s}" for s in run.survivors]
        problems += changed_inputs(ctx.before)
        for folder in outputs:
            if folder.exists():
                problems += incomplete_outputs(folder)
        return problems

    def after_rerun(self, ctx: Context, rerun: Run, outputs: list[Path], what: str = "rerun") -> list[str]:
        problems = [f"{what}: orphaned process: {s}" for s in rerun.survivors]
        if rerun.returncode != 0:
            problems.append(f"{what} failed (exit {rerun.returncode}): {rerun.stderr[-1500:]}")
        problems += changed_inputs(ctx.before)
        for folder in outputs:
            if folder.exists():
                problems += [f"{what}: {p}" for p in incomplete_outputs(folder)]
                problems += [f"{what}: temporary left: {p}" for p in leftovers(folder)]
        return problems


# --------------------------------------------------------------------------- cohorts


def build_cohort(folder: Path) -> None:
    from cohort_support import make_cohort
    from inference_support import tiny_model

    make_cohort(folder)
    tiny_model(folder)


def prediction_files(cohort: Path) -> dict[str, tuple[int, int]]:
    """case -> (inode, mtime) of its prediction file: a file rewritten by the rerun changes both."""
    out = {}
    for case in CASES:
        found = [p for p in (cohort / case).glob("*prediction.nii.gz") if not p.name.startswith(".")]
        for path in found:
            st = path.stat()
            out[case] = (st.st_ino, st.st_mtime_ns)
    return out


def cohort_outcome(cohort: Path) -> list[str]:
    """After the rerun: every case has exactly one prediction and its AI volumes in the review."""
    from brats_desktop.core.cohort import Cohort

    problems = []
    for case in CASES:
        found = [p.name for p in (cohort / case).iterdir() if "prediction" in p.name]
        if len(found) != 1:
            problems.append(f"{case}: expected one prediction file, found {found}")
    loaded = Cohort(cohort)
    if loaded.sidecar_problem:
        problems.append(loaded.sidecar_problem)
    for record in loaded.cases:
        if record.ok and record.review.ai_volumes_ml is None:
            problems.append(f"{record.key}: prediction not recorded in the review sidecar")
    return problems


class _CohortSegmentation(Operation):
    """Shared checks of Segment All and ``brats-predict COHORT``."""

    def build(self, folder: Path) -> None:
        build_cohort(folder)

    def check(self, ctx: Context, run: Run) -> list[str]:
        cohort = ctx.root / "cohort"
        problems = self.common(ctx, run, [cohort])
        kept = prediction_files(cohort)
        rerun = self.rerun(ctx)
        problems += self.after_rerun(ctx, rerun, [cohort])
        now = prediction_files(cohort)
        problems += [f"{case}: prediction written before the kill was rewritten by the rerun"
                     for case, stamp in kept.items() if now.get(case) != stamp]
        problems += cohort_outcome(cohort)
        return problems


class CohortCli(_CohortSegmentation):
    name = "brats-predict COHORT --workers 1"
    # Mid-run, a DataLoader worker alive, the second prediction written but not yet in the review.
    fast_kill_points = ((2, "prediction.nii.gz: renamed"),)

    def argv(self, ctx: Context) -> list[str]:
        return [python(), "-m", "brats_desktop.cli.predict", str(ctx.root / "cohort"), "--model",
                str(ctx.root / "tiny.pt"), "--device", "cpu", "--workers", "1"]


class SegmentAll(_CohortSegmentation):
    name = "Segment All (app)"
    fast_kill_points = ((2, "brats-review.json: temporary written"),)

    def argv(self, ctx: Context) -> list[str]:
        return [python(), DRIVER, "segment-all", str(ctx.root / "cohort"), str(ctx.root / "tiny.pt")]


# --------------------------------------------------------------------------- edits, review, export


class EditAndAutosave(Operation):
    """Paint, autosave after every stroke, then Save; the next start must offer what was autosaved."""

    name = "edit + autosave + Save (single patient)"
    fast_kill_points = ((2, "autosave: data renamed"),)
    via_cohort = False

    def build(self, folder: Path) -> None:
        from cohort_support import make_cohort

        make_cohort(folder, broken=False)

    def saved_file(self, ctx: Context) -> Path:
        return ctx.root / "cohort" / "case1" / "case1-annotation.nii.gz"

    def _args(self, ctx: Context) -> list[str]:
        folder = str(ctx.root / "cohort" / "case1")
        return [folder, "--strokes", str(STROKES)] + (["--cohort", str(ctx.root / "cohort")] if self.via_cohort else [])

    def argv(self, ctx: Context) -> list[str]:
        return [python(), DRIVER, "edit", *self._args(ctx), "--save", str(self.saved_file(ctx))]

    def check(self, ctx: Context, run: Run) -> list[str]:
        recovery = ctx.root / "home" / "data"
        problems = self.common(ctx, run, [ctx.root / "cohort", recovery])
        acked = len(run.acknowledged("ack autosave"))
        saved = "ack save" in run.points
        restart = self.rerun(ctx, [python(), DRIVER, "restart", *self._args(ctx)])
        problems += self.after_rerun(ctx, restart, [recovery], "next start")
        report = json.loads(restart.stdout.strip().splitlines()[-1]) if restart.stdout.strip() else {}
        if not report.get("ready"):
            problems.append(f"next start: the case did not open ({report.get('errors')})")
        offered = any("Restore" in q for q in report.get("questions", []))
        layers = report.get("layers", {})
        if saved:
            from brats_desktop.core.nifti_io import read_volume

            data, _ = read_volume(self.saved_file(ctx), dtype=np.uint8)
            if not (data > 0).sum() >= STROKES:
                problems.append("the saved file lacks strokes acknowledged by Save")
        elif acked:
            if not offered:
                problems.append(f"{acked} autosave(s) acknowledged before the kill, no restore offered")
            else:
                restored = layers.get("Annotation", [])
                if restored[:acked] != [STROKE_LABEL] * acked:
                    problems.append(f"restored layer lacks acknowledged strokes: {restored} (acked {acked})")
        return problems


class EditViaWorklist(EditAndAutosave):
    name = "edit + autosave + Save (worklist case)"
    via_cohort = True
    fast_kill_points = ((2, "autosave: renamed"),)


class ReviewSidecar(Operation):
    """Status and comment changes in the worklist; the sidecar must hold each acknowledged one."""

    name = "review sidecar (status/comment)"
    fast_kill_points = ((3, "brats-review.json: temporary written"),)
    changes = 8

    def build(self, folder: Path) -> None:
        from cohort_support import make_cohort

        make_cohort(folder)

    def argv(self, ctx: Context) -> list[str]:
        return [python(), DRIVER, "review", str(ctx.root / "cohort"), "--changes", str(self.changes)]

    @staticmethod
    def replay(changes: int) -> dict[str, tuple[str, str]]:
        """The (status, comment) per case after the first ``changes`` changes, as the driver makes them."""
        from brats_desktop.core.cohort import IN_PROGRESS

        keys = list(CASES)
        state: dict[str, tuple[str, str]] = {}
        for i in range(changes):
            key = keys[i % len(keys)]
            status, comment = state.get(key, (IN_PROGRESS, ""))
            if i % 2 == 0:
                status = REVIEW_STATUSES[(i // 2) % len(REVIEW_STATUSES)]
            else:
                comment = f"comment {i}"
            state[key] = (status, comment)
        return state

    def check(self, ctx: Context, run: Run) -> list[str]:
        from brats_desktop.core.cohort import Cohort

        cohort_dir = ctx.root / "cohort"
        problems = self.common(ctx, run, [cohort_dir])
        acked = len(run.acknowledged("ack review"))
        cohort = Cohort(cohort_dir)  # the next start
        cohort.remove_leftovers()
        problems += [f"next start: temporary left: {p}" for p in leftovers(cohort_dir)]
        if cohort.sidecar_problem:
            return problems + [cohort.sidecar_problem]
        saved = {r.key: (r.review.status, r.review.comment) for r in cohort.cases}
        done, in_flight = self.replay(acked), self.replay(min(acked + 1, self.changes))
        for key, (status, comment) in done.items():
            if saved[key] != (status, comment) and saved[key] != in_flight.get(key):
                problems.append(f"{key}: review holds {saved[key]}, acknowledged {(status, comment)}")
        return problems


class ExportSummary(Operation):
    """File → Export Review Summary… twice over one file: it is the old or the new one, whole."""

    name = "Export Review Summary"
    fast_kill_points = ((2, "summary.csv: temporary written"),)
    times = 3

    def build(self, folder: Path) -> None:
        from cohort_support import make_cohort

        make_cohort(folder)

    def argv(self, ctx: Context) -> list[str]:
        return [python(), DRIVER, "export", str(ctx.root / "cohort"), str(ctx.root / "out" / "summary.csv"),
                "--times", str(self.times)]

    def check(self, ctx: Context, run: Run) -> list[str]:
        from brats_desktop.core.cohort import Cohort

        out = ctx.root / "out"
        problems = self.common(ctx, run, [ctx.root / "cohort", out])
        acked = len(run.acknowledged("ack export"))
        target = out / "summary.csv"
        if not target.exists():
            if acked:
                problems.append(f"{acked} export(s) acknowledged, no summary file")
        else:
            with open(target, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            if len(rows) != len(CASES) + 1:  # + the broken folder, listed with its reason
                problems.append(f"summary has {len(rows)} rows, expected {len(CASES) + 1}")
            allowed = {f"export {acked}", f"export {acked + 1}"}
            first = next((r for r in rows if r["folder"] == "case1"), {"comment": None})
            if first["comment"] not in allowed:
                problems.append(f"summary holds {first['comment']!r}, acknowledged export {acked}")
        Cohort(ctx.root / "cohort").remove_leftovers()
        from brats_desktop.core.atomic import remove_stale_partials

        remove_stale_partials(out)  # the next export into that folder does this
        problems += [f"next start: temporary left: {p}" for p in leftovers(ctx.root)]
        return problems


# --------------------------------------------------------------------------- import, training


class RawImport(Operation):
    """``brats-predict RAW --preprocess`` (test brain extractor): no half folder, the rerun resumes."""

    name = "brats-predict --preprocess (raw DICOM import)"
    fast_kill_points = ((1, "import: folder renamed"),)
    timeout_s = 400.0

    def build(self, folder: Path) -> None:
        from import_support import write_raw_dicom
        from inference_support import tiny_model

        write_raw_dicom(folder / "raw")
        tiny_model(folder)

    def inputs(self, root: Path) -> list[Path]:
        return [root / "raw"]

    def argv(self, ctx: Context) -> list[str]:
        return [python(), DRIVER, "import", str(ctx.root / "raw"), str(ctx.root / "raw-brats"), str(ctx.root / "tiny.pt")]

    def check(self, ctx: Context, run: Run) -> list[str]:
        out = ctx.root / "raw-brats"
        problems = self.common(ctx, run, [ctx.root])
        if out.exists() and not (out / "brats-import.json").is_file():
            problems.append(f"{out}: import folder without its record after the kill")
        rerun = self.rerun(ctx)
        problems += self.after_rerun(ctx, rerun, [ctx.root])
        names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        outputs = ("raw_prediction.nii.gz", "raw_prediction-native.nii.gz", "raw_prediction.json")  # .json: its sidecar
        for wanted in ("raw_t1ce.nii.gz", "raw_flair.nii.gz", "raw_brainmask.nii.gz", "brats-import.json", *outputs):
            if wanted not in names:
                problems.append(f"after the rerun {out} lacks {wanted}")
        extra = [n for n in names if "prediction" in n and n not in outputs]
        problems += [f"the rerun wrote a second prediction: {n}" for n in extra]
        siblings = [p.name for p in ctx.root.iterdir() if p.name.startswith("raw-brats") and p.name != "raw-brats"]
        problems += [f"the rerun imported twice: {n}" for n in siblings]
        return problems


TRAIN_ARGS = ["--synthetic", "4", "--synthetic-shape", "48", "48", "24", "--synthetic-cache", "",
              "--base-width", "4", "--depth", "3", "--batch-size", "4", "--samples-per-epoch", "8",
              "--patch-size", "32", "32", "--threads", "1", "--no-progress"]
EPOCHS = 2


class TrainResume(Operation):
    """``brats-train`` killed anywhere, then ``--resume last_state.pt``: every epoch in the history once."""

    name = "brats-train + --resume"
    # The last epoch's state written, its history not: the resume has no epoch left to run.
    fast_kill_points = ((2, "last_state.pt: renamed"),)

    def inputs(self, root: Path) -> list[Path]:
        return []

    def argv(self, ctx: Context) -> list[str]:
        return [python(), "-m", "training.train", *TRAIN_ARGS, "--epochs", str(EPOCHS), "--out", str(ctx.root / "run")]

    def check(self, ctx: Context, run: Run) -> list[str]:
        out = ctx.root / "run"
        problems = self.common(ctx, run, [ctx.root])
        state = out / "last_state.pt"
        if state.exists():
            argv = [python(), "-m", "training.train", "--resume", str(state), "--split", str(out / "split.json"),
                    *[a for a in TRAIN_ARGS if a not in ()], "--epochs", str(EPOCHS)]
        else:
            argv = self.argv(ctx) + (["--split", str(out / "split.json")] if (out / "split.json").exists() else [])
        rerun = self.rerun(ctx, argv)
        problems += self.after_rerun(ctx, rerun, [ctx.root])
        try:
            with open(out / "history.csv", newline="") as fh:
                epochs = [r["epoch"] for r in csv.DictReader(fh)]
        except OSError as exc:
            return problems + [f"no history after the rerun: {exc}"]
        if epochs != [str(e + 1) for e in range(EPOCHS)]:
            problems.append(f"history epochs after the rerun: {epochs}")
        from models.checkpoint import load_model

        try:
            load_model(out / "best.pt")
        except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
            problems.append(f"best.pt does not load after the rerun: {exc}")
        return problems


def operations(cache: Path) -> list[Operation]:
    """Every operation, each with its own input template under ``cache``."""
    kinds = [CohortCli, SegmentAll, EditAndAutosave, EditViaWorklist, ReviewSidecar, ExportSummary, RawImport,
             TrainResume]
    return [k(cache / k.__name__) for k in kinds]
