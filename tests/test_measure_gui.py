"""Ruler, RANO measurement dock and lines, status-bar voxel index and Go To, driven with real events."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from brats_desktop.app.views.slice_view import NavigateTool
from brats_desktop.core.patient import load_patient, patient_from_arrays
from measure_support import close_window, drag, open_window, pos
from tests.tiny_cases import MARK, make_folder

SHAPE = (60, 50, 20)
SPACING = (0.8, 1.2, 2.0)  # anisotropic: a ruler must use mm, not voxels


def ellipse_labels() -> np.ndarray:
    """Edema with an enhancing ellipse (long 2a = 30 mm, short 2b = 16 mm, 35 degrees) largest on z = 10."""
    labels = np.zeros(SHAPE, np.uint8)
    x, y = np.meshgrid(np.arange(SHAPE[0]) * SPACING[0], np.arange(SHAPE[1]) * SPACING[1], indexing="ij")
    t = math.radians(35)
    dx, dy = x - 24.0, y - 30.0
    u, v = dx * math.cos(t) + dy * math.sin(t), -dx * math.sin(t) + dy * math.cos(t)
    for z, f in ((8, 0.6), (9, 0.8), (10, 1.0), (11, 0.7)):
        labels[:, :, z][(u / (15 * f + 2)) ** 2 + (v / (8 * f + 2)) ** 2 <= 1] = 2
        labels[:, :, z][(u / (15 * f)) ** 2 + (v / (8 * f)) ** 2 <= 1] = 3
    labels[28:30, 24:26, 10] = 1
    return labels


def patient(name="Measured"):
    rng = np.random.default_rng(1)
    images = {"flair": (rng.random(SHAPE) * 50 + 100).astype(np.float32)}
    return patient_from_arrays(name, images, ellipse_labels(), SPACING)


@pytest.fixture
def window(qtbot, tmp_path):
    win, dialogs = open_window(qtbot, tmp_path, patient())
    yield win, dialogs
    close_window(win)


def test_ruler_measures_in_mm_stays_with_its_slice_and_patient_until_cleared(qtbot, window):
    win, _ = window
    m = win.measure
    qtbot.keyClick(win, Qt.Key.Key_M)  # Measure → Ruler
    assert m.ruler_action.isChecked() and all(v.tool is m.ruler_tool for v in win.views)
    axial, coronal = win.axial_view, win.coronal_view
    z = win.state.cursor[2]
    before = win.state.cursor
    drag(qtbot, axial, (10, 10, z), (40, 10, z))  # 30 voxels along x = 24 mm
    assert win.state.cursor == before  # drawing a ruler does not move the crosshair
    (ruler,) = m.store.rulers()
    assert ruler.length_mm == pytest.approx(30 * SPACING[0], abs=0.25)
    overlay = {o.view: o for o in m.ruler_overlays}
    assert overlay[axial].labels == [f"{ruler.length_mm:.1f} mm"] and overlay[coronal].labels == []
    y = win.state.cursor[1]
    drag(qtbot, coronal, (20, y, 4), (20, y, 14))  # 10 slices along z = 20 mm
    assert m.store.rulers()[1].length_mm == pytest.approx(10 * SPACING[2], abs=0.3)
    # Another slice hides the axial ruler; coming back shows it again.
    axial.setFocus()
    qtbot.keyClick(axial, Qt.Key.Key_Up)
    assert overlay[axial].labels == []
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    assert overlay[axial].labels == [f"{ruler.length_mm:.1f} mm"]
    # Listed in the Measurements table, kept per patient.
    m.show_measurements()
    assert [r[0] for r in m.panel.rows()][-2:] == ["Ruler 1 (axial k=%d)" % z, f"Ruler 2 (coronal j={y})"]
    same = win.state.patient
    win.show_patient(patient("Someone else"))
    assert m.store.rulers() == [] and overlay[axial].labels == []
    win.show_patient(same)
    assert len(m.store.rulers()) == 2
    win.state.set_cursor((10, 10, z))
    assert overlay[axial].labels == [f"{ruler.length_mm:.1f} mm"]
    m.clear_action.trigger()
    assert m.store.rulers() == [] and overlay[axial].labels == []
    # M again: the views navigate again.
    qtbot.keyClick(win, Qt.Key.Key_M)
    assert all(isinstance(v.tool, NavigateTool) for v in win.views)
    qtbot.mouseClick(axial.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos(axial, (30, 20, z)))
    assert win.state.cursor[:2] == (30, 20) and m.store.rulers() == []


def test_rano_table_lines_copy_and_csv(qtbot, window, tmp_path):
    win, dialogs = window
    m = win.measure
    m.show_action.trigger()  # Measure → Measurements…
    qtbot.waitUntil(lambda: m.panel.report is not None, timeout=3000)
    (lesion,) = m.panel.report.lesions
    assert lesion.z == 10
    assert abs(lesion.long_mm - 30) <= max(SPACING[:2]) and abs(lesion.short_mm - 16) <= max(SPACING[:2])
    assert lesion.voxels == int((ellipse_labels() == 3).sum())
    # Lines on the axial view, on slice 10 only.
    win.state.set_cursor((24, 24, 10))
    assert m.rano_overlay.labels == [f"L1 {lesion.long_mm:.1f} × {lesion.short_mm:.1f} mm"]
    win.state.set_cursor((24, 24, 9))
    assert m.rano_overlay.labels == []
    win.state.set_cursor((24, 24, 10))
    m.dock.close()  # lines belong to the open Measurements dock, not to other work
    qtbot.waitUntil(lambda: m.rano_overlay.labels == [], timeout=2000)
    m.show_action.trigger()
    qtbot.waitUntil(lambda: m.rano_overlay.labels != [], timeout=2000)
    # Clicking the lesion row goes to it.
    rows = [m.panel.table.item(r, 0).text() for r in range(m.panel.table.rowCount())]
    row = rows.index("ET lesion 1")
    rect = m.panel.table.visualItemRect(m.panel.table.item(row, 0))
    qtbot.mouseClick(m.panel.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert win.state.cursor == lesion.centre and win.state.cursor[2] == 10
    assert m.rano_overlay.labels  # back on the measured slice
    # Copy: tab-separated, with the lesion's numbers.
    qtbot.mouseClick(m.panel.copy_button, Qt.MouseButton.LeftButton)
    text = QGuiApplication.clipboard().text()
    line = next(l for l in text.splitlines() if l.startswith("ET lesion 1"))
    assert line.split("\t")[3] == f"{lesion.long_mm:.1f}" and line.split("\t")[5] == f"{lesion.product_mm2:.1f}"
    # Save CSV through the dialogs object.
    dialogs.save_to = tmp_path / "out" / "meas"
    (tmp_path / "out").mkdir()
    qtbot.mouseClick(m.panel.save_button, Qt.MouseButton.LeftButton)
    saved = tmp_path / "out" / "meas.csv"
    assert saved.read_text().replace(",", "\t") == text
    assert dialogs.name_filter == "CSV (*.csv)" and dialogs.suggested.name.endswith("measurements.csv")
    # Painting away the lesion updates the table (debounced) while the dock is open.
    layer = m.panel.layer
    layer.data[layer.data == 3] = 2
    layer.notify_changed(None)
    qtbot.waitUntil(lambda: m.panel.report is not None and m.panel.report.lesions == [], timeout=3000)
    assert m.rano_overlay.labels == []


@pytest.mark.parametrize("orientation", ["RAS", "LPS"])
def test_status_bar_and_titles_show_the_files_voxel_index(qtbot, tmp_path, orientation):
    folder = make_folder(tmp_path / orientation, {"flair": "flair.nii.gz", "seg": "seg.nii.gz"}, orientation=orientation)
    on_disk = np.asarray(nib.load(str(folder / "flair.nii.gz")).dataobj)
    (expected,) = [tuple(int(v) for v in idx) for idx in np.argwhere(on_disk == 500.0)]  # nibabel's index of the mark
    win, _ = open_window(qtbot, tmp_path, load_patient(folder))
    try:
        view = win.axial_view
        win.state.set_cursor(MARK)
        qtbot.mouseMove(view.viewport(), pos(view, (2, 2, MARK[2])))  # a real move (the last test may have left it there)
        qtbot.mouseMove(view.viewport(), pos(view, MARK))
        message = win.statusBar().currentMessage()
        assert message.startswith(f"voxel [{expected[0]}, {expected[1]}, {expected[2]}]")
        world = nib.affines.apply_affine(nib.load(str(folder / "flair.nii.gz")).affine, expected)
        assert f"RAS ({world[0]:.1f}, {world[1]:.1f}, {world[2]:.1f}) mm" in message
        assert "FLAIR 500" in message
        assert win.axial_view._title.text().endswith(f"k = {expected[2]} (0–7)")
        assert win.sagittal_view._title.text().endswith(f"i = {expected[0]} (0–11)")
        assert win.coronal_view._title.text().endswith(f"j = {expected[1]} (0–9)")
    finally:
        close_window(win)


def test_go_to_voxel_and_world_with_typed_coordinates(qtbot, tmp_path):
    folder = make_folder(tmp_path / "lps", {"flair": "flair.nii.gz"}, orientation="LPS")
    img = nib.load(str(folder / "flair.nii.gz"))
    win, _ = open_window(qtbot, tmp_path, load_patient(folder))
    try:
        qtbot.keyClick(win, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)  # Measure → Go To…
        dialog = win.measure.goto_dialog
        assert dialog is not None and dialog.isVisible()
        qtbot.keyClicks(dialog.edit, "1 2 6")  # replaces the selected current position
        qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
        assert win.state.cursor == MARK and not dialog.isVisible()  # file voxel (1, 2, 6) of the LPS file
        # Outside the image: explained, dialog stays, cursor stays.
        win.state.set_cursor((0, 0, 0))
        qtbot.keyClick(win, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(dialog.edit, "40 2 6")
        qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
        assert dialog.isVisible() and "outside the image" in dialog.error.text()
        assert win.state.cursor == (0, 0, 0)
        # World coordinates in mm (RAS) of the mark.
        dialog.mode.setCurrentIndex(1)
        x, y, z = nib.affines.apply_affine(img.affine, (1, 2, 6))
        dialog.edit.selectAll()
        qtbot.keyClicks(dialog.edit, f"{x:.1f}, {y:.1f}, {z:.1f}")
        qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
        assert win.state.cursor == MARK and not dialog.isVisible()
        QApplication.processEvents()
    finally:
        close_window(win)
