"""Label and brain surfaces for the 3-D view, rebuilt in a background thread.

:class:`MeshWorker` is one QThread that runs mesh jobs; a job submitted while another
waits replaces it (*latest request wins*), so a burst of edits costs one rebuild.
:class:`SurfaceModel` observes the viewer state: after a prediction, an edit (every
brush dab restarts a short debounce timer, so a stroke is rebuilt once, after it
ends), an undo or a new layer, it marks the layer dirty and submits one job with a
copy of every dirty layer. The GUI thread never builds a mesh (painting and slice
browsing stay fluid); it only takes finished meshes in.

The model holds plain :class:`~brats_desktop.core.meshes.Mesh` objects and no OpenGL,
so it is tested without a GPU; ``views/volume_view.py`` draws what it holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from brats_desktop.core.meshes import Mesh, brain_mesh, label_meshes

from brats_desktop.app.callback_thread import CallbackThread
from brats_desktop.app.state import LabelLayer, ViewerState

DEBOUNCE_MS = 300
# The thread ends after this long without work (and restarts on the next job): an idle
# window that is destroyed without closeEvent leaves no running QThread behind.
IDLE_EXIT_S = 2.0


class MeshWorker(QObject):
    """Runs one job at a time in its own thread; a newer pending job replaces an older one."""

    built = Signal(int, object)  # request id, the job's return value
    failed = Signal(int, str)  # request id, "ExceptionType: message"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: tuple[int, Callable[[], object]] | None = None
        self._running: int | None = None
        self._stopping = False
        self._alive = False  # the loop runs (or was started and has not returned)
        self._last_id = 0
        self._thread = CallbackThread(self._loop, self)

    def submit(self, job: Callable[[], object]) -> int:
        """Queue ``job`` (run in the worker thread); returns its request id."""
        with self._cond:
            if self._stopping:
                return -1
            self._last_id += 1
            request = self._last_id
            self._pending = (request, job)
            start = not self._alive
            self._alive = True
            self._cond.notify()
        if start:
            self._thread.wait()  # a previous loop that has just decided to end
            self._thread.start(QThread.Priority.LowPriority)
        return request

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cond:
            return self._pending is not None or self._running is not None

    def shutdown(self) -> None:
        """Drop any waiting job, let the running one finish, and stop the thread."""
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify()
        self._thread.wait()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    if not self._cond.wait(IDLE_EXIT_S) and self._pending is None:
                        self._alive = False  # idle: end; submit() starts a new loop
                        return
                if self._stopping:
                    self._alive = False
                    return
                request, job = self._pending
                self._pending = None
                self._running = request
            try:
                result = job()
            except Exception as exc:  # a bad label map must not kill the thread
                self.failed.emit(request, f"{type(exc).__name__}: {exc}")
            else:
                self.built.emit(request, result)
            finally:
                with self._cond:
                    self._running = None


@dataclass
class _LayerEntry:
    layer: LabelLayer
    version: int = 0  # bumped on every change of the layer's labels
    built_version: int = -1  # version the meshes below were built from
    meshes: dict[int, Mesh] | None = None


class SurfaceModel(QObject):
    """Per-layer class surfaces and a brain surface of the current patient, kept up to date.

    Work happens only while :attr:`active` (the 3-D view is shown and can draw): a
    hidden view costs nothing, and shows current surfaces as soon as it is shown again.
    """

    changed = Signal()  # meshes or brain surface replaced (draw again)
    busy_changed = Signal(bool)  # a build started (True) or the last one ended (False)
    failed = Signal(str)

    def __init__(
        self, state: ViewerState, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.worker = MeshWorker(self)
        self.worker.built.connect(self._on_built)
        self.worker.failed.connect(self._on_failed)
        self._entries: dict[int, _LayerEntry] = {}
        self._brain: Mesh | None = None
        self._brain_needed = True
        self._patient_gen = 0
        self._active = False
        self._last_request = 0
        self._busy = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._submit)
        state.patient_changed.connect(self._on_patient_changed)
        state.modalities_changed.connect(self._on_modalities_changed)
        state.layers_changed.connect(self._on_layers_changed)
        self._on_patient_changed(state.patient)

    # -- public -----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._active

    def set_active(self, active: bool) -> None:
        """Build only while active; becoming active builds whatever changed meanwhile."""
        if active != self._active:
            self._active = active
            if active and self._needs_work():
                self._timer.start(0)
            elif not active:
                self._timer.stop()

    def meshes(self, layer: LabelLayer) -> dict[int, Mesh]:
        """Class → surface of ``layer`` as last built (empty before the first build)."""
        entry = self._entries.get(id(layer))
        return dict(entry.meshes) if entry is not None and entry.meshes else {}

    @property
    def brain(self) -> Mesh | None:
        return self._brain

    @property
    def busy(self) -> bool:
        return self._busy

    def is_current(self) -> bool:
        """True when every layer's surfaces match its labels (nothing to rebuild)."""
        return not self._needs_work()

    def build_now(self) -> None:
        """Build every dirty surface in this thread (screenshots and scripts, not the GUI)."""
        self._timer.stop()
        job, _gen = self._make_job()
        if job is not None:
            self._last_request = -1
            self._on_built(-1, job())

    def shutdown(self) -> None:
        self._timer.stop()
        self.worker.shutdown()

    # -- scheduling ---------------------------------------------------------------------
    def _dirty(self) -> list[_LayerEntry]:
        if self.state.patient is None:
            return []
        return [e for e in self._entries.values() if e.built_version != e.version]

    def _needs_work(self) -> bool:
        return self.state.patient is not None and (bool(self._dirty()) or self._brain_needed)

    def _schedule(self) -> None:
        if self._active and self._needs_work():
            self._timer.start()

    def _make_job(self) -> tuple[Callable[[], object] | None, int]:
        patient = self.state.patient
        if patient is None:
            return None, 0
        spacing = tuple(float(s) for s in patient.spacing)
        # Copies: the user may paint into the live arrays while the worker reads.
        todo = {lid: (e.version, e.layer.data.copy()) for lid, e in self._entries.items()
                if e.built_version != e.version}
        volume = self.state.volume() if self._brain_needed else None
        gen = self._patient_gen
        if not todo and volume is None:
            return None, 0

        def job() -> dict:
            layers = {lid: (version, label_meshes(data, spacing)) for lid, (version, data) in todo.items()}
            brain = brain_mesh(volume, spacing) if volume is not None else None
            return {"gen": gen, "layers": layers, "brain": brain, "brain_built": volume is not None}

        return job, gen

    def _submit(self) -> None:
        if not self._active:
            return
        job, _gen = self._make_job()
        if job is None:
            return
        self._last_request = self.worker.submit(job)
        self._set_busy(True)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _on_built(self, request: int, result: object) -> None:
        if request == self._last_request:
            self._set_busy(False)
        if not isinstance(result, dict) or result["gen"] != self._patient_gen:
            return  # built for a patient that is gone
        for lid, (version, meshes) in result["layers"].items():
            entry = self._entries.get(lid)
            if entry is not None and version == entry.version:
                entry.meshes, entry.built_version = meshes, version
        if result["brain_built"]:
            self._brain, self._brain_needed = result["brain"], False
        self.changed.emit()
        if self._needs_work():  # changed again while this build ran
            self._schedule()

    def _on_failed(self, request: int, message: str) -> None:
        if request == self._last_request:
            self._set_busy(False)
        self.failed.emit(message)

    # -- state handlers -------------------------------------------------------------------
    def _on_patient_changed(self, _patient: object) -> None:
        self._patient_gen += 1
        for entry in self._entries.values():
            self._disconnect(entry.layer)
        self._entries.clear()
        self._brain = None
        self._brain_needed = self.state.patient is not None
        self._on_layers_changed()
        self.changed.emit()

    def _on_modalities_changed(self) -> None:
        if self._brain is None and not self._brain_needed:
            self._brain_needed = True
            self._schedule()

    def _on_layers_changed(self) -> None:
        current = {id(layer): layer for layer in self.state.layers}
        for lid in [lid for lid in self._entries if lid not in current]:
            self._disconnect(self._entries.pop(lid).layer)
        for lid, layer in current.items():
            if lid not in self._entries:
                self._entries[lid] = _LayerEntry(layer)
                layer.labels_changed.connect(self._on_labels_changed)
        self.changed.emit()
        self._schedule()

    def _on_labels_changed(self, _bbox: object) -> None:
        entry = self._entries.get(id(self.sender()))
        if entry is not None:
            entry.version += 1
            self._schedule()  # restarts the debounce: one rebuild per stroke

    def _disconnect(self, layer: LabelLayer) -> None:
        try:
            layer.labels_changed.disconnect(self._on_labels_changed)
        except (RuntimeError, TypeError):  # pragma: no cover - already gone
            pass
