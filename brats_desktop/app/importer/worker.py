"""Run :func:`brats_desktop.preprocess.pipeline.preprocess` off the GUI thread.

Registration and HD-BET take a minute or two on a laptop CPU; the window must stay usable
and the user must be able to stop it. Only signals cross back: ``progress`` per step, then
exactly one of ``finished`` / ``failed`` / ``cancelled``. Cancel sets a flag the pipeline
polls between steps and inside each registration's iterations; the pipeline builds the
folder under a temporary name, so a cancelled import leaves nothing behind.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from brats_desktop.app.callback_thread import CallbackThread


class ImportWorker(QObject):
    """One import; create a new worker for every run."""

    progress = Signal(int, int, str)  # steps done, total, what is happening now
    finished = Signal(object)  # preprocess.pipeline.ImportResult
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()  # the thread has stopped

    def __init__(self, scan: Any, roles: dict, output: Path, extractor: Any = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scan, self.roles, self.output, self.extractor = scan, roles, Path(output), extractor
        self._stop = threading.Event()
        self._thread = CallbackThread(self._run, self)
        self._thread.finished.connect(self.ended)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, ms: int = -1) -> bool:
        return self._thread.wait() if ms < 0 else self._thread.wait(ms)

    def shutdown(self) -> None:
        """Cancel and wait: no import thread outlives its window."""
        self.cancel()
        self._thread.wait()

    def _run(self) -> None:
        from brats_desktop.preprocess.pipeline import ImportCancelled, ImportFailed, preprocess

        try:
            result = preprocess(self.scan, self.roles, self.output,
                                progress=lambda d, t, text: self.progress.emit(d, t, text),
                                should_stop=self._stop.is_set, extractor=self.extractor)
        except ImportCancelled:
            self.cancelled.emit()
        except ImportFailed as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never kills the app
            traceback.print_exc()
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            if self._stop.is_set():
                self.cancelled.emit()
            else:
                self.finished.emit(result)
