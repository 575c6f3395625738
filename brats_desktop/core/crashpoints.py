"""Named points where a fault-injection run may kill this process, to prove crash safety.

The writers (:func:`brats_desktop.core.atomic.write_atomically`, the cohort loop, the
trainer's epoch end, the raw import) call :func:`crash_point` at the moments where a
kill -9 or a power cut would hurt most: before a temporary file is renamed, between
two files that belong together, after a case is done. Nothing happens unless the
environment asks for it, so the cost in normal use is one dictionary lookup.

``BRATS_CRASH_TRACE=FILE``
    every point appends ``"<pid> <name>"`` as one line to ``FILE`` (one ``write`` on an
    ``O_APPEND`` descriptor, so lines of several processes never interleave).
``BRATS_CRASH_AT=N``
    the N-th point (from 1) reached in the main process sends it SIGKILL: no
    ``finally`` block, no atexit handler, no flush runs, exactly as a kill -9 would.
    Child processes (DataLoader workers) never kill themselves: the test is whether
    they notice that their parent is gone.
``BRATS_CRASH_MATCH=TEXT``
    with ``BRATS_CRASH_AT``: count only the points whose name contains TEXT (a test can
    then say "the second prediction's rename" and stay valid when other writes are added).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

TRACE_ENV = "BRATS_CRASH_TRACE"
AT_ENV = "BRATS_CRASH_AT"
MATCH_ENV = "BRATS_CRASH_MATCH"

_lock = threading.Lock()
_count = 0


def crash_point(name: str) -> None:
    """Record that ``name`` was reached; die here if the fault-injection run asked for it."""
    env = os.environ
    if TRACE_ENV not in env and AT_ENV not in env:
        return
    global _count
    main_process = multiprocessing.parent_process() is None
    counted = main_process and env.get(MATCH_ENV, "") in name
    with _lock:
        if counted:
            _count += 1
        count = _count
        trace = env.get(TRACE_ENV)
        if trace:
            fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{os.getpid()} {name}\n".encode())
            finally:
                os.close(fd)
        at = env.get(AT_ENV)
        if counted and at and count == int(at):
            os.kill(os.getpid(), signal.SIGKILL)
