"""Where and how a prediction runs: device choice, mixed precision, out-of-memory recovery.

The app's worker thread and ``brats-predict`` both call :func:`predict_patient`, so a
folder segmented from the command line gets exactly what the app would show.
:func:`models.tta.predict_with_tta` does the actual work (the preprocessing and batching of
:func:`models.inference.predict_volume`, plus test-time augmentation and the mean softmax); this module only decides the device and batch size and
recovers when a GPU runs out of memory:

1. GPU (CUDA, else Apple MPS) with mixed precision, the requested batch size;
2. on out-of-memory: halve the batch size and retry, down to one slice per batch;
3. still out of memory: run on the CPU (full precision) and say so.

Every such step is reported through ``notify`` (a plain callable taking a message), so
the GUI can put it in the status bar and the CLI can put it in its JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from brats_desktop.core.decision import decide_labels
from brats_desktop.core.patient import Patient
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION, PostprocessParams, postprocess

from .inference import (
    InferenceCancelled, MissingModalityError, accepts_missing_modalities, model_ncr_definition, predict_volume,
)
from .inference import check_modalities as inference_check
from .tiers import Tier
from .tta import Prediction, predict_ensemble, predict_with_tta, resolve_tta

__all__ = [
    "DeviceUnavailableError", "InferenceCancelled", "MissingModalityError", "PredictionRun",
    "auto_batch_size", "best_bundled_model", "check_modalities", "describe_device",
    "model_label", "predict_patient", "run_with_fallback", "select_device",
]

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]
Notify = Callable[[str], None]


class PredictFn(Protocol):
    """Signature of :func:`models.inference.predict_volume` (injectable for tests)."""

    def __call__(
        self,
        model: Any,
        images: dict[str, np.ndarray],
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        amp: bool = False,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> np.ndarray: ...


class DeviceUnavailableError(RuntimeError):
    """The user asked for a device this machine does not have (e.g. ``--device cuda`` without a GPU)."""


# --------------------------------------------------------------------------- devices


def mps_available() -> bool:
    """True on Apple silicon with a usable Metal backend."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(preference: str = "auto", force_cpu: bool = False) -> torch.device:
    """Pick the device a prediction should start on.

    ``auto`` means CUDA, then Apple MPS, else CPU. ``force_cpu`` (the app's setting)
    wins over everything. Asking explicitly for a device that is absent is an error
    rather than a silent CPU run, so ``--device cuda`` on a laptop says so.
    """
    preference = (preference or "auto").lower()
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if force_cpu or preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError("CUDA was requested but no CUDA GPU is available")
        return torch.device("cuda")
    if preference == "mps":
        if not mps_available():
            raise DeviceUnavailableError("Apple MPS was requested but is not available")
        return torch.device("mps")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | str) -> str:
    """Human name of a device for the status bar, e.g. ``GPU: NVIDIA H100`` or ``CPU (2 threads)``."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return f"GPU: {torch.cuda.get_device_name(device)}"
        except (RuntimeError, AssertionError):  # pragma: no cover - driver trouble
            return "GPU (CUDA)"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), where autocast pays.

    On a 2-core AMD EPYC with avx512_bf16 a whole case took 1.5-2.3 s instead of 2.1-3.3 s with
    labels 99.98 % or more identical (``bench/bench_precision.py``). Without those instructions
    oneDNN emulates bfloat16 and autocast is slower than float32, so it stays off.
    ``BRATS_CPU_BF16=0`` (or 1) overrides the detection.
    """
    forced = os.environ.get("BRATS_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:  # not Linux: no cheap way to know; float32 is the safe choice
        pass
    return False


def uses_amp(device: torch.device | str) -> bool:
    """Mixed precision on GPUs, and on CPUs with native bfloat16 (emulated bfloat16 is slower than float32)."""
    kind = torch.device(device).type
    return kind in ("cuda", "mps") or (kind == "cpu" and cpu_has_native_bf16())


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA raises ``torch.cuda.OutOfMemoryError``; MPS a RuntimeError whose text says so."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _release_gpu_memory(device: torch.device) -> None:
    """Give cached blocks back after an OOM so the smaller retry has room."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


# --------------------------------------------------------------------------- running


@dataclass
class PredictionRun:
    """What a prediction produced and how: the app shows ``device``, the CLI prints all of it."""

    labels: np.ndarray  # uint8 internal labels 0-3 on the patient's canonical grid
    device: str  # the device that produced the result ("cpu", "cuda", "mps")
    device_name: str  # human description of it
    seconds: float
    batch_size: int  # the batch size that finally succeeded
    notes: list[str] = field(default_factory=list)  # what went wrong and what was done about it
    raw_labels: np.ndarray | None = None  # the argmax before post-processing (re-post-processed on a definition change)
    ncr_definition: str | None = None  # meaning of label 1 in ``labels`` (see core.postprocessing)
    model_ncr_definition: str = "brats2013"  # meaning of label 1 in ``raw_labels`` (the model's training labels)
    # Mean softmax over the test-time augmentations, float16 (classes, X, Y, Z) on the patient's
    # canonical grid (internal classes 0-3); ``raw_labels`` is its argmax. None from injected hooks.
    probabilities: np.ndarray | None = None
    tta: str = "none"  # the test-time augmentation that produced it (models.tta.TTA_MODES)
    tier: str | None = None  # "fast" / "accurate" / "any_sequence" (models.tiers); None: a single model
    model_label: str = ""  # what produced it, in words ("Accurate (3 models: ..., flip TTA)", or the model's name)
    # models.tiers.Tier.record() (tier, members with their versions, TTA, rule), or one model's name: for sidecars
    producer: dict[str, Any] = field(default_factory=dict)
    # The post-processing rules (None: DEFAULT_POSTPROCESSING); a tier's enhancing-tumour rule is here
    postprocess_params: PostprocessParams | None = None
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)  # the patient's voxel size (mm), for the rules in mm/mL

    def relabel(self, ncr_definition: str | None) -> None:
        """Post-process ``raw_labels`` into ``labels`` with label 1 meaning ``ncr_definition`` (None: raw).

        The app calls it again when the user changes the meaning, so no re-run is needed.
        A tier's enhancing-tumour rule (``postprocess_params``) is one of the steps.
        """
        assert self.raw_labels is not None
        self.labels = postprocess(self.raw_labels, target=ncr_definition, source=self.model_ncr_definition,
                                  params=self.postprocess_params, spacing=self.spacing)
        self.ncr_definition = ncr_definition


def _monotonic(progress: Progress | None) -> Progress | None:
    """Progress that never goes backwards, even when a retry starts again from zero."""
    if progress is None:
        return None
    best = [-1]

    def report(done: int, total: int) -> None:
        if done > best[0]:
            best[0] = done
            progress(done, total)

    return report


def run_with_fallback(
    model: Any,
    images: dict[str, np.ndarray],
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    notify: Notify | None = None,
    predict: PredictFn | None = None,
    tta: str = "none",
) -> PredictionRun:
    """Run ``predict`` on ``device``; on GPU out-of-memory halve the batch, then use the CPU.

    Without a ``predict`` hook the prediction is :func:`models.tta.predict_with_tta` with
    ``tta`` (resolved on the starting device), which also keeps the probabilities; a hook
    (tests) returns labels, or a :class:`models.tta.Prediction`, and gets ``tta`` only when
    it names a mode other than "none" ("auto" means one pass there). Cancellation (``should_stop``) and every other error propagate unchanged.
    """
    device = torch.device(device)
    if predict is None:
        mode = resolve_tta(tta, device)
        predict = functools.partial(predict_with_tta, tta=mode)
    else:  # hooks predate TTA: they get it only when it is asked for by name
        mode = "none" if (tta or "auto") == "auto" else resolve_tta(tta, device)
        if mode != "none":
            predict = functools.partial(predict, tta=mode)
    notes: list[str] = []

    def say(message: str) -> None:
        notes.append(message)
        if notify is not None:
            notify(message)

    report = _monotonic(progress)
    start = time.perf_counter()
    current = max(1, int(batch_size))
    while True:
        try:
            labels = predict(
                model,
                images,
                device=device,
                batch_size=current,
                amp=uses_amp(device),
                progress=report,
                should_stop=should_stop,
            )
            break
        except Exception as exc:
            if device.type == "cpu" or not is_out_of_memory(exc):
                raise
            _release_gpu_memory(device)
            if current > 1:
                smaller = current // 2
                say(f"GPU out of memory with batch size {current}; retrying with {smaller}")
                current = smaller
            else:
                say("GPU out of memory even with batch size 1; continuing on the CPU")
                device = torch.device("cpu")
                current = max(1, int(batch_size))
    seconds = time.perf_counter() - start
    probabilities = None
    if isinstance(labels, Prediction):
        labels, probabilities = labels.labels, labels.probabilities
    return PredictionRun(
        np.asarray(labels, dtype=np.uint8), device.type, describe_device(device), seconds, current, notes,
        probabilities=probabilities, tta=mode,
    )


def best_bundled_model(patient: Patient | None, cache: dict[Path, Any] | None = None) -> Any:
    """The bundled model that reads the most of ``patient``'s sequences; the default when none fits.

    ``bundled_models()`` lists the FLAIR + T1CE default first. A model that finds all its
    inputs in the patient beats one trained with modality dropout (``optional_modalities``),
    however many inputs that has: the dropout model reads absent sequences as zeros and
    is the stand-in for patients lacking one, not an upgrade. Among full fits, more inputs
    win (a four-modality model ships only if it measured better); ties go to the default.
    When no model finds all its inputs, a dropout model that reads part of the patient's
    sequences is used; when none does, the default is returned and the modality check
    names what is missing. ``cache`` (path -> loaded model) spares reloading across
    patients. Raises ``ModelLoadError`` when no model file exists or one cannot be loaded.
    """
    from .checkpoint import ModelLoadError, bundled_models, default_model_path, load_model

    cache = {} if cache is None else cache

    def loaded(path: Path) -> Any:
        if path not in cache:
            cache[path] = load_model(path)
        return cache[path]

    candidates = bundled_models()
    if not candidates:
        raise ModelLoadError(default_model_path(), "model file not found (no bundled model installed)")
    if patient is not None:
        full = [p for p in candidates if not patient.missing(loaded(p).modalities)]
        if full:  # max() keeps the first of equals: the default wins ties
            return loaded(max(full, key=lambda p: (not accepts_missing_modalities(loaded(p)),
                                                   len(loaded(p).modalities))))
        have = set(patient.images)
        partial = [p for p in candidates
                   if accepts_missing_modalities(loaded(p)) and have & set(loaded(p).modalities)]
        if partial:
            return loaded(max(partial, key=lambda p: len(have & set(loaded(p).modalities))))
    return loaded(candidates[0])


REFERENCE_SLICE = 240 * 240  # the BraTS grid's axial slice
REFERENCE_BATCH = {"cpu": 8, "cuda": 32, "mps": 16}  # slices per batch at 240x240


def auto_batch_size(shape: tuple[int, int, int], device: torch.device | str = "cpu") -> int:
    """Slices per batch, scaled down for slices larger than BraTS's 240x240.

    A batch is the unit of progress and of cancellation (the stop flag is polled
    between batches). On the CPU a batch of 8 BraTS slices takes well under a second
    with the bundled model, so Cancel stays prompt; GPUs get bigger batches, which they
    need to be fast. A 512x512 slice stack gets about a quarter of the reference, which
    also keeps activations small; the OOM fallback halves further if needed.
    """
    reference = REFERENCE_BATCH.get(torch.device(device).type, 8)
    pixels = max(1, int(shape[0]) * int(shape[1]))
    return int(max(1, min(reference, round(reference * REFERENCE_SLICE / pixels))))


def check_modalities(model: Any, patient: Patient) -> list[str]:
    """The modalities to feed the model (or every member of a tier), in channel order.

    Raises :class:`models.inference.MissingModalityError` naming what the patient lacks,
    before any device is touched or any work is done.
    """
    needed: list[str] = []
    for member in (model.members if isinstance(model, Tier) else [model]):
        needed += [m for m in inference_check(member, patient.images) if m not in needed]
    return needed


def _ensemble_with(predict: PredictFn, mode: str) -> Callable[..., Any]:
    """Several members through an injected single-model hook (tests): their mean softmax, else a majority vote."""

    def run(members: list[Any], images: dict[str, np.ndarray], *, progress: Progress | None = None,
            **options: Any) -> Prediction:
        outputs = []
        for k, member in enumerate(members):
            def part(done: int, total: int, k: int = k) -> None:
                if progress is not None:
                    progress(k * total + done, len(members) * total)

            kwargs = dict(options, tta=mode) if mode != "none" else options
            outputs.append(predict(member, images, progress=part, **kwargs))
        probs = [o.probabilities for o in outputs if isinstance(o, Prediction) and o.probabilities is not None]
        if len(probs) == len(outputs):
            mean = sum(p.astype(np.float32) for p in probs) / len(probs)
            return Prediction(mean.argmax(axis=0).astype(np.uint8), mean.astype(np.float16), mode)
        labels = [np.asarray(o.labels if isinstance(o, Prediction) else o) for o in outputs]
        votes = np.stack([sum((x == c) for x in labels) for c in range(4)])
        return Prediction(votes.argmax(axis=0).astype(np.uint8), None, mode)

    return run


def model_label(model: Any, tta: str) -> str:
    """A single model's description for the layer and the JSON: its name and the TTA that ran."""
    return f"{getattr(model, 'name', 'model')} ({'flip TTA' if tta == 'flip' else 'no TTA'})"


def predict_patient(
    model: Any,
    patient: Patient,
    *,
    device: str = "auto",
    force_cpu: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    notify: Notify | None = None,
    predict: PredictFn | None = None,
    ncr_definition: str | None = DEFAULT_NCR_DEFINITION,
    tta: str = "auto",
) -> PredictionRun:
    """Segment ``patient`` with ``model`` (a loaded model or a :class:`models.tiers.Tier`): the one code path
    of the app and ``brats-predict``.

    ``batch_size`` None picks :func:`auto_batch_size` for the patient's slice size.
    ``tta`` is the test-time augmentation (:data:`models.tta.TTA_CHOICES`; "auto": the
    measured default of the device, one pass on the CPU, or a tier's own); ``run.probabilities`` is the
    mean softmax over its passes (and over a tier's members, :func:`models.tta.predict_ensemble`).
    ``ncr_definition`` is the meaning of label 1 the result should have
    (:meth:`PredictionRun.relabel`, which keeps the raw argmax beside; None: the raw argmax).
    Progress runs once from 0 to the end over all members; a GPU out-of-memory retry
    (smaller batches, then the CPU) starts the members again without going backwards.

    The result lies on the patient's canonical grid (``patient.shape``) voxel for voxel,
    so it can be shown beside the ground truth and written back with
    :func:`brats_desktop.core.nifti_io.write_label_map` onto ``patient.grid``.
    """
    tier = model if isinstance(model, Tier) else None
    members = tier.members if tier is not None else [model]
    needed = check_modalities(model, patient)  # every member, before any work
    target = select_device(device, force_cpu)
    images = {m: patient.images[m] for m in needed if m in patient.images}
    requested = tier.tta if tier is not None and (tta or "auto") == "auto" else tta
    options: dict[str, Any] = dict(
        device=target,
        batch_size=batch_size if batch_size is not None else auto_batch_size(patient.shape, target),
        progress=progress, should_stop=should_stop, notify=notify,
    )
    if len(members) == 1:
        run = run_with_fallback(members[0], images, predict=predict, tta=requested, **options)
    else:
        mode = resolve_tta(requested, target)
        ensemble = functools.partial(predict_ensemble, tta=mode) if predict is None else _ensemble_with(predict, mode)
        run = run_with_fallback(members, images, predict=ensemble, tta="none", **options)
        run.tta = mode
    if run.labels.shape != patient.shape:
        raise RuntimeError(
            f"prediction shape {run.labels.shape} does not match the patient grid {patient.shape}"
        )
    start = time.perf_counter()
    if tier is not None and tier.background_below is not None and run.probabilities is not None:
        run.labels = decide_labels(run.probabilities, tier.background_below, plain=run.labels)
    run.raw_labels = run.labels
    run.model_ncr_definition = model_ncr_definition(members[0])
    run.spacing = tuple(float(s) for s in patient.spacing)  # type: ignore[assignment]
    if tier is not None:
        ran = dataclasses.replace(tier, tta=run.tta)  # the label names the TTA that ran ("auto" resolved)
        run.tier, run.model_label, run.producer = ran.key, ran.label, ran.record()
        run.postprocess_params = ran.postprocess_params()
    else:
        run.model_label = model_label(model, run.tta)
        path = getattr(model, "path", None)
        run.producer = {"tier": None, "model_label": run.model_label, "tta": run.tta, "min_enhancing_ml": None,
                        "members": [{"file": Path(path).name if path else "", "name": getattr(model, "name", "")}]}
    run.relabel(ncr_definition)
    run.seconds += time.perf_counter() - start
    return run
