"""The PySide6 emit() refcount workaround keeps True alive through many emits."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_many_signal_emits_do_not_abort_the_interpreter() -> None:
    # In a child process: without the workaround CPython 3.11 aborts ("bool_dealloc").
    code = textwrap.dedent(
        """
        import brats_desktop.app  # applies the workaround
        from PySide6.QtCore import QObject, Signal

        class Emitter(QObject):
            changed = Signal(int)

        e = Emitter()
        e.changed.connect(lambda v: None)
        for i in range(200_000):
            e.changed.emit(i)
        import gc; gc.collect()
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
