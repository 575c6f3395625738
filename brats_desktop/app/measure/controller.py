"""``window.measure``: the Measure menu, ruler tool, RANO lines, Measurements dock and Go To.

Measure → Ruler (M) makes a left drag on any view draw a ruler (Shift+click still
navigates; M again gives the views back their previous tool). Clear Rulers forgets
the current patient's rulers. Measurements… shows the dock (volumes, RANO per
enhancing lesion, rulers) with Copy and Save CSV. Go To… (Ctrl+G) jumps to a typed
voxel index or world position.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMainWindow

from brats_desktop.core.cohort import CohortError, atomic_write_text
from brats_desktop.core.measurements import CSV_HEADER, rows_to_text
from brats_desktop.core.naming import output_stem
from brats_desktop.core.nifti_io import unused_path

from brats_desktop.app.feature import AppContext, Feature
from brats_desktop.app.measure import texts
from brats_desktop.app.measure.goto import GoToDialog
from brats_desktop.app.measure.panel import MeasurementsPanel
from brats_desktop.app.measure.rano_overlay import RanoOverlay
from brats_desktop.app.measure.ruler import Ruler, RulerOverlay, RulerStore, RulerTool
from brats_desktop.app.views.slice_view import NavigateTool, ViewTool

MEASUREMENTS_KIND = "measurements"  # file kind in core.naming: <case id>_measurements.csv


class MeasureController(Feature):
    """Rulers, RANO diameters, the Measurements dock and Go To, plugged in through the app context."""

    name = "measure"

    def __init__(self, app: AppContext | QMainWindow) -> None:
        super().__init__(app)
        app = self.app
        self.state = app.state
        self.store = RulerStore(self.state, self)
        self.ruler_tool = RulerTool(self.store)
        self.ruler_overlays = [RulerOverlay(view, self.store) for view in app.views]
        self.rano_overlay = RanoOverlay(app.axial_view)
        self.rano_overlays = [self.rano_overlay]  # + axial views the layouts add later (modality grid)
        self._previous_tools: dict[object, ViewTool] = {}
        self.goto_dialog: GoToDialog | None = None

        self.panel = MeasurementsPanel(self.state, self.store)
        self.dock = app.add_dock(self.panel, "Measurements", scroll=True, task_tab=True)
        self.panel.measured.connect(self._on_measured)
        self.panel.copy_requested.connect(self.copy_table)
        self.panel.save_requested.connect(self.save_csv)
        self.panel.lines_toggled.connect(lambda _on: self.update_lines_visible())
        self.panel.lesion_chosen.connect(self.select_lesion)
        app.views_added.connect(self._on_views_added)
        self._dock_shown = False  # visibilityChanged: the dock (its tab) is on screen
        self.dock.visibilityChanged.connect(self._on_dock_visibility)
        self.update_lines_visible()
        self._build_actions()

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        w = self.app.window  # parent of the actions
        menu = self.app.menu("Measure")
        self.ruler_action = QAction("&Ruler", w)
        self.ruler_action.setCheckable(True)
        self.ruler_action.setShortcut(QKeySequence("M"))
        self.ruler_action.setToolTip("Drag on any view to measure a distance in mm (Shift+click navigates)")
        self.ruler_action.toggled.connect(self.set_ruler_active)
        self.clear_action = QAction("&Clear Rulers", w)
        self.clear_action.triggered.connect(self.clear_rulers)
        self.show_action = QAction("&Measurements (Volumes, RANO)…", w)
        self.show_action.triggered.connect(self.show_measurements)
        self.copy_action = QAction("&Copy Measurements", w)
        self.copy_action.triggered.connect(self.copy_table)
        self.save_action = QAction("&Save Measurements as CSV…", w)
        self.save_action.triggered.connect(self.save_csv)
        self.goto_action = QAction("&Go To…", w)
        self.goto_action.setShortcut(QKeySequence("Ctrl+G"))
        self.goto_action.triggered.connect(self.open_goto)
        for action in (self.ruler_action, self.clear_action, None, self.show_action, self.copy_action,
                       self.save_action, None, self.goto_action):
            menu.addSeparator() if action is None else menu.addAction(action)

    # ------------------------------------------------------------------ ruler
    def set_ruler_active(self, active: bool) -> None:
        """Ruler on every view, or give each view back the tool it had before."""
        if active:
            for view in self.app.views:
                if view.tool is not self.ruler_tool:
                    self._previous_tools[view] = view.tool
                view.set_tool(self.ruler_tool)
        else:
            for view in self.app.views:
                if view.tool is self.ruler_tool:
                    view.set_tool(self._previous_tools.get(view) or NavigateTool(self.state))
            self._previous_tools.clear()
        if self.ruler_action.isChecked() != active:
            self.ruler_action.setChecked(active)

    def clear_rulers(self) -> None:
        n = self.store.clear()
        self.app.show_message(f"Cleared {n} ruler{'s' if n != 1 else ''}", 4000)

    # ------------------------------------------------------------------ measurements
    def show_measurements(self) -> None:
        self.dock.show()
        self.dock.raise_()
        self.panel.refresh()

    def show_for_screenshot(self) -> str:
        """``--screenshot --rano``: the Measurements dock in front, crosshair on the largest lesion's RANO slice."""
        QCoreApplication.processEvents()  # queued dock arrangements (which raise Metrics) first
        self.show_measurements()
        report = self.panel.report
        if report is None or not report.lesions:
            return self.panel.summary.text()
        lesion = report.lesions[0]
        self.state.set_cursor(lesion.centre)
        return (f"{self.panel.summary.text()} L1: {lesion.long_mm:.1f} x {lesion.short_mm:.1f} mm "
                f"= {lesion.product_mm2:.0f} mm2, {lesion.volume_ml:.2f} mL, axial slice {self.slice_label(lesion.z)}")

    def update_lines_visible(self) -> None:
        """RANO lines show while the Measurements dock is open (and its box ticked), not during other work."""
        for overlay in self.rano_overlays:
            overlay.set_visible(self.panel.show_lines.isChecked() and self._dock_shown)

    def _on_dock_visibility(self, visible: bool) -> None:
        self._dock_shown = visible
        self.panel.set_on_screen(visible)  # measures lazily: only while its tab is on screen
        self.update_lines_visible()

    def _on_measured(self, report: object) -> None:
        for overlay in self.rano_overlays:
            overlay.selected = None
            overlay.set_lesions(report.lesions if report is not None else [])

    def select_lesion(self, number: int | None) -> None:
        """Draw this lesion's diameters even when it is not measurable (chosen in the table)."""
        for overlay in self.rano_overlays:
            overlay.set_selected(number)

    def _on_views_added(self, views: list) -> None:
        """Views made later (the layouts' modality grid) get rulers and, when axial, RANO lines too."""
        self.ruler_overlays += [RulerOverlay(view, self.store) for view in views]
        for view in views:
            if view.plane.axis == 2:
                overlay = RanoOverlay(view)
                overlay.visible = self.rano_overlay.visible
                overlay.set_lesions(self.rano_overlay.lesions)
                self.rano_overlays.append(overlay)

    def slice_label(self, z: int) -> int:
        """The file's own index of canonical axial slice ``z`` (what nibabel, ITK-SNAP, FSLeyes count)."""
        return texts.slice_label(self.state.patient, z)

    def plane_name(self, axis: int) -> str:
        return texts.plane_name(axis)

    def slice_text(self, ruler: Ruler) -> str:
        return texts.slice_text(self.state.patient, ruler)

    def table_text(self, delimiter: str = ",") -> str:
        if self.panel.report is None or self.panel._stale:
            self.panel.refresh()
        return rows_to_text(self.panel.rows(), CSV_HEADER, delimiter)

    def copy_table(self) -> str:
        """Put the table on the clipboard as tab-separated text; returns it."""
        text = self.table_text("\t")
        QGuiApplication.clipboard().setText(text)
        self.app.show_message("Measurements copied to the clipboard", 4000)
        return text

    def save_csv(self) -> Path | None:
        """Ask where (default beside the patient, by the naming scheme), then write the table atomically."""
        patient = self.state.patient
        if patient is None:
            self.app.dialogs.error(self.app.window, "Save Measurements", "No patient is open.")
            return None
        folder = patient.folder or Path.home()
        stem = output_stem(patient.name, patient.files, patient.convention, MEASUREMENTS_KIND)
        target = self.app.dialogs.save_file(
            self.app.window, "Save Measurements", unused_path(folder, stem, ".csv"), "CSV (*.csv)"
        )
        if target is None:
            return None
        if target.suffix.lower() != ".csv":
            target = target.with_name(target.name + ".csv")
        if target.exists() and not self.app.dialogs.confirm(
            self.app.window, "Replace file?", f"{target.name} already exists. Replace it?"
        ):
            return None
        text = self.table_text(",")
        try:
            atomic_write_text(target, text)
        except CohortError as exc:
            self.app.dialogs.error(self.app.window, "Save Measurements", str(exc))
            return None
        self.app.show_message(f"Saved measurements to {target}", 6000)
        return target

    # ------------------------------------------------------------------ go to
    def open_goto(self) -> GoToDialog | None:
        """Show the Go To dialog (window-modal, non-blocking) filled with the cursor's position."""
        if self.state.patient is None:
            return None
        if self.goto_dialog is None:
            self.goto_dialog = GoToDialog(self.state, self.app.window)
        self.goto_dialog.fill_current()
        self.goto_dialog.open()
        self.goto_dialog.edit.setFocus()
        return self.goto_dialog
