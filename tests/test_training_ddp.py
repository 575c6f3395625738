"""Distributed smoke run: PyTorch's own launcher starts two CPU processes (gloo) for a few steps."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.checkpoint import load_model

REPO = Path(__file__).resolve().parents[1]


def test_two_process_gloo_run_trains_and_writes_once(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "training.train",
        "--synthetic", "4", "--synthetic-shape", "48", "48", "24", "--synthetic-cache", "",
        "--base-width", "4", "--depth", "3", "--batch-size", "2", "--samples-per-epoch", "16",
        "--patch-size", "32", "32", "--epochs", "2", "--max-steps", "3", "--threads", "1",
        "--device", "cpu", "--no-progress", "--out", str(out),
    ]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - reported, not hidden
        pytest.fail(f"distributed run did not finish: {exc}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "device cpu x2" in proc.stderr  # both processes joined one group
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[0]["train_loss"]) > 0
    meta = load_model(out / "best.pt").metadata
    assert meta["training"]["device"] == "cpu x2"
