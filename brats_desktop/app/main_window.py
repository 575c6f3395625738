"""The main window: three linked slice views, the display docks, File and View, and the features.

The window builds the :class:`~brats_desktop.app.feature.AppContext` and every feature listed
in :mod:`brats_desktop.app.features` with it; it knows nothing else of them. Opening patients
is :mod:`brats_desktop.app.patient_opening`, exporting :mod:`brats_desktop.app.layer_export`.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QScrollArea, QVBoxLayout, QWidget

from brats_desktop.core.coordinates import describe as describe_position
from brats_desktop.core.discovery import MODALITY_LABELS
from brats_desktop.core.focus import tumour_focus
from brats_desktop.core.labels import CLASS_SHORT

from brats_desktop.app.dialogs import Dialogs
from brats_desktop.app.feature import MENU_ORDER, AppContext
from brats_desktop.app.features import FEATURES, TASK_TAB_ORDER, feature_name
from brats_desktop.app.layer_export import LayerExportMixin
from brats_desktop.app.loader import PatientLoader
from brats_desktop.app.patient_opening import PatientOpeningMixin
from brats_desktop.app.state import ViewerState, Voxel
from brats_desktop.app.views.display_panel import DisplayPanel
from brats_desktop.app.views.info_panel import InfoPanel
from brats_desktop.app.views.layer_legend import DistinctLayerStyles, LayerLegendWidget
from brats_desktop.app.views.layers_panel import LayersPanel, LayersScrollArea
from brats_desktop.app.views.layouts import LayoutManager
from brats_desktop.app.views.slice_view import AXIAL, CORONAL, SAGITTAL, SliceView, ViewTool
from brats_desktop.app.views.window_level import WindowLevelController

APP_NAME = "BraTS Desktop"
__all__ = ["MENU_ORDER", "MainWindow", "default_settings", "tumour_focus"]


def default_settings() -> QSettings:
    """The user's settings (recent folders); tests pass their own QSettings instead."""
    return QSettings("BraTS Desktop", "BraTS Desktop")


