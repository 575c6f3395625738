"""The QThread every background worker of the app runs in.

Workers stay plain QObjects that live in the GUI thread (their signals then reach the
GUI's slots queued, on the GUI thread); only their ``_run``/``_loop`` method runs in
this thread. Written once here instead of a private ``_Thread`` in each worker module.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QThread


class CallbackThread(QThread):
    """A QThread whose ``run()`` calls ``target`` (the worker's body), owned by ``parent``."""

    def __init__(self, target: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._target = target

    def run(self) -> None:  # noqa: D401 - QThread override
        self._target()
