"""The painting mouse tool of the slice views, and the round brush outline it draws.

A :class:`PaintTool` plugs into each :class:`~brats_desktop.app.views.slice_view.SliceView`
through its tool hook: press opens a stroke in the :class:`LabelEditor`, moves paint
along the way, release closes it, so one drag is one undo step in any of the three
planes. The view already turns widget positions into canonical voxels, so nothing
here knows about screen axes or the radiological flip.

Shift+click keeps navigating (moves the crosshair) while painting is on, so the
user can change slices without leaving the tool; the wheel steps slices as always.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem

from brats_desktop.core.labels import CLASS_COLOURS

from brats_desktop.app.annotation.editor import COMPONENT, FILL, LabelEditor
from brats_desktop.app.views.slice_view import NavigateTool, SliceView, ViewTool
from brats_desktop.app.state import Voxel

_ERASER_COLOUR = (235, 235, 235)


class PaintTool(ViewTool):
    """Brush / eraser / fill on the editor's active layer, with an outline under the mouse."""

    cursor_shape = Qt.CursorShape.CrossCursor  # small cross in the brush outline
    # Listed by Help → Keyboard and Mouse Reference (app/help/shortcuts.py); kept next to press().
    TITLE = "Annotating"
    GESTURES: tuple[tuple[str, str], ...] = (
        ("Left drag", "Paint the chosen class with the round brush (one stroke = one undo step)"),
        ("Left click (fill tool)", "Fill the connected region of the slice under the mouse"),
        ("Left click (3-D region tool)", "Relabel or remove the whole connected blob, in 3-D"),
        ("Shift + click / drag", "Move the crosshair without painting"),
    )

    def __init__(self, editor: LabelEditor) -> None:
        self.editor = editor
        self._navigate = NavigateTool(editor.state)
        self._navigating = False
        self._views: list[SliceView] = []
        self._outlines: dict[SliceView, QGraphicsEllipseItem] = {}
        self._hover: dict[SliceView, Voxel | None] = {}
        self._slots: dict[SliceView, object] = {}
        # Asked before a one-click 3-D region edit (voxel -> go ahead?): the window asks about large ones.
        self.confirm_region: Callable[[Voxel], bool] | None = None
        editor.radius_changed.connect(self._on_brush_changed)
        editor.label_changed.connect(self._on_brush_changed)
        editor.tool_changed.connect(self._on_brush_changed)

    # ------------------------------------------------------------------ set-up
    def install(self, views: list[SliceView]) -> None:
        """Make this the left-button tool of ``views`` and show the brush outline there."""
        for view in views:
            if view in self._views:
                continue
            view.set_tool(self)
            outline = QGraphicsEllipseItem()
            outline.setZValue(200)
            outline.setVisible(False)
            outline.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            view.viewbox.addItem(outline, ignoreBounds=True)
            self._outlines[view] = outline
            self._hover[view] = None
            slot = self._hover_slot(view)
            self._slots[view] = slot
            view.hovered.connect(slot)
            self._views.append(view)
        self._on_brush_changed()

    def uninstall(self) -> None:
        """Give the views back to navigation and remove the outlines."""
        for view in self._views:
            view.set_tool(NavigateTool(view.state))
            try:
                view.hovered.disconnect(self._slots.pop(view))
            except (RuntimeError, TypeError):  # pragma: no cover - view already gone
                pass
            view.viewbox.removeItem(self._outlines.pop(view))
        self._views.clear()
        self._hover.clear()

    @property
    def views(self) -> list[SliceView]:
        return list(self._views)

    def outline_item(self, view: SliceView) -> QGraphicsEllipseItem | None:
        """The brush outline drawn in ``view`` (for tests and screenshots)."""
        return self._outlines.get(view)

    # ------------------------------------------------------------------- mouse
    def press(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        self._navigating = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self._navigating:
            self._navigate.press(view, voxel, event)
            return
        if voxel is not None:
            if self.editor.tool == COMPONENT and self.confirm_region is not None and not self.confirm_region(voxel):
                return
            self.editor.begin_stroke(view.plane.axis, voxel)

    def move(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        if self._navigating:
            self._navigate.move(view, voxel, event)
            return
        if voxel is None:
            return
        if self.editor.stroking:
            self.editor.continue_stroke(voxel)
        elif self.editor.tool not in (FILL, COMPONENT):  # one-click tools act on press only
            # The drag started outside the image and just entered it.
            self.editor.begin_stroke(view.plane.axis, voxel)
        self._place_outline(view, voxel)

    def release(self, view: SliceView, voxel: Voxel | None, event: QMouseEvent) -> None:
        if self._navigating:
            self._navigating = False
            return
        self.editor.end_stroke()

    # ----------------------------------------------------------------- outline
    def _hover_slot(self, view: SliceView):
        """A slot bound to one view, so the outline follows the mouse in that view only."""

        def on_hovered(voxel: Voxel | None) -> None:
            self._hover[view] = voxel
            self._place_outline(view, voxel)

        return on_hovered

    def _place_outline(self, view: SliceView, voxel: Voxel | None) -> None:
        outline = self._outlines.get(view)
        patient = view.state.patient
        if outline is None:
            return
        if voxel is None or patient is None or view.tool is not self:  # another tool (ruler, AI) has the view
            outline.setVisible(False)
            return
        self._hover[view] = voxel
        plane = view.plane
        sx, sy = patient.spacing[plane.col_axis], patient.spacing[plane.row_axis]
        radius = 0.5 if self.editor.tool in (FILL, COMPONENT) else self.editor.radius + 0.5
        cx, cy = voxel[plane.col_axis] + 0.5, voxel[plane.row_axis] + 0.5
        outline.setRect(QRectF((cx - radius) * sx, (cy - radius) * sy, 2 * radius * sx, 2 * radius * sy))
        outline.setVisible(True)

    def _on_brush_changed(self, *_args: object) -> None:
        label = self.editor.label
        rgb = CLASS_COLOURS.get(label, _ERASER_COLOUR)
        pen = QPen(QColor(*rgb))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        if label == 0:
            pen.setStyle(Qt.PenStyle.DashLine)
        for view, outline in self._outlines.items():
            outline.setPen(pen)
            self._place_outline(view, self._hover.get(view))
