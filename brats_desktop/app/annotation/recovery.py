"""Crash recovery: modified label layers autosaved to a recovery file, offered back on start.

Why: edits live in memory until the user saves, so a crash or a power cut would
lose them. At most once a minute (:class:`AutosaveTimer`) the modified layers of
the open patient go to ``<AppDataLocation>/recovery/<key>.npz`` (compressed label
arrays) beside ``<key>.json`` (the patient folder, layer names, kinds and
conventions, time). Both are written to temporary names and renamed, so a crash
during the autosave leaves the previous recovery file intact. A normal save, a
"Discard" or a clean close removes them; whatever is left at the next start was
not saved, and the app offers to restore it.

The file format part (:class:`RecoveryStore`) does not depend on Qt widgets; only
the default folder and the timer come from Qt.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import zipfile
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

from brats_desktop.core.atomic import fsync_path, remove_stale_partials, temporary_path
from brats_desktop.core.crashpoints import crash_point

FORMAT_VERSION = 1
AUTOSAVE_INTERVAL_MS = 60_000


def default_recovery_dir() -> Path:
    """``<AppDataLocation>/recovery`` (QStandardPaths test mode redirects it in tests)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".brats-desktop") / "recovery"


@dataclass
class RecoveredLayer:
    """One layer of a recovery file."""

    name: str
    kind: str
    convention: str
    data: np.ndarray
    source_path: str | None = None
    saved_path: str | None = None


