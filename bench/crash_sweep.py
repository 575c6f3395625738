"""The full fault-injection sweep: every operation killed at every crash point and at random times.

    nice python bench/crash_sweep.py [--random 4] [--seed 24] [--jobs 2] [--only NAME] [--json FILE]

For each operation of ``tests/crash_operations.py``: one run without a kill counts its
crash points (the N-th point reached by the main process) and times it; then one run is
killed at each point (``--stride`` takes every k-th), and ``--random`` more are killed by
the harness after a random time in [0, that run's duration) drawn from ``random.Random(seed)``.
After every kill the operation's invariants are checked (rerun included). Prints one row
per operation (kill points, runs actually killed, violations, orphaned processes) and the
violations themselves; writes everything to ``--json``. Exit status 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from crash_operations import Operation, operations  # noqa: E402


def one_kill(op: Operation, folder: Path, kill_at: int | None, after_s: float | None) -> dict:
    ctx = op.prepare(folder)
    run = op.kill(ctx, kill_at=kill_at, kill_after_s=after_s)
    try:
        problems = op.check(ctx, run)
    except Exception as exc:  # noqa: BLE001 - a check that crashes is a finding, not the end of the sweep
        problems = [f"check raised {type(exc).__name__}: {exc}"]
    label = f"point {kill_at}" if kill_at is not None else f"{after_s:.2f} s"
    return {
        "operation": op.name, "kill": label, "killed": run.killed,
        "last_point": run.points[-1] if run.points else None,
        "orphans": len(run.survivors), "problems": problems,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--random", type=int, default=4, help="random-time kills per operation")
    p.add_argument("--seed", type=int, default=24)
    p.add_argument("--stride", type=int, default=1, help="kill at every k-th crash point")
    p.add_argument("--jobs", type=int, default=1, help="kill points run at once (each is a subprocess)")
    p.add_argument("--only", action="append", help="operation class name(s) to run")
    p.add_argument("--json", type=Path, help="write every result here")
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="crash-sweep-"))
    ops = [op for op in operations(work / "templates") if not args.only or type(op).__name__ in args.only]
    results: list[dict] = []
    summary: list[dict] = []
    started = time.perf_counter()
    for op in ops:
        t0 = time.perf_counter()
        ctx = op.prepare(work / type(op).__name__ / "reference")
        reference = op.kill(ctx)  # no kill: counts the points and times the run
        if reference.returncode != 0:
            print(f"{op.name}: the run without a kill failed:\n{reference.stderr[-3000:]}", file=sys.stderr)
            return 1
        points = len(reference.points)
        plan = [(n, None) for n in range(1, points + 1, args.stride)]
        plan += [(None, rng.uniform(0.0, reference.seconds)) for _ in range(args.random)]
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(one_kill, op, work / type(op).__name__ / f"k{i}", n, after)
                       for i, (n, after) in enumerate(plan)]
            rows = [f.result() for f in futures]
        results += rows
        bad = [r for r in rows if r["problems"]]
        summary.append({
            "operation": op.name, "class": type(op).__name__, "crash_points": points, "kill_points": len(rows),
            "killed": sum(r["killed"] for r in rows), "violations": len(bad),
            "orphans": sum(r["orphans"] for r in rows), "seconds": round(time.perf_counter() - t0, 1),
            "reference_seconds": round(reference.seconds, 1),
        })
        row = summary[-1]
        print(f"{op.name:48s} {row['kill_points']:4d} kill points ({row['killed']} killed) "
              f"{row['violations']:3d} violations {row['orphans']:2d} orphans  {row['seconds']:7.1f} s", flush=True)
        for r in bad:
            print(f"    {r['kill']} (last point {r['last_point']!r}): " + " | ".join(r["problems"])[:600], flush=True)
    total = sum(s["kill_points"] for s in summary)
    violations = sum(s["violations"] for s in summary)
    orphans = sum(s["orphans"] for s in summary)
    print(f"total: {total} kill points over {len(summary)} operations, {violations} violations, "
          f"{orphans} orphaned processes, {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "results": results, "seed": args.seed,
                                         "random": args.random, "stride": args.stride}, indent=1))
    return 1 if violations or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
