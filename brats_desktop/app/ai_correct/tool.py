"""The AI Correct mouse tool: clicks and scribbles on a slice view become guidance.

Left click = "this voxel is the chosen class" (the Annotate dock's class: keys 1/2/3,
0 = background); right click or Alt+left click = "background here"; a left drag is a
scribble of the chosen class (Alt+drag: of background). A press that moves less than
the platform's drag distance is a click, so a shaky hand does not scribble. Shift
keeps navigating, as with the brush.
"""

from __future__ import annotations

from collections.abc import Callable
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from brats_desktop.core.labels import BACKGROUND

from brats_desktop.app.state import ViewerState, Voxel
from brats_desktop.app.views.slice_view import NavigateTool, SliceView, ViewTool


def line_voxels(a: Voxel, b: Voxel) -> list[Voxel]:
    """The voxels of the straight segment from ``a`` to ``b`` (both included), each once, in order."""
    steps = int(max(abs(int(q) - int(p)) for p, q in zip(a, b)))
    if steps == 0:
        return [tuple(int(v) for v in a)]  # type: ignore[list-item]
    t = np.linspace(0.0, 1.0, steps + 1)[:, None]
    points = np.rint(np.asarray(a, float) * (1 - t) + np.asarray(b, float) * t).astype(int)
    out: list[Voxel] = []
    for p in points:
        v = (int(p[0]), int(p[1]), int(p[2]))
        if not out or out[-1] != v:
            out.append(v)
    return out


class AiCorrectTool(ViewTool):
    """Turns mouse gestures into clicks (``on_click(voxel, label)``) and scribbles (``on_scribble(voxels, label)``)."""

    cursor_shape = Qt.CursorShape.CrossCursor
    # Listed by Help → Keyboard and Mouse Reference (app/help/shortcuts.py); kept next to press().
    TITLE = "AI Correct tool (A)"
    GESTURES: tuple[tuple[str, str], ...] = (
        ("Left click", "This voxel is the chosen class (keys 1/2/3; 0 = background): the AI corrects around it, in 3-D"),
        ("Right click, or Alt + left click", "Background here: the AI removes tumour around it"),
        ("Left drag", "Scribble: the path is the chosen class (Alt + drag: background)"),
        ("Shift + click / drag", "Move the crosshair without correcting"),
    )

    def __init__(self, state: ViewerState, label: Callable[[], int], on_click: Callable[[Voxel, int], None],
                 on_scribble: Callable[[list[Voxel], int], None],
                 on_preview: Callable[[list[Voxel], int], None] | None = None) -> None:
        self.state = state
        self._label = label  # the Annotate dock's chosen class, read at each gesture
        self._on_click = on_click
        self._on_scribble = on_scribble
        self._on_preview = on_preview or (lambda _path, _label: None)
        self._navigate = NavigateTool(state)
        self._navigating = False
        self._press_pos: QPointF | None = None
        self._axis = 2
        self._path: list[Voxel] = []
        self._dragged = False
        self._background = False

    # ------------------------------------------------------------------- mouse
    def press(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        self._navigating = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self._navigating:
            self._navigate.press(view, voxel, event)
            return
        self._background = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        self._press_pos = event.position()
        self._axis = view.plane.axis
        self._path = [voxel] if voxel is not None else []
        self._dragged = False

    def move(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        if self._navigating:
            self._navigate.move(view, voxel, event)
            return
        if self._press_pos is None:
            return
        if not self._dragged:
            moved = (event.position() - self._press_pos).manhattanLength()
            self._dragged = moved >= QApplication.startDragDistance()
        if voxel is None:
            return
        here = list(voxel)
        if self._path:
            here[self._axis] = self._path[0][self._axis]  # a scribble stays on the slice it began on
        here_v: Voxel = (here[0], here[1], here[2])
        if not self._path:
            self._path = [here_v]
        elif self._path[-1] != here_v:
            self._path.extend(line_voxels(self._path[-1], here_v)[1:])
        if self._dragged:
            self._on_preview(list(self._path), self.label_now())

    def release(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        if self._navigating:
            self._navigating = False
            return
        path, self._path, self._press_pos = self._path, [], None
        if not path:
            return
        label = self.label_now()
        if self._dragged and len(path) > 1:
            self._on_preview([], label)
            self._on_scribble(path, label)
        else:
            self._on_click(path[0], label)

    def right_click(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        if voxel is not None and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._on_click(voxel, BACKGROUND)

    def label_now(self) -> int:
        """Class of a left gesture: background with Alt, else the chosen class."""
        return BACKGROUND if self._background else int(self._label())