@dataclass
class Recovery:
    """The content of one recovery file: which patient, when, which layers."""

    patient_folder: str | None
    patient_name: str
    shape: tuple[int, int, int]
    saved_at: float
    layers: list[RecoveredLayer] = field(default_factory=list)
    path: Path | None = None  # the .json file it was read from

    def describe(self) -> str:
        """One line for the restore dialog."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        names = ", ".join(layer.name for layer in self.layers)
        return f"{self.patient_name} ({names}), autosaved {when}"


class RecoveryStore:
    """Writes, lists, reads and removes recovery files in one folder."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_recovery_dir()
        # The app starts: what an autosave killed half-way left is removed (however the
        # patient is then opened; dead writers' temporaries only, never raises).
        remove_stale_partials(self.folder)
        # Compressing two 240x240x155 maps takes ~0.3 s, too long to freeze the GUI once a
        # minute in the middle of a stroke: writes run on a short-lived thread, one at a time
        # (no pool thread outlives the write, so nothing lingers at exit or after a test).
        self._pending: threading.Thread | None = None

    def write_in_background(self, recovery: Recovery) -> Future:
        """:meth:`write` on its own thread; the caller passes arrays it will not change."""
        self.wait()
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(self.write(recovery))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

        self._pending = threading.Thread(target=run, name="recovery-writer")
        self._pending.start()
        return future

    def wait(self) -> None:
        """Let a background write finish (before removing, so no stale file comes back)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.join()

    @staticmethod
    def key(patient_folder: str | None, patient_name: str) -> str:
        """Stable file name of a patient's recovery file (one per patient)."""
        ident = patient_folder or f"name:{patient_name}"
        return hashlib.sha1(ident.encode("utf-8")).hexdigest()[:16]

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.json", self.folder / f"{key}.npz"

    def write(self, recovery: Recovery) -> Path:
        """Write atomically (data first, then the JSON that points at it); returns the JSON path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.key(recovery.patient_folder, recovery.patient_name)
        json_path, npz_path = self.paths(key)
        arrays = {f"layer{i}": layer.data for i, layer in enumerate(recovery.layers)}
        # Named by the writing process, so the next start can remove what a kill -9 left.
        tmp_npz = temporary_path(npz_path, ".npz")
        tmp_json = temporary_path(json_path, ".json")
        meta = {
            "format": "brats-desktop-recovery",
            "version": FORMAT_VERSION,
            "patient_folder": recovery.patient_folder,
            "patient_name": recovery.patient_name,
            "shape": list(recovery.shape),
            "saved_at": recovery.saved_at,
            "data_file": npz_path.name,
            "layers": [
                {
                    "array": f"layer{i}",
                    "name": layer.name,
                    "kind": layer.kind,
                    "convention": layer.convention,
                    "source_path": layer.source_path,
                    "saved_path": layer.saved_path,
                }
                for i, layer in enumerate(recovery.layers)
            ],
        }
        try:
            with open(tmp_npz, "wb") as fh:
                np.savez_compressed(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            tmp_json.write_text(json.dumps(meta, indent=1), encoding="utf-8")
            fsync_path(tmp_json)
            crash_point("autosave: temporaries written")
            os.replace(tmp_npz, npz_path)
            crash_point("autosave: data renamed")
            os.replace(tmp_json, json_path)
            crash_point("autosave: renamed")
        except OSError as exc:  # a full or read-only disk: say where (the previous autosave is intact)
            raise OSError(exc.errno, f"{self.folder}: autosave could not be written ({exc.strerror or exc})") from exc
        finally:
            for tmp in (tmp_npz, tmp_json):
                if tmp.exists():
                    tmp.unlink()
        return json_path

    def read(self, json_path: Path | str) -> Recovery:
        """Read one recovery file; ValueError names the file and the problem."""
        json_path = Path(json_path)
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
            if meta.get("format") != "brats-desktop-recovery":
                raise ValueError("not a BraTS Desktop recovery file")
            shape = tuple(int(s) for s in meta["shape"])
            npz_path = json_path.with_name(meta["data_file"])
            layers = []
            with np.load(npz_path, allow_pickle=False) as npz:
                for entry in meta["layers"]:
                    data = np.ascontiguousarray(npz[entry["array"]], dtype=np.uint8)
                    if data.shape != shape:
                        raise ValueError(f"layer {entry['name']!r} has shape {data.shape}, expected {shape}")
                    if data.size and data.max() > 3:
                        raise ValueError(f"layer {entry['name']!r} holds label values above 3")
                    layers.append(
                        RecoveredLayer(
                            entry["name"], entry["kind"], entry["convention"], data,
                            entry.get("source_path"), entry.get("saved_path"),
                        )
                    )
        except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
            # json.JSONDecodeError is a ValueError; so are our own checks above.
            raise ValueError(f"{json_path}: unreadable recovery file ({exc})") from exc
        return Recovery(
            meta.get("patient_folder"), str(meta.get("patient_name", "")), shape,  # type: ignore[arg-type]
            float(meta.get("saved_at", 0.0)), layers, json_path,
        )

    def pending(self) -> list[Path]:
        """Recovery files left by a session that did not end cleanly, newest first."""
        if not self.folder.is_dir():
            return []
        remove_stale_partials(self.folder)
        found = [p for p in self.folder.glob("*.json") if not p.name.startswith(".")]
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)

    def remove(self, patient_folder: str | None, patient_name: str) -> None:
        """Forget a patient's recovery file (after a save, a discard or a clean close)."""
        self.wait()
        for path in self.paths(self.key(patient_folder, patient_name)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def remove_file(self, json_path: Path) -> None:
        """Remove a recovery file and its data (after restoring or declining it)."""
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
            data = json_path.with_name(str(meta.get("data_file", "")))
            if data != json_path and data.exists():
                data.unlink()
        except (OSError, ValueError):
            pass
        try:
            json_path.unlink()
        except FileNotFoundError:
            pass


class AutosaveTimer(QObject):
    """Calls ``save`` at most once per interval, only when something changed since the last call.

    The owner calls :meth:`mark_dirty` on every edit; the timer runs only while
    there is something to write, so an idle app does no work.
    """

    autosaved = Signal(object)  # the recovery file path (or None when nothing was written)
    failed = Signal(str)  # why a background autosave could not be written (full disk ...)

    def __init__(self, save, interval_ms: int = AUTOSAVE_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._save = save
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self._on_timeout)

    @property
    def interval_ms(self) -> int:
        return self._timer.interval()

    def set_interval(self, interval_ms: int) -> None:
        """Change the cadence (tests use a short one; the app keeps one minute)."""
        self._timer.setInterval(int(interval_ms))

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def mark_clean(self) -> None:
        """Nothing left to autosave (saved or discarded)."""
        self._dirty = False
        self._timer.stop()

    def flush(self, wait: bool = False) -> object:
        """Autosave now if anything changed; returns what ``save`` returned.

        ``save`` may return a :class:`~concurrent.futures.Future` (a background
        write): then :attr:`autosaved` is emitted when it is done, and ``wait=True``
        blocks for it and returns its result.
        """
        self._timer.stop()
        if not self._dirty:
            return None
        self._dirty = False
        result = self._save()
        if isinstance(result, Future):
            result.add_done_callback(self._on_written)  # emitted from the writer thread: queued
            return result.result() if wait else result
        self.autosaved.emit(result)
        return result

    def _on_written(self, future: Future) -> None:
        try:
            path = future.result()
        except Exception as exc:  # noqa: BLE001 - a failed autosave must never take the app down
            path = None
            self.failed.emit(str(exc))  # queued to the GUI thread: the user is told, work goes on
            self._dirty = True  # still unsaved: try again at the next edit or interval
        self.autosaved.emit(path)

    def _on_timeout(self) -> None:
        self.flush()
