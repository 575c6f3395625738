"""The PySide6 6.12 refcount workaround keeps None and True alive through many Qt calls."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_many_signal_emits_do_not_abort_the_interpreter() -> None:
    # In a child process: without the workaround CPython 3.11 aborts ("bool_dealloc").
    code = textwrap.dedent(
        """
        import brats_desktop.app  # applies the workaround
        from PySide6.QtCore import QObject, QTimer, Signal

        class Emitter(QObject):
            changed = Signal(int)

        e = Emitter()
        e.changed.connect(lambda v: None)
        timer = QTimer()
        for i in range(200_000):
            e.changed.emit(i)  # drops a reference to True in PySide6 6.12
            timer.setInterval(i)  # a void method: drops a reference to None
        import gc; gc.collect()
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
