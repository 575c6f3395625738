"""The main window's central area: which views are shown, and how (View → Layout).

Layouts (remembered in QSettings under :data:`SETTINGS_KEY`):

* ``3d`` — axial, coronal, sagittal and the 3-D view, two by two (the default);
* ``large-axial`` / ``large-coronal`` / ``large-sagittal`` — that plane large on the
  left, the other two small on the right (as ITK-SNAP's and Slicer's one-up layouts);
* ``grid-axial`` / ``grid-coronal`` / ``grid-sagittal`` — the *modality grid*: T1,
  T1CE, T2 and FLAIR of one plane, two by two, with one crosshair and the overlays on
  each (for reading a lesion across contrasts).

Every slice view, grid views included, is attached to one
:class:`~brats_desktop.app.views.view_link.ViewCamera`: zoom and pan are linked and all
planes show the same millimetres per pixel (the large view of a one-large layout twice
the pixels per mm of the small ones, the same field of view). The grid's views are created the first time
the grid is shown and then stay in ``window.views`` (so painting tools reach them);
while hidden they do not render.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShowEvent
from PySide6.QtWidgets import QGridLayout, QMenu, QWidget

from brats_desktop.app.state import ViewerState
from brats_desktop.app.views.slice_view import AXIAL, CORONAL, PLANES, SAGITTAL, Plane, SliceView
from brats_desktop.app.views.view_link import ViewCamera
from brats_desktop.app.views.volume_view import VolumeView

SETTINGS_KEY = "view/layout"
DEFAULT_LAYOUT = "3d"
GRID_MODALITIES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")  # reading order, 2 x 2
# The large view of a one-large layout is about twice the small ones each way: it shows
# the same field of view at twice their pixels per mm.
LARGE_MAGNIFICATION = 2.0

# key -> (menu text, shortcut)
LAYOUTS: dict[str, tuple[str, str]] = {
    "3d": ("Three Planes + &3-D", "Ctrl+Alt+1"),
    "large-axial": ("Large &Axial", "Ctrl+Alt+2"),
    "large-coronal": ("Large &Coronal", "Ctrl+Alt+3"),
    "large-sagittal": ("Large &Sagittal", "Ctrl+Alt+4"),
    "grid-axial": ("Modality Grid, A&xial", "Ctrl+Alt+5"),
    "grid-coronal": ("Modality Grid, C&oronal", "Ctrl+Alt+6"),
    "grid-sagittal": ("Modality Grid, Sa&gittal", "Ctrl+Alt+7"),
}
ALIASES: dict[str, str] = {"grid": "grid-axial", "large": "large-axial", "planes": "3d"}
_PLANE_BY_NAME: dict[str, Plane] = {p.name.lower(): p for p in PLANES}


def layout_key(name: str) -> str:
    """The canonical key of a layout name or alias; ValueError naming the choices if unknown."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in LAYOUTS:
        choices = ", ".join(list(LAYOUTS) + list(ALIASES))
        raise ValueError(f"unknown layout {name!r}; choose one of {choices}")
    return key


