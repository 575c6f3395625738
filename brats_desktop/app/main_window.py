"""The main window: three linked slice views, an info pane, docks, menus and file handling.

Other features plug in without editing this file's internals: ``menu(title)`` returns
(or creates) a top-level menu such as "Segment" or "Edit", ``add_dock_panel`` adds a
right-hand dock, ``set_tool`` replaces the mouse tool of every view, and everything
else goes through :attr:`MainWindow.state`.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from brats_desktop.core.coordinates import describe as describe_position
from brats_desktop.core.discovery import MODALITIES, MODALITY_LABELS
from brats_desktop.core.focus import tumour_focus
from brats_desktop.core.errors import ExportError, PatientLoadError, load_error_message, skipped_files_message
from brats_desktop.core.label_meaning import label1_name
from brats_desktop.core.labels import CLASS_NAMES, CLASS_SHORT, TUMOUR_CLASSES
from brats_desktop.core.naming import kind_slug, output_path
from brats_desktop.core.nifti_io import write_label_map
from brats_desktop.core.patient import Patient

from brats_desktop.app.dialogs import Dialogs
from brats_desktop.app.feature import MENU_ORDER, AppContext
from brats_desktop.app.features import FEATURES, TASK_TAB_ORDER, feature_name
from brats_desktop.app.loader import PatientLoader
from brats_desktop.app.state import ViewerState, Voxel
from brats_desktop.app.views.display_panel import DisplayPanel
from brats_desktop.app.views.layer_legend import DistinctLayerStyles, LayerLegendWidget
from brats_desktop.app.views.layers_panel import LayersPanel, LayersScrollArea, swatch
from brats_desktop.app.views.layouts import LayoutManager
from brats_desktop.app.views.slice_view import AXIAL, CONVENTION_TEXT, CORONAL, SAGITTAL, SliceView, ViewTool
from brats_desktop.app.views.window_level import WindowLevelController

APP_NAME = "BraTS Desktop"
MAX_RECENT = 8
RECENT_KEY = "recent_folders"
__all__ = ["MENU_ORDER", "MainWindow", "default_settings", "tumour_focus"]


def default_settings() -> QSettings:
    """The user's settings (recent folders); tests pass their own QSettings instead."""
    return QSettings("BraTS Desktop", "BraTS Desktop")


class InfoPanel(QWidget):
    """Bottom-right pane: patient, files, label convention, display convention, legend."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setObjectName("info_panel")
        self.setStyleSheet("#info_panel { background: #161616; } QLabel { color: #ddd; }")
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.text)
        self.legend: dict[int, QLabel] = {}
        for cls in TUMOUR_CLASSES:
            row = QHBoxLayout()
            row.addWidget(swatch(cls))
            self.legend[cls] = QLabel(f"{CLASS_SHORT[cls]}: {CLASS_NAMES[cls]}")
            row.addWidget(self.legend[cls], 1)
            layout.addLayout(row)
        state.ncr_definition_changed.connect(self._on_ncr_definition_changed)
        self._on_ncr_definition_changed(state.ncr_definition)
        note = QLabel(CONVENTION_TEXT + " (letters on each view).")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addStretch(1)
        state.patient_changed.connect(self._refresh)
        state.modalities_changed.connect(self._refresh)
        self._refresh()

    def _on_ncr_definition_changed(self, key: str) -> None:
        """Class 1's legend names the meaning in use (necrosis alone from BraTS 2021 on)."""
        self.legend[1].setText(f"{CLASS_SHORT[1]}: {label1_name(key)}")

    def _refresh(self, *_args: object) -> None:
        p = self.state.patient
        if p is None:
            self.text.setText(
                "<b>No patient open.</b><br>File → Open Patient Folder… (Ctrl+O), "
                "or drop a folder on the window."
            )
            return
        present = ", ".join(MODALITY_LABELS[m] for m in p.modalities)
        missing = [MODALITY_LABELS[m] for m in MODALITIES if m not in p.images]
        lines = [f"<b>{p.name}</b>"]
        if p.folder is not None:
            lines.append(f"<small>{p.folder}</small>")
        lines.append(f"Volumes: {present}" + (" (loading…)" if self.state.loading else ""))
        if missing and not self.state.loading:
            lines.append(f"Missing: {', '.join(missing)}")
        sx, sy, sz = p.spacing
        lines.append(f"Grid: {p.shape[0]}×{p.shape[1]}×{p.shape[2]}, {sx:g}×{sy:g}×{sz:g} mm")
        seg = "yes" if p.ground_truth is not None else "none"
        lines.append(f"Segmentation: {seg}; labels {p.convention.value} "
                     f"({', '.join(map(str, p.convention.file_values))})")
        self.text.setText("<br>".join(lines))


