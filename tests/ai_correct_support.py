"""A small click engine honouring the ClickEngine contract, for the AI Correct GUI tests.

It answers at once (or when the test opens its gate) with the cube of radius 1 around
each click, and each scribble's voxels, set to the guidance label; voxels marked
``locked`` keep their label unless guidance touches them; nothing outside the box of
the guidance changes. Every call is recorded (labels, guidance, locked), so tests
assert what the app sent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass
class FakeResult:
    labels: np.ndarray
    bbox: tuple[slice, slice, slice]
    seconds: float = 0.01


@dataclass
class FakeCall:
    labels: np.ndarray
    guidance: list
    locked: np.ndarray | None


@dataclass
class FakeEngine:
    modalities: tuple[str, ...] = ("flair",)
    radius: int = 1
    gate: threading.Event | None = None  # set by the test: the run waits for it
    calls: list[FakeCall] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)

    def refine(self, images, labels, guidance, locked=None) -> FakeResult:
        self.calls.append(FakeCall(labels.copy(), list(guidance), None if locked is None else locked.copy()))
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(20), "the test never opened the gate"
        out = labels.copy()
        touched = np.zeros(labels.shape, bool)
        lo, hi = np.array(labels.shape), np.zeros(3, int)
        for item in guidance:
            voxels = [item.voxel] if hasattr(item, "voxel") else list(item.voxels)
            for v in voxels:
                box = tuple(slice(max(0, c - self.radius), c + self.radius + 1) for c in v)
                region = out[box]
                keep = locked[box] if locked is not None else np.zeros(region.shape, bool)
                region[~keep] = item.label
                lo = np.minimum(lo, [s.start for s in box])
                hi = np.maximum(hi, [min(s.stop, n) for s, n in zip(box, labels.shape)])
                touched[tuple(v)] = True
        for item in guidance:  # the clicked voxels themselves always get their label
            for v in ([item.voxel] if hasattr(item, "voxel") else list(item.voxels)):
                out[tuple(v)] = item.label
        bbox = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi)) if guidance else (slice(0, 0),) * 3
        return FakeResult(out, bbox)  # type: ignore[arg-type]


def use_fake_engine(controller, engine: FakeEngine) -> FakeEngine:
    """Point the window's AI correction at ``engine`` on the CPU (no torch, no model file)."""
    controller.worker.engine_factory = lambda device: engine
    controller.worker.device_for = lambda force_cpu: "cpu"
    return engine
