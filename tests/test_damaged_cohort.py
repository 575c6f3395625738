"""A case with one truncated file behaves one way everywhere: the worklist, Segment All and ``brats-predict COHORT``
open and segment what is readable, and name the damaged file in the Problem column, the summary and the final message.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from PySide6.QtCore import Qt

from brats_desktop.cli.predict import main
from cohort_support import make_cohort
from inference_support import close_window, tiny_model
from test_cohort_worklist import CohortDialogs, double_click_row, make_window

torch.set_num_threads(1)
MODALITIES, PROBLEM = 1, 15


def _truncate(path: Path) -> Path:
    """Keep the gzip header, cut the data short: a copy that stopped halfway."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return path


def damaged_cohort(tmp_path: Path) -> tuple[Path, Path, Path]:
    """case2 lacks a readable T2 (the model does not need it); case4 lacks a readable FLAIR (the model needs it)."""
    root = make_cohort(tmp_path, broken=False)
    t2 = _truncate(root / "case2" / "case2_t2.nii.gz")
    flair = _truncate(root / "case4" / "case4_flair.nii.gz")
    return root, t2, flair


def test_worklist_and_segment_all_open_what_is_readable_and_name_the_damaged_file(qtbot, tmp_path):
    root, t2, flair = damaged_cohort(tmp_path)
    model = tiny_model(tmp_path)  # needs FLAIR + T1CE
    dialogs = CohortDialogs()
    win = make_window(qtbot, tmp_path, dialogs)
    try:
        win.segment.load_model(model.path)
        win.segment.batch_size = 4
        win.cohort.open_cohort(root)
        panel = win.cohort.panel
        m = panel.model
        with qtbot.waitSignal(win.cohort.case_shown, timeout=20_000):
            double_click_row(qtbot, win, "case2")
        assert win.state.patient.name == "case2" and "t2" not in win.state.patient.images
        row = m.row_of("case2")
        assert m.index(row, MODALITIES).data() == "T1, T1CE, FLAIR"  # the damaged T2 is not listed
        assert t2.name in m.index(row, PROBLEM).data() and "truncated" in m.index(row, PROBLEM).data()
        qtbot.waitUntil(lambda: bool(dialogs.errors), timeout=5_000)  # as File → Open Patient Folder says it
        assert dialogs.errors[-1][0] == "Some files were not opened" and t2.name in dialogs.errors[-1][1]

        with qtbot.waitSignal(win.cohort.segment_all_ended, timeout=60_000) as ended:
            qtbot.mouseClick(panel.segment_all_button, Qt.MouseButton.LeftButton)
        assert ended.args == ["finished"]
        cohort = win.cohort.cohort
        assert cohort.has_prediction(cohort.case("case2"))  # segmented without its T2
        assert not cohort.has_prediction(cohort.case("case4"))  # the model needs the damaged FLAIR
        row4 = m.row_of("case4")
        assert flair.name in m.index(row4, PROBLEM).data()
        assert m.index(row4, MODALITIES).data() == "T1, T1CE, T2"
        message = win.statusBar().currentMessage()
        assert "3 case(s) segmented, 1 failed, 2 with a damaged file left out" in message
        assert f"{flair.name} could not be read" in message

        summary = tmp_path / "summary.csv"
        win.cohort.export_summary(summary)
        with open(summary, newline="") as fh:
            rows = {r["folder"]: r for r in csv.DictReader(fh)}
        assert t2.name in rows["case2"]["problem"] and flair.name in rows["case4"]["problem"]
        assert rows["case1"]["problem"] == ""
    finally:
        close_window(win)


def test_brats_predict_cohort_segments_what_is_readable_and_counts_the_damaged_cases(tmp_path, capsys):
    root, t2, flair = damaged_cohort(tmp_path)
    model = tiny_model(tmp_path)
    assert main([str(root), "--model", str(model.path), "--device", "cpu", "--workers", "0"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["succeeded"], summary["failed"], summary["with_damaged_files"]) == (3, 1, 2)
    assert f"case2: done" in captured.err and f"left out {t2.name}" in captured.err
    with open(summary["csv"], newline="") as fh:
        rows = {r["patient"]: r for r in csv.DictReader(fh)}
    assert rows["case2"]["status"] == "done" and t2.name in rows["case2"]["skipped_files"]
    assert rows["case4"]["status"] == "failed" and f"{flair.name} could not be read" in rows["case4"]["error"]
    assert flair.name in rows["case4"]["skipped_files"]
    assert rows["case1"]["skipped_files"] == ""
