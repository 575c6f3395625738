"""Worklist GUI (open a cohort, move through it, Segment All) with real clicks and keys on a tiny synthetic cohort.

Cohort: four 40x36x24 patients from the synthetic generator plus a folder without
images (tests/cohort_support.py). Inference uses a tiny random checkpoint
(tests/inference_support.py), so Segment All runs the real batch path in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from brats_desktop.core.cohort import DONE, FLAGGED, IN_PROGRESS, TODO, Cohort, load_case
from brats_desktop.core.patient import load_patient
from cohort_support import make_cohort
from inference_support import GatedPredict, close_window, tiny_model
from viewer_support import ScriptedDialogs, isolated_settings

torch.set_num_threads(1)


class CohortDialogs(ScriptedDialogs):
    """ScriptedDialogs plus the folder chooser and CSV save-as of the cohort controller."""

    def __init__(self) -> None:
        super().__init__()
        self.chosen_folders: list[Path | None] = []
        self.chooser_titles: list[str] = []
        self.chooser_starts: list[Path | None] = []
        self.csv_path: Path | None = None

    def choose_folder(self, parent, title, start):
        self.chooser_titles.append(title)
        self.chooser_starts.append(start)
        return self.chosen_folders.pop(0) if self.chosen_folders else None

    def save_file(self, parent, title, suggested, name_filter):
        self.suggested_csv = suggested
        return self.csv_path


def make_window(qtbot, tmp_path: Path, dialogs: CohortDialogs | None = None, settings_dir: Path | None = None):
    from brats_desktop.app.main_window import MainWindow

    win = MainWindow(settings=isolated_settings(settings_dir or tmp_path), dialogs=dialogs or CohortDialogs())
    # Not qtbot.addWidget: tests open several windows in turn and tear each down with close_window.
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()  # shortcuts (N / P, Ctrl+S) go to the active window only
    qtbot.waitUntil(win.isActiveWindow, timeout=5_000)
    return win


def double_click_row(qtbot, win, key: str) -> None:
    table = win.cohort.panel.table
    pos = win.cohort.panel.row_rect_centre(key)
    assert pos is not None, key
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def press(qtbot, win, key) -> None:
    win.axial_view.setFocus()
    qtbot.keyClick(win.axial_view, key)


def predict_all(root: Path, model) -> None:
    from brats_desktop.cohort_predict import jobs_for, segment_cases

    segment_cases(jobs_for(Cohort(root)), lambda p: model, device="cpu", num_workers=0)


def test_worklist_lists_cases_and_opens_them_by_double_click_and_n_p(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    win = make_window(qtbot, tmp_path)
    try:
        win.cohort.open_action.trigger()  # File → Open Cohort Folder… with the folder "chosen"
        assert win.cohort.cohort is None  # ScriptedDialogs.folder is None: nothing opened
        win.dialogs.folder = root
        win.cohort.open_action.trigger()
        panel = win.cohort.panel
        assert win.cohort.dock.isVisible()
        model = panel.model
        rows = {model.index(r, 0).data(): r for r in range(model.rowCount())}
        assert set(rows) == {"broken", "case1", "case2", "case3", "case4"}
        assert "no MRI volumes" in model.index(rows["broken"], 15).data()
        assert model.index(rows["broken"], 4).data() == "cannot open"
        assert model.index(rows["case3"], 2).data() == "no" and model.index(rows["case1"], 2).data() == "yes"
        assert model.index(rows["case2"], 1).data() == "T1, T1CE, T2, FLAIR"

        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000) as shown:
            double_click_row(qtbot, win, "case2")
        assert shown.args == ["case2"] and win.state.patient.name == "case2"
        assert "case2" in win.windowTitle()
        # Next case is read in the background while the reviewer looks at this one.
        qtbot.waitUntil(lambda: win.cohort.prefetcher.has("case3"), timeout=20_000)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=5_000) as shown:
            press(qtbot, win, Qt.Key.Key_N)
        assert shown.args == ["case3"] and win.state.patient.name == "case3"
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000) as shown:
            press(qtbot, win, Qt.Key.Key_P)
        assert shown.args == ["case2"]
        # Sorting by case descending changes what "next" means; "broken" is skipped.
        panel.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        assert win.cohort.order() == ["case4", "case3", "case2", "case1"]
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000) as shown:
            press(qtbot, win, Qt.Key.Key_N)
        assert shown.args == ["case1"]
        # Opening a case marks it in progress; the others stay to do.
        assert win.cohort.cohort.case("case1").review.status == IN_PROGRESS
        assert win.cohort.cohort.case("case4").review.status == TODO
        # Filter: typing narrows the table and N / P follow it.
        qtbot.keyClicks(panel.filter_edit, "case4")
        assert panel.proxy.rowCount() == 1 and win.cohort.order() == ["case4"]
        # A failing folder opened from the list says why.
        panel.filter_edit.clear()
        double_click_row(qtbot, win, "broken")
        assert win.dialogs.errors and "no MRI volumes" in win.dialogs.errors[-1][1]
        assert win.state.patient.name == "case1"  # what the user had stays
    finally:
        close_window(win)


def test_status_and_comment_survive_reopening_the_cohort(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    win = make_window(qtbot, tmp_path)
    try:
        win.cohort.open_cohort(root)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            double_click_row(qtbot, win, "case1")
        panel = win.cohort.panel
        combo = panel.status_combo
        assert combo.currentData() == IN_PROGRESS
        combo.setFocus()
        with qtbot.waitSignal(win.cohort.review_saved, timeout=5_000):
            qtbot.keyClick(combo, Qt.Key.Key_Down)  # in progress -> done
        assert win.cohort.cohort.case("case1").review.status == DONE
        qtbot.mouseClick(panel.comment_edit, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(panel.comment_edit, "rim looks right")
        with qtbot.waitSignal(win.cohort.review_saved, timeout=5_000):
            qtbot.keyClick(panel.comment_edit, Qt.Key.Key_Return)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            press(qtbot, win, Qt.Key.Key_N)
        combo.setFocus()
        qtbot.keyClick(combo, Qt.Key.Key_End)  # flagged
        assert win.cohort.cohort.case("case2").review.status == FLAGGED
    finally:
        close_window(win)

    data = json.loads((root / "brats-review.json").read_text())
    assert data["cases"]["case1"]["status"] == "done"
    assert data["cases"]["case1"]["comment"] == "rim looks right" and data["cases"]["case1"]["user"]
    win = make_window(qtbot, tmp_path)
    try:
        win.cohort.open_cohort(root)
        model = win.cohort.panel.model
        row = model.row_of("case1")
        assert model.index(row, 4).data() == "done" and model.index(row, 5).data() == "rim looks right"
        assert model.index(model.row_of("case2"), 4).data() == "flagged"
        # The status filter shows only flagged cases.
        status_filter = win.cohort.panel.status_filter
        status_filter.setCurrentIndex(status_filter.findData(FLAGGED))
        assert win.cohort.order() == ["case2"]
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            press(qtbot, win, Qt.Key.Key_N)
        assert win.cohort.panel.comment_edit.text() == "" and win.cohort.panel.status_combo.currentData() == FLAGGED
    finally:
        close_window(win)


def test_segment_all_reports_progress_cancels_and_resumes(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    model = tiny_model(tmp_path)
    win = make_window(qtbot, tmp_path)
    try:
        win.segment.load_model(model.path)
        win.segment.batch_size = 4
        gated = GatedPredict()
        win.segment.predict = gated
        win.cohort.open_cohort(root)
        panel = win.cohort.panel
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            double_click_row(qtbot, win, "case1")
        assert win.state.layer("Prediction") is None
        qtbot.mouseClick(panel.segment_all_button, Qt.MouseButton.LeftButton)
        assert gated.paused.wait(30)
        assert panel.progress.isVisible() and panel.progress.text().startswith("0 / 4")
        assert not panel.segment_all_button.isEnabled()
        with qtbot.waitSignal(win.cohort.segment_all_ended, timeout=30_000) as ended:
            qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        assert ended.args == ["cancelled"]
        cohort = win.cohort.cohort
        assert len(cohort.pending()) == 4  # the case in progress was not written
        assert "run it again" in win.statusBar().currentMessage()

        win.segment.predict = None
        with qtbot.waitSignal(win.cohort.segment_all_ended, timeout=60_000) as ended:
            win.cohort.segment_all_action.trigger()  # Segment → Segment All Cases
        assert ended.args == ["finished"] and cohort.pending() == []
        # The open case got its prediction on screen; the rows show volumes and Dice.
        layer = win.state.layer("Prediction")
        assert layer is not None and not layer.modified
        on_disk = load_case(Cohort(root), Cohort(root).case("case1")).prediction
        assert np.array_equal(layer.data, on_disk)
        m = panel.model
        row = m.row_of("case1")
        assert m.index(row, 3).data() == "yes" and float(m.index(row, 6).data()) > 0
        assert m.index(row, 12).data() not in (None, "")
        assert m.index(m.row_of("case3"), 12).data() is None  # no ground truth: no Dice
        assert m.index(m.row_of("broken"), 3).data() == "no"
        sidecar = json.loads((root / "brats-review.json").read_text())["cases"]
        assert float(m.index(m.row_of("case2"), 6).data()) == pytest.approx(sidecar["case2"]["ai_volumes_ml"]["WT"], abs=0.06)
        assert sidecar["case2"]["ai_volumes_ml"]["WT"] > 0
        # Nothing left: a third run does not start.
        assert win.cohort.segment_all() is False
    finally:
        close_window(win)


def test_saving_a_correction_records_it_and_unsaved_edits_are_asked_about(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    predict_all(root, tiny_model(tmp_path))
    dialogs = CohortDialogs()
    win = make_window(qtbot, tmp_path, dialogs)
    try:
        win.cohort.open_cohort(root)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            double_click_row(qtbot, win, "case2")
        layer = win.state.layer("Prediction")
        patient = win.state.patient
        layer.data[...] = patient.ground_truth  # the reviewer corrects everything
        layer.notify_changed(None)
        assert layer.modified
        dialogs.confirm_answer = False  # Cancel
        press(qtbot, win, Qt.Key.Key_N)
        assert win.cohort.current_key == "case2" and win.state.patient is patient
        # Ctrl+S writes the case's corrected file (no dialog: the cohort chose the name).
        win.axial_view.setFocus()
        qtbot.keyClick(win.axial_view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        corrected = root / "case2" / "case2_corrected.nii.gz"
        assert corrected.exists() and not layer.modified
        review = win.cohort.cohort.case("case2").review
        assert review.dice_corrected_vs_gt == {"WT": 1.0, "TC": 1.0, "ET": 1.0}
        assert review.dice_ai_vs_corrected == review.dice_ai_vs_gt
        assert review.corrected_volumes_ml["WT"] > 0
        m = win.cohort.panel.model
        assert m.index(m.row_of("case2"), 3).data() == "corrected"
        assert float(m.index(m.row_of("case2"), 9).data()) == pytest.approx(review.corrected_volumes_ml["WT"], abs=0.06)
        # Moving away and back shows the correction, not the AI labels.
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            press(qtbot, win, Qt.Key.Key_N)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            press(qtbot, win, Qt.Key.Key_P)
        assert np.array_equal(win.state.layer("Prediction").data, load_patient(root / "case2").ground_truth)
        # Discard: edits dropped, the next case opens.
        layer = win.state.layer("Prediction")
        layer.data[layer.data == 2] = 0
        layer.notify_changed(None)
        dialogs.confirm_answer = True  # Discard
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            press(qtbot, win, Qt.Key.Key_N)
        assert win.cohort.current_key == "case3"
        assert np.array_equal(load_case(Cohort(root), Cohort(root).case("case2")).corrected,
                              load_patient(root / "case2").ground_truth)

        dialogs.csv_path = tmp_path / "summary.csv"
        win.cohort.export_action.trigger()  # File → Export Review Summary…
        text = (tmp_path / "summary.csv").read_text()
        assert text.splitlines()[0].startswith("case,folder,status,comment")
        assert "case2_corrected" not in text and len(text.splitlines()) == 6
    finally:
        close_window(win)


def test_read_only_cohort_writes_its_review_to_a_chosen_folder(qtbot, tmp_path):
    root = make_cohort(tmp_path, broken=False)
    mode = root.stat().st_mode
    folders = [root, *root.iterdir()]
    out = tmp_path / "review-out"
    out.mkdir()
    dialogs = CohortDialogs()
    for folder in folders:
        folder.chmod(0o555)
    try:
        dialogs.chosen_folders = [None]
        win = make_window(qtbot, tmp_path, dialogs)
        assert win.cohort.open_cohort(root) is None and "read-only" in dialogs.chooser_titles[0]
        dialogs.chosen_folders = [out]
        cohort = win.cohort.open_cohort(root)
        assert cohort is not None and cohort.output_dir == out.resolve()
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            double_click_row(qtbot, win, "case4")
        combo = win.cohort.panel.status_combo
        combo.setFocus()
        qtbot.keyClick(combo, Qt.Key.Key_End)
        assert json.loads((out / "brats-review.json").read_text())["cases"]["case4"]["status"] == "flagged"
        close_window(win)
        # Reopened: the chosen folder is remembered, nobody is asked again.
        win = make_window(qtbot, tmp_path, dialogs)
        cohort = win.cohort.open_cohort(root)
        assert len(dialogs.chooser_titles) == 2 and cohort.output_dir == out.resolve()
        assert cohort.case("case4").review.status == FLAGGED
        close_window(win)
    finally:
        for folder in folders:
            folder.chmod(mode)


@pytest.mark.realdata
def test_real_brats2018_cohort_opens_as_a_worklist(qtbot, tmp_path, shared_data):
    win = make_window(qtbot, tmp_path)
    try:
        cohort = win.cohort.open_cohort(shared_data / "brats2018-train", output_dir=tmp_path / "out")
        assert cohort is not None and win.cohort.panel.model.rowCount() == 31
        assert win.cohort.panel.proxy.rowCount() == 31
        with qtbot.waitSignal(win.cohort.case_shown, timeout=60_000) as shown:
            press(qtbot, win, Qt.Key.Key_N)
        assert shown.args == ["Brats18_2013_11_1"] and win.state.patient.shape == (240, 240, 155)
        assert win.state.layer("Ground truth") is not None
    finally:
        win.cohort.shutdown()
        close_window(win)


def test_run_on_an_open_case_becomes_its_ai_prediction(qtbot, tmp_path):
    root = make_cohort(tmp_path)
    model = tiny_model(tmp_path)
    win = make_window(qtbot, tmp_path)
    try:
        win.segment.load_model(model.path)
        win.segment.info_dialog.close()  # Load Model shows the model card; back to the main window
        win.activateWindow()
        qtbot.waitUntil(win.isActiveWindow, timeout=5_000)
        win.cohort.open_cohort(root)
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            double_click_row(qtbot, win, "case4")
        with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
            win.axial_view.setFocus()
            qtbot.keyClick(win.axial_view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # Segment → Run
        target = root / "case4" / "case4_prediction.nii.gz"
        assert target.exists()
        layer = win.state.layer("Prediction")
        assert np.array_equal(load_case(Cohort(root), Cohort(root).case("case4")).prediction, layer.data)
        assert win.annotation.editor.layer is layer
        m = win.cohort.panel.model
        assert m.index(m.row_of("case4"), 3).data() == "yes" and m.index(m.row_of("case4"), 12).data()
        assert [c.key for c in win.cohort.cohort.pending()] == ["case1", "case2", "case3"]
    finally:
        close_window(win)


def test_cohort_screenshot_command(tmp_path, capsys):
    from PySide6.QtGui import QImage

    from brats_desktop.app.main import main

    root = make_cohort(tmp_path)
    png = tmp_path / "worklist.png"
    out = tmp_path / "out"
    assert main(["--cohort", str(root), "--cohort-output", str(out), "--screenshot", str(png), "--size", "1200x900"]) == 0
    image = QImage(str(png))
    assert image.width() == 1200 and image.height() >= 900
    # The first openable case was opened (and so marked in progress) in the chosen output folder.
    review = json.loads((out / "brats-review.json").read_text())["cases"]
    assert review["case1"]["status"] == "in progress" and review["case2"]["status"] == "to do"
    assert main(["--cohort", str(root / "case1"), "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "cannot open the cohort" in capsys.readouterr().err


def test_segment_all_without_any_model_says_so_once(qtbot, tmp_path, monkeypatch):
    import models.checkpoint

    monkeypatch.setattr(models.checkpoint, "bundled_models", lambda: [])
    root = make_cohort(tmp_path)
    win = make_window(qtbot, tmp_path)
    try:
        win.cohort.open_cohort(root)
        qtbot.mouseClick(win.cohort.panel.segment_all_button, Qt.MouseButton.LeftButton)
        assert len(win.dialogs.errors) == 1 and "Load Model" in win.dialogs.errors[0][1]
        assert not win.cohort.running and not win.cohort.panel.progress.isVisible()
        assert len(win.cohort.cohort.pending()) == 4
    finally:
        close_window(win)
