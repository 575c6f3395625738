"""Patient loading off the GUI thread, in two steps so the first image shows early.

The worker wraps the core's :func:`~brats_desktop.core.patient.load_patient` (one
loading implementation for app, CLI and training) and reports through Qt signals,
which Qt delivers on the GUI thread: ``first_loaded`` with the displayed modality and
the segmentation, then ``loaded`` with every volume, or ``failed`` with the
:class:`~brats_desktop.core.errors.PatientLoadError`. Automatic display windows are
computed here too, so the GUI thread only draws.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from brats_desktop.core.errors import PatientLoadError
from brats_desktop.core.patient import Patient, load_patient

from brats_desktop.app.state import DEFAULT_MODALITY_ORDER
from brats_desktop.app.views.windowing import windows_for


# Longest pause of the reading threads while the GUI draws the first image.
FIRST_IMAGE_PAUSE_S = 1.0


def load_for_viewer(folder: Path, first: tuple[str, ...], on_first: Callable[[Patient], None]) -> Patient:
    """The app's load: a damaged file is left out (``Patient.problems``) instead of blocking the rest."""
    return load_patient(folder, first=first, on_first=on_first, skip_unreadable=True)


class LoadSignals(QObject):
    """Signals of one load request; ``request`` tells stale results from current ones."""

    first_loaded = Signal(int, object, object, object)  # request, partial Patient, windows, Event
    loaded = Signal(int, object, object)  # request, Patient, windows
    failed = Signal(int, object)  # request, exception (PatientLoadError or unexpected)


class _LoadTask(QRunnable):
    def __init__(
        self, request: int, folder: Path, signals: LoadSignals,
        load: Callable[..., Patient],
    ) -> None:
        super().__init__()
        self.request, self.folder, self.signals, self.load = request, folder, signals, load

    def run(self) -> None:
        # Nothing may escape run(): Qt's thread pool cannot handle Python exceptions,
        # and the receiver may already be gone when the window closed meanwhile.
        try:
            self._run()
        except RuntimeError:  # signals object deleted with its window: nobody to tell
            pass

    def _run(self) -> None:
        def first(partial: Patient) -> None:
            shown = threading.Event()
            self.signals.first_loaded.emit(self.request, partial, windows_for(partial.images), shown)
            # Let the GUI draw before reading the rest: on two busy cores the reading
            # threads would otherwise starve the GUI thread for half a second.
            shown.wait(FIRST_IMAGE_PAUSE_S)

        try:
            patient = self.load(self.folder, first=DEFAULT_MODALITY_ORDER, on_first=first)
            self.signals.loaded.emit(self.request, patient, windows_for(patient.images))
        except PatientLoadError as exc:
            self.signals.failed.emit(self.request, exc)
        except Exception as exc:  # noqa: BLE001 - report any bug as a dialog, never crash the GUI
            traceback.print_exc()
            self.signals.failed.emit(
                self.request, PatientLoadError(self.folder, f"unexpected error: {exc!r}")
            )


class PatientLoader(QObject):
    """Starts load requests on its own thread pool; only the newest request counts."""

    first_loaded = Signal(object, object)  # partial Patient, windows
    loaded = Signal(object, object)  # Patient, windows
    failed = Signal(object)  # PatientLoadError

    def __init__(self, parent: QObject | None = None, load: Callable[..., Patient] = load_for_viewer) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._load = load
        self._counter = itertools.count(1)
        self._current = 0
        self._signals = LoadSignals(self)
        self._signals.first_loaded.connect(self._on_first_loaded)
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return self._current != 0

    def start(self, folder: Path | str) -> None:
        """Load ``folder`` in the background; an older request still running is ignored."""
        self._current = next(self._counter)
        self._pool.start(_LoadTask(self._current, Path(folder), self._signals, self._load))

    def wait(self, msecs: int = -1) -> bool:
        """Block until running loads finish (tests, shutdown)."""
        return self._pool.waitForDone(msecs)

    def _on_first_loaded(
        self, request: int, patient: Patient, windows: dict, shown: threading.Event
    ) -> None:
        if request == self._current:
            self.first_loaded.emit(patient, windows)
            QTimer.singleShot(0, shown.set)  # after the paint events just posted
        else:
            shown.set()

    def _on_loaded(self, request: int, patient: Patient, windows: dict) -> None:
        if request == self._current:
            self._current = 0
            self.loaded.emit(patient, windows)

    def _on_failed(self, request: int, exc: Exception) -> None:
        if request == self._current:
            self._current = 0
            self.failed.emit(exc)
