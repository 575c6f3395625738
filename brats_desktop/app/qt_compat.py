"""Work around a PySide6 6.12 reference-count bug that crashes the app on Python < 3.12.

``SignalInstance.emit()`` returns ``True`` without taking a reference to it, so every
emit of a Python-defined signal (``labels_changed``, ``cursor_changed`` ...) lowers the
reference count of ``True`` by one. On CPython 3.11 ``True`` is an ordinary object:
after a few hundred net emits its count reaches zero and the interpreter aborts with
"Fatal Python error: bool_dealloc: deallocating True or False" (we saw it in the test
suite and at exit; a long annotation session would hit it too, since every brush move
emits). Measured here: 100 emits of a ``Signal(int)`` lower ``sys.getrefcount(True)`` by
exactly 100, with or without a connected slot.

CPython 3.12 made ``True``/``False`` immortal, which is what we do by hand on older
versions: their count is raised by 2**40 once, so it can never reach zero. Nothing else
changes (the singletons are never freed in any case).
"""

from __future__ import annotations

import ctypes
import sys

_PIN = 1 << 40
_pinned = False


def pin_bool_singletons() -> bool:
    """Make ``True``/``False`` effectively immortal on CPython < 3.12; True when applied.

    Idempotent. Skipped on 3.12+ (already immortal), other interpreters and debug
    builds (whose object header has extra fields before the count).
    """
    global _pinned
    if _pinned:
        return True
    if (
        sys.implementation.name != "cpython"
        or sys.version_info >= (3, 12)
        or hasattr(sys, "gettotalrefcount")
    ):
        return False
    for singleton in (True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _PIN
    _pinned = True
    return True


pin_bool_singletons()
