"""Observable application state over the numpy core: what is shown, where, and how.

Views and panels never talk to each other: they observe :class:`ViewerState` and
:class:`LabelLayer` through past-tense Qt signals and change them through their
methods. The numpy data stay in the core :class:`~brats_desktop.core.patient.Patient`;
this layer only adds change notification and display settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from brats_desktop.core.labels import TUMOUR_CLASSES, LabelConvention, lookup_table
from brats_desktop.core.patient import Patient
from brats_desktop.core.postprocessing import DEFAULT_NCR_DEFINITION

from brats_desktop.app.layer_display import LayerDisplayMixin
from brats_desktop.app.views.windowing import robust_window

Voxel = tuple[int, int, int]
BBox = tuple[slice, slice, slice]

GROUND_TRUTH = "ground truth"
PREDICTION = "prediction"
ANNOTATION = "annotation"
LAYER_KINDS: tuple[str, ...] = (GROUND_TRUTH, PREDICTION, ANNOTATION)

# Preferred display modality: FLAIR shows the whole tumour with its edema.
DEFAULT_MODALITY_ORDER: tuple[str, ...] = ("flair", "t1ce", "t2", "t1")


class LabelLayer(QObject, LayerDisplayMixin):
    """One label map (uint8, internal labels 0-3, canonical RAS+) with its display settings.

    Editors paint into :attr:`data` in place and then call :meth:`notify_changed` with
    the bounding box they touched, so views redraw only what they must and the window
    title learns about unsaved changes.
    """

    labels_changed = Signal(object)  # tuple of 3 slices, or None for "everything"
    display_changed = Signal()  # visible classes, opacity, outline or visibility
    modified_changed = Signal(bool)

    def __init__(
        self,
        name: str,
        data: np.ndarray,
        kind: str = ANNOTATION,
        source_path: Path | None = None,
        convention: LabelConvention = LabelConvention.BRATS2023,
        opacity: float = 0.5,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if kind not in LAYER_KINDS:
            raise ValueError(f"layer kind {kind!r} is not one of {LAYER_KINDS}")
        self.name = name
        self.kind = kind
        self.source_path = source_path
        self.convention = convention
        self._data = _as_labels(data)
        self._visible_classes: frozenset[int] = frozenset(TUMOUR_CLASSES)
        self._visible = True
        self._opacity = float(opacity)
        self._outline = False
        self._modified = False
        # What produced the labels (a prediction's tier), for the Layers dock and the export's sidecar
        self.origin = ""  # short, e.g. "Accurate"
        self.origin_tip = ""  # lines for a tooltip: the models, the TTA, a stand-in's Dice
        self.producer: dict | None = None  # machine-readable (models.tiers.Tier.record()), for the sidecar

    def set_origin(self, text: str, tip: str = "", producer: dict | None = None) -> None:
        """Say what produced the labels (shown beside the name in the Layers dock; kept by Export)."""
        self.origin, self.origin_tip, self.producer = text, tip, producer
        self.display_changed.emit()

    # -- data -------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The label array itself (not a copy): paint into it, then :meth:`notify_changed`."""
        return self._data

    def set_data(self, data: np.ndarray, modified: bool = True) -> None:
        """Replace the whole label map (e.g. a new prediction) of the same shape."""
        new = _as_labels(data)
        if new.shape != self._data.shape:
            raise ValueError(f"layer {self.name!r}: shape {new.shape} != {self._data.shape}")
        self._data = new
        self.notify_changed(None, modified=modified)

    def notify_changed(self, bbox: BBox | None = None, modified: bool = True) -> None:
        """Tell observers that voxels inside ``bbox`` (None: anywhere) changed."""
        self.labels_changed.emit(bbox)
        if modified:
            self.set_modified(True)

    @property
    def modified(self) -> bool:
        """True while the layer holds edits that were not exported or saved."""
        return self._modified

    def set_modified(self, modified: bool) -> None:
        if modified != self._modified:
            self._modified = modified
            self.modified_changed.emit(modified)

    # -- display ----------------------------------------------------------------------
    # visible / opacity: LayerDisplayMixin
    @property
    def visible_classes(self) -> frozenset[int]:
        return self._visible_classes

    def set_class_visible(self, cls: int, visible: bool) -> None:
        classes = set(self._visible_classes)
        classes.add(cls) if visible else classes.discard(cls)
        if frozenset(classes) != self._visible_classes:
            self._visible_classes = frozenset(classes)
            self.display_changed.emit()

    @property
    def outline(self) -> bool:
        """Outline mode: only class boundaries are drawn, the image shows through."""
        return self._outline

    def set_outline(self, outline: bool) -> None:
        if outline != self._outline:
            self._outline = outline
            self.display_changed.emit()

    def lookup_table(self) -> np.ndarray:
        """256x4 RGBA table: row 0 and hidden classes transparent."""
        return lookup_table(self._visible_classes)

    def label_at(self, voxel: Voxel) -> int:
        return int(self._data[voxel])


