"""One atomic-write routine for every file the app writes beside a patient or a cohort.

A crash or a full disk half-way through a save must never leave a truncated file under
the user's name: the content goes to a hidden temporary name in the same folder, is
fsynced, and only then renamed over the target (``os.replace`` is atomic on one volume).

A kill -9 between the first byte and the rename leaves that hidden temporary behind.
Its name carries the writing process's host and pid
(``.<target>.<host>-<pid>-<random>.partial``), so the next start can tell a leftover of a
dead process (:func:`remove_stale_partials` deletes it) from a file another process on
this or another machine is still writing (left alone). Discovery skips hidden names, so
a leftover is never mistaken for an image meanwhile.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

from .crashpoints import crash_point

_PARTIAL = re.compile(r"^\..+\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}\.partial(\..*)?$")


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temporary_path(target: Path, tmp_suffix: str = "") -> Path:
    """A hidden name beside ``target`` for building it (a file or a folder); unique per call."""
    target = Path(target)
    return target.with_name(
        f".{target.name}.{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{tmp_suffix}"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def is_stale_partial(path: Path) -> bool:
    """True for a temporary of :func:`temporary_path` whose writer (on this host) is dead."""
    match = _PARTIAL.match(Path(path).name)
    if match is None or match.group("host") != _host_tag():
        return False
    pid = int(match.group("pid"))
    return pid != os.getpid() and not _alive(pid)


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete what killed writers left in ``folder`` (files or folders); returns what went.

    Never raises: a folder that cannot be listed or a leftover that cannot be removed
    (read-only media) is simply left, as discovery ignores hidden names anyway.
    """
    removed: list[Path] = []
    try:
        entries = [p for p in Path(folder).iterdir() if p.name.startswith(".") and is_stale_partial(p)]
    except OSError:
        return removed
    for path in entries:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def fsync_path(path: Path) -> None:
    """Flush a written file to the disk (a rename must never expose an empty file after a power cut)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_atomically(
    target: Path,
    write: Callable[[Path], None],
    error: type[Exception],
    tmp_suffix: str = "",
) -> Path:
    """Call ``write(tmp)`` for a temporary path beside ``target``, fsync it, rename it to ``target``.

    ``tmp_suffix`` keeps an extension some writers need (nibabel picks compression from
    ``.nii.gz``). An ``OSError`` becomes ``error("<target>: could not be written (...)")``;
    the temporary file never outlives the call (unless the process is killed, see
    :func:`remove_stale_partials`).
    """
    target = Path(target)
    tmp = temporary_path(target, tmp_suffix)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        crash_point(f"write {target.name}: start")
        write(tmp)
        crash_point(f"write {target.name}: temporary written")
        fsync_path(tmp)
        os.replace(tmp, target)
        crash_point(f"write {target.name}: renamed")
    except OSError as exc:
        raise error(f"{target}: could not be written ({exc.strerror or exc})") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