class MainWindow(PatientOpeningMixin, LayerExportMixin, QMainWindow):
    """Owns the :class:`ViewerState`; views and panels observe it."""

    first_image_shown = Signal()  # the first volume of a newly opened patient is on screen
    patient_loaded = Signal(object)  # every volume of the patient is in (Patient)
    load_failed = Signal(str)  # the message shown in the error dialog
    exported = Signal(object)  # Path written by Export

    def __init__(
        self,
        settings: QSettings | None = None,
        dialogs: Dialogs | None = None,
        loader: PatientLoader | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else default_settings()
        self.dialogs = dialogs if dialogs is not None else Dialogs()
        self.state = ViewerState(self)
        self.loader = loader if loader is not None else PatientLoader(self)
        self._snapshot = None  # what to restore if a progressive load fails halfway
        self._started_partial = False
        # The one object features are given (menus, docks, status, workers, dialogs, settings).
        self.app = AppContext(self, self.state, settings=self.settings, dialogs=self.dialogs, patients=self)
        self.menus: dict[str, QMenu] = self.app.menus

        self.axial_view = SliceView(self.state, AXIAL)
        self.coronal_view = SliceView(self.state, CORONAL)
        self.sagittal_view = SliceView(self.state, SAGITTAL)
        self.views: list[SliceView] = self.app.views
        self.views += [self.axial_view, self.coronal_view, self.sagittal_view]
        self.info_panel = InfoPanel(self.state)  # in the "Case" dock (the 3-D view has its quadrant)
        # View → Layout (3-D, one large, modality grid), linked zoom/pan at one mm/pixel.
        self.layouts = LayoutManager(self.state, self.settings, self.views, self)
        self.layouts.views_added.connect(self._on_views_added)
        self.app.layouts = self.layouts
        self.setCentralWidget(self.layouts)

        # Window/level presets (View menu + Display dock) and Ctrl+drag.
        self.window_level = WindowLevelController(self.state, self)
        self.display_panel = DisplayPanel(self.state, presets=self.window_level.preset_actions)
        self.layers_panel = LayersPanel(self.state)
        self.add_dock_panel(self.display_panel, "Display")
        # Room for two whole layers; more scroll instead of growing the window. Which layer is
        # drawn how (outlines / filled) sits above the layer boxes.
        self.layer_legend = LayerLegendWidget(self.state)
        self.layer_styles = DistinctLayerStyles(self.state, self)
        layers_dock = QWidget()
        layers_box = QVBoxLayout(layers_dock)
        layers_box.setContentsMargins(0, 0, 0, 0)
        layers_box.addWidget(self.layer_legend)
        layers_box.addWidget(LayersScrollArea(self.layers_panel), 1)
        self.add_dock_panel(layers_dock, "Layers")
        # Patient and file facts are looked up now and then: a tab behind Display.
        display_dock = self.findChild(QDockWidget, "dock_Display")
        case_scroll = QScrollArea()  # scrolls rather than making the window taller
        case_scroll.setWidgetResizable(True)
        case_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        case_scroll.setWidget(self.info_panel)
        self._case_dock = self.add_dock_panel(case_scroll, "Case")
        self._display_dock = display_dock  # Display and Case become tabs when the window shows
        self._build_menus()
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        # Every feature, in list order, each kept as ``window.<name>``.
        for entry in FEATURES:
            feature = entry(self.app)
            name = feature_name(entry)
            self.app.register(name, feature)
            setattr(self, name, feature)
        self._arrange_docks()
        self._watch_touched_layers()  # Export offers the layer last produced or edited first

        for view in self.views:
            view.hovered.connect(self._on_hovered)
        self.state.patient_changed.connect(self._update_title)
        self.state.modified_changed.connect(self._update_title)
        self.loader.first_loaded.connect(self._on_first_loaded)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        self._update_title()

    # -- extension points (the features' own go through ``self.app``) ------------------
    def menu(self, title: str) -> QMenu:
        """The top-level menu ``title``, created in :data:`MENU_ORDER` position if new."""
        return self.app.menu(title)

    add_menu = menu

    def add_dock_panel(
        self, widget: QWidget, title: str,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        scroll: bool = False, task_tab: bool = False,
    ) -> QDockWidget:
        """A dock on the right (stacked below the others); View lists it. See ``AppContext.add_dock``."""
        return self.app.add_dock(widget, title, area, scroll=scroll, task_tab=task_tab)

    def _on_views_added(self, views: list) -> None:
        for view in views:
            view.hovered.connect(self._on_hovered)
        self.app.views_added.emit(views)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Display and Case become tabs on the first show, not in ``__init__``: Qt 6 (6.11 here)
        makes a second tab group of a window that was never shown with two tab bars and manages
        only one, so the other stays on screen as a stale copy (seen over the status bar). The
        task tab group is the first, made in ``__init__``; Case is short, stacking it below
        Display until now does not make the window taller than asked."""
        super().showEvent(event)
        display, case = self._display_dock, self._case_dock
        if display is not None and case is not None:
            self._display_dock = self._case_dock = None
            if not display.isFloating() and not case.isFloating():
                self.tabifyDockWidget(display, case)
                display.raise_()

    def _arrange_docks(self) -> None:
        """The per-task panels share one tab group on the right, in a fixed order, Annotate in
        front; Display/Case and Layers sit above it, and the Worklist (bottom) only shows with a
        cohort. Each feature joins the group as its dock is made; this puts the tabs in the order
        a user reads them, whatever order the features were built in."""
        # The right-hand column keeps the full height: a bottom dock (the Worklist) spans only the
        # views, instead of squeezing the task tabs to two rows of the Annotate panel.
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.app.arrange_task_tabs(TASK_TAB_ORDER)

    def set_tool(self, tool: ViewTool) -> None:
        """Give every slice view the same mouse tool (painting, navigation ...)."""
        self.app.set_tool(tool)

    # -- menus ------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menu("File")
        open_action = QAction("&Open Patient Folder…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._on_open_triggered)
        file_menu.addAction(open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        self.export_action = QAction("&Export Label Layer…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(lambda: self.export_layer())
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view_menu = self.menu("View")
        reset_zoom = QAction("Reset &Zoom", self)
        reset_zoom.setShortcut(QKeySequence("Ctrl+0"))
        reset_zoom.triggered.connect(lambda: [v.reset_zoom() for v in self.views])
        view_menu.addAction(reset_zoom)
        view_menu.addMenu(self.window_level.menu)  # Auto (reset), Brain, Tumour-Focused, Full Range
        centre = QAction("Go to &Tumour", self)
        centre.setShortcut(QKeySequence("Ctrl+T"))
        centre.triggered.connect(self._on_go_to_tumour)
        view_menu.addAction(centre)
        self.layouts.install_menu(view_menu)
        view_menu.addSeparator()
        for dock in self.findChildren(QDockWidget):
            view_menu.addAction(dock.toggleViewAction())

    def _on_go_to_tumour(self) -> None:
        for layer in self.state.layers:
            focus = tumour_focus(layer.data)
            if focus is not None:
                self.state.set_cursor(focus)
                return

    # -- status bar and title ---------------------------------------------------------
    def _on_hovered(self, voxel: Voxel | None) -> None:
        patient = self.state.patient
        if voxel is None or patient is None:
            self.statusBar().clearMessage()
            return
        parts = [describe_position(patient.grid, voxel)]  # the file's own voxel index and RAS mm
        parts += [f"{MODALITY_LABELS[m]} {patient.images[m][voxel]:.4g}" for m in patient.modalities]
        for layer in self.state.layers:
            value = layer.label_at(voxel)
            parts.append(f"{layer.name}: {CLASS_SHORT.get(value, str(value))}")
        parts += self.app.hover_texts(voxel)  # e.g. the uncertainty heat map under the mouse
        self.statusBar().showMessage("   ".join(parts))

    def _update_title(self, *_args: object) -> None:
        patient = self.state.patient
        title = APP_NAME if patient is None else f"{APP_NAME} — {patient.name}"
        if self.state.has_unsaved_changes:
            title += " *"
        self.setWindowTitle(title)

    # -- Qt events --------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._may_discard("quit"):
            event.ignore()
            return
        # Cancel and wait, feature by feature (inference, uncertainty map, Segment All and case
        # readers, a running import): no thread outlives the window, nothing half written.
        self.app.shutdown()
        self.layouts.shutdown()  # the 3-D view's mesh thread
        self.loader.wait()
        event.accept()
