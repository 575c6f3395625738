"""The one interface between the main window and its features.

A feature (segmentation, annotation, the cohort worklist, Help ...) is a package under
``brats_desktop/app/`` that exports one :class:`Feature` subclass. The window builds an
:class:`AppContext` and constructs every class listed in ``app/features.py`` with it, in
order; a feature reaches the rest of the app only through that context:

* ``app.state`` (the :class:`~brats_desktop.app.state.ViewerState`), ``app.views`` (the live
  list of slice views; ``app.views_added`` announces views made later), ``app.set_tool``,
  ``app.set_layout``;
* ``app.menu("Segment")`` / ``app.menu("View/Window-Level")`` (menus by path, top-level ones
  in :data:`MENU_ORDER`), ``app.add_shortcut(action)`` (a window-wide key with no menu entry),
  ``app.toolbar("Segment")``;
* ``app.add_dock(widget, title, task_tab=True)`` (docks; ``task_tab`` joins the Annotate tab
  group), ``app.show_message`` and ``app.status_bar()`` (permanent widgets);
* ``app.workers`` (a small pool for background jobs whose result comes back on the GUI thread),
  ``app.dialogs`` (every modal question, scripted in tests), ``app.settings`` (QSettings);
* ``app.patients`` (open, show or export a patient: :class:`PatientHost`), ``app.may_discard``;
* ``app.feature("annotation")`` (another feature built earlier, or None).

Nothing here imports the window or a feature: the window imports the feature list, features
import this module, and both sit above it. napari's application model (actions declared per
area, composed by the application) and 3D Slicer's scripted modules (widget calls logic,
never the other way round) are the patterns followed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from PySide6.QtCore import QObject, QRunnable, QSettings, Qt, QThreadPool, Signal, SignalInstance
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QScrollArea, QStatusBar, QToolBar, QWidget

from brats_desktop.app.dialogs import Dialogs
from brats_desktop.app.state import ViewerState, Voxel

# Top-level menu order; a feature's ``app.menu(title)`` lands in this order, unknown titles last.
MENU_ORDER: tuple[str, ...] = ("File", "Edit", "View", "Segment", "Measure", "Help")


class PatientHost(Protocol):
    """What the window does with whole patients, for features that open, show or export one."""

    first_image_shown: SignalInstance  # the first volume of a newly opened patient is on screen
    patient_loaded: SignalInstance  # (Patient) every volume is in
    load_failed: SignalInstance  # (str) the message the error dialog showed
    exported: SignalInstance  # (Path) a label layer was written

    def open_patient(self, folder: Path | str) -> None: ...

    def show_patient(self, patient: Any, windows: dict | None = None, cursor: Voxel | None = None) -> None: ...

    def export_layer(self, name: str | None = None) -> Path | None: ...


class _Relay(QObject):
    """Carries a pool job's outcome from its thread to the GUI thread (queued signals)."""

    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._fn, self._relay = fn, relay

    def run(self) -> None:  # noqa: D401 - QRunnable override
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - handed to the caller's on_error on the GUI thread
            self._relay.failed.emit(exc)
        else:
            self._relay.done.emit(result)