@dataclass
class _Snapshot:
    """Everything :meth:`ViewerState.restore` needs to undo a failed patient switch."""

    patient: Patient | None
    layers: list[LabelLayer]
    cursor: Voxel
    modality: str | None
    windows: dict[str, tuple[float, float]]
    auto_windows: dict[str, tuple[float, float]]
    loading: bool


class ViewerState(QObject):
    """The patient on screen, the shared cursor, the displayed modality, windows and layers."""

    patient_changed = Signal(object)  # Patient | None; layers and cursor are already set
    modalities_changed = Signal()  # more volumes of the same patient arrived (progressive load)
    cursor_changed = Signal(object)  # (x, y, z) canonical voxel indices
    modality_changed = Signal(str)
    window_changed = Signal(str, float, float)  # modality, low, high
    layers_changed = Signal()  # a layer was added, removed or replaced
    modified_changed = Signal(bool)  # whether any layer has unsaved modifications
    ncr_definition_changed = Signal(str)  # what label 1 means in the labels on screen (legend follows)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._patient: Patient | None = None
        self._layers: list[LabelLayer] = []
        self._cursor: Voxel = (0, 0, 0)
        self._modality: str | None = None
        self._windows: dict[str, tuple[float, float]] = {}
        self._auto_windows: dict[str, tuple[float, float]] = {}
        self._loading = False
        self._ncr_definition = DEFAULT_NCR_DEFINITION

    # -- meaning of label 1 -----------------------------------------------------------
    @property
    def ncr_definition(self) -> str:
        """"brats2013" or "brats2021" (core.postprocessing.NCR_DEFINITIONS): set by the segment controller."""
        return self._ncr_definition

    def set_ncr_definition(self, key: str) -> None:
        if key != self.ncr_definition:
            self._ncr_definition = key
            self.ncr_definition_changed.emit(key)

    # -- patient ----------------------------------------------------------------------
    @property
    def patient(self) -> Patient | None:
        return self._patient

    @property
    def loading(self) -> bool:
        """True while only part of the patient's volumes are in (progressive load)."""
        return self._loading

    def set_patient(
        self,
        patient: Patient | None,
        windows: dict[str, tuple[float, float]] | None = None,
        loading: bool = False,
        cursor: Voxel | None = None,
    ) -> None:
        """Show a new patient: its ground truth becomes the only layer, cursor at the centre.

        ``windows`` are precomputed automatic windows (the loader computes them off
        the GUI thread); missing ones are computed here.
        """
        for layer in self._layers:
            self._disconnect(layer)
        self._patient = patient
        self._loading = loading
        self._layers = []
        self._windows, self._auto_windows = {}, {}
        self._modality = None
        if patient is not None:
            self._add_auto_windows(patient, windows or {})
            self._modality = next(
                (m for m in DEFAULT_MODALITY_ORDER if m in patient.images), None
            )
            if patient.ground_truth is not None:
                gt_path = patient.files.segmentation if patient.files is not None else None
                # A copy: edits to the layer must not change the patient's reference labels.
                layer = LabelLayer(
                    "Ground truth", patient.ground_truth.copy(), GROUND_TRUTH, gt_path,
                    patient.convention,
                )
                self._connect(layer)
                self._layers.append(layer)
            shape = patient.shape
            self._cursor = cursor if cursor is not None else (shape[0] // 2, shape[1] // 2, shape[2] // 2)
            self._cursor = self._clamp(self._cursor)
        else:
            self._cursor = (0, 0, 0)
        self.patient_changed.emit(patient)
        self.layers_changed.emit()
        self.modified_changed.emit(self.has_unsaved_changes)

    def complete_patient(
        self, patient: Patient, windows: dict[str, tuple[float, float]] | None = None
    ) -> None:
        """The rest of a progressively loaded patient: add its volumes, keep layers and view."""
        if self._patient is None or patient.shape != self._patient.shape:
            self.set_patient(patient, windows)
            return
        # The ground-truth layer keeps its own copy of the early read (same labels).
        self._patient = patient
        self._add_auto_windows(patient, windows or {})
        self._loading = False
        if self._modality is None:
            self._modality = next((m for m in DEFAULT_MODALITY_ORDER if m in patient.images), None)
        self.modalities_changed.emit()

    def snapshot(self) -> _Snapshot:
        """Opaque copy of what is on screen, to :meth:`restore` after a failed load."""
        return _Snapshot(
            self._patient, list(self._layers), self._cursor, self._modality,
            dict(self._windows), dict(self._auto_windows), self._loading,
        )

    def restore(self, snap: _Snapshot) -> None:
        """Put back a :meth:`snapshot`: the previous patient with its layers and settings."""
        for layer in self._layers:
            self._disconnect(layer)
        self._patient, self._layers, self._cursor = snap.patient, list(snap.layers), snap.cursor
        self._modality, self._loading = snap.modality, snap.loading
        self._windows, self._auto_windows = dict(snap.windows), dict(snap.auto_windows)
        for layer in self._layers:
            self._connect(layer)
        self.patient_changed.emit(self._patient)
        self.layers_changed.emit()
        self.modified_changed.emit(self.has_unsaved_changes)

    # -- cursor -----------------------------------------------------------------------
    @property
    def cursor(self) -> Voxel:
        return self._cursor

    def set_cursor(self, voxel: Voxel) -> None:
        """Move the shared crosshair (clamped into the volume)."""
        if self._patient is None:
            return
        voxel = self._clamp(voxel)
        if voxel != self._cursor:
            self._cursor = voxel
            self.cursor_changed.emit(voxel)

    def step(self, axis: int, delta: int) -> None:
        """Move the cursor ``delta`` slices along canonical ``axis`` (0 x, 1 y, 2 z)."""
        c = list(self._cursor)
        c[axis] += delta
        self.set_cursor((c[0], c[1], c[2]))

    def _clamp(self, voxel: Voxel) -> Voxel:
        shape = self._patient.shape if self._patient is not None else (1, 1, 1)
        return tuple(int(min(max(int(v), 0), n - 1)) for v, n in zip(voxel, shape))  # type: ignore[return-value]

    # -- modality and window ----------------------------------------------------------
    @property
    def modality(self) -> str | None:
        return self._modality

    def set_modality(self, modality: str) -> None:
        if self._patient is None or modality not in self._patient.images:
            raise ValueError(f"modality {modality!r} is not loaded")
        if modality != self._modality:
            self._modality = modality
            self.modality_changed.emit(modality)

    def volume(self, modality: str | None = None) -> np.ndarray | None:
        """The displayed (or named) modality's canonical float32 array."""
        key = modality or self._modality
        if self._patient is None or key is None:
            return None
        return self._patient.images.get(key)

    def window(self, modality: str | None = None) -> tuple[float, float]:
        key = modality or self._modality
        return self._windows.get(key or "", (0.0, 1.0))

    def auto_window(self, modality: str | None = None) -> tuple[float, float]:
        key = modality or self._modality
        return self._auto_windows.get(key or "", (0.0, 1.0))

    def set_window(self, modality: str, low: float, high: float) -> None:
        """Display range of one modality; a non-positive width is widened to 1e-6."""
        low, high = float(low), float(high)
        if high <= low:
            high = low + 1e-6
        if self._windows.get(modality) != (low, high):
            self._windows[modality] = (low, high)
            self.window_changed.emit(modality, low, high)

    def reset_window(self, modality: str | None = None) -> None:
        key = modality or self._modality
        if key is not None and key in self._auto_windows:
            self.set_window(key, *self._auto_windows[key])

    def _add_auto_windows(self, patient: Patient, given: dict[str, tuple[float, float]]) -> None:
        for key, vol in patient.images.items():
            if key not in self._auto_windows:
                self._auto_windows[key] = given.get(key) or robust_window(vol)
            self._windows.setdefault(key, self._auto_windows[key])

    # -- layers -----------------------------------------------------------------------
    @property
    def layers(self) -> list[LabelLayer]:
        """Layers bottom to top (a copy of the list; the layers themselves are live)."""
        return list(self._layers)

    def layer(self, name: str) -> LabelLayer | None:
        return next((layer for layer in self._layers if layer.name == name), None)

    def add_layer(self, layer: LabelLayer) -> LabelLayer:
        """Add a layer on top; names are unique (an existing one of that name is replaced)."""
        if self._patient is None:
            raise ValueError("no patient is open")
        if layer.data.shape != self._patient.shape:
            raise ValueError(
                f"layer {layer.name!r} shape {layer.data.shape} != patient grid {self._patient.shape}"
            )
        old = self.layer(layer.name)
        if old is not None:
            self._disconnect(old)
            self._layers[self._layers.index(old)] = layer
        else:
            self._layers.append(layer)
        self._connect(layer)
        self.layers_changed.emit()
        self.modified_changed.emit(self.has_unsaved_changes)
        return layer

    def replace_layer(
        self,
        name: str,
        data: np.ndarray,
        kind: str = PREDICTION,
        source_path: Path | None = None,
        modified: bool = True,
    ) -> LabelLayer:
        """New data for layer ``name`` (created with ``kind`` if absent); display settings kept."""
        layer = self.layer(name)
        if layer is None:
            convention = self._patient.convention if self._patient else LabelConvention.BRATS2023
            layer = LabelLayer(name, data, kind, source_path, convention)
            layer.set_modified(modified)
            return self.add_layer(layer)
        layer.set_data(data, modified=modified)
        return layer

    def remove_layer(self, name: str) -> None:
        layer = self.layer(name)
        if layer is not None:
            self._disconnect(layer)
            self._layers.remove(layer)
            self.layers_changed.emit()
            self.modified_changed.emit(self.has_unsaved_changes)

    @property
    def has_unsaved_changes(self) -> bool:
        return any(layer.modified for layer in self._layers)

    def _connect(self, layer: LabelLayer) -> None:
        layer.modified_changed.connect(self._on_layer_modified)

    def _disconnect(self, layer: LabelLayer) -> None:
        try:
            layer.modified_changed.disconnect(self._on_layer_modified)
        except (RuntimeError, TypeError):  # pragma: no cover - already disconnected
            pass

    def _on_layer_modified(self, _modified: bool) -> None:
        self.modified_changed.emit(self.has_unsaved_changes)


def _as_labels(data: np.ndarray) -> np.ndarray:
    """uint8, C-contiguous: what views slice and editors paint into."""
    return np.ascontiguousarray(data, dtype=np.uint8)
