"""The error map wired into the main window: model, per-view overlays, the Compare dock, keys.

Keys (window-wide; a focused text field keeps its own keys): ``.`` Next Error,
``,`` Previous Error, ``L`` Next Lesion, ``Shift+L`` Previous Lesion,
``Ctrl+Shift+E`` Show Error Map. Each step moves the shared crosshair and says the
region's kind and size in mL in the status bar and the dock.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFrame, QMainWindow, QScrollArea

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.compare.model import ErrorMapModel
from brats_desktop.app.compare.overlay import ErrorOverlay
from brats_desktop.app.compare.panel import ComparePanel

MESSAGE_MS = 10000


class CompareController(Feature):
    """Owns the error map of the window (``window.compare``)."""

    name = "compare"

    def __init__(self, app: AppContext | QMainWindow) -> None:
        super().__init__(app)
        app = self.app
        self.model = ErrorMapModel(app.state, self)
        self.overlays = [ErrorOverlay(view, self.model) for view in app.views]
        # Views made later (View → Layout → modality grid) get the map too.
        app.views_added.connect(self._on_views_added)
        self.panel = ComparePanel(self.model)
        scroll = QScrollArea()  # stacked docks on a small screen scroll instead of squeezing
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # A tab in the group of Annotate and Metrics (the right-hand docks are many).
        self.dock = app.add_dock(scroll, "Compare", task_tab=True)
        self._was_shown = False
        self._build_actions()
        self.panel.prev_error_button.clicked.connect(self.previous_error_action.trigger)
        self.panel.next_error_button.clicked.connect(self.next_error_action.trigger)
        self.panel.prev_lesion_button.clicked.connect(self.previous_lesion_action.trigger)
        self.panel.next_lesion_button.clicked.connect(self.next_lesion_action.trigger)
        self.model.settings_changed.connect(self._update_actions)
        app.state.layers_changed.connect(self._update_actions)
        self._update_actions()

    def _build_actions(self) -> None:
        w = self.app.window  # parent of the actions
        menu = self.app.menu("View")
        menu.addSeparator()
        self.show_action = QAction("Show &Error Map", w)
        self.show_action.setCheckable(True)
        self.show_action.setShortcut(QKeySequence("Ctrl+Shift+E"))
        self.show_action.toggled.connect(self.model.set_shown)
        self.next_error_action = self._action("&Next Error", ".", lambda: self._jump(self.model.step_error, +1))
        self.previous_error_action = self._action("&Previous Error", ",", lambda: self._jump(self.model.step_error, -1))
        self.next_lesion_action = self._action("Next &Lesion", "L", lambda: self._jump(self.model.step_lesion, +1))
        self.previous_lesion_action = self._action(
            "Previous Lesi&on", "Shift+L", lambda: self._jump(self.model.step_lesion, -1)
        )
        for action in (
            self.show_action, self.next_error_action, self.previous_error_action,
            self.next_lesion_action, self.previous_lesion_action,
        ):
            menu.addAction(action)

    def _action(self, text: str, key: str, slot) -> QAction:
        action = QAction(text, self.app.window)
        action.setShortcut(QKeySequence(key))
        action.triggered.connect(slot)
        return action

    def _on_views_added(self, views: list) -> None:
        covered = {overlay.view for overlay in self.overlays}
        self.overlays += [ErrorOverlay(view, self.model) for view in views if view not in covered]

    def _jump(self, step, delta: int) -> None:
        """Step, then keep the target on screen: a zoomed-in camera re-centres on the new crosshair."""
        state = self.app.state
        before = state.cursor
        self._say(step(delta))
        cursor, patient = state.cursor, state.patient
        camera = next((v.camera for v in self.app.views if getattr(v, "camera", None) is not None), None)
        if camera is not None and patient is not None and cursor != before and not camera.fitted:
            camera.set_view(centre=tuple((c + 0.5) * s for c, s in zip(cursor, patient.spacing)))

    def _say(self, text: str) -> None:
        self.app.show_message(text, MESSAGE_MS)
        self.panel.show_message(text)

    def _update_actions(self, *_args: object) -> None:
        ready = self.model.ready
        if self.model.shown and not self._was_shown:
            self.dock.raise_()  # the map just appeared: bring its legend and summary to the front
        self._was_shown = self.model.shown
        self.show_action.blockSignals(True)
        self.show_action.setChecked(self.model.shown)
        self.show_action.blockSignals(False)
        for action in (self.show_action, self.next_error_action, self.previous_error_action):
            action.setEnabled(ready)
        has_layer = self.model.lesion_layer() is not None
        self.next_lesion_action.setEnabled(has_layer)
        self.previous_lesion_action.setEnabled(has_layer)
