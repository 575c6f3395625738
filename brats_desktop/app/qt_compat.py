"""Work around a PySide6 6.12 reference-count bug that crashes the app on Python < 3.12.

PySide6 6.12 returns the singletons without taking a reference to them, as if they
were immortal (they are from CPython 3.12 on): every ``SignalInstance.emit()`` lowers
the count of ``True`` by one, and every call of a Qt method that returns nothing
(``setText``, ``QTimer.start``, ``setRect`` ...) or returns ``None`` (``parent()``)
lowers the count of ``None`` by one. Measured here with ``sys.getrefcount``: exactly
-100 per 100 calls. On CPython 3.11 the count then reaches zero and the interpreter
aborts with "Fatal Python error: bool_dealloc" or "none_dealloc" (we saw both, in the
test suite, in bench/bench_annotation.py and at exit; a long annotation session would
hit it too, since every brush move emits and redraws).

We do by hand what CPython 3.12 does: the counts of ``None``, ``True``, ``False`` (and,
for good measure, ``Ellipsis`` and ``NotImplemented``) are raised by 2**40 once, so
they can never reach zero. Nothing else changes: these objects are never freed anyway.
"""

from __future__ import annotations

import ctypes
import sys

_PIN = 1 << 40
_pinned = False


def pin_singletons() -> bool:
    """Make ``None``/``True``/``False`` effectively immortal on CPython < 3.12; True when applied.

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
    for singleton in (None, True, False, Ellipsis, NotImplemented):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _PIN
    _pinned = True
    return True


pin_singletons()
