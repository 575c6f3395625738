"""The worklist around the views: where a read-only cohort's output chooser starts, the Layers
dock while moving through cases, and room for the slice views at the default window size."""

from __future__ import annotations

from pathlib import Path


import torch
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from cohort_support import make_cohort
from inference_support import close_window, tiny_model
from test_cohort_worklist import CohortDialogs, make_window, predict_all, press

torch.set_num_threads(1)


def test_read_only_cohort_output_chooser_starts_beside_the_cohort(qtbot, tmp_path, monkeypatch):
    root = make_cohort(tmp_path, broken=False)
    mode = root.stat().st_mode
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)  # started from the program's checkout
    dialogs = CohortDialogs()
    dialogs.chosen_folders = [None]
    root.chmod(0o555)
    try:
        win = make_window(qtbot, tmp_path, dialogs)
        try:
            assert win.cohort.open_cohort(root) is None
        finally:
            close_window(win)
    finally:
        root.chmod(mode)
    assert dialogs.chooser_starts == [tmp_path.resolve()]


def test_output_chooser_falls_back_to_home_when_beside_is_read_only(tmp_path):
    from brats_desktop.app.cohort.settings import output_folder_start

    parent = tmp_path / "ro"
    root = make_cohort(parent, broken=False)
    mode = parent.stat().st_mode
    parent.chmod(0o555)
    try:
        assert output_folder_start(root) == Path.home()
    finally:
        parent.chmod(mode)
    assert output_folder_start(root) == parent.resolve()


class PaintRecorder(QObject):
    """How many layer boxes were on screen at every paint of the Layers panel."""

    def __init__(self, panel) -> None:
        super().__init__()
        self.panel = panel
        self.counts: list[int] = []

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Paint:
            self.counts.append(sum(1 for box in self.panel.controls if box.isVisible()))
        return False


def test_layers_dock_is_never_painted_empty_when_n_opens_the_next_case(qtbot, tmp_path):
    root = make_cohort(tmp_path, broken=False)
    predict_all(root, tiny_model(tmp_path))
    win = make_window(qtbot, tmp_path)
    try:
        win.cohort.open_cohort(root)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            press(qtbot, win, Qt.Key.Key_N)
        qtbot.waitUntil(lambda: win.cohort.prefetcher.has("case2"), timeout=20_000)
        qtbot.wait(50)
        panel = win.layers_panel
        assert [box.layer.name for box in panel.controls] == ["Prediction", "Ground truth"]
        recorder = PaintRecorder(panel)
        panel.installEventFilter(recorder)
        press(qtbot, win, Qt.Key.Key_N)  # case2 is in memory: shown within the key press
        assert win.cohort.current_key == "case2"
        # On screen at once, before any event-loop pass: no empty dock while the case is drawn.
        assert [box.layer.name for box in panel.controls] == ["Prediction", "Ground truth"]
        assert all(box.isVisible() for box in panel.controls)
        for _ in range(5):
            qtbot.wait(20)
        panel.removeEventFilter(recorder)
        assert recorder.counts and min(recorder.counts) == 2, recorder.counts
    finally:
        close_window(win)





def test_at_1400x900_the_worklist_leaves_the_views_room_and_can_be_collapsed(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    win = make_window(qtbot, tmp_path)
    try:
        win.cohort.open_cohort(root)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            press(qtbot, win, Qt.Key.Key_N)
        qtbot.wait(50)
        panel = win.cohort.panel
        table = panel.table
        # Every column shown fits: nothing cut off behind a horizontal scroll bar.
        assert table.horizontalScrollBar().maximum() == 0
        assert win.axial_view.height() >= 260, win.axial_view.height()  # was ~230 with the full table
        # Collapsing the list gives its height to the views; the review row stays.
        qtbot.mouseClick(panel.collapse_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: win.axial_view.height() >= 340, timeout=5_000)
        assert not table.isVisible() and panel.status_combo.isVisible()
        press(qtbot, win, Qt.Key.Key_N)  # N / P still move through the hidden list
        qtbot.waitUntil(lambda: win.cohort.current_key == "case2", timeout=20_000)
        qtbot.mouseClick(panel.collapse_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(table.isVisible, timeout=5_000)
    finally:
        close_window(win)


def test_worklist_columns_are_chosen_from_the_header_menu_and_remembered(qtbot, tmp_path):
    from brats_desktop.app.cohort.worklist_model import AI_COLUMNS, CASE

    root = make_cohort(tmp_path)
    win = make_window(qtbot, tmp_path)
    try:
        win.cohort.open_cohort(root)
        panel = win.cohort.panel
        table, header = panel.table, panel.table.horizontalHeader()
        assert table.isColumnHidden(AI_COLUMNS["WT"])  # volumes hidden by default
        # What a right-click makes (QTest's mouse click does not synthesize the context-menu event).
        centre = header.viewport().rect().center()
        QApplication.sendEvent(header.viewport(), QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, centre, header.viewport().mapToGlobal(centre)))
        qtbot.waitUntil(lambda: panel.column_menu is not None and panel.column_menu.isVisible(), timeout=5_000)
        titles = {a.text(): a for a in panel.column_menu.actions()}
        assert "Case" not in titles  # the case name always shows
        titles["AI WT"].trigger()
        titles["Modalities"].trigger()
        panel.column_menu.close()
        assert not table.isColumnHidden(AI_COLUMNS["WT"]) and table.isColumnHidden(1)
        assert not table.isColumnHidden(CASE)
    finally:
        close_window(win)
    again = make_window(qtbot, tmp_path)
    try:
        again.cohort.open_cohort(root)
        table = again.cohort.panel.table
        assert not table.isColumnHidden(AI_COLUMNS["WT"]) and table.isColumnHidden(1)
    finally:
        close_window(again)