class GridSliceView(SliceView):
    """A slice view of the modality grid: one fixed modality; renders only while shown."""

    def __init__(self, state: ViewerState, plane: Plane, modality: str) -> None:
        self._stale = False
        super().__init__(state, plane, modality=modality)

    def render_slice(self) -> None:
        if not self.isVisible():
            self._stale = True  # drawn when shown: a hidden grid costs nothing per slice move
            return
        super().render_slice()

    def showEvent(self, ev: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(ev)
        if self._stale and self.state.patient is not None:
            self._stale = False
            super().render_slice()


class LayoutManager(QWidget):
    """Central widget of the main window: arranges the views for the chosen layout."""

    layout_changed = Signal(str)  # the new layout key
    views_added = Signal(list)  # SliceViews created later (the modality grid), already in ``views``

    def __init__(self, state: ViewerState, settings: QSettings, views: list[SliceView], shortcut_host: QWidget) -> None:
        """``views``: the window's live list, axial, coronal, sagittal first; grid views are appended
        to it. ``shortcut_host`` gets the layout keys, so they work before the menu is ever opened."""
        super().__init__()
        self.state = state
        self.settings = settings
        self.views = views
        self.plane_views: dict[str, SliceView] = {view.plane.name: view for view in views[:3]}
        self.camera = ViewCamera(self.state, self)
        for view in self.plane_views.values():
            self.camera.attach(view)
        self.volume_view = VolumeView(self.state)
        self.grid_views: dict[str, list[GridSliceView]] = {}
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(2, 2, 2, 2)
        self._grid.setSpacing(2)
        self.actions: dict[str, QAction] = {}
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        for key, (text, shortcut) in LAYOUTS.items():
            action = QAction(text, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(lambda _=False, k=key: self.set_layout(k))
            self._group.addAction(action)
            self.actions[key] = action
            shortcut_host.addAction(action)  # shortcuts work before the menu is ever opened
        self._key = ""
        stored = str(self.settings.value(SETTINGS_KEY, DEFAULT_LAYOUT) or DEFAULT_LAYOUT)
        try:
            key = layout_key(stored)
        except ValueError:  # a setting from another version: fall back, do not fail
            key = DEFAULT_LAYOUT
        self.set_layout(key, remember=False)

    # -- public -----------------------------------------------------------------------
    @property
    def current(self) -> str:
        """Key of the layout shown now."""
        return self._key

    def install_menu(self, view_menu: QMenu) -> QMenu:
        """Add the View → Layout submenu."""
        menu = view_menu.addMenu("&Layout")
        for action in self.actions.values():
            menu.addAction(action)
        self.menu = menu
        return menu

    def shown_views(self) -> list[SliceView]:
        """The slice views of the current layout, in reading order."""
        if self._key.startswith("grid-"):
            return list(self.grid_views[self._key[len("grid-"):]])
        if self._key.startswith("large-"):
            large = _PLANE_BY_NAME[self._key[len("large-"):]]
            return [self.plane_views[large.name]] + [
                self.plane_views[p.name] for p in PLANES if p is not large
            ]
        return list(self.plane_views.values())

    def set_layout(self, name: str, remember: bool = True) -> None:
        """Show layout ``name`` (key or alias); ``remember`` stores it in the settings."""
        key = layout_key(name)
        if remember:
            self.settings.setValue(SETTINGS_KEY, key)
        self.actions[key].setChecked(True)
        if key == self._key:
            return
        self._key = key
        grid = self._grid
        while grid.count():
            item = grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()
        for i in range(3):
            grid.setRowStretch(i, 0)
            grid.setColumnStretch(i, 0)
        for view in self.plane_views.values():
            self.camera.set_magnification(view, 1.0)
        if key == "3d":
            axial, coronal, sagittal = (self.plane_views[p.name] for p in PLANES)
            self._put(axial, 0, 0)
            self._put(coronal, 0, 1)
            self._put(sagittal, 1, 0)
            self._put(self.volume_view, 1, 1)
            self._stretch(rows=(1, 1), cols=(1, 1))
        elif key.startswith("large-"):
            large, *small = self.shown_views()
            self.camera.set_magnification(large, LARGE_MAGNIFICATION)
            self._put(large, 0, 0, rows=2)
            self._put(small[0], 0, 1)
            self._put(small[1], 1, 1)
            self._stretch(rows=(1, 1), cols=(2, 1))
        else:
            views = self._grid_views_for(_PLANE_BY_NAME[key[len("grid-"):]])
            for i, view in enumerate(views):
                self._put(view, i // 2, i % 2)
            self._stretch(rows=(1, 1), cols=(1, 1))
        grid.activate()
        if self.camera.fitted:
            self.camera.reset()
        self.layout_changed.emit(key)

    def shutdown(self) -> None:
        """Stop background work (the window is closing)."""
        self.volume_view.shutdown()

    # -- helpers ------------------------------------------------------------------------
    def _put(self, widget: QWidget, row: int, col: int, rows: int = 1) -> None:
        self._grid.addWidget(widget, row, col, rows, 1)
        widget.show()

    def _stretch(self, rows: tuple[int, ...], cols: tuple[int, ...]) -> None:
        for i, s in enumerate(rows):
            self._grid.setRowStretch(i, s)
        for i, s in enumerate(cols):
            self._grid.setColumnStretch(i, s)

    def _grid_views_for(self, plane: Plane) -> list[GridSliceView]:
        key = plane.name.lower()
        if key not in self.grid_views:
            views = [GridSliceView(self.state, plane, modality) for modality in GRID_MODALITIES]
            tool = self.views[0].tool
            for view in views:
                self.camera.attach(view)
                self.views.append(view)
            install = getattr(tool, "install", None)
            if callable(install):
                install(views)  # e.g. the paint tool: brush outline and strokes in the grid too
            else:
                for view in views:
                    view.set_tool(tool)
            self.grid_views[key] = views
            self.views_added.emit(list(views))
        return self.grid_views[key]
