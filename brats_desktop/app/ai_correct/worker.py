"""The AI correction's background worker: one engine run at a time, off the GUI thread.

The click engine (``brats_desktop.interactive.engine.ClickEngine``, torch inside) is made
on the first run, in this thread, so neither building the window nor pressing A loads
torch; it is kept for the next runs and made again only when the device changes (the
Force CPU setting). Only signals cross back to the GUI thread: exactly one of
``finished`` or ``failed`` per :meth:`RefineWorker.submit`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from brats_desktop.core.discovery import MODALITY_LABELS

from brats_desktop.app.callback_thread import CallbackThread

EngineFactory = Callable[[str], Any]  # device ("cpu", "cuda", ...) -> an object with refine(...)


def bundled_engine(device: str) -> Any:
    """The bundled click model (imports torch: called in the worker thread on first use)."""
    from brats_desktop.interactive.engine import ClickEngine

    return ClickEngine.bundled(device=device)


def pick_device(force_cpu: bool) -> str:
    """The device of the app's Force CPU setting: CUDA, then MPS, else CPU (models.runtime's rule)."""
    from models.runtime import select_device

    return str(select_device("auto", force_cpu))


@dataclass
class RefineJob:
    """Everything one run needs, captured on the GUI thread (the labels are a copy)."""

    token: int  # the controller's run number: a stale answer is recognised by it
    layer: Any  # LabelLayer the answer is for
    patient_name: str
    images: Mapping[str, np.ndarray]
    labels: np.ndarray
    guidance: Sequence[Any] | None  # None: only make the engine (a preload)
    locked: np.ndarray | None
    force_cpu: bool
    ncr_definition: str | None = None  # label 1's meaning in the layer (the Segment menu's setting)
    # Class probabilities (C, X, Y, Z) of this patient's automatic segmentation: a click grows
    # over the piece where they find its class plausible (beyond the network's window).
    prior: np.ndarray | None = None

    @classmethod
    def preload(cls, force_cpu: bool, images: Mapping[str, np.ndarray] | None = None,
                shape: tuple[int, int, int] | None = None, patient_name: str = "",
                prior: np.ndarray | None = None) -> RefineJob:
        """Make the engine now (and warm it up on ``images``, with ``prior`` or its own probabilities
        for them), answer nothing: ``finished(job, None)``."""
        labels = np.zeros(shape or (0, 0, 0), np.uint8)
        return cls(-1, None, patient_name, images or {}, labels, None, None, force_cpu, prior=prior)


class RefineWorker(QObject):
    """Runs ``engine.refine`` for one :class:`RefineJob` at a time in a :class:`CallbackThread`."""

    engine_loading = Signal()  # the first run is loading the model (a second or two)
    preparing = Signal(str)  # patient name: the engine computes its own probabilities for it (seconds, once)
    finished = Signal(object, object)  # RefineJob, RefineResult (labels, bbox, seconds); None after a preload
    failed = Signal(object, str)  # RefineJob, a message for the user

    def __init__(
        self,
        engine_factory: EngineFactory = bundled_engine,
        device_for: Callable[[bool], str] = pick_device,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine_factory = engine_factory
        self.device_for = device_for
        self.engine: Any = None
        self.device: str | None = None
        self.load_seconds: float | None = None
        self._job: RefineJob | None = None
        self._thread = CallbackThread(self._run, self)

    @property
    def needs_engine(self) -> bool:
        """No engine is made yet (a preload would make it)."""
        return self.engine is None

    @property
    def busy(self) -> bool:
        """A job was submitted and its signal has not been handled yet."""
        return self._job is not None

    def submit(self, job: RefineJob) -> None:
        """Start ``job``; the caller runs one at a time (clicks meanwhile wait for the next run)."""
        if self._job is not None:
            raise RuntimeError("an AI correction run is already in progress")
        # The previous run's signal can arrive a moment before its thread has returned.
        self._thread.wait()
        self._job = job
        self._thread.start()

    def done(self) -> None:
        """The GUI thread has handled the job's signal: the next job may start."""
        self._job = None

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the thread has ended (window closing, tests)."""
        return bool(self._thread.wait(timeout_ms)) if self._thread.isRunning() else True

    # -- worker thread -----------------------------------------------------------------
    def _run(self) -> None:
        job = self._job
        assert job is not None
        try:
            engine = self._engine(job.force_cpu)
            if job.guidance is None:
                if job.images and not missing_modalities(engine, job.images):
                    self._use_prior(engine, job)
                    warm_up(engine, job.images, job.labels)
                self.finished.emit(job, None)
                return
            missing = missing_modalities(engine, job.images)
            if missing:
                self.failed.emit(job, missing_message(job.patient_name, missing, job.images))
                return
            if hasattr(engine, "ncr_definition"):
                engine.ncr_definition = job.ncr_definition
            self._use_prior(engine, job)
            result = engine.refine(job.images, job.labels, list(job.guidance), locked=job.locked)
        except MemoryError:
            self.failed.emit(job, f"{job.patient_name}: not enough memory for AI correction")
            return
        except Exception as exc:  # a missing model file, a bug: tell the user, keep the app running
            self.failed.emit(job, failure_message(job, exc))
            return
        self.finished.emit(job, result)

    def _use_prior(self, engine: Any, job: RefineJob) -> None:
        """Clicks grow with the patient's automatic segmentation's probabilities; without a Segment
        run behind the map (a ground truth, a new annotation) with the engine's own over the whole
        volume, computed once per patient, which gain more than its window's alone (README)."""
        if job.prior is not None or not hasattr(engine, "own_prior"):
            if hasattr(engine, "set_prior"):  # None forgets another patient's
                engine.set_prior(job.images, job.prior)
            return
        if engine.prior_ready(job.images):
            return
        self.preparing.emit(job.patient_name)
        try:
            engine.own_prior(job.images)
        except MemoryError:  # clicks still work, growing within the network's window only
            engine.set_prior(job.images, None)

    def _engine(self, force_cpu: bool) -> Any:
        device = self.device_for(force_cpu)
        if self.engine is None or device != self.device:
            self.engine_loading.emit()
            start = time.perf_counter()
            self.engine, self.device = self.engine_factory(device), device
            self.load_seconds = time.perf_counter() - start
        return self.engine


