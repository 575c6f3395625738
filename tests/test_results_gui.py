"""File → Export → DICOM Segmentation… and File → Export Report… in the window (scripted dialogs).

The SEG/SR of an imported patient match the Measurements dock; an edited prediction is
exported as SEMIAUTOMATIC; a NIfTI-only patient gets the entry disabled with the reason and
still gets a report; a source series moved since the import is named and nothing is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

hd = pytest.importorskip("highdicom")
pytest.importorskip("SimpleITK")

from dicom_support import import_t1ce, tumour_labels, write_t1ce_series  # noqa: E402
from inference_support import write_patient_folder  # noqa: E402
from viewer_support import ScriptedDialogs, isolated_settings  # noqa: E402

from brats_desktop.app.main_window import MainWindow  # noqa: E402
from brats_desktop.core.patient import load_patient  # noqa: E402


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("results")
    write_t1ce_series(tmp / "raw")
    return import_t1ce(tmp / "raw", tmp / "raw-brats")


def _window(qtbot, tmp_path, patient_folder: Path, labels=None):
    dialogs = ScriptedDialogs()
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=dialogs)
    qtbot.addWidget(win)
    win.resize(1300, 900)
    win.show()
    patient = load_patient(patient_folder)
    win.show_patient(patient)
    labels = tumour_labels(patient.images["t1ce"].shape) if labels is None else labels
    win.state.replace_layer("Prediction", labels, kind="prediction", modified=False)  # as read from a file
    return win, dialogs


def _close(win) -> None:
    win.results.app.workers.wait()
    win.segment.shutdown()
    win.state.set_patient(None)
    win.close()
    win.deleteLater()
    QApplication.processEvents()


def _export_menu_action(win, text: str):
    menu = win.results.app.menu("File/Export")
    return next(a for a in menu.actions() if a.text().replace("&", "").startswith(text))


def _sr_volumes(path: Path) -> dict[str, float]:
    sr = hd.sr.srread(path)
    return {g.tracking_identifier.split(":")[0].split(" (")[0]: float(g.get_measurements()[0].value)
            for g in sr.content.get_volumetric_roi_measurement_groups() if "lesion" not in g.tracking_identifier}


def test_dicom_export_matches_the_measurements_dock_and_an_edit_makes_it_semiautomatic(qtbot, tmp_path, imported):
    win, dialogs = _window(qtbot, tmp_path, imported)
    try:
        action = _export_menu_action(win, "DICOM Segmentation")
        assert action.isEnabled() and "Unavailable" not in action.toolTip()
        dialogs.save_to = tmp_path / "out" / "mine.seg.dcm"
        with qtbot.waitSignal(win.results.dicom_written, timeout=30000):
            action.trigger()  # written in the background; the entry is off meanwhile
            assert not action.isEnabled() and "being written" in action.toolTip()
        assert action.isEnabled()
        assert dialogs.errors == []
        assert dialogs.suggested.name == "raw_prediction.seg.dcm"  # the naming scheme, beside the patient
        seg_path, sr_path = tmp_path / "out" / "mine.seg.dcm", tmp_path / "out" / "mine.sr.dcm"
        assert seg_path.is_file() and sr_path.is_file()
        assert hd.seg.segread(seg_path).SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
        panel = win.measure.panel
        panel.set_layer("Prediction")
        panel.refresh()
        table = {row[0]: float(row[1]) for row in panel.rows() if row[0] in ("NCR", "ED", "ET", "WT", "TC")}
        sr = _sr_volumes(sr_path)
        names = {"Whole tumour": "WT", "Tumour core": "TC"}
        assert {names.get(k, k): v for k, v in sr.items()}.keys() == table.keys()
        for key, value in sr.items():
            assert abs(value - table[names.get(key, key)]) <= 0.01
        assert "mine.seg.dcm" in win.statusBar().currentMessage()

        layer = win.state.layer("Prediction")  # a person corrects one voxel: SEMIAUTOMATIC from now on
        layer.data[tuple(np.argwhere(layer.data == 2)[0])] = 0
        layer.notify_changed(None)
        dialogs.confirm_answer = True
        with qtbot.waitSignal(win.results.dicom_written, timeout=30000):
            action.trigger()  # same name: asked to replace, and replaced
        assert any("already exist" in q for q in dialogs.questions)
        assert hd.seg.segread(seg_path).SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    finally:
        _close(win)


def test_a_nifti_patient_has_the_dicom_entry_disabled_with_the_reason_and_gets_a_report(qtbot, tmp_path):
    from pypdf import PdfReader

    folder, _, labels = write_patient_folder(tmp_path, "BraTS-GLI-00077-000", shape=(64, 64, 40))
    win, dialogs = _window(qtbot, tmp_path, folder, labels=np.roll(labels, 1, axis=0))
    try:
        action = _export_menu_action(win, "DICOM Segmentation")
        assert not action.isEnabled()
        assert "no source DICOM series" in action.toolTip() and "NIfTI" in action.statusTip()
        assert win.results.app.menu("File/Export").toolTipsVisible()
        report = next(a for a in win.menus["File"].actions() if a.text().replace("&", "") == "Export Report…")
        assert report.isEnabled()
        dialogs.save_to = tmp_path / "r.pdf"
        dialogs.choice = "Prediction"
        report.trigger()
        assert dialogs.errors == [] and dialogs.name_filter == "PDF (*.pdf)"
        assert dialogs.suggested.name == "BraTS-GLI-00077-000-report.pdf"
        text = " ".join(PdfReader(tmp_path / "r.pdf").pages[0].extract_text().split())
        assert "BraTS-GLI-00077-000" in text and "Dice against the loaded ground truth" in text
    finally:
        _close(win)


def test_a_moved_source_series_is_named_and_nothing_is_written(qtbot, tmp_path, imported):
    copy = tmp_path / "case"
    shutil.copytree(imported, copy)
    raw = imported.parent / "raw"
    win, dialogs = _window(qtbot, tmp_path, copy)
    moved = raw.with_name("raw-moved")
    raw.rename(moved)
    try:
        dialogs.save_to = tmp_path / "out" / "x.seg.dcm"
        with qtbot.waitSignal(win.results.export_failed, timeout=30000):
            _export_menu_action(win, "DICOM Segmentation").trigger()
        assert [t for t, _ in dialogs.errors] == ["DICOM export failed"]
        assert "AX T1 POST" in dialogs.errors[0][1] and "no longer there" in dialogs.errors[0][1]
        assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    finally:
        moved.rename(raw)
        _close(win)


def test_provenance_follows_the_last_ai_run_then_edits_then_the_layer_kind():
    from brats_desktop.app.results.controller import provenance_of
    from brats_desktop.app.state import LabelLayer
    from brats_desktop.core.provenance import Provenance

    ai = np.zeros((8, 8, 8), np.uint8)
    ai[2:5, 2:5, 2:5] = 3
    fresh = LabelLayer("Prediction", ai.copy(), "prediction")
    fresh.set_modified(True)  # a new run is unsaved, not edited
    assert provenance_of(fresh, ai) is Provenance.AUTOMATIC
    fresh.data[2, 2, 2] = 1
    assert provenance_of(fresh, ai) is Provenance.CORRECTED
    loaded = LabelLayer("Prediction", ai.copy(), "prediction", source_path=Path("x_corrected.nii.gz"))
    assert provenance_of(loaded, None) is Provenance.CORRECTED
    assert provenance_of(LabelLayer("Prediction", ai.copy(), "prediction"), None) is Provenance.AUTOMATIC
    assert provenance_of(LabelLayer("Annotation", ai.copy(), "annotation"), ai) is Provenance.MANUAL


def test_a_cohort_gets_a_report_per_case_with_a_prediction_and_the_review_summary(qtbot, tmp_path):
    from pypdf import PdfReader

    from brats_desktop.core.nifti_io import write_label_map
    from cohort_support import make_cohort

    root = make_cohort(tmp_path, broken=False)
    dialogs = ScriptedDialogs()
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=dialogs)
    qtbot.addWidget(win)
    win.show()
    try:
        action = win.results.cohort_reports_action
        assert not action.isEnabled()  # no cohort open
        win.cohort.open_cohort(root)
        assert action.isEnabled()
        cohort = win.cohort.cohort
        for key, corrected in (("case1", False), ("case2", True)):
            record = cohort.case(key)
            patient = load_patient(record.folder)
            labels = np.roll(patient.ground_truth, 1, axis=0)
            write_label_map(labels, patient.grid, cohort.prediction_path(record), patient.convention)
            if corrected:
                write_label_map(patient.ground_truth, patient.grid, cohort.corrected_path(record), patient.convention)
        with qtbot.waitSignal(win.results.cohort_reports_written, timeout=60_000) as blocker:
            action.trigger()
            assert not action.isEnabled()  # one run at a time
        written, summary, failures = blocker.args
        assert failures == [] and len(written) == 2 and action.isEnabled()
        texts = {}
        for path in written:
            reader = PdfReader(path)
            assert len(reader.pages) == 1
            texts[path.parent.name] = " ".join(reader.pages[0].extract_text().split())
        assert "Automatic (AI, not edited)" in texts["case1"]
        assert "AI, corrected by a person" in texts["case2"]
        text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(summary).pages)
        assert "Review summary" in text and all(name in text for name in ("case1", "case2", "case3", "case4"))
        assert "review-summary.pdf" in win.statusBar().currentMessage()
    finally:
        _close(win)
