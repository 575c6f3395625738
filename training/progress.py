"""A plain-text progress line on stderr: step, throughput, ETA and the running loss.

No dependency (tqdm is not installed); redraws at most twice a second, and when
stderr is not a terminal (a log file under nohup) prints one line per ~10 % instead
of carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Progress of ``total`` steps processing ``unit`` items each (slices)."""

    def __init__(self, total: int, desc: str, unit: str = "slices", stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.steps = 0
        self.items = 0
        self._last_draw = 0.0
        self._last_decile = -1

    def update(self, items: int, **postfix: float) -> None:
        self.steps += 1
        self.items += int(items)
        if not self.enabled:
            return
        now = time.perf_counter()
        decile = int(10 * self.steps / self.total)
        if self.tty and now - self._last_draw < 0.5 and self.steps < self.total:
            return
        if not self.tty and decile == self._last_decile and self.steps < self.total:
            return
        self._last_draw, self._last_decile = now, decile
        self.stream.write(("\r" if self.tty else "") + self.line(now, postfix) + ("" if self.tty else "\n"))
        self.stream.flush()

    def line(self, now: float | None = None, postfix: dict[str, float] | None = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = now - self.start
        rate = self.items / elapsed if elapsed > 0 else 0.0
        eta = elapsed / self.steps * (self.total - self.steps) if self.steps else 0.0
        extra = " ".join(f"{k}={v:.4f}" for k, v in (postfix or {}).items())
        return (
            f"{self.desc} {self.steps}/{self.total} [{format_seconds(elapsed)}<{format_seconds(eta)}, "
            f"{rate:.1f} {self.unit}/s] {extra}"
        )

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
