"""What the AI correction remembers per label layer: the clicks given and the AI steps they made.

The clicks are tied to the layer's own :class:`~brats_desktop.core.history.EditHistory`
rather than kept beside it, so undo and redo can never leave them stale: an AI step is
one history step (atom) together with the clicks and scribbles that produced it, and
its clicks count (are drawn, are sent to the engine again) exactly while that atom is
applied. Ctrl+Z therefore reverts the labels *and* the clicks of one step.

Plain Python (no Qt): the controller feeds it and asks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brats_desktop.core.history import EditAtom, EditHistory

# brats_desktop.interactive.guidance.Click | Scribble: imported only once the tool is used.
Guidance = Any


@dataclass
class AiStep:
    """One AI answer: its history step (None: it changed nothing) and the guidance it added."""

    atom: EditAtom | None
    items: tuple[Guidance, ...]


@dataclass
class LayerGuidance:
    """The AI correction's clicks on one label layer, from the last Accept / Clear on."""

    steps: list[AiStep] = field(default_factory=list)
    running: list[Guidance] = field(default_factory=list)  # sent to the engine, answer not back yet
    pending: list[Guidance] = field(default_factory=list)  # given during a run: the next run takes them all

    def applied(self, history: EditHistory | None) -> list[Guidance]:
        """Guidance of the AI steps still applied (an undone step's clicks no longer count)."""
        live = {id(a) for a in history.steps} if history is not None else set()
        return [item for step in self.steps if step.atom is None or id(step.atom) in live for item in step.items]

    def all_guidance(self, history: EditHistory | None) -> list[Guidance]:
        """What the engine must see: every applied click, then those in flight, then the new ones."""
        return self.applied(history) + self.running + self.pending

    def shown(self, history: EditHistory | None) -> list[tuple[Guidance, bool]]:
        """(item, answered) for the markers: answered ones are drawn filled, waiting ones hollow."""
        waiting = [(item, False) for item in self.running + self.pending]
        return [(item, True) for item in self.applied(history)] + waiting

    @property
    def busy(self) -> bool:
        """Clicks are in flight or waiting for the next run."""
        return bool(self.running or self.pending)

    def take_pending(self) -> list[Guidance]:
        """Start a run: the waiting clicks go in flight (merged into one run)."""
        self.running, self.pending = self.running + self.pending, []
        return list(self.running)

    def answered(self, atom: EditAtom | None) -> None:
        """The run in flight came back and was written as ``atom`` (None: it changed nothing)."""
        self.steps.append(AiStep(atom, tuple(self.running)))
        self.running = []

    def requeue(self) -> None:
        """The run's answer is stale (the labels changed meanwhile): its clicks wait for a new run."""
        self.pending, self.running = self.running + self.pending, []

    def clear(self) -> None:
        """Accept / Clear: the clicks are forgotten (labels and undo history stay as they are)."""
        self.steps.clear()
        self.running.clear()
        self.pending.clear()
