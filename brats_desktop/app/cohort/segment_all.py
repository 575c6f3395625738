"""Segment All: :func:`brats_desktop.cohort_predict.segment_cases` (the ``brats-predict COHORT`` path) on a QThread.

Only signals cross back to the GUI: ``case_done`` after every case (with its result,
so the worklist row updates at once), then ``finished`` or ``cancelled``. Cancel sets a
flag that the prediction polls between slice batches.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from brats_desktop.app.callback_thread import CallbackThread

if TYPE_CHECKING:  # cohort_predict imports torch: only when Segment All runs
    from brats_desktop.cohort_predict import CaseJob


class SegmentAllWorker(QObject):
    """One Segment All run over ``jobs``; create a new one for every run."""

    case_done = Signal(int, int, object)  # done, total, result dict
    finished = Signal(object)  # list of results
    cancelled = Signal(object)  # results so far
    failed = Signal(str)
    ended = Signal()

    def __init__(self, jobs: Sequence[CaseJob], model_for: Callable[[Any], Any], options: dict[str, Any],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = list(jobs)
        self._model_for = model_for
        self._options = options
        self._stop = threading.Event()
        self._thread = CallbackThread(self._run, self)
        self._thread.finished.connect(self.ended)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set()

    def shutdown(self, msecs: int = 30_000) -> bool:
        """Cancel and wait for the thread (window closing)."""
        self.cancel()
        return self._thread.wait(msecs)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def _run(self) -> None:
        from brats_desktop.cohort_predict import segment_cases

        try:
            results = segment_cases(
                self.jobs, self._model_for, num_workers=0, should_stop=self._stop.is_set,
                progress=lambda done, total, result: self.case_done.emit(done, total, result),
                **self._options,
            )
        except Exception as exc:  # noqa: BLE001 - e.g. no model: reported, the app keeps running
            traceback.print_exc()
            self.failed.emit(str(exc))
            return
        if self._stop.is_set():
            self.cancelled.emit(results)
        else:
            self.finished.emit(results)