class WorkerPool(QObject):
    """Short background jobs (read a file, compute a map): ``fn`` runs on a pool thread and
    ``on_done(result)`` / ``on_error(exc)`` run on the GUI thread. Long, cancellable work with
    progress keeps its own worker (``app.callback_thread.CallbackThread``)."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._relays: set[_Relay] = set()  # alive until their signal was delivered

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        relay = _Relay(self)  # lives in the GUI thread, so its slots run there
        self._relays.add(relay)

        def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
            self._relays.discard(relay)
            relay.deleteLater()
            if callback is not None:
                callback(value)

        relay.done.connect(lambda result: finish(on_done, result))
        relay.failed.connect(lambda exc: finish(on_error, exc))
        self._pool.start(_Job(fn, relay))

    def wait(self, msecs: int = -1) -> bool:
        """Block until every job has finished (the window is closing); True when none is left."""
        return self._pool.waitForDone(msecs)


class AppContext(QObject):
    """Everything a feature may use of the window; built once by the window, handed to each feature."""

    views_added = Signal(list)  # SliceViews made later (the modality grid), already in ``views``

    def __init__(
        self,
        window: QMainWindow,
        state: ViewerState,
        *,
        views: list | None = None,
        settings: QSettings | None = None,
        dialogs: Dialogs | None = None,
        patients: PatientHost | None = None,
    ) -> None:
        super().__init__(window)
        self.setObjectName("app_context")
        # The parent of dialogs, actions and docks. Features use its QMainWindow API only.
        self.window = window
        self.state = state
        self.views: list = views if views is not None else []
        self.settings = settings if settings is not None else QSettings()
        self.dialogs = dialogs if dialogs is not None else Dialogs()
        self.patients = patients
        self.layouts: Any = None  # the central view layouts (``set_layout``), set by the window
        self.workers = WorkerPool(self)
        self.menus: dict[str, QMenu] = {}
        self.toolbars: dict[str, QToolBar] = {}
        self.task_docks: list[QDockWidget] = []  # the Annotate tab group, in the order added
        self._features: dict[str, Any] = {}

    @staticmethod
    def of(host: "AppContext | QMainWindow") -> "AppContext":
        """The context itself, or the one a window was built with (features may be handed either)."""
        if isinstance(host, AppContext):
            return host
        found = host.findChild(AppContext, "app_context")
        if found is None:
            raise TypeError(f"{type(host).__name__} has no AppContext; build features with one")
        return found

    # -- views ----------------------------------------------------------------------
    @property
    def axial_view(self) -> Any:
        """The main axial view (always ``views[0]``)."""
        return self.views[0]

    def set_layout(self, name: str, remember: bool = False) -> None:
        """Show view layout ``name`` ("3d", "grid-axial" ...; see ``app.views.layouts``)."""
        if self.layouts is not None:
            self.layouts.set_layout(name, remember=remember)

    def set_tool(self, tool: Any) -> None:
        """Give every slice view the same mouse tool (painting, ruler, navigation ...)."""
        for view in self.views:
            view.set_tool(tool)

    # -- menus, keys, tool bars -------------------------------------------------------
    def menu(self, path: str) -> QMenu:
        """The menu at ``path`` ("Segment", "View/Window-Level"), created where missing.

        Top-level menus keep :data:`MENU_ORDER`; a submenu is found by its text without ``&``.
        """
        top, *rest = [part for part in path.split("/") if part]
        menu = self.menus.get(top) or self._top_menu(top)
        for title in rest:
            sub = next((a.menu() for a in menu.actions()
                        if a.menu() is not None and a.text().replace("&", "") == title.replace("&", "")), None)
            menu = sub if sub is not None else menu.addMenu(title)
        return menu

    def _top_menu(self, title: str) -> QMenu:
        menu = QMenu(title, self.window)

        def rank(name: str) -> int:
            return MENU_ORDER.index(name) if name in MENU_ORDER else len(MENU_ORDER)

        before = next((m for t, m in self.menus.items() if rank(t) > rank(title)), None)
        if before is not None:
            self.window.menuBar().insertMenu(before.menuAction(), menu)
        else:
            self.window.menuBar().addMenu(menu)
        self.menus[title] = menu
        return menu

    def add_action(self, path: str, action: QAction) -> QAction:
        """Append ``action`` to the menu at ``path``; returns it."""
        self.menu(path).addAction(action)
        return action

    def add_shortcut(self, action: QAction, section: str | None = None) -> QAction:
        """A window-wide key with no menu entry; ``section`` groups it in Help's reference."""
        if section is not None:
            action.setProperty("help_section", section)
        self.window.addAction(action)
        return action

    def toolbar(self, title: str) -> QToolBar:
        """The tool bar ``title`` (object name ``<title>ToolBar``), created on first use."""
        bar = self.toolbars.get(title)
        if bar is None:
            bar = QToolBar(title, self.window)
            bar.setObjectName(re.sub(r"\W+", "", title) + "ToolBar")
            self.window.addToolBar(bar)
            self.toolbars[title] = bar
        return bar

    # -- docks ------------------------------------------------------------------------
    def add_dock(
        self,
        widget: QWidget,
        title: str,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        scroll: bool = False,
        task_tab: bool = False,
    ) -> QDockWidget:
        """Put ``widget`` in a dock (right-hand by default); View lists it.

        ``scroll=True`` wraps a long panel in a frameless QScrollArea: the dock then asks for
        little height and scrolls, instead of the docks' minimum heights adding up past the
        screen and forcing the window taller than asked. ``task_tab=True`` makes it a tab of
        the per-task group (Annotate, Metrics, ...) at once: stacked alone until a later pass
        it would add its height to the dock column and the window would grow for good.
        """
        if scroll:
            scroller = QScrollArea()
            scroller.setWidgetResizable(True)
            scroller.setFrameShape(QScrollArea.Shape.NoFrame)
            scroller.setWidget(widget)
            widget = scroller
        dock = QDockWidget(title, self.window)
        dock.setObjectName("dock_" + re.sub(r"\W+", "_", title))
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        if "View" in self.menus:
            self.menus["View"].addAction(dock.toggleViewAction())
        if task_tab:
            partner = next((d for d in self.task_docks if not d.isFloating()), None)
            self.task_docks.append(dock)
            if partner is not None:
                self.window.tabifyDockWidget(partner, dock)
        return dock

    def arrange_task_tabs(self, order: Sequence[str]) -> None:
        """Put the task tab group in ``order`` (dock titles; others follow as added), first in front."""
        rank = {title: i for i, title in enumerate(order)}
        docks = sorted(
            (d for d in self.task_docks if not d.isFloating()),
            key=lambda d: (rank.get(d.windowTitle(), len(rank)), self.task_docks.index(d)),
        )
        if not docks:
            return
        # Each dock right after the one before it: the order holds whatever the group's order was.
        for before, dock in zip(docks, docks[1:]):
            self.window.tabifyDockWidget(before, dock)
        docks[0].raise_()

    # -- status bar -------------------------------------------------------------------
    def show_message(self, text: str, msecs: int = 0) -> None:
        self.window.statusBar().showMessage(text, msecs)

    def status_bar(self) -> QStatusBar:
        """For permanent widgets (progress bars, device labels); messages go through ``show_message``."""
        return self.window.statusBar()

    # -- features ---------------------------------------------------------------------
    def register(self, name: str, feature: Any) -> None:
        """Called by the window after building ``feature``; later features find it by name."""
        self._features[name] = feature

    def feature(self, name: str) -> Any:
        """The feature called ``name`` (built earlier in the list), or None."""
        return self._features.get(name)

    def features(self) -> list[Any]:
        return list(self._features.values())

    def may_discard(self, action: str) -> bool:
        """Ask every feature whether the current patient may go ("open another patient", "quit")."""
        return all(getattr(f, "may_discard", lambda _a: True)(action) for f in self.features())

    def hover_texts(self, voxel: Voxel) -> list[str]:
        """What features add to the status bar for the voxel under the mouse."""
        texts = []
        for feature in self.features():
            text = getattr(feature, "hover_text", lambda _v: None)(voxel)
            if text:
                texts.append(text)
        return texts

    def shutdown(self) -> None:
        """Stop every feature's background work, in list order, then the pool."""
        for feature in self.features():
            stop = getattr(feature, "shutdown", None)
            if callable(stop):
                stop()
        self.workers.wait()


class Feature(QObject):
    """Base of a window feature: built with the :class:`AppContext`, kept as ``window.<name>``.

    Subclasses set :attr:`name`, build their menus, docks and overlays in ``__init__`` through
    ``self.app``, and may override the hooks below. A panel shows and emits signals; the
    feature (controller) connects them and decides.
    """

    name: ClassVar[str] = ""

    def __init__(self, app: AppContext | QMainWindow) -> None:
        context = AppContext.of(app)
        super().__init__(context.window)
        self.app = context

    def may_discard(self, action: str) -> bool:
        """False to keep the current patient (e.g. the user cancelled saving edits)."""
        return True

    def hover_text(self, voxel: Voxel) -> str | None:
        """A ``name: value`` part for the status bar at the voxel under the mouse, or None."""
        return None

    def shutdown(self) -> None:
        """The window is closing: cancel and wait for background work; write nothing half done."""
