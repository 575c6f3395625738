"""The error map of two label layers as observable state, and stepping through its pieces.

:class:`ErrorMapModel` holds which layer is tested against which reference, for which
region or class, and whether the map is shown. It keeps the error array of
:func:`brats_desktop.core.error_map.error_map` up to date: an edit of either layer
recomputes only the edited box, after a short pause (a brush drag emits many
``labels_changed``), and the connected error regions and the test layer's lesions are
listed only when someone steps through them. Views draw the array
(:mod:`brats_desktop.app.compare.overlay`); the panel and the keys call
:meth:`ErrorMapModel.step_error` / :meth:`ErrorMapModel.step_lesion`, which move the
shared crosshair and return what to tell the user.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from brats_desktop.core.components import Component, lesions
from brats_desktop.core.error_map import TARGETS, ErrorSummary, error_components, error_map, summarize
from brats_desktop.core.history import BBox, bbox_union, normalize_bbox

from brats_desktop.app.state import ANNOTATION, GROUND_TRUTH, PREDICTION, LabelLayer, ViewerState

RECOMPUTE_DELAY_MS = 150


class ErrorMapModel(QObject):
    """Test layer vs reference layer for one region/class; the error map and its components."""

    settings_changed = Signal()  # layers, target or shown changed
    errors_changed = Signal()  # the error array changed (recomputed, or gone)

    def __init__(
        self, state: ViewerState, parent: QObject | None = None, delay_ms: int = RECOMPUTE_DELAY_MS
    ) -> None:
        super().__init__(parent)
        self.state = state
        self._test: LabelLayer | None = None
        self._reference: LabelLayer | None = None
        self._target = "WT"
        self._shown = False
        self._errors: np.ndarray | None = None
        self._dirty: BBox | None = None  # box still to recompute; the whole grid when _errors is None
        self._error_list: list[Component] | None = None
        self._lesion_list: list[Component] | None = None
        self._error_index = -1
        self._lesion_index = -1
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._on_timer)
        state.layers_changed.connect(self._on_layers_changed)
        state.patient_changed.connect(self._on_layers_changed)
        self._on_layers_changed()

    # ----------------------------------------------------------------- settings
    @property
    def test_layer(self) -> LabelLayer | None:
        """The layer being checked (a prediction, or the AI's labels)."""
        return self._test

    @property
    def reference_layer(self) -> LabelLayer | None:
        """What it is checked against (the ground truth, or the corrected labels)."""
        return self._reference

    @property
    def target(self) -> str:
        """Region or class compared: a key of :data:`brats_desktop.core.error_map.TARGETS`."""
        return self._target

    @property
    def shown(self) -> bool:
        return self._shown

    @property
    def ready(self) -> bool:
        """True when two different layers are chosen, so there is something to compare."""
        return self._test is not None and self._reference is not None and self._test is not self._reference

    def set_layers(self, test: LabelLayer | str | None, reference: LabelLayer | str | None) -> None:
        """Choose the two layers (objects or names; None clears one)."""
        test, reference = self._resolve(test), self._resolve(reference)
        if test is self._test and reference is self._reference:
            return
        self._watch(False)
        self._test, self._reference = test, reference
        self._watch(True)
        self._invalidate()
        self.settings_changed.emit()

    def set_target(self, target: str) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown region/class {target!r}; expected one of {sorted(TARGETS)}")
        if target != self._target:
            self._target = target
            self._invalidate()
            self.settings_changed.emit()

    def set_shown(self, shown: bool) -> None:
        shown = bool(shown)
        if shown != self._shown:
            self._shown = shown
            self.settings_changed.emit()
            self.errors_changed.emit()

    # ------------------------------------------------------------------- errors
    @property
    def errors(self) -> np.ndarray | None:
        """uint8 error map (0, FALSE_POSITIVE, FALSE_NEGATIVE), brought up to date; None if not ready."""
        if not self.ready:
            return None
        assert self._test is not None and self._reference is not None
        if self._errors is None:
            self._errors = error_map(self._test.data, self._reference.data, self._target)
            self._dirty = None
        elif self._dirty is not None:
            box = self._dirty
            self._errors[box] = error_map(self._test.data[box], self._reference.data[box], self._target)
            self._dirty = None
        return self._errors

    def summary(self) -> ErrorSummary | None:
        errors = self.errors
        if errors is None or self.state.patient is None:
            return None
        return summarize(errors, self.state.patient.spacing)

    def error_regions(self) -> list[Component]:
        """Connected false-positive and false-negative regions, largest first (cached until an edit)."""
        if self._error_list is None:
            errors = self.errors
            patient = self.state.patient
            self._error_list = [] if errors is None or patient is None else error_components(errors, patient.spacing)
        return self._error_list

    def lesion_layer(self) -> LabelLayer | None:
        """Whose lesions Next Lesion steps through: the test layer, else the first layer shown."""
        if self._test is not None:
            return self._test
        return next((layer for layer in self.state.layers if layer.visible), None)

    def lesion_list(self) -> list[Component]:
        """Lesions (connected tumour, any class) of :meth:`lesion_layer`, largest first."""
        if self._lesion_list is None:
            layer, patient = self.lesion_layer(), self.state.patient
            self._lesion_list = [] if layer is None or patient is None else lesions(layer.data, patient.spacing)
        return self._lesion_list

    # ----------------------------------------------------------------- stepping
    def step_error(self, delta: int = 1) -> str:
        """Move the crosshair to the next (``delta`` 1) or previous (-1) error region; say what it is.

        Regions go largest first; after an edit the list is made again and stepping
        restarts at the largest. Shows the map, since the user is looking for errors.
        """
        if not self.ready:
            return "Error map: choose two different label layers to compare."
        self.set_shown(True)
        regions = self.error_regions()
        if not regions:
            return f"No errors: {self._pair_text()} agree on {self._target}."
        self._error_index = (self._error_index + delta) % len(regions)
        comp = regions[self._error_index]
        self.state.set_cursor(comp.focus)
        return (
            f"{comp.kind.capitalize()} {self._error_index + 1} of {len(regions)} "
            f"({self._target}, {self._pair_text()}): {_size_text(comp)}"
        )

    def step_lesion(self, delta: int = 1) -> str:
        """Move the crosshair to the next or previous lesion of :meth:`lesion_layer`; say its size."""
        layer = self.lesion_layer()
        if layer is None:
            return "No label layer to step through."
        found = self.lesion_list()
        if not found:
            return f"{layer.name}: no lesion."
        self._lesion_index = (self._lesion_index + delta) % len(found)
        comp = found[self._lesion_index]
        self.state.set_cursor(comp.focus)
        return f"Lesion {self._lesion_index + 1} of {len(found)} ({layer.name}): {_size_text(comp)}"

    @property
    def error_index(self) -> int:
        """Position of the latest Next/Previous Error in :meth:`error_regions` (-1: none yet)."""
        return self._error_index

    @property
    def lesion_index(self) -> int:
        return self._lesion_index

    # ---------------------------------------------------------------- internals
    def _pair_text(self) -> str:
        assert self._test is not None and self._reference is not None
        return f"{self._test.name} vs {self._reference.name}"

    def _resolve(self, layer: LabelLayer | str | None) -> LabelLayer | None:
        if isinstance(layer, str):
            found = self.state.layer(layer)
            if found is None:
                raise ValueError(f"there is no layer named {layer!r}")
            return found
        return layer

    def _watch(self, on: bool) -> None:
        for layer in {self._test, self._reference} - {None}:
            if on:
                layer.labels_changed.connect(self._on_labels_changed)
            else:
                try:
                    layer.labels_changed.disconnect(self._on_labels_changed)
                except (RuntimeError, TypeError):  # pragma: no cover - layer already gone
                    pass

    def _invalidate(self) -> None:
        """Everything derived is stale: recompute the whole map on next use."""
        self._timer.stop()
        self._errors, self._dirty = None, None
        self._error_list, self._lesion_list = None, None
        self._error_index = self._lesion_index = -1
        self.errors_changed.emit()

    def _on_labels_changed(self, bbox: BBox | None) -> None:
        sender = self.sender()
        if sender is self._test:
            self._lesion_list, self._lesion_index = None, -1
        self._error_list, self._error_index = None, -1
        if self._errors is not None:
            if bbox is None:
                self._errors = None
            elif self.state.patient is not None:
                box = normalize_bbox(bbox, self.state.patient.shape)
                self._dirty = bbox_union(self._dirty, box)
        self._timer.start()  # one refresh after the drag pauses, not one per dab

    def _on_timer(self) -> None:
        self.errors_changed.emit()

    def _on_layers_changed(self, *_args: object) -> None:
        """Keep chosen layers while they exist; otherwise pick the usual pair.

        Usual pair: the first prediction tested against the first ground truth; with no
        ground truth, a prediction against an annotation (AI vs corrected).
        """
        layers = self.state.layers
        test = self._test if self._test in layers else None
        reference = self._reference if self._reference in layers else None
        if test is None:
            test = _first(layers, PREDICTION) or _first(layers, ANNOTATION, exclude=reference)
        if reference is None:
            reference = _first(layers, GROUND_TRUTH) or _first(layers, ANNOTATION, exclude=test)
        # Lesions of a layer are stale when layers come and go (a new array, a new patient).
        self._lesion_list, self._lesion_index = None, -1
        if test is not self._test or reference is not self._reference:
            self.set_layers(test, reference)


def _first(layers: list[LabelLayer], kind: str, exclude: LabelLayer | None = None) -> LabelLayer | None:
    return next((layer for layer in layers if layer.kind == kind and layer is not exclude), None)


def _size_text(comp: Component) -> str:
    return f"{comp.volume_ml:.2f} mL ({comp.voxels} voxels)"