def warm_up(engine: Any, images: Mapping[str, np.ndarray], labels: np.ndarray) -> None:
    """One throw-away run, so the user's first click does not pay the engine's first-call costs.

    The first ``refine`` normalises the patient's images and runs the network for the first
    time (allocations, CPU kernel selection): about two seconds on two cores, against a
    fraction of a second afterwards. A failure here is left for the first real click to report.
    """
    from brats_desktop.interactive.guidance import Click

    try:
        engine.refine(images, labels, [Click(tuple(n // 2 for n in labels.shape), 0)])
    except Exception:  # noqa: BLE001 - reported by the click that meets it
        pass


def missing_modalities(engine: Any, images: Mapping[str, np.ndarray]) -> list[str]:
    """The engine's input modalities the patient lacks (an engine that names none needs nothing)."""
    needed = getattr(engine, "modalities", None) or ()
    return [m for m in needed if m not in images]


def missing_message(patient_name: str, missing: Sequence[str], images: Mapping[str, np.ndarray]) -> str:
    """What the status bar says when the patient lacks the click model's inputs."""
    names = ", ".join(MODALITY_LABELS.get(m, m.upper()) for m in missing)
    have = ", ".join(MODALITY_LABELS.get(m, m) for m in images) or "none"
    return (f"AI correct needs {names}, which {patient_name} does not have (it has {have}); "
            "the brush and fill tools still work.")


def failure_message(job: RefineJob, exc: Exception) -> str:
    """A user message for an engine failure; a missing modality is said in words, not as a traceback."""
    missing = getattr(exc, "missing", None)  # models.inference.MissingModalityError names them
    if isinstance(exc, KeyError) and exc.args and exc.args[0] in MODALITY_LABELS:
        missing = [exc.args[0]]  # an engine that simply indexed the images
    if missing:
        return missing_message(job.patient_name, missing, job.images)
    if isinstance(exc, ImportError):
        return f"AI correct is not available in this installation ({exc})."
    problem = getattr(exc, "problem", None)  # models.checkpoint.ModelLoadError: user text
    if problem:
        return f"AI correct cannot load its model: {problem}"
    traceback.print_exc()
    who = f"{job.patient_name}: " if job.patient_name else ""
    return f"{who}AI correction failed ({type(exc).__name__}: {exc})"
