"""Child processes of ours die with their parent, even when the parent gets SIGKILL.

A kill -9 (or the out-of-memory killer) runs no cleanup in the parent, so nothing there
can stop its children: each child must notice by itself. DataLoader workers decoding
the next patients hold ~150-360 MB each, and a training run started by cross-validation
holds a CPU for hours; left orphaned, they keep both until someone finds them.

Two mechanisms, both cheap:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the child the moment
  its parent (the thread that started it) ends; checked once right after, in case the
  parent was already gone before the call.
* Anywhere: a daemon thread that exits the process once ``os.getppid()`` is no longer
  the parent it started under (a child whose parent dies is re-parented), for systems
  without ``prctl`` and for children that never run Python code of ours after a fork.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5


def _set_parent_death_signal() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval_s: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # no cleanup of ours is worth running: our results have nowhere to go
        time.sleep(interval_s)


def die_with_parent(parent_pid: int, watch: bool = True, interval_s: float = WATCH_INTERVAL_S) -> None:
    """Make this (child) process end when ``parent_pid`` ends; call first thing in the child."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the kernel was told to watch
        os._exit(1)
    if watch:
        threading.Thread(
            target=_watch_parent, args=(parent_pid, interval_s), name="parent-watchdog", daemon=True
        ).start()


def dies_with_this_process() -> dict:
    """Keyword arguments for :mod:`subprocess` that make the started program end with this process.

    A cross-validation killed mid-fold must not leave its training run holding the CPU
    (or GPU) for hours. Empty where ``preexec_fn`` does not exist (Windows).
    """
    return {"preexec_fn": child_preexec(os.getpid())} if os.name == "posix" else {}


def child_preexec(parent_pid: int):
    """``preexec_fn`` for :mod:`subprocess`: the started program dies with this process (Linux).

    Only the kernel's signal survives ``exec``; there is no thread to watch from in a
    program that is not ours, so elsewhere this does nothing.
    """

    def preexec() -> None:
        _set_parent_death_signal()
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec
