"""``window.ai_correct``: the AI Correct tool wired into the window.

Press A (Edit → AI Correct Tool, or the Annotate dock's button) and click where the
labels are wrong: each click or scribble goes to the click engine
(``brats_desktop.interactive.engine.ClickEngine.refine``) in a background worker with
*all* the clicks given so far on the edited layer, the current labels and the voxels
painted by hand (kept unless clicked). The answer is written as one step of the
layer's edit history, so Ctrl+Z reverts it (and its clicks). One run at a time:
clicks given while the engine works wait, and the next run takes them all. A run whose
labels changed meanwhile (an undo) is run again on the new labels rather than written.

Enter accepts (the clicks are forgotten, the labels stay), Esc clears the clicks and
drops an answer still on its way. The engine, and torch with it, is loaded by the
first run, never when the window is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence

from brats_desktop.core.history import normalize_bbox

from brats_desktop.app.ai_correct.markers import GuidanceOverlay
from brats_desktop.app.ai_correct.panel import AiCorrectWidget
from brats_desktop.app.ai_correct.steps import Guidance, LayerGuidance
from brats_desktop.app.ai_correct.tool import AiCorrectTool
from brats_desktop.app.ai_correct.worker import EngineFactory, RefineJob, RefineWorker, bundled_engine
from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.state import PREDICTION, LabelLayer
from brats_desktop.app.views.slice_view import NavigateTool

MESSAGE_MS = 8000


class AiCorrectController(Feature):
    """Actions, tool, markers, worker and per-layer clicks of AI correction (``window.ai_correct``)."""

    name = "ai_correct"

    guidance_changed = Signal()  # markers to redraw: a click, an answer, undo/redo, accept/clear
    step_applied = Signal(object, object)  # layer, changed box (None: the answer changed nothing)
    run_failed = Signal(str)  # the message shown
    status_changed = Signal(str)

    def __init__(self, app: AppContext, engine_factory: EngineFactory = bundled_engine) -> None:
        super().__init__(app)
        self.state = self.app.state
        self.annotation = self.app.feature("annotation")
        self.editor = self.annotation.editor
        self.worker = RefineWorker(engine_factory, parent=self)
        self.tool = AiCorrectTool(self.state, lambda: self.editor.label, self.add_click, self.add_scribble,
                                  self._on_preview)
        self._logs: dict[LabelLayer, LayerGuidance] = {}
        self._token = 0
        self._valid_from = 0  # answers of runs numbered below this are dropped (Esc, another patient)
        self._accept_when_idle = False
        self.runs = 0  # engine runs started (tests, status)
        self.last_seconds: float | None = None

        self.widget = AiCorrectWidget()
        panel = self.annotation.panel
        panel.add_tool_button(self.widget.tool_button)
        layout = panel.layout()
        at = layout.indexOf(panel.metrics_label)  # under the tool controls, above the agreement readout
        layout.insertWidget(at if at >= 0 else layout.count(), self.widget)
        self.overlays = [GuidanceOverlay(view, self.shown) for view in self.app.views]
        self.app.views_added.connect(self._on_views_added)
        self._build_actions()

        self.widget.tool_button.toggled.connect(self.set_active)
        self.widget.accept_button.clicked.connect(self.accept)
        self.widget.clear_button.clicked.connect(self.clear)
        self.worker.engine_loading.connect(self._on_engine_loading)  # a method: queued to the GUI thread
        self.worker.preparing.connect(self._on_preparing)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.guidance_changed.connect(self._redraw)
        # After the annotation controller's own slot, which hands the views to the paint tool.
        self.editor.active_layer_changed.connect(self._on_active_layer_changed)
        self.editor.history_changed.connect(self.guidance_changed)
        self.state.patient_changed.connect(self._on_patient_changed)
        # The automatic segmentation's probabilities, kept with the patient they belong to.
        self._prior: tuple[Any, np.ndarray] | None = None
        self._prepared: Any = None  # the patient a preload was sent for (probabilities on their way or there)
        self._reading = False  # the status bar says the engine is reading a scan
        segment = self.app.feature("segment")
        if segment is not None and hasattr(segment, "prediction_applied"):
            segment.prediction_applied.connect(self._on_prediction_applied)
        self.state.layers_changed.connect(self._on_layers_changed)
        self._update_actions()

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        w = self.app.window  # the parent of the actions
        self.tool_action = QAction("&AI Correct Tool (click to correct in 3-D)", w)
        self.tool_action.setCheckable(True)
        self.tool_action.setShortcut(QKeySequence("A"))
        self.tool_action.toggled.connect(self.set_active)
        self.accept_action = QAction("Accept AI Correction", w)
        self.accept_action.setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])
        self.accept_action.triggered.connect(self.accept)
        self.clear_action = QAction("Clear AI Clicks", w)
        self.clear_action.setShortcut(QKeySequence("Esc"))
        self.clear_action.triggered.connect(self.clear)
        self.app.menu("Edit").addSeparator()
        for action in (self.tool_action, self.accept_action, self.clear_action):
            self.app.add_action("Edit", action)
        # Picking a manual tool by key leaves AI correction, even when that tool was already chosen.
        manual = [self.annotation.key_actions.get(k) for k in ("B", "F")]
        manual.append(getattr(self.app.feature("correction"), "component_action", None))
        for action in manual:
            if action is not None:
                action.triggered.connect(lambda _=False: self.set_active(False))

    def _update_actions(self, *_args: object) -> None:
        log = self.log()
        has_clicks = log is not None and bool(log.steps or log.busy)
        # Enter and Esc act only while there are clicks, so they never take keys from anything else.
        self.accept_action.setEnabled(has_clicks)
        self.clear_action.setEnabled(has_clicks)
        self.widget.accept_button.setEnabled(has_clicks)
        self.widget.clear_button.setEnabled(has_clicks)
        self.tool_action.setEnabled(self.state.patient is not None)

    # --------------------------------------------------------------------- tool
    @property
    def active(self) -> bool:
        return self.tool_action.isChecked()

    def set_active(self, on: bool) -> None:
        """AI Correct on every view (A), or back to the brush / navigation."""
        on = bool(on)
        for control in (self.tool_action, self.widget.tool_button):
            if control.isChecked() != on:
                control.blockSignals(True)
                control.setChecked(on)
                control.blockSignals(False)
        measure = self.app.feature("measure")
        if on:
            if measure is not None and measure.ruler_action.isChecked():
                measure.set_ruler_active(False)  # the views get their tools back first
            self._install()
            if self.editor.layer is None and self._prediction() is not None:
                self.target_layer()  # now rather than at the first click: the dock's readout takes a moment
            self._preload()
            dock = getattr(self.annotation, "dock", None)
            if dock is not None:
                dock.raise_()  # its controls (Accept, Clear, keep hand-painted, status) in front
            self._status("AI correct: click where the labels are wrong (right click: background).", MESSAGE_MS)
        else:
            panel = self.annotation.panel
            panel.tool_buttons[self.editor.tool].setChecked(True)  # an exclusive group unchecks ours
            paint = self.annotation.paint_tool
            for view in self.app.views:
                if view.tool is self.tool:
                    view.set_tool(paint if view in paint.views and self.editor.layer is not None
                                  else NavigateTool(self.state))
        self._update_actions()

    def _install(self) -> None:
        self.app.set_tool(self.tool)

    def _on_active_layer_changed(self, _layer: object) -> None:
        if self.active:
            self._install()  # the annotation controller just handed the views to the paint tool
        self.guidance_changed.emit()
        self._start_next()  # clicks left waiting on this layer while another one was edited

    def _on_views_added(self, views: list) -> None:
        self.overlays.extend(GuidanceOverlay(view, self.shown) for view in views)

    # ----------------------------------------------------------------- guidance
    def log(self, layer: LabelLayer | None = None) -> LayerGuidance | None:
        """The clicks of ``layer`` (default: the edited layer), or None before any."""
        layer = layer or self.editor.layer
        return self._logs.get(layer) if layer is not None else None

    def guidance(self, layer: LabelLayer | None = None) -> list[Guidance]:
        """Every click/scribble the next run of ``layer`` would send (applied, in flight, waiting)."""
        layer = layer or self.editor.layer
        log = self.log(layer)
        return log.all_guidance(self.editor.history(layer)) if log is not None else []

    def shown(self) -> list[tuple[Guidance, bool]]:
        """(item, answered) of the edited layer, for the markers."""
        layer = self.editor.layer
        log = self.log(layer)
        return log.shown(self.editor.history(layer)) if log is not None else []

    def target_layer(self) -> LabelLayer | None:
        """The edited layer; with none, the prediction (else a new annotation layer) becomes it."""
        if self.editor.layer is not None or self.state.patient is None:
            return self.editor.layer
        prediction = self._prediction()
        if prediction is None:
            return self.editor.new_annotation_layer()
        self.editor.set_layer(prediction)
        return prediction

    def _prediction(self) -> LabelLayer | None:
        return next((layer for layer in self.state.layers if layer.kind == PREDICTION), None)

    def add_click(self, voxel: tuple[int, int, int], label: int) -> None:
        """Queue a click: ``label`` (0 background, 1-3 a class) is right at ``voxel`` (canonical); run."""
        try:
            from brats_desktop.interactive.guidance import Click
        except ImportError as exc:
            self._status(f"AI correct is not available in this installation ({exc}).", 15000)
            return
        self.add_guidance(Click((int(voxel[0]), int(voxel[1]), int(voxel[2])), int(label)))

    def add_scribble(self, voxels: list[tuple[int, int, int]], label: int) -> None:
        """Queue a scribble: ``label`` is right along ``voxels`` (canonical, in order); run."""
        try:
            from brats_desktop.interactive.guidance import Scribble
        except ImportError as exc:
            self._status(f"AI correct is not available in this installation ({exc}).", 15000)
            return
        self.add_guidance(Scribble(tuple((int(v[0]), int(v[1]), int(v[2])) for v in voxels), int(label)))

    def add_guidance(self, item: Guidance) -> None:
        """A Click or Scribble (brats_desktop.interactive.guidance): queue it and run, or let the run
        in flight take it next."""
        patient = self.state.patient
        if patient is None:
            return
        if self.state.loading:
            self._status("AI correct: the patient is still loading; click again when all volumes are in.")
            return
        layer = self.target_layer()
        if layer is None:
            return
        log = self._logs.setdefault(layer, LayerGuidance())
        log.pending.append(item)
        self._accept_when_idle = False
        self.guidance_changed.emit()
        self._start_next()

    @property
    def running(self) -> bool:
        return self.worker.busy

    def _start_next(self) -> None:
        if self.worker.busy:
            return
        layer, patient = self.editor.layer, self.state.patient
        log = self.log(layer)
        if layer is None or patient is None or log is None or not log.pending:
            if self._accept_when_idle:
                self.accept()
            return
        log.take_pending()
        locked = self.editor.hand_painted(layer) if self.widget.keep_hand_painted.isChecked() else None
        segment = self.app.feature("segment")
        self._token += 1
        self.runs += 1
        job = RefineJob(
            self._token, layer, patient.name, patient.images, layer.data.copy(),
            tuple(log.all_guidance(self.editor.history(layer))), locked,
            bool(getattr(segment, "force_cpu", False)),
            getattr(segment, "ncr_definition", None),
            self.prior_for(patient),
        )
        n = len(job.guidance)
        self._status(f"AI correcting… ({n} click{'s' if n != 1 else ''} on {layer.name})", 0)
        self.worker.submit(job)
        self.guidance_changed.emit()

    def _preload(self) -> None:
        """Pressing A makes and warms up the engine in the worker, so the first click does not wait.

        Loading imports torch and reads the model, a first run normalises the images, and a
        patient with no Segment run gets the engine's own probabilities (seconds); it all runs
        in the worker thread, but holds Python's lock in bursts, so better while the user aims
        than after a click. Clicks given meanwhile wait and run next.
        """
        patient = self.state.patient
        if patient is None or self.worker.busy:
            return
        ready = not self.state.loading  # a half-loaded patient: warm up on the first click instead
        if not self.worker.needs_engine and (not ready or self._prepared is patient):
            return
        segment = self.app.feature("segment")
        if ready:
            self._prepared = patient  # its probabilities (a Segment run's or the engine's own) are on their way
        self.worker.submit(RefineJob.preload(
            bool(getattr(segment, "force_cpu", False)),
            patient.images if ready else None, patient.shape if ready else None,
            patient.name, self.prior_for(patient) if ready else None,
        ))

    def _on_finished(self, job: RefineJob, result: Any) -> None:
        self.worker.done()
        if result is None:  # the preload: clicks given meanwhile are waiting
            if self._reading:
                self._status("AI correct: ready. Click where the labels are wrong (right click: background).",
                             MESSAGE_MS)
            self._reading = False
            self._start_next()
            if self.active:
                self._preload()  # the patient changed while this one ran (no-op otherwise)
            return
        self._reading = False
        layer, log = job.layer, self._logs.get(job.layer)
        if job.token < self._valid_from or log is None or layer not in self.state.layers:
            self._start_next()
            return
        if not np.array_equal(layer.data, job.labels):
            log.requeue()  # an undo (or another edit) came first: answer the clicks on the new labels
            self._start_next()
            return
        new = np.asarray(result.labels)
        if new.shape != layer.data.shape:
            self._fail(log, f"AI correct: the model answered a {new.shape} map for a {layer.data.shape} volume.")
            return
        bbox = normalize_bbox(result.bbox, new.shape)
        changed = self.editor.write_region(layer, bbox, new[bbox])
        history = self.editor.history(layer)
        log.answered(history.steps[-1] if changed is not None and history is not None else None)
        self.last_seconds = float(getattr(result, "seconds", 0.0))
        voxels = 0 if changed is None else int(history.steps[-1].count)
        where = f" on {self.worker.device.upper()}" if self.worker.device else ""
        self._status(f"AI step: {voxels} voxels changed in {self.last_seconds:.2f} s{where}. "
                     "Enter accepts, Ctrl+Z undoes.", MESSAGE_MS)
        self.step_applied.emit(layer, changed)
        self.guidance_changed.emit()
        self._start_next()

    def _on_failed(self, job: RefineJob, message: str) -> None:
        self.worker.done()
        self._reading = False
        if job.layer is None:  # the preload: say why now; clicks would meet the same problem
            self._status(message, 15000)
            self.run_failed.emit(message)
            self._start_next()
            return
        log = self._logs.get(job.layer)
        if job.token >= self._valid_from and log is not None:
            self._fail(log, message)
        else:
            self._start_next()

    def _fail(self, log: LayerGuidance, message: str) -> None:
        """The clicks of the run (and those waiting) cannot be answered: drop them and say why."""
        log.running.clear()
        log.pending.clear()
        self._accept_when_idle = False
        self._status(message, 15000)
        self.run_failed.emit(message)
        self.guidance_changed.emit()

    # ------------------------------------------------------------ accept / clear
    def accept(self) -> None:
        """Enter: keep the labels, forget the clicks (after the run in flight, if any)."""
        log = self.log()
        if log is None:
            return
        if log.busy:
            self._accept_when_idle = True
            self._status("AI correct: accepting once the run in progress is written…", 0)
            return
        self._accept_when_idle = False
        n = len(log.applied(self.editor.history()))
        log.clear()
        self._status(f"Accepted the AI correction ({n} click{'s' if n != 1 else ''}); "
                     "Ctrl+Z still undoes its steps.", MESSAGE_MS)
        self.guidance_changed.emit()

    def clear(self) -> None:
        """Esc: forget the clicks and drop an answer still on its way; the labels stay as they are."""
        log = self.log()
        if log is None:
            return
        n = len(log.all_guidance(self.editor.history()))
        log.clear()
        self._valid_from = self._token + 1
        self._accept_when_idle = False
        self._status(f"Cleared {n} AI click{'s' if n != 1 else ''} (the labels stay; Ctrl+Z undoes AI steps).",
                     MESSAGE_MS)
        self.guidance_changed.emit()

    def prior_for(self, patient: Any) -> np.ndarray | None:
        """The last automatic segmentation's probabilities if they are of ``patient`` (same object, same grid)."""
        if self._prior is None or self._prior[0] is not patient:
            return None
        probabilities = self._prior[1]
        return probabilities if tuple(probabilities.shape[1:]) == tuple(patient.shape) else None

    # ------------------------------------------------------------------ events
    def _on_prediction_applied(self, _layer: object) -> None:
        run = getattr(self.app.feature("segment"), "last_run", None)
        probabilities = getattr(run, "probabilities", None)
        self._prior = None if probabilities is None else (self.state.patient, probabilities)

    def _on_patient_changed(self, _patient: object) -> None:
        self._prior = None
        self._prepared = None
        if self.active:
            self._preload()  # the new patient's probabilities while the user looks
        self._logs.clear()
        self._valid_from = self._token + 1
        self._accept_when_idle = False
        self.guidance_changed.emit()

    def _on_layers_changed(self) -> None:
        for layer in [layer for layer in self._logs if layer not in self.state.layers]:
            del self._logs[layer]
        self.guidance_changed.emit()

    def _on_preview(self, path: list, label: int) -> None:
        for overlay in self.overlays:
            overlay.set_preview(path, label)

    def _redraw(self) -> None:
        for overlay in self.overlays:
            overlay.redraw()
        self._update_actions()

    def _on_engine_loading(self) -> None:
        self._status("Loading the AI correction model…", 0)

    def _on_preparing(self, patient_name: str) -> None:
        self._reading = True
        who = patient_name or "the patient"
        self._status(f"AI correct: reading {who} once, so clicks can follow the tumour (a few seconds)…", 0)

    def _status(self, text: str, ms: int = MESSAGE_MS) -> None:
        self.widget.status.setText(text)
        self.app.show_message(text, ms)
        self.status_changed.emit(text)

    def shutdown(self) -> None:
        """Window closing: wait for a run in flight (under a second); its answer is still written
        if the close is cancelled (unsaved changes)."""
        self.worker.wait()
