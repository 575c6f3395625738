"""Run a prediction off the GUI thread and report through Qt signals only.

The worker wraps :func:`models.runtime.predict_patient` (the same call ``brats-predict``
makes) in a :class:`QThread`. The GUI stays responsive because nothing but signals
crosses back: ``progress`` after each batch, then exactly one of ``finished``,
``failed`` or ``cancelled``. Cancellation sets a flag that the prediction polls between
batches, so it stops within one batch (well under a second on the bundled model);
:meth:`InferenceWorker.shutdown` cancels and waits, so no worker outlives its window.

Signals are emitted from the worker thread; Qt queues them to receivers living in the
GUI thread, so slots there run on the GUI thread as usual.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Signal

from brats_desktop.core.patient import Patient
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION

from brats_desktop.app.callback_thread import CallbackThread


class InferenceWorker(QObject):
    """One prediction of one patient; create a new worker for every run."""

    started = Signal()
    progress = Signal(int, int)  # batches (or slices) done, total
    finished = Signal(object)  # models.runtime.PredictionRun
    failed = Signal(str)  # a message for the user
    cancelled = Signal()
    notice = Signal(str)  # e.g. "GPU out of memory ...; retrying with 8"
    ended = Signal()  # the thread has stopped (after any of the three above): safe to delete

    def __init__(
        self,
        model: Any,
        patient: Patient,
        *,
        device: str = "auto",
        force_cpu: bool = False,
        batch_size: int | None = None,
        predict: Any = None,
        ncr_definition: str | None = DEFAULT_NCR_DEFINITION,
        tta: str = "auto",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tta = tta  # test-time augmentation (models.tta)
        self._ncr_definition = ncr_definition
        self.model = model
        self.patient = patient
        self._device = device
        self._force_cpu = force_cpu
        self._batch_size = batch_size
        self._predict = predict  # None: models.inference.predict_volume (tests inject hooks)
        self._stop = threading.Event()
        self._thread = CallbackThread(self._run, self)
        self._thread.finished.connect(self.ended)  # queued to the GUI thread

    # -- control (GUI thread) ---------------------------------------------------------
    def start(self) -> None:
        """Begin the prediction in the worker thread."""
        if self._thread.isRunning():
            raise RuntimeError("this inference worker is already running")
        self._thread.start()

    def cancel(self) -> None:
        """Ask the prediction to stop at its next batch boundary; returns at once."""
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread has ended (True) or ``timeout_ms`` passed (False)."""
        if not self._thread.isRunning():
            return True
        return bool(self._thread.wait(timeout_ms))

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel and wait: used when the patient changes or the window closes."""
        self.cancel()
        return self.wait(timeout_ms)

    # -- work (worker thread) ---------------------------------------------------------
    def _run(self) -> None:
        from models.runtime import (
            DeviceUnavailableError,
            InferenceCancelled,
            MissingModalityError,
            predict_patient,
        )

        self.started.emit()
        try:
            run = predict_patient(
                self.model,
                self.patient,
                device=self._device,
                force_cpu=self._force_cpu,
                batch_size=self._batch_size,
                progress=self.progress.emit,
                should_stop=self._stop.is_set,
                notify=self.notice.emit,
                predict=self._predict,
                ncr_definition=self._ncr_definition,
                tta=self._tta,
            )
        except InferenceCancelled:
            self.cancelled.emit()
            return
        except (MissingModalityError, DeviceUnavailableError) as exc:
            self.failed.emit(f"{self.patient.name}: {exc}")
            return
        except MemoryError:
            self.failed.emit(f"{self.patient.name}: not enough memory to segment this volume")
            return
        except Exception as exc:  # a bug or a broken checkpoint: tell the user, keep the app
            traceback.print_exc()
            self.failed.emit(f"{self.patient.name}: segmentation failed ({type(exc).__name__}: {exc})")
            return
        if self._stop.is_set():  # cancelled after the last batch: the result is unwanted
            self.cancelled.emit()
            return
        self.finished.emit(run)
