"""Window/level with the mouse (Ctrl+left-drag on any slice view) and the preset actions.

As in 3D Slicer and ITK-SNAP, dragging across an image changes its contrast:
horizontal = window width, vertical = level. Here the gesture is Ctrl+left-drag, so it
works whatever the left-button tool is (navigate or paint) and never paints by
accident. Presets (:mod:`window_presets`) are QActions shared by View → Window/Level
and the buttons of the Display dock, so both are enabled and disabled together.
Everything goes through :meth:`ViewerState.set_window`; views follow its signal.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QSize, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu

from brats_desktop.app.state import ViewerState
from brats_desktop.app.views.window_presets import (
    AUTO,
    BRAIN,
    FULL,
    PRESET_HELP,
    PRESET_TEXT,
    PRESETS,
    TUMOUR,
    preset_window,
    tumour_mask,
)

# A drag across the whole view changes the width by this many automatic widths, and a drag
# over its whole height moves the level by this many: coarse enough to go from the auto
# window to "everything" in one sweep, fine enough for a few-pixel correction.
WIDTH_PER_VIEW = 2.0
LEVEL_PER_VIEW = 1.0
MIN_WIDTH_FRACTION = 1e-3  # of the automatic width: the window never collapses
MENU_TEXT = {AUTO: "&Auto (Reset)", BRAIN: "&Brain", TUMOUR: "&Tumour-Focused", FULL: "&Full Range"}


class WindowLevelDrag:
    """One Ctrl+left-drag: right widens the window (less contrast), up brightens (lower level).

    Offsets are taken from the press position and the window at the press, so a drag
    that returns to where it started restores the starting window exactly.
    """

    def __init__(self, state: ViewerState, modality: str, start: QPointF, view_size: QSize) -> None:
        self.state = state
        self.modality = modality
        self.start = QPointF(start)
        self.view_size = QSize(max(view_size.width(), 1), max(view_size.height(), 1))
        low, high = state.window(modality)
        self.start_level, self.start_width = (low + high) / 2.0, high - low
        auto_low, auto_high = state.auto_window(modality)
        self.scale = max(auto_high - auto_low, self.start_width, 1e-6)

    def move(self, pos: QPointF) -> tuple[float, float]:
        """Apply the window for the mouse at ``pos``; returns the new (low, high)."""
        dx = (pos.x() - self.start.x()) / self.view_size.width()
        dy = (pos.y() - self.start.y()) / self.view_size.height()
        width = max(self.start_width + dx * WIDTH_PER_VIEW * self.scale, self.scale * MIN_WIDTH_FRACTION)
        level = self.start_level + dy * LEVEL_PER_VIEW * self.scale  # screen y grows downwards
        low, high = level - width / 2.0, level + width / 2.0
        self.state.set_window(self.modality, low, high)
        return low, high


class WindowLevelController(QObject):
    """Preset actions (View → Window/Level, Display dock buttons) over one :class:`ViewerState`."""

    preset_applied = Signal(str, float, float)  # preset name, low, high

    def __init__(self, state: ViewerState, window: QMainWindow | None = None) -> None:
        super().__init__(window)
        self.state = state
        self._window = window
        self.actions: dict[str, QAction] = {}
        for name in PRESETS:
            text = MENU_TEXT[name]
            action = QAction(text, self)
            action.setIconText(PRESET_TEXT[name])  # the Display dock's button label
            action.setToolTip(PRESET_HELP[name])
            action.setStatusTip(PRESET_HELP[name])
            action.setObjectName(f"window_preset_{name}")
            action.triggered.connect(lambda _=False, n=name: self.apply_preset(n))
            self.actions[name] = action
        self.menu = QMenu("Window/&Level", window)
        self.menu.setToolTipsVisible(True)
        self.menu.addActions(list(self.actions.values()))
        self.menu.addSeparator()
        hint = self.menu.addAction("Ctrl+drag on a view: ↔ width, ↕ level")
        hint.setEnabled(False)
        state.patient_changed.connect(self._update_actions)
        state.layers_changed.connect(self._update_actions)
        self._update_actions()

    @property
    def preset_actions(self) -> list[QAction]:
        """In display order: auto, brain, tumour, full range."""
        return [self.actions[name] for name in PRESETS]

    def apply_preset(self, name: str) -> tuple[float, float] | None:
        """Set the displayed modality's window from preset ``name``; None when it cannot apply."""
        modality, volume = self.state.modality, self.state.volume()
        if modality is None or volume is None:
            return None
        layers = self.state.layers
        shown = [layer.data for layer in layers if layer.visible] or [layer.data for layer in layers]
        tumour = tumour_mask(shown) if name != AUTO else None
        window = preset_window(name, volume, tumour, auto=self.state.auto_window(modality))
        if window is None:
            self._status("Tumour-focused window: no layer has tumour labels yet (run a segmentation or paint one).")
            return None
        self.state.set_window(modality, *window)
        self.preset_applied.emit(name, *window)
        self._status(f"Window: {PRESET_TEXT[name]} ({window[0]:.4g} to {window[1]:.4g})")
        return window

    def _update_actions(self, *_args: object) -> None:
        has_patient = self.state.patient is not None
        for name, action in self.actions.items():
            action.setEnabled(has_patient and (name != TUMOUR or bool(self.state.layers)))

    def _status(self, text: str) -> None:
        if self._window is not None:
            self._window.statusBar().showMessage(text, 5000)