class MainWindow(QMainWindow):
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

    # -- opening patients -------------------------------------------------------------
    def open_patient(self, folder: Path | str) -> None:
        """Load a folder in the background; the current patient stays until it succeeds."""
        if not self._may_discard("open another patient"):
            return
        # A load superseded halfway keeps the snapshot of what the user had before it.
        if not self._started_partial:
            self._snapshot = None
        self._started_partial = False
        self._loading_folder = Path(folder)
        self.statusBar().showMessage(f"Loading {Path(folder).name}…")
        self.loader.start(folder)

    def show_patient(
        self, patient: Patient | None, windows: dict | None = None, cursor: Voxel | None = None
    ) -> None:
        """Show an in-memory patient (the demo, a prefetched case) at once.

        ``cursor``: where the crosshair starts, when the caller worked it out off the GUI
        thread (the cohort prefetcher does); else the tumour focus is computed here.
        """
        self.state.set_patient(patient, windows, cursor=cursor or self._initial_cursor(patient))
        self.first_image_shown.emit()
        if patient is not None:
            self.patient_loaded.emit(patient)

    def _initial_cursor(self, patient: Patient | None) -> Voxel | None:
        return tumour_focus(patient.ground_truth) if patient is not None else None

    def _on_first_loaded(self, patient: Patient, windows: dict) -> None:
        if self._snapshot is None:
            self._snapshot = self.state.snapshot()
        self._started_partial = True
        self.state.set_patient(patient, windows, loading=True, cursor=self._initial_cursor(patient))
        self.first_image_shown.emit()

    def _on_loaded(self, patient: Patient, windows: dict) -> None:
        if self._started_partial:
            self.state.complete_patient(patient, windows)
        else:
            self.state.set_patient(patient, windows, cursor=self._initial_cursor(patient))
            self.first_image_shown.emit()
        self._snapshot = None
        self._started_partial = False
        if patient.folder is not None:
            self._remember_recent(patient.folder)
        self.statusBar().showMessage(f"Opened {patient.name}", 5000)
        self.patient_loaded.emit(patient)
        if patient.problems:
            self._report_skipped(patient)

    def _report_skipped(self, patient: Patient) -> None:
        """One dialog naming each file left out of the patient and why; the rest stays open."""
        count = len(patient.problems)
        self.statusBar().showMessage(
            f"Opened {patient.name} without {count} file{'s' if count > 1 else ''} that could not be used", 10000
        )
        lacking = [MODALITY_LABELS[m] for m in MODALITIES if patient.skipped(m) is not None]
        after = "The other files are open."
        if lacking:
            after += (f" {', '.join(lacking)} {'is' if len(lacking) == 1 else 'are'} missing now; "
                      "Segment → Run says if the model needs it.")
        if patient.skipped("seg") is not None:
            after += " The ground truth is not shown."
        self.dialogs.error(
            self, "Some files were not opened",
            f"{patient.name} opened without these files:\n\n{skipped_files_message(patient.problems)}\n\n{after}",
        )

    def _on_failed(self, exc: Exception) -> None:
        if self._snapshot is not None:
            self.state.restore(self._snapshot)
        self._snapshot = None
        self._started_partial = False
        if isinstance(exc, PatientLoadError):
            message = load_error_message(exc)  # the folder itself for folder problems, else file + folder
        else:
            message = str(exc)
        self.statusBar().showMessage("Could not open the patient folder", 5000)
        self.load_failed.emit(message)
        self.dialogs.error(self, "Cannot open patient", message)

    def _may_discard(self, action: str) -> bool:
        """Save / Discard / Cancel when layers hold unsaved edits; True when we may go on."""
        return self.app.may_discard(action)

    # -- recent folders ---------------------------------------------------------------
    def recent_folders(self) -> list[Path]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):  # QSettings returns a lone string for one-item lists
            value = [value]
        return [Path(v) for v in (value or [])]

    def _remember_recent(self, folder: Path) -> None:
        folder = folder.resolve()
        items = [folder] + [p for p in self.recent_folders() if p != folder]
        self.settings.setValue(RECENT_KEY, [str(p) for p in items[:MAX_RECENT]])
        self.settings.sync()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(str(folder))
            action.triggered.connect(lambda _=False, f=folder: self.open_patient(f))
        if not folders:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # -- export -----------------------------------------------------------------------
    def export_layer(self, name: str | None = None) -> Path | None:
        """Write a label layer as NIfTI on the patient's grid and in its label convention."""
        patient, layers = self.state.patient, self.state.layers
        if patient is None or not layers:
            self.dialogs.error(self, "Export", "There is no label layer to export.")
            return None
        if name is None:
            name = layers[0].name if len(layers) == 1 else self.dialogs.choose(
                self, "Export Label Layer", "Layer:", [layer.name for layer in layers]
            )
            if name is None:
                return None
        layer = self.state.layer(name)
        if layer is None:
            self.dialogs.error(self, "Export", f"There is no layer named {name!r}.")
            return None
        folder = patient.folder or Path.home()
        # One default name per kind of output, shared with Save and brats-predict (core.naming).
        suggested = output_path(folder, patient.name, patient.files, patient.convention, kind_slug(layer.name))
        target = self.dialogs.save_path(self, f"Export {layer.name} as NIfTI", suggested)
        if target is None:
            return None
        if not target.name.lower().endswith((".nii", ".nii.gz")):
            target = target.with_name(target.name + ".nii.gz")
        if target.resolve() in patient.input_paths:
            self.dialogs.error(
                self, "Export",
                f"{target.name} is an input file of this patient; it is never overwritten. "
                "Choose another name.",
            )
            return None
        overwrite = False
        if target.exists():
            if not self.dialogs.confirm(self, "Replace file?", f"{target.name} already exists. Replace it?"):
                return None
            overwrite = True
        try:
            written = write_label_map(
                layer.data, patient.grid, target, patient.convention,
                protected=patient.input_paths, overwrite=overwrite,
            )
        except (ExportError, OSError) as exc:
            self.dialogs.error(self, "Export failed", str(exc))
            return None
        layer.set_modified(False)
        self.statusBar().showMessage(f"Exported {layer.name} to {written}", 8000)
        self.exported.emit(written)
        return written

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

    def _on_open_triggered(self) -> None:
        start = self.recent_folders()[0].parent if self.recent_folders() else None
        folder = self.dialogs.open_folder(self, start)
        if folder is not None:
            self.open_patient(folder)

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
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self._dropped_folder(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folder = self._dropped_folder(event)
        if folder is not None:
            event.acceptProposedAction()
            self.open_patient(folder)

    @staticmethod
    def _dropped_folder(event: QDropEvent | QDragEnterEvent) -> Path | None:
        """The first local folder among dropped URLs (a dropped file opens its folder)."""
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if path.is_dir():
                    return path
                if path.is_file() and path.parent.is_dir():
                    return path.parent
        return None

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
