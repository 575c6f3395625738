"""Read cases off the GUI thread and keep the next one in memory, so moving on is instant.

One reading runs at a time per thread (two threads: the case asked for now never waits
behind a prefetch). A finished read is kept until taken; only the newest few are kept,
so memory holds at most about two cases (~300 MB for BraTS-size volumes).
"""

from __future__ import annotations

import traceback
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from brats_desktop.core.cohort import CaseData
from brats_desktop.core.errors import PatientLoadError

from brats_desktop.app.views.windowing import windows_for

from .case_view import initial_cursor

KEEP = 2


class _Signals(QObject):
    done = Signal(str, int, object)  # key, generation, CaseData
    failed = Signal(str, int, str)  # key, generation, message


class _ReadTask(QRunnable):
    def __init__(self, key: str, generation: int, read: Callable[[str], CaseData], signals: _Signals) -> None:
        super().__init__()
        self.key, self.generation, self.read, self.signals = key, generation, read, signals

    def run(self) -> None:
        try:
            try:
                data = self.read(self.key)
                data.extra["windows"] = windows_for(data.patient.images)
                data.extra["cursor"] = initial_cursor(data)
                self.signals.done.emit(self.key, self.generation, data)
            except PatientLoadError as exc:
                self.signals.failed.emit(self.key, self.generation, str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug is reported as a message, never a crash
                traceback.print_exc()
                self.signals.failed.emit(self.key, self.generation, f"unexpected error: {exc!r}")
        except RuntimeError:  # the signals object went away with its window
            pass


class CasePrefetcher(QObject):
    """``request(key)`` reads a case in the background; ``ready(key)`` says it can be ``take``-n."""

    ready = Signal(str)
    failed = Signal(str, str)  # key, message naming the file and the problem

    def __init__(self, read: Callable[[str], CaseData], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._read = read
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._cache: OrderedDict[str, CaseData] = OrderedDict()
        self._in_flight: set[str] = set()
        self._generation = 0  # bumped by clear(): reads started before are dropped

    def request(self, key: str) -> None:
        """Start reading ``key`` unless it is in memory or already being read."""
        if key in self._cache or key in self._in_flight:
            return
        self._in_flight.add(key)
        self._pool.start(_ReadTask(key, self._generation, self._read, self._signals))

    def has(self, key: str) -> bool:
        return key in self._cache

    def pending(self, key: str) -> bool:
        return key in self._in_flight

    def take(self, key: str) -> CaseData | None:
        """The case if it is in memory (it stays there: going back is instant too)."""
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
        return data

    def forget(self, key: str) -> None:
        """Drop a case whose files changed (e.g. Segment All just wrote its prediction)."""
        self._cache.pop(key, None)

    def clear(self) -> None:
        self._cache.clear()
        self._in_flight.clear()
        self._generation += 1

    def wait(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)

    def _on_done(self, key: str, generation: int, data: CaseData) -> None:
        if generation != self._generation:
            return
        self._in_flight.discard(key)
        self._cache[key] = data
        self._cache.move_to_end(key)
        while len(self._cache) > KEEP:
            self._cache.popitem(last=False)
        self.ready.emit(key)

    def _on_failed(self, key: str, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._in_flight.discard(key)
        self.failed.emit(key, message)
