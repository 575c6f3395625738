"""The installed PySide6 keeps Python's reference counts straight.

PySide6 6.12.0 returns True from every ``SignalInstance.emit()`` and None from every
void method without taking a reference, so on CPython 3.11 the counts of True/None
reach zero after a few thousand calls and the interpreter aborts ("bool_dealloc",
"none_dealloc"): a long annotation session emits far more than that. pyproject.toml
therefore excludes 6.12; this test fails if a PySide6 with that bug is installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_signal_emits_and_void_calls_do_not_drop_references() -> None:
    code = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QObject, QTimer, Signal

        class Emitter(QObject):
            changed = Signal(int)

        e = Emitter()
        e.changed.connect(lambda v: None)
        timer = QTimer()
        t0, n0 = sys.getrefcount(True), sys.getrefcount(None)
        for i in range(1000):
            e.changed.emit(i)
            timer.setInterval(i)
        print(sys.getrefcount(True) - t0, sys.getrefcount(None) - n0)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    true_delta, none_delta = (int(v) for v in done.stdout.split())
    # A healthy binding leaves the counts where they were (give or take a few
    # references held by the interpreter); the buggy one loses exactly 1000 of each.
    assert abs(true_delta) < 50, f"True lost {-true_delta} references over 1000 emits"
    assert abs(none_delta) < 50, f"None lost {-none_delta} references over 1000 void calls"
