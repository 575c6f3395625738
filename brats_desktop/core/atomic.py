"""One atomic-write routine for every file the app writes beside a patient or a cohort.

A crash or a full disk half-way through a save must never leave a truncated file under
the user's name: the content goes to a hidden temporary name in the same folder, is
fsynced, and only then renamed over the target (``os.replace`` is atomic on one volume).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomically(
    target: Path,
    write: Callable[[Path], None],
    error: type[Exception],
    tmp_suffix: str = "",
) -> Path:
    """Call ``write(tmp)`` for a temporary path beside ``target``, fsync it, rename it to ``target``.

    ``tmp_suffix`` keeps an extension some writers need (nibabel picks compression from
    ``.nii.gz``). An ``OSError`` becomes ``error("<target>: could not be written (...)")``;
    the temporary file never outlives the call.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial{tmp_suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise error(f"{target}: could not be written ({exc.strerror or exc})") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
