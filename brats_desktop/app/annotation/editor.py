"""The label editor: which layer is edited, with what, and its undo/redo history.

Mouse tools (:mod:`brats_desktop.app.annotation.paint_tool`) turn events into voxel
coordinates and call :meth:`LabelEditor.begin_stroke` / :meth:`continue_stroke` /
:meth:`end_stroke`; the editor runs the pure numpy operations of
:mod:`brats_desktop.core.editing` on the active :class:`LabelLayer`'s array, records
them in that layer's :class:`~brats_desktop.core.history.EditHistory` (one drag = one
undo step), and tells the layer which box changed so views redraw only that.

Layers are never written to a file here: edits stay in memory until the user saves
(:mod:`brats_desktop.app.annotation.saver`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from brats_desktop.core.components import LESION, SCOPES, relabel_component
from brats_desktop.core.editing import flood_fill, paint_stroke, plane_axis
from brats_desktop.core.interpolation import InterpolationResult, interpolate_slices
from brats_desktop.core.history import BBox, EditAtom, EditHistory, bbox_of_mask, bbox_union, normalize_bbox
from brats_desktop.core.labels import BACKGROUND, ENHANCING, NCR, TUMOUR_CLASSES

from brats_desktop.app.state import ANNOTATION, LabelLayer, ViewerState

Voxel = tuple[int, int, int]

BRUSH = "brush"
FILL = "fill"
COMPONENT = "component"  # one click relabels (label 0: removes) a whole connected piece, in 3-D
TOOLS: tuple[str, ...] = (BRUSH, FILL, COMPONENT)

ANNOTATION_LAYER_NAME = "Annotation"
MIN_RADIUS, MAX_RADIUS = 0, 30
DEFAULT_RADIUS = 3


class LabelEditor(QObject):
    """Edits the active layer of a :class:`ViewerState` and owns one history per layer."""

    active_layer_changed = Signal(object)  # LabelLayer | None
    label_changed = Signal(int)  # 0 = eraser, 1-3 tumour classes
    tool_changed = Signal(str)
    radius_changed = Signal(int)
    only_over_changed = Signal(object)  # int | None
    fill_inside_brain_changed = Signal(bool)
    history_changed = Signal()  # can_undo / can_redo may differ
    stroke_finished = Signal(object, object)  # layer, bbox of the whole step (None: nothing)

    def __init__(self, state: ViewerState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._layer: LabelLayer | None = None
        self._label = NCR
        self._tool = BRUSH
        self._radius = DEFAULT_RADIUS
        self._only_over: int | None = None
        self._fill_inside_brain = True
        self._component_scope = LESION
        self._last_axis = 2  # plane of the latest stroke: where "fill between slices" works
        self._histories: dict[LabelLayer, EditHistory] = {}
        # Steps made by hand (brush, fill, region tool, fill between slices), per layer: what
        # AI correction must keep (hand_painted). Undo/redo need no bookkeeping: a step counts
        # while its history holds it applied.
        self._hand_steps: dict[LabelLayer, list[EditAtom]] = {}
        self._stroke: tuple[int, Voxel, BBox | None] | None = None  # axis, last voxel, bbox
        self._setting_modified = False  # True while the editor itself sets a layer's unsaved flag
        state.layers_changed.connect(self._on_layers_changed)
        state.patient_changed.connect(self._on_patient_changed)

    # ---------------------------------------------------------------- settings
    @property
    def state(self) -> ViewerState:
        return self._state

    @property
    def layer(self) -> LabelLayer | None:
        """The layer that strokes paint into (None: painting is off)."""
        return self._layer

    def set_layer(self, layer: LabelLayer | None) -> None:
        if layer is not None and layer not in self._state.layers:
            raise ValueError(f"layer {layer.name!r} is not shown")
        if layer is not self._layer:
            self.end_stroke()
            self._watch(self._layer, False)
            self._layer = layer
            self._watch(layer, True)
            self.active_layer_changed.emit(layer)
            self.history_changed.emit()

    def _watch(self, layer: LabelLayer | None, on: bool) -> None:
        """Follow the edited layer's whole-array replacements (its history restarts then)."""
        if layer is None:
            return
        if on:
            layer.labels_changed.connect(self._on_layer_labels_changed)
            return
        try:
            layer.labels_changed.disconnect(self._on_layer_labels_changed)
        except (RuntimeError, TypeError):  # pragma: no cover - already disconnected
            pass

    def _on_layer_labels_changed(self, bbox: object) -> None:
        if bbox is None and self._layer is not None:  # set_data: a new array, a new history
            self._stroke = None
            self.history(self._layer)
            self.history_changed.emit()

    def new_annotation_layer(self) -> LabelLayer:
        """Add an empty "Annotation" layer (or a numbered one) and make it the edited layer."""
        patient = self._state.patient
        if patient is None:
            raise ValueError("no patient is open")
        name, n = ANNOTATION_LAYER_NAME, 1
        while self._state.layer(name) is not None:
            n += 1
            name = f"{ANNOTATION_LAYER_NAME} {n}"
        layer = LabelLayer(name, np.zeros(patient.shape, np.uint8), ANNOTATION, None, patient.convention)
        self._state.add_layer(layer)
        self.set_layer(layer)
        return layer

    @property
    def label(self) -> int:
        return self._label

    def set_label(self, label: int) -> None:
        """Class to paint: 1-3, or 0 for the eraser."""
        label = int(label)
        if not BACKGROUND <= label <= ENHANCING:
            raise ValueError(f"label must be 0-3, got {label}")
        if label != self._label:
            self._label = label
            self.label_changed.emit(label)

    @property
    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
        if tool != self._tool:
            self._tool = tool
            self.tool_changed.emit(tool)

    @property
    def radius(self) -> int:
        """Brush radius in voxels (0 = one voxel)."""
        return self._radius

    def set_radius(self, radius: int) -> None:
        radius = int(min(MAX_RADIUS, max(MIN_RADIUS, int(radius))))
        if radius != self._radius:
            self._radius = radius
            self.radius_changed.emit(radius)

    def grow_brush(self, delta: int) -> None:
        self.set_radius(self._radius + delta)

    @property
    def only_over(self) -> int | None:
        """Paint only over voxels holding this value (0 background, 1-3 a class); None: anywhere."""
        return self._only_over

    def set_only_over(self, value: int | None) -> None:
        if value is not None and not BACKGROUND <= int(value) <= ENHANCING:
            raise ValueError(f"paint-only-over value must be 0-3 or None, got {value}")
        value = None if value is None else int(value)
        if value != self._only_over:
            self._only_over = value
            self.only_over_changed.emit(value)

    @property
    def fill_inside_brain(self) -> bool:
        """Fill stops at the edge of the brain (voxels where every image is 0 are air); on by default."""
        return self._fill_inside_brain

    def set_fill_inside_brain(self, on: bool) -> None:
        on = bool(on)
        if on != self._fill_inside_brain:
            self._fill_inside_brain = on
            self.fill_inside_brain_changed.emit(on)

    def brain_mask(self, axis: int, index: int) -> np.ndarray | None:
        """Non-zero voxels of any loaded image on one slice (None: no images, or all non-zero anyway).

        BraTS volumes are skull-stripped with exact zeros outside the brain; a raw scan
        has few exact zeros, and then nothing is restricted.
        """
        patient = self._state.patient
        if patient is None or not patient.images or not 0 <= index < patient.shape[axis]:
            return None
        sl: list[slice | int] = [slice(None)] * 3
        sl[axis] = index
        mask: np.ndarray | None = None
        for image in patient.images.values():
            nonzero = image[tuple(sl)] != 0
            mask = nonzero if mask is None else (mask | nonzero)
        return None if mask is None or mask.all() else mask

    # ----------------------------------------------------------------- history
    def history(self, layer: LabelLayer | None = None) -> EditHistory | None:
        """The history of ``layer`` (default: the active one), made on first use.

        A layer whose array was replaced (``set_data``, e.g. a new prediction)
        starts a fresh history: old steps refer to the old array.
        """
        layer = layer or self._layer
        if layer is None:
            return None
        history = self._histories.get(layer)
        if history is None:
            history = self._histories[layer] = EditHistory(layer.data)
            layer.modified_changed.connect(self._on_layer_modified)
        elif history.target is not layer.data:
            history.clear(layer.data)
        else:
            return history
        if layer.modified:  # a fresh history starts where the layer is: saved or not
            history.mark_dirty()
        return history

    # ------------------------------------------------------------ unsaved flag
    def _on_layer_modified(self, modified: bool) -> None:
        """Someone else changed a layer's unsaved flag (Save, Export, a restore): move the clean mark.

        A save marks the current history position clean, so undoing back to it later
        clears the ``*`` again; a change made outside the history means no position
        matches the file any more.
        """
        layer = self.sender()
        history = self._histories.get(layer) if isinstance(layer, LabelLayer) else None
        if self._setting_modified or history is None or history.target is not layer.data:
            return
        if modified:
            history.mark_dirty()
        else:
            history.mark_clean()

    def _set_modified(self, layer: LabelLayer, modified: bool) -> None:
        self._setting_modified = True
        try:
            layer.set_modified(modified)
        finally:
            self._setting_modified = False

    def _sync_modified(self, layer: LabelLayer) -> None:
        """A layer is unsaved exactly when its history stands somewhere other than its last save."""
        history = self._histories.get(layer)
        if history is not None and history.target is layer.data:
            self._set_modified(layer, not history.is_clean)

    def replace_labels(self, layer: LabelLayer, data: np.ndarray, modified: bool = True) -> BBox | None:
        """Write a whole new label map into ``layer`` as one undo step (a re-run prediction can be undone).

        Only the voxels that differ are written and kept in the history, so replacing a
        prediction by a similar one costs little memory. Returns the changed box.
        """
        if data.shape != layer.data.shape:
            raise ValueError(f"layer {layer.name!r}: shape {data.shape} != {layer.data.shape}")
        if layer is self._layer:
            self.end_stroke()
        history = self.history(layer)
        assert history is not None
        changed = layer.data != data
        bbox = bbox_of_mask(changed)
        if bbox is None:
            return None
        mask = changed[bbox]
        old = layer.data[bbox][mask]
        layer.data[bbox][mask] = np.asarray(data[bbox][mask], dtype=layer.data.dtype)
        history.record(bbox, mask, old)
        layer.notify_changed(bbox, modified=False)
        if not modified:
            history.mark_clean()  # e.g. a fresh prediction: nothing of the user's to save here
        self._sync_modified(layer)
        self.history_changed.emit()
        return bbox

    def write_region(self, layer: LabelLayer, bbox: BBox, values: np.ndarray) -> BBox | None:
        """Write ``values`` into ``layer.data[bbox]`` as one undo step; returns the changed box.

        For edits computed elsewhere (AI correction): only the voxels that differ are
        written and kept in the history, and listeners hear of it as of a finished stroke
        (metrics, autosave), so Ctrl+Z reverts it like any stroke.
        """
        if layer is self._layer:
            self.end_stroke()
        history = self.history(layer)
        assert history is not None
        region = layer.data[bbox]
        if values.shape != region.shape:
            raise ValueError(f"layer {layer.name!r}: values {values.shape} do not fit the box {region.shape}")
        tight = bbox_of_mask(region != values)
        if tight is None:
            return None
        box: BBox = tuple(  # type: ignore[assignment]
            slice(b.start + t.start, b.start + t.stop) for b, t in zip(normalize_bbox(bbox, layer.data.shape), tight)
        )
        target, new = layer.data[box], np.asarray(values[tight], dtype=layer.data.dtype)
        mask = target != new
        old = target[mask]
        target[mask] = new[mask]
        history.record(box, mask, old)
        return self._one_step_done(layer, box)

    @property
    def can_undo(self) -> bool:
        history = self.history()
        return history is not None and history.can_undo

    @property
    def can_redo(self) -> bool:
        history = self.history()
        return history is not None and history.can_redo

    def undo(self) -> BBox | None:
        return self._step(forward=False)

    def redo(self) -> BBox | None:
        return self._step(forward=True)

    def _step(self, forward: bool) -> BBox | None:
        self.end_stroke()
        history, layer = self.history(), self._layer
        if history is None or layer is None:
            return None
        bbox = history.redo() if forward else history.undo()
        if bbox is not None:
            layer.notify_changed(bbox, modified=False)
            self._sync_modified(layer)
            self.history_changed.emit()
            self.stroke_finished.emit(layer, bbox)
        return bbox

    # ----------------------------------------------------------------- strokes
    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, plane: str | int, voxel: Voxel) -> BBox | None:
        """Mouse press: open one undo step and paint (or fill) at ``voxel``."""
        self.end_stroke()
        layer, history = self._layer, self.history()
        if layer is None or history is None:
            return None
        axis = plane_axis(plane)
        voxel = _as_voxel(voxel)
        if self._tool == COMPONENT:
            bbox = relabel_component(layer.data, voxel, self._label, self._component_scope, history=history)
            self._note_hand_step(layer, bbox)
            return self._one_step_done(layer, bbox)
        self._last_axis = axis  # painted slices of this plane are what "fill between slices" joins
        if self._tool == FILL:
            within = self.brain_mask(axis, voxel[axis]) if self._fill_inside_brain else None
            bbox = flood_fill(layer.data, axis, voxel, self._label, self._only_over, history, within)
            self._note_hand_step(layer, bbox)
            self._after_edit(layer, bbox)
            self._sync_modified(layer)
            self.stroke_finished.emit(layer, bbox)
            self.history_changed.emit()
            return bbox
        history.begin()
        bbox = paint_stroke(
            layer.data, axis, voxel, None, self._radius, self._label, self._only_over, history
        )
        self._stroke = (axis, voxel, bbox)
        self._after_edit(layer, bbox)
        return bbox

    def continue_stroke(self, voxel: Voxel) -> BBox | None:
        """Mouse move while pressed: paint the brush along the way from the last position.

        The coordinate along the stroke's plane axis is kept from the press, so a
        stroke never leaks onto another slice.
        """
        if self._stroke is None or self._layer is None:
            return None
        axis, last, total = self._stroke
        voxel = list(_as_voxel(voxel))
        voxel[axis] = last[axis]
        here = (voxel[0], voxel[1], voxel[2])
        if here == last:
            return None
        history = self.history()
        bbox = paint_stroke(
            self._layer.data, axis, last, here, self._radius, self._label, self._only_over, history
        )
        self._stroke = (axis, here, bbox_union(total, bbox))
        self._after_edit(self._layer, bbox)
        return bbox

    def end_stroke(self) -> BBox | None:
        """Mouse release: close the undo step; listeners then refresh metrics once."""
        if self._stroke is None:
            return None
        _, _, total = self._stroke
        self._stroke = None
        layer, history = self._layer, self.history()
        if history is not None and history.in_block:
            committed = history.commit()
            if layer is not None:
                self._note_hand_step(layer, committed)
        if layer is not None:
            self._sync_modified(layer)
        self.history_changed.emit()
        if layer is not None:
            self.stroke_finished.emit(layer, total)
        return total

    # ------------------------------------------------ one-step corrections (whole blobs, between slices)
    @property
    def component_scope(self) -> str:
        """What the component tool takes: LESION (every class of the blob) or CLASS (the clicked class)."""
        return self._component_scope

    def set_component_scope(self, scope: str) -> None:
        if scope not in SCOPES:
            raise ValueError(f"component scope must be one of {SCOPES}, got {scope!r}")
        self._component_scope = scope

    @property
    def last_axis(self) -> int:
        """Canonical axis of the plane of the latest stroke (2, axial, before any)."""
        return self._last_axis

    def interpolate_slices(
        self, plane: str | int | None = None, classes: tuple[int, ...] | None = None
    ) -> InterpolationResult | None:
        """Fill between painted slices of ``plane`` (default: the latest stroke's) as one undo step.

        ``classes`` (default: every tumour class) are interpolated independently (see
        :mod:`brats_desktop.core.interpolation`); None when no layer is edited.
        """
        self.end_stroke()
        layer, history, patient = self._layer, self.history(), self._state.patient
        if layer is None or history is None or patient is None:
            return None
        axis = self._last_axis if plane is None else plane_axis(plane)
        result = interpolate_slices(
            layer.data, axis, classes if classes is not None else TUMOUR_CLASSES,
            spacing=patient.spacing, history=history,
        )
        self._note_hand_step(layer, result.bbox)
        self._one_step_done(layer, result.bbox)
        return result

    # ------------------------------------------------------------- hand-painted
    def _note_hand_step(self, layer: LabelLayer, bbox: BBox | None) -> None:
        """The newest step of ``layer``'s history was just made by hand."""
        history = self._histories.get(layer)
        if bbox is None or history is None or not history.steps:
            return
        atoms = self._hand_steps.setdefault(layer, [])
        newest = history.steps[-1]
        if not any(a is newest for a in atoms):
            atoms.append(newest)

    def hand_painted(self, layer: LabelLayer | None = None) -> np.ndarray | None:
        """Voxels of ``layer`` (default: the active one) whose label a manual tool set, as a bool mask.

        A step counts while it is applied: undoing a stroke frees its voxels again. None
        when no hand-made step is applied (nothing to keep).
        """
        layer = layer or self._layer
        history = self._histories.get(layer) if layer is not None else None
        if history is None or history.target is not layer.data:
            return None
        applied = {id(a) for a in history.steps}
        held = applied | {id(a) for a in history.redo_steps}
        atoms = [a for a in self._hand_steps.get(layer, []) if id(a) in held]  # the rest is gone for good
        self._hand_steps[layer] = atoms
        mask: np.ndarray | None = None
        for atom in atoms:
            if id(atom) in applied:
                if mask is None:
                    mask = np.zeros(layer.data.shape, bool)
                mask[atom.bbox] |= atom.mask
        return mask

    def _one_step_done(self, layer: LabelLayer, bbox: BBox | None) -> BBox | None:
        """After a one-click edit (component, interpolation): redraw, unsaved flag, listeners once."""
        self._after_edit(layer, bbox)
        self._sync_modified(layer)
        self.stroke_finished.emit(layer, bbox)
        self.history_changed.emit()
        return bbox

    def _after_edit(self, layer: LabelLayer, bbox: BBox | None) -> None:
        if bbox is not None:
            layer.notify_changed(bbox, modified=False)
            self._set_modified(layer, True)  # mid-stroke: changed; end_stroke settles it from the history

    # ------------------------------------------------------------------ events
    def _on_layers_changed(self) -> None:
        shown = self._state.layers
        for layer in list(self._histories):
            if layer not in shown:
                del self._histories[layer]
                self._hand_steps.pop(layer, None)
                try:
                    layer.modified_changed.disconnect(self._on_layer_modified)
                except (RuntimeError, TypeError):  # pragma: no cover - layer already deleted
                    pass
        if self._layer is not None and self._layer not in shown:
            self._stroke = None
            self._watch(self._layer, False)
            self._layer = None
            self.active_layer_changed.emit(None)
            self.history_changed.emit()

    def _on_patient_changed(self, _patient: object) -> None:
        # Histories of layers that are gone are dropped by _on_layers_changed, which
        # follows; a restored previous patient (failed load) keeps its undo steps.
        self._stroke = None
        self._on_layers_changed()

def _as_voxel(voxel: Voxel) -> Voxel:
    return (int(voxel[0]), int(voxel[1]), int(voxel[2]))
