"""Fault injection: run a real operation in a subprocess, SIGKILL it at a chosen point, check what is left.

Two ways to choose the moment of the kill:

* ``kill_at=N``: the N-th :func:`brats_desktop.core.crashpoints.crash_point` the
  operation reaches kills it (``BRATS_CRASH_AT``): exact and repeatable, right before a
  rename, between two files that belong together, after a case is done.
* ``kill_after_s=T``: the harness sends SIGKILL after T seconds of wall-clock time, so a
  kill can land in the middle of a write, a decode or a slice batch (``random.Random``
  with a fixed seed picks T in the sweep).

Only the operation's own process is killed, never its process group: that its children
(DataLoader workers, started programs) go too is one of the things checked. Every
process started for one run carries ``BRATS_FAULT_MARK=<random>`` in its environment, so
:func:`survivors` finds them all in ``/proc``, whatever they were re-parented to.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
MARK_ENV = "BRATS_FAULT_MARK"
ORPHAN_GRACE_S = 5.0  # "no process of ours outlives its parent for more than a few seconds"


@dataclass
class Run:
    """One run of an operation: how it ended and what it said."""

    pid: int
    returncode: int
    killed: bool
    seconds: float
    trace: list[str]
    stdout: str
    stderr: str
    survivors: list[str] = field(default_factory=list)  # our processes still alive ORPHAN_GRACE_S after the end

    @property
    def points(self) -> list[str]:
        """Crash points reached by the main process, in order (names only)."""
        return [line.split(" ", 1)[1] for line in self.trace if line.split(" ", 1)[0] == str(self.pid)]

    def acknowledged(self, prefix: str) -> list[str]:
        """Points starting with ``prefix`` (e.g. ``"ack "``): what the operation confirmed before the kill."""
        return [p for p in self.points if p.startswith(prefix)]


def environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child environment of its own: home, settings, app data, Qt offscreen, one torch thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRATS_CRASH", MARK_ENV))}
    home.mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "QT_QPA_PLATFORM": "offscreen",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "BRATS_NO_OPENGL": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra or {})
    return env


def run_operation(
    argv: list[str],
    env: dict[str, str],
    trace: Path,
    *,
    kill_at: int | None = None,
    match: str = "",
    kill_after_s: float | None = None,
    timeout_s: float = 180.0,
    cwd: Path = REPO,
) -> Run:
    """Run ``argv`` (a list starting with the program), optionally killing it; then look for orphans."""
    mark = uuid.uuid4().hex
    env = dict(env)
    env[MARK_ENV] = mark
    env["BRATS_CRASH_TRACE"] = str(trace)
    if kill_at is not None:
        env["BRATS_CRASH_AT"] = str(kill_at)
        env["BRATS_CRASH_MATCH"] = match
    trace.unlink(missing_ok=True)
    # Files, not pipes: an orphaned child would hold a pipe open and hang the reader.
    out_path, err_path = trace.with_suffix(".stdout"), trace.with_suffix(".stderr")
    start = time.perf_counter()
    with open(out_path, "w") as out_fh, open(err_path, "w") as err_fh:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out_fh, stderr=err_fh, text=True)
    killed_by_us = False
    try:
        if kill_after_s is not None:
            try:
                proc.wait(timeout=kill_after_s)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)  # this process only: its children must notice alone
                killed_by_us = True
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            tail = err_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise AssertionError(f"{argv[:4]} did not end within {timeout_s} s:\n{tail}")
    finally:
        left = wait_for_no_survivors(mark)
    out, err = (p.read_text(encoding="utf-8", errors="replace") for p in (out_path, err_path))
    seconds = time.perf_counter() - start
    lines = trace.read_text(encoding="utf-8", errors="replace").splitlines() if trace.exists() else []
    return Run(proc.pid, proc.returncode, killed_by_us or proc.returncode == -signal.SIGKILL, seconds, lines, out, err, left)


def survivors(mark: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries ``mark``."""
    found = []
    needle = f"{MARK_ENV}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state == "Z":  # a zombie holds nothing; its parent (the test) reaps it
                    continue
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(entry.name), cmd.strip()))
        except OSError:
            continue
    return found


def wait_for_no_survivors(mark: str, grace_s: float = ORPHAN_GRACE_S) -> list[str]:
    """Wait up to ``grace_s`` for every marked process to end; kill and report those that did not."""
    if not Path("/proc/self/environ").exists():
        return []
    deadline = time.monotonic() + grace_s
    left = survivors(mark)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = survivors(mark)
    for pid, _cmd in left:  # the test must not leak them either
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return [f"pid {pid}: {cmd}" for pid, cmd in left]


# --------------------------------------------------------------------------- invariants


def hashes(paths: list[Path]) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files or folders)."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed_inputs(before: dict[str, str]) -> list[str]:
    """Input files that changed or vanished since :func:`hashes` was taken."""
    problems = []
    for name, digest in before.items():
        path = Path(name)
        if not path.is_file():
            problems.append(f"{name}: input file vanished")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: input file changed")
    return problems


def is_partial(path: Path) -> bool:
    """A temporary of the atomic writers (hidden, ``.partial`` in the name)."""
    return path.name.startswith(".") and ".partial" in path.name


def leftovers(root: Path) -> list[str]:
    """Temporaries anywhere under ``root`` (after the next start they must be gone)."""
    return sorted(str(p) for p in root.rglob("*") if is_partial(p))


def incomplete_outputs(root: Path) -> list[str]:
    """Every NIfTI / JSON / CSV / NPZ / checkpoint under ``root`` that does not load whole (temporaries skipped)."""
    problems = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(is_partial(p) for p in [path, *path.parents]):
            continue
        problem = _load_problem(path)
        if problem:
            problems.append(f"{path}: {problem}")
    return problems


def _load_problem(path: Path) -> str | None:
    name = path.name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            img = nib.load(str(path))
            data = np.asanyarray(img.dataobj)  # reads (and inflates) every byte
            if data.size != int(np.prod(img.shape)):
                return "truncated image"
        elif name.endswith(".json"):
            json.loads(path.read_text(encoding="utf-8"))
        elif name.endswith(".csv"):
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            if not rows or any(len(r) != len(rows[0]) for r in rows):
                return "ragged or empty CSV"
        elif name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as npz:
                for key in npz.files:
                    npz[key]
        elif name.endswith(".pt"):
            import torch

            torch.load(path, map_location="cpu", weights_only=True)
        elif name.endswith(".png"):
            if path.read_bytes()[-8:] != b"IEND\xaeB`\x82":
                return "truncated PNG"
    except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, csv.Error) as exc:
        return f"does not load ({type(exc).__name__}: {exc})"
    return None


def python() -> str:
    return sys.executable
