"""The manual tools as click "engines", so the robot user can measure them beside the AI.

AI-assisted correction is only worth shipping if a click does more than the tools a
user already has. These wrap two of those tools behind the click engine's interface
(``refine(images, labels, guidance, locked) -> RefineResult``), so the evaluation runs
the same robot, the same clicks and the same scoring on all of them:

* :class:`BrushEngine`: one 3-D ball of radius 3 voxels with the clicked label per
  click (:func:`brats_desktop.core.editing.paint_ball`).
* :class:`RegionEngine`: the app's 3-D region tool (:func:`brats_desktop.core.components.relabel_component`):
  the connected piece under the click takes the clicked label. On background it does
  nothing (it cannot grow tumour), which is what that tool does in the app.

A manual tool acts once, when clicked: the engine interface hands over all guidance
given so far, but the effects of the earlier clicks are already in ``labels``, so only
the newest click is applied. Scribbles are not a manual-tool gesture here and are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from brats_desktop.core.components import CLASS, LESION, relabel_component
from brats_desktop.core.editing import paint_ball
from brats_desktop.core.history import bbox_of_mask
from brats_desktop.core.labels import BACKGROUND
from brats_desktop.core.robot_user import SIX_CONNECTED
from brats_desktop.interactive.engine import RefineResult
from brats_desktop.interactive.guidance import Click

NOTHING: tuple[slice, slice, slice] = (slice(0, 0), slice(0, 0), slice(0, 0))
"""The bbox of a result that changed nothing."""

BRUSH_RADIUS = 3
"""Voxels: the ball a single brush click paints (about 0.1 mL, a typical dab)."""

AUTO_SCOPE = "auto"
"""Region scope as a user would pick it per click: remove a whole blob, or relabel one class's piece."""


def _newest_click(guidance: Sequence[Any]) -> Click | None:
    for item in reversed(guidance):
        if isinstance(item, Click):
            return item
    return None


def _unchanged(labels: np.ndarray, started: float) -> RefineResult:
    return RefineResult(labels=labels.copy(), bbox=NOTHING, seconds=time.perf_counter() - started)


class _NewestClickEngine:
    """An engine that acts on the newest click only (its earlier clicks already acted on ``labels``)."""

    def refine(
        self,
        images: Mapping[str, np.ndarray],
        labels: np.ndarray,
        guidance: Sequence[Any],
        locked: np.ndarray | None = None,
    ) -> RefineResult:
        """Apply the newest click to a copy of ``labels``; no click, no change (hand-painted
        ``locked`` voxels are changed too: the user clicked)."""
        started = time.perf_counter()
        click = _newest_click(guidance)
        if click is None:
            return _unchanged(labels, started)
        out = labels.copy()
        bbox = self._apply(out, click)
        return RefineResult(labels=out, bbox=bbox or NOTHING, seconds=time.perf_counter() - started)

    def _apply(self, out: np.ndarray, click: Click) -> tuple[slice, ...] | None:
        """Change ``out`` in place for ``click``; the box of what may have changed, or None."""
        raise NotImplementedError


class BrushEngine(_NewestClickEngine):
    """One 3-D brush dab (ball of ``radius`` voxels) with the clicked label per click."""

    name = "brush"

    def __init__(self, radius: float = BRUSH_RADIUS) -> None:
        self.radius = radius

    def _apply(self, out: np.ndarray, click: Click) -> tuple[slice, ...] | None:
        return paint_ball(out, click.voxel, self.radius, click.label)


class RegionEngine(_NewestClickEngine):
    """The 3-D region tool: the connected piece under the click takes the clicked label.

    ``scope`` "auto" (default) is how a user drives the tool: a background click removes
    the whole blob under it (the tool's LESION scope), a class click relabels only the
    connected piece of the class under it (CLASS scope; LESION would turn a whole
    multi-class tumour into one class). "lesion" or "class" fix the scope.
    """

    name = "region"

    def __init__(self, scope: str = AUTO_SCOPE) -> None:
        if scope not in (AUTO_SCOPE, LESION, CLASS):
            raise ValueError(f"scope must be {AUTO_SCOPE}, {LESION} or {CLASS}, got {scope!r}")
        self.scope = scope

    def _apply(self, out: np.ndarray, click: Click) -> tuple[slice, ...] | None:
        """Relabel the piece under the click; nothing on background."""
        scope = self.scope
        if scope == AUTO_SCOPE:
            scope = LESION if click.label == BACKGROUND else CLASS
        return relabel_component(out, click.voxel, click.label, scope)


class ComponentOracle(_NewestClickEngine):
    """The ceiling of one click under the robot's protocol: the click fixes its whole error component.

    It reads the reference, so it is no tool a user has: it says how far 10 clicks could
    take a case if every click corrected exactly the error it was aimed at (the 6-connected
    component of voxels whose reference label is the clicked one and that show something
    else), no more and no less. Which errors the robot reaches in N clicks depends on how
    much each click fixes, so this is also why a region (say the enhancing tumour, whose
    errors are small) barely moves when the engine leaves large errors half fixed: the
    robot keeps aiming at them.
    """

    name = "oracle"

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth

    def _apply(self, out: np.ndarray, click: Click) -> tuple[slice, ...] | None:
        """Give the click's error component its reference label."""
        wrong = (self.truth == click.label) & (out != click.label)
        pieces, _ = ndimage.label(wrong, SIX_CONNECTED)
        piece = pieces[tuple(click.voxel)]
        fixed = pieces == piece if piece else np.zeros(out.shape, dtype=bool)
        fixed[tuple(click.voxel)] = True
        out[fixed] = click.label
        return bbox_of_mask(fixed)


REFERENCE_ENGINES = ("brush", "region", "oracle")
"""What the click engine is measured beside (``brats-evaluate --engine``, the growth search's grid names)."""


def reference_engine(name: str, truth: np.ndarray) -> BrushEngine | RegionEngine | ComponentOracle:
    """The reference engine called ``name`` for one case (``truth``: its reference, which only the oracle reads)."""
    if name == "brush":
        return BrushEngine()
    if name == "region":
        return RegionEngine()
    if name == "oracle":
        return ComponentOracle(truth)
    raise ValueError(f"{name!r} is not a reference engine ({', '.join(REFERENCE_ENGINES)})")
