"""``window.uncertainty``: the prediction's uncertainty as a heat map, volumes and a jump key.

After each prediction (``SegmentController.prediction_applied``) the controller takes
``last_run.probabilities`` (classes, X, Y, Z; the mean over test-time augmentations
when the model side ran them) and computes the normalised entropy and the argmax off
the GUI thread (about a second on a BraTS grid). Then:

- the map is the heat-map layer "Uncertainty" in every view (Uncertainty dock:
  show, opacity, threshold; remembered in QSettings);
- the Metrics dock lists the uncertain volume per predicted class at the threshold;
- Segment → Next Uncertain Region (U) moves the cursor to the largest connected
  uncertain region, then the next largest, and so on round.

A prediction without probabilities (a model path that did not keep them) clears the
map and says so. Changing patient clears it too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from brats_desktop.core.uncertainty import (
    DEFAULT_THRESHOLD, UncertainRegion, argmax_labels, entropy_map, uncertain_regions, uncertain_volumes_ml,
)

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.views.heatmap_layer import HeatmapLayer
from brats_desktop.app.views.heatmap_overlay import HeatmapOverlay
from brats_desktop.app.uncertainty.panel import UncertainVolumesWidget, UncertaintyPanel

LAYER_NAME = "Uncertainty"
THRESHOLD_KEY = "uncertainty/threshold"
OPACITY_KEY = "uncertainty/opacity"
RECOUNT_DELAY_MS = 150  # a dragged threshold slider recounts once it rests
MAX_REGIONS = 200  # Next cycles through at most this many (largest first)
NO_RUN = "No uncertainty map yet: run Segment → Run Segmentation."
NO_PROBABILITIES = (
    "The last segmentation did not keep class probabilities, so there is no uncertainty map."
)


class _Signals(QObject):
    done = Signal(int, object, object)  # token, entropy, argmax labels
    failed = Signal(int, str)


class _EntropyJob(QRunnable):
    """Entropy and argmax of one probability array, off the GUI thread."""

    def __init__(self, token: int, probabilities: np.ndarray, signals: _Signals) -> None:
        super().__init__()
        self.token, self.probabilities, self.signals = token, probabilities, signals

    def run(self) -> None:
        try:
            entropy = entropy_map(self.probabilities)
            labels = argmax_labels(self.probabilities)
        except Exception as exc:  # a bad array must not kill the app: report it
            self.signals.failed.emit(self.token, str(exc))
            return
        self.signals.done.emit(self.token, entropy, labels)


class UncertaintyController(Feature):
    """Owns the heat-map layer, its overlays in the views, the dock and the actions."""

    updated = Signal()  # map, volumes, region or message changed
    map_ready = Signal()  # a new entropy map is on screen

    name = "uncertainty"

    def __init__(self, app: AppContext | QMainWindow) -> None:
        super().__init__(app)
        app = self.app
        self.state = app.state
        settings = app.settings
        self._settings = settings
        threshold = _float(settings.value(THRESHOLD_KEY, DEFAULT_THRESHOLD), DEFAULT_THRESHOLD) if settings else DEFAULT_THRESHOLD
        opacity = _float(settings.value(OPACITY_KEY, 0.6), 0.6) if settings else 0.6
        self.layer = HeatmapLayer(LAYER_NAME, threshold=threshold, opacity=opacity, parent=self)
        self.labels: np.ndarray | None = None  # argmax of the probabilities
        self.volumes: dict[str, float] | None = None
        self.computed_threshold = threshold
        self.message = NO_RUN
        self.region_text = ""
        self._regions: list[UncertainRegion] | None = None
        self._region_index = -1
        self._token = 0
        self.overlays = [HeatmapOverlay(view, self.layer) for view in app.views]
        app.views_added.connect(  # the modality grid's views, made later
            lambda views: self.overlays.extend(HeatmapOverlay(view, self.layer) for view in views)
        )

        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_computed)
        self._signals.failed.connect(self._on_failed)
        self._recount_timer = QTimer(self)
        self._recount_timer.setSingleShot(True)
        self._recount_timer.setInterval(RECOUNT_DELAY_MS)
        self._recount_timer.timeout.connect(self._recount)

        self.panel = UncertaintyPanel(self.layer)
        self.panel.next_requested.connect(self.next_region)
        self.dock = app.add_dock(self.panel, "Uncertainty", scroll=True, task_tab=True)
        segment = app.feature("segment")
        self.volumes_widget = UncertainVolumesWidget()
        self.updated.connect(self._show)
        self._show()
        metrics_panel = getattr(segment, "metrics_panel", None)
        if metrics_panel is not None:  # below the overlap and volume tables, above the stretch
            box = metrics_panel.layout()
            box.insertWidget(max(0, box.count() - 1), self.volumes_widget)
        self._build_actions()

        self.layer.display_changed.connect(self._on_display_changed)
        self.state.patient_changed.connect(self._on_patient_changed)
        if segment is not None and hasattr(segment, "prediction_applied"):
            segment.prediction_applied.connect(self._on_prediction_applied)

    def _show(self) -> None:
        """Put the map's numbers and texts on the panels (they show, the controller decides)."""
        self.panel.show_result(self.message, self.region_text, self.volumes)
        self.volumes_widget.show_volumes(self.volumes, self.computed_threshold)

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        w = self.app.window  # parent of the actions
        menu = self.app.menu("Segment")
        menu.addSeparator()
        self.show_action = QAction("Show &Uncertainty Map", w)
        self.show_action.setCheckable(True)
        self.show_action.setChecked(self.layer.visible)
        self.show_action.toggled.connect(self.layer.set_visible)
        self.next_action = QAction("&Next Uncertain Region", w)
        self.next_action.setShortcut(QKeySequence("U"))  # U for uncertain; N/P step the cohort worklist
        self.next_action.triggered.connect(self.next_region)
        menu.addAction(self.show_action)
        menu.addAction(self.next_action)
        self._update_actions()

    def _update_actions(self) -> None:
        has_map = self.layer.data is not None
        self.show_action.setEnabled(has_map)
        self.next_action.setEnabled(has_map)

    # ------------------------------------------------------------------ input
    def _on_prediction_applied(self, _layer: object) -> None:
        run = getattr(self.app.feature("segment"), "last_run", None)
        self.set_probabilities(getattr(run, "probabilities", None))

    def set_probabilities(self, probabilities: np.ndarray | None) -> None:
        """Start computing the map of these (C, X, Y, Z) probabilities; None clears it with a note."""
        self._token += 1
        self._clear(NO_PROBABILITIES if probabilities is None else "Computing the uncertainty map…")
        patient = self.state.patient
        if probabilities is None or patient is None:
            return
        if tuple(probabilities.shape[1:]) != tuple(patient.shape):
            self._clear(f"Class probabilities of shape {probabilities.shape[1:]} do not match the patient grid {patient.shape}.")
            return
        self._pool.start(_EntropyJob(self._token, probabilities, self._signals))

    def show_for_screenshot(self) -> str:
        """``--screenshot --uncertainty``: finish the map, bring its dock to the front, jump to the largest region.

        ``predict_now`` (the screenshot's synchronous run) emits no ``prediction_applied``
        (whose other listeners write files), so the map is started here from ``last_run``.
        """
        if self.layer.data is None:
            self._on_prediction_applied(None)
        self.wait()
        QCoreApplication.processEvents()  # deliver the finished computation and queued dock arrangements
        self.dock.show()
        self.dock.raise_()
        region = self.next_region()
        return self.region_text if region is not None else self.message

    def wait(self) -> None:
        """Block until a running computation ended (tests, window close)."""
        self._pool.waitForDone()

    def shutdown(self) -> None:
        """The window is closing: the map being computed (about a second) finishes first."""
        self.wait()

    def hover_text(self, voxel: tuple[int, int, int]) -> str | None:
        """The heat map's value under the mouse, for the status bar (None without a map)."""
        heat, patient = self.layer, self.state.patient
        if patient is None or heat.data is None or heat.data.shape != patient.shape:
            return None
        return f"{heat.name}: {heat.value_at(voxel):.2f}"

    def _on_computed(self, token: int, entropy: np.ndarray, labels: np.ndarray) -> None:
        patient = self.state.patient
        if token != self._token or patient is None or entropy.shape != patient.shape:
            return  # superseded by a newer prediction or patient
        self.labels = labels
        self.layer.set_data(entropy)
        self.message = (
            f"Uncertainty of the prediction for {patient.name}: normalised entropy "
            f"(max {float(entropy.max()):.2f})."
        )
        self._recount()
        self._update_actions()
        self.map_ready.emit()

    def _on_failed(self, token: int, text: str) -> None:
        if token == self._token:
            self._clear(f"Could not compute the uncertainty map: {text}")

    def _clear(self, message: str) -> None:
        self.labels, self.volumes, self._regions = None, None, None
        self._region_index, self.region_text = -1, ""
        self.message = message
        if self.layer.data is not None:
            self.layer.set_data(None)
        self._update_actions()
        self.updated.emit()

    def _on_patient_changed(self, _patient: object) -> None:
        self._token += 1  # a computation still running belongs to the old patient
        self._clear(NO_RUN)

    # ------------------------------------------------------------------ threshold
    def _on_display_changed(self) -> None:
        if self._settings is not None:
            self._settings.setValue(THRESHOLD_KEY, self.layer.threshold)
            self._settings.setValue(OPACITY_KEY, self.layer.opacity)
        self.show_action.setChecked(self.layer.visible)
        if self.layer.threshold != self.computed_threshold:
            self._regions = None  # recomputed on the next jump
            self._region_index = -1
            self._recount_timer.start()

    def _recount(self) -> None:
        """Uncertain volume per class at the layer's threshold."""
        self._recount_timer.stop()
        entropy, patient = self.layer.data, self.state.patient
        self.computed_threshold = self.layer.threshold
        if entropy is None or self.labels is None or patient is None:
            self.volumes = None
        else:
            self.volumes = uncertain_volumes_ml(entropy, self.labels, self.computed_threshold, patient.voxel_volume_ml)
        self.updated.emit()

    # ------------------------------------------------------------------ regions
    def regions(self) -> list[UncertainRegion]:
        """Connected uncertain regions at the current threshold, largest first (computed on demand)."""
        entropy, patient = self.layer.data, self.state.patient
        if entropy is None or patient is None:
            return []
        if self._regions is None:
            self._regions = uncertain_regions(
                entropy, self.layer.threshold, patient.voxel_volume_ml, limit=MAX_REGIONS
            )
        return self._regions

    def next_region(self) -> UncertainRegion | None:
        """Move the cursor into the next uncertain region (the largest first, then smaller, round again)."""
        regions = self.regions()
        if not regions:
            self.region_text = (
                "No region reaches the threshold." if self.layer.data is not None else ""
            )
            self.updated.emit()
            return None
        self._region_index = (self._region_index + 1) % len(regions)
        region = regions[self._region_index]
        self.state.set_cursor(region.focus)
        of = f"the {len(regions)} largest" if len(regions) == MAX_REGIONS else str(len(regions))
        self.region_text = (
            f"Region {self._region_index + 1} of {of}: {region.volume_ml:.2f} mL "
            f"({region.voxels} voxels), mean {region.mean:.2f}, peak {region.peak:.2f}."
        )
        self.app.show_message(f"Uncertain {self.region_text[0].lower()}{self.region_text[1:]}", 8000)
        self.updated.emit()
        return region


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
