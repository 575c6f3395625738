"""Crash safety by fault injection: real operations killed with SIGKILL at chosen points, then restarted.

A few kill points per operation run here (each a subprocess killed at a named crash
point, then the invariants of ``crash_operations.py``); ``bench/crash_sweep.py`` runs every
crash point and random times. The full list of invariants is in that module's docstring.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crash_operations import (
    CohortCli, EditAndAutosave, EditViaWorklist, ExportSummary, RawImport, ReviewSidecar, SegmentAll, TrainResume,
)
from faultinject import environment, survivors, wait_for_no_survivors

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds orphans through /proc")


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crash-templates")


def _kill_and_check(operation, tmp_path: Path, kill_at: int, match: str) -> None:
    ctx = operation.prepare(tmp_path / "run")
    run = operation.kill(ctx, kill_at=kill_at, match=match)
    assert run.killed, f"{operation.name}: never reached crash point {kill_at} of {match!r}: {run.stderr[-2000:]}"
    problems = operation.check(ctx, run)
    assert problems == [], f"{operation.name} killed at {match!r} #{kill_at}:\n" + "\n".join(problems)


CASES = [
    pytest.param(kind, n, match, id=f"{kind.__name__}-{match.split(':')[-1].strip().replace(' ', '_')}-{n}")
    for kind in (CohortCli, SegmentAll, EditAndAutosave, ReviewSidecar, ExportSummary, RawImport, TrainResume)
    for n, match in kind.fast_kill_points
]


@pytest.mark.parametrize(("kind", "kill_at", "match"), CASES)
def test_killed_operation_keeps_every_invariant(kind, kill_at, match, templates, tmp_path) -> None:
    _kill_and_check(kind(templates / kind.__name__), tmp_path, kill_at, match)


def test_autosave_is_offered_when_the_case_is_opened_from_the_worklist(templates, tmp_path) -> None:
    n, match = EditViaWorklist.fast_kill_points[0]
    _kill_and_check(EditViaWorklist(templates / "EditViaWorklist"), tmp_path, n, match)


def test_dataloader_workers_die_with_a_killed_cohort_run(templates, tmp_path) -> None:
    """kill -9 of ``brats-predict COHORT`` mid-run: its DataLoader workers must not stay behind."""
    op = CohortCli(templates / "CohortCli")
    ctx = op.prepare(tmp_path / "run")
    env = dict(ctx.env, BRATS_FAULT_MARK="workers-" + tmp_path.name, BRATS_CRASH_TRACE=str(ctx.trace))
    proc = subprocess.Popen(op.argv(ctx) + ["--batch-size", "1"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # Wait until a worker exists (it decodes the next patient while this one is segmented).
        while len(survivors(env["BRATS_FAULT_MARK"])) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None and len(survivors(env["BRATS_FAULT_MARK"])) >= 2, "no worker seen"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        left = wait_for_no_survivors(env["BRATS_FAULT_MARK"])
    assert left == [], f"outlived their parent by more than 5 s: {left}"


def test_environment_keeps_the_child_away_from_the_users_files(tmp_path) -> None:
    env = environment(tmp_path / "home")
    assert env["HOME"] == str(tmp_path / "home") and env["XDG_DATA_HOME"].startswith(str(tmp_path))
    assert not any(k.startswith("BRATS_CRASH") for k in env)


def test_a_started_program_dies_with_a_killed_parent(tmp_path) -> None:
    """What cross-validation and the ablation start (brats-train runs) ends with them, also after kill -9."""
    mark = "child-" + tmp_path.name
    script = (
        "import subprocess, sys, time\n"
        "from brats_desktop.core.lifetime import dies_with_this_process\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], **dies_with_this_process())\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = dict(environment(tmp_path / "home"), BRATS_FAULT_MARK=mark)
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "started"
        assert len(survivors(mark)) == 2
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    finally:
        left = wait_for_no_survivors(mark)
    assert left == []


def test_leftovers_of_dead_writers_go_and_those_of_live_ones_stay(tmp_path) -> None:
    from brats_desktop.core.atomic import _host_tag, remove_stale_partials, temporary_path

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "case1_prediction.nii.gz"
    mine = temporary_path(target, ".nii.gz")  # this live process is writing it
    theirs = mine.with_name(mine.name.replace(f"-{os.getpid()}-", f"-{dead.pid}-"))
    other_host = "000000" if _host_tag() != "000000" else "111111"
    elsewhere = theirs.with_name(theirs.name.replace(f".{_host_tag()}-", f".{other_host}-"))
    folder = theirs.with_name(f".raw-brats.{theirs.name.split('.nii.gz.')[1].split('.partial')[0]}.partial")
    for path in (mine, theirs, elsewhere):
        path.write_bytes(b"half")
    folder.mkdir()
    (folder / "raw_t1.nii.gz").write_bytes(b"half")
    assert sorted(remove_stale_partials(tmp_path)) == sorted([theirs, folder])
    assert mine.exists() and elsewhere.exists()  # a live writer's, and another machine's (same share)
