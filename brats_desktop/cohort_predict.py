"""Segment every case of a cohort: the one batch path of the app's Segment All and ``brats-predict COHORT``.

Qt-free. Decoding NIfTI (gzip inflation, reorientation) takes about as long as the
network on a CPU, so a :class:`torch.utils.data.DataLoader` reads the next patients in
worker processes while the current one is segmented (``num_workers``; 0 reads one
patient ahead in a thread of the calling process, which the app uses: forking a process
that runs Qt is unsafe).

For cohorts that outgrow one machine the same function runs under ``torchrun``: each
rank takes every WORLD_SIZE-th pending case (:func:`shard`), results are gathered over
``torch.distributed`` (gloo on CPU, NCCL on GPUs) and rank 0 writes the one merged CSV
and the review sidecar (:func:`gather_results`).

Every prediction is written atomically to the cohort's output file of that case
(:meth:`brats_desktop.core.cohort.Cohort.prediction_path`), never over an input and
never over an existing file: a case that has one is already done, so a stopped run
resumes where it stopped. A run killed between writing a prediction and recording it
in the review sidecar leaves a case with a file but no AI volumes in the review: the
next run reads that file instead of segmenting again (a *record-only* job), so every
case is segmented exactly once and still gets its review entry.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from brats_desktop.core.cohort import (
    CaseRecord, Cohort, read_label_file, region_dice, region_volumes, skipped_file_records,
)
from brats_desktop.core.crashpoints import crash_point
from brats_desktop.core.errors import ExportError, PatientLoadError
from brats_desktop.core.label_meaning import resolve_ncr_definition
from brats_desktop.core.lifetime import die_with_parent
from brats_desktop.core.metrics import dice_scores
from brats_desktop.core.nifti_io import write_label_map
from brats_desktop.core.patient import Patient, load_patient
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION

CLASS_KEYS = ("NCR", "ED", "ET")
REGION_KEYS = ("WT", "TC", "ET")

# (done, total, result of the case just finished)
CaseProgress = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class CaseJob:
    """One case to segment: where to read it and where its prediction goes."""

    key: str
    folder: Path
    target: Path
    record_only: bool = False  # the prediction exists: read it for the review, do not segment


def jobs_for(cohort: Cohort, records: Sequence[CaseRecord] | None = None) -> list[CaseJob]:
    """Jobs for ``records`` (default: every case without a prediction yet, then the unrecorded ones).

    Unrecorded: a prediction file whose volumes the review lacks (the run that wrote it
    was killed before saving the review); those become record-only jobs.
    """
    if records is not None:
        return [CaseJob(r.key, r.folder, cohort.prediction_path(r)) for r in records]
    jobs = [CaseJob(r.key, r.folder, cohort.prediction_path(r)) for r in cohort.pending()]
    jobs += [CaseJob(r.key, r.folder, cohort.prediction_path(r), record_only=True) for r in cohort.unrecorded()]
    order = {r.key: i for i, r in enumerate(cohort.cases)}
    return sorted(jobs, key=lambda j: order[j.key])


class _CaseDataset(Dataset):
    """Reads one patient per item; a folder that fails becomes an error message, not an exception."""

    def __init__(self, jobs: Sequence[CaseJob], threads: int) -> None:
        self.jobs = list(jobs)
        self.threads = threads

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> tuple[int, Patient | None, str | None]:
        try:
            # A damaged file the model does not need costs that file, not the case (as Open does).
            return index, load_patient(self.jobs[index].folder, workers=self.threads, skip_unreadable=True), None
        except PatientLoadError as exc:
            return index, None, str(exc)


def _keep(item: Any) -> Any:
    """Collate that keeps a Patient as it is (the default would try to make tensors)."""
    return item


def _worker_init(parent_pid: int, worker_id: int) -> None:
    """DataLoader workers end with the process that started them, even after its kill -9."""
    die_with_parent(parent_pid)


def _patients(jobs: Sequence[CaseJob], num_workers: int) -> Iterator[tuple[int, Patient | None, str | None]]:
    dataset = _CaseDataset(jobs, threads=2 if num_workers > 0 else 4)
    if num_workers <= 0:
        # One reader thread instead of processes: the next patient is decoded (gzip releases
        # the GIL) while this one is segmented, without forking a process that may run Qt.
        with ThreadPoolExecutor(1, thread_name_prefix="case-reader") as pool:
            ahead = pool.submit(dataset.__getitem__, 0) if len(dataset) else None
            for i in range(len(dataset)):
                assert ahead is not None
                item = ahead.result()
                ahead = pool.submit(dataset.__getitem__, i + 1) if i + 1 < len(dataset) else None
                yield item
        return
    loader = DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=num_workers, collate_fn=_keep,
        prefetch_factor=1,  # one patient ahead per worker: ~150 MB each, enough to hide decoding
        worker_init_fn=functools.partial(_worker_init, os.getpid()),
    )
    yield from loader


def segment_cases(
    jobs: Sequence[CaseJob],
    model_for: Callable[[Patient], Any],
    *,
    device: str = "auto",
    force_cpu: bool = False,
    batch_size: int | None = None,
    ncr_definition: str | None = DEFAULT_NCR_DEFINITION,
    ncr_fallback: str | None = None,
    num_workers: int = 1,
    predict: Any = None,
    progress: CaseProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    notify: Callable[[str], None] | None = None,
    tta: str = "auto",
) -> list[dict[str, Any]]:
    """Segment ``jobs`` in order, writing each prediction; one failing case does not stop the rest.

    ``model_for(patient)`` returns a loaded model or a :class:`models.tiers.Tier` (Segment All
    and ``brats-predict COHORT --accurate`` run the tier's members); ``tta`` goes to
    :func:`models.runtime.predict_patient` ("auto": the tier's own, or the device's default).

    Returns one result per case handled (``case``, ``patient``, ``input``, ``output``,
    ``device``, ``tier``, ``model_label``, ``seconds``, ``volumes_ml``, Dice against the ground truth when there is
    one, or ``error``). ``ncr_definition="auto"`` gives each case the meaning of label 1
    its own names imply (``ncr_fallback``, else the current protocol, where they tell
    nothing); each result says which (``ncr_definition``, ``ncr_definition_from``).
    ``should_stop`` is polled between slice batches and between
    cases: on a stop the results so far are returned and the case in progress is not
    written.
    """
    from models.inference import InferenceCancelled, MissingModalityError

    results: list[dict[str, Any]] = []
    total = len(jobs)
    iterator = _patients(jobs, num_workers)
    try:
        for index, patient, problem in iterator:
            if should_stop is not None and should_stop():
                break
            job = jobs[index]
            start = time.perf_counter()
            result: dict[str, Any] = {"case": job.key, "patient": job.folder.name, "input": str(job.folder)}
            if patient is None:
                result["error"] = problem or "cannot be read"
            elif job.record_only:
                result.update(_record_existing(job, patient))
            else:
                if patient.problems:
                    result["skipped_files"] = skipped_file_records(patient)
                try:
                    result.update(_segment_one(
                        job, patient, model_for, device=device, force_cpu=force_cpu, batch_size=batch_size,
                        ncr_definition=ncr_definition, ncr_fallback=ncr_fallback, predict=predict,
                        should_stop=should_stop, notify=notify, tta=tta,
                    ))
                except InferenceCancelled:
                    break
                except MissingModalityError as exc:
                    result["error"] = f"{job.folder}: {exc}{patient.unread_note(exc.missing)}"
                except (ExportError, FileExistsError, OSError) as exc:
                    result["error"] = f"{job.target}: cannot write the prediction ({exc})"
                except Exception as exc:  # noqa: BLE001 - one bad case must not end a 369-case run
                    result["error"] = f"{job.folder}: {type(exc).__name__}: {exc}"
            result["seconds"] = round(time.perf_counter() - start, 3)
            results.append(result)
            if progress is not None:
                progress(len(results), total, result)
            crash_point(f"cohort: case {job.key} done")
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # ends the DataLoader's worker processes at once on a stop
    return results


def _record_existing(job: CaseJob, patient: Patient) -> dict[str, Any]:
    """A record-only job: the review entry of a prediction written by an earlier (killed) run."""
    try:
        labels = read_label_file(job.target, patient)
    except PatientLoadError as exc:
        return {"error": f"{job.target}: the existing prediction cannot be read ({exc.problem})"}
    out: dict[str, Any] = {
        "output": str(job.target), "status": "existing",
        "volumes_ml": region_volumes(labels, patient.voxel_volume_ml),
    }
    if patient.ground_truth is not None:
        out["dice_regions"] = region_dice(labels, patient.ground_truth)
    return out


def _segment_one(
    job: CaseJob, patient: Patient, model_for: Callable[[Patient], Any], *, device: str, force_cpu: bool,
    batch_size: int | None, ncr_definition: str | None, ncr_fallback: str | None, predict: Any, should_stop: Any,
    notify: Any, tta: str = "auto",
) -> dict[str, Any]:
    from models.runtime import predict_patient

    ncr_definition, ncr_source = resolve_ncr_definition(ncr_definition, patient, ncr_fallback)
    model = model_for(patient)
    run = predict_patient(
        model, patient, device=device, force_cpu=force_cpu, batch_size=batch_size, should_stop=should_stop,
        notify=notify, predict=predict, ncr_definition=ncr_definition, tta=tta,
    )
    if should_stop is not None and should_stop():
        from models.inference import InferenceCancelled

        raise InferenceCancelled()
    written = write_label_map(
        run.labels, patient.grid, job.target, patient.convention, protected=patient.input_paths, overwrite=False,
    )
    out: dict[str, Any] = {
        "output": str(written),
        "label_convention": patient.convention.value,
        "ncr_definition": ncr_definition,
        "ncr_definition_from": ncr_source,
        "model": str(getattr(model, "path", None) or getattr(model, "name", "")),
        "tier": run.tier,
        "model_label": run.model_label,
        "members": [m.get("file", "") for m in run.producer.get("members", [])],
        "tta": run.tta,
        "device": run.device,
        "device_name": run.device_name,
        "inference_seconds": round(run.seconds, 3),
        "volumes_ml": region_volumes(run.labels, patient.voxel_volume_ml),
    }
    if run.notes:
        out["notes"] = list(run.notes)
    if patient.ground_truth is not None:
        scores = dice_scores(run.labels, patient.ground_truth)
        out["dice"] = {
            "classes": {k: round(float(scores[k]), 6) for k in CLASS_KEYS},
            "regions": {k: round(float(scores[k]), 6) for k in REGION_KEYS},
        }
        out["dice_regions"] = region_dice(run.labels, patient.ground_truth)
    return out


# --------------------------------------------------------------------------- several ranks


@dataclass(frozen=True)
class Ranks:
    """This process's place in a ``torchrun`` launch (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks_from_env() -> Ranks:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them."""
    env = os.environ
    return Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def start_group(ranks: Ranks, device: str) -> None:
    """Join the process group (env://): NCCL when each rank has its own GPU, else gloo."""
    import torch.distributed as dist

    if not ranks.distributed or dist.is_initialized():
        return
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(ranks.local_rank % torch.cuda.device_count())
    dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://")


def barrier(ranks: Ranks) -> None:
    import torch.distributed as dist

    if ranks.distributed and dist.is_initialized():
        dist.barrier()


def end_group(ranks: Ranks) -> None:
    import torch.distributed as dist

    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def shard(jobs: Sequence[CaseJob], ranks: Ranks) -> list[CaseJob]:
    """This rank's share: every ``world``-th job, so slow and fast cases spread evenly."""
    return list(jobs[ranks.rank :: ranks.world])


def gather_results(results: list[dict[str, Any]], ranks: Ranks, order: Sequence[str]) -> list[dict[str, Any]]:
    """Every rank's results on every rank, in cohort ``order`` (after all ranks finished)."""
    if ranks.distributed:
        import torch.distributed as dist

        gathered: list[Any] = [None] * ranks.world
        dist.all_gather_object(gathered, results)  # also the barrier: all ranks are done
        results = [r for part in gathered for r in (part or [])]
    rank_of = {key: i for i, key in enumerate(order)}
    return sorted(results, key=lambda r: rank_of.get(r.get("case", ""), len(rank_of)))
