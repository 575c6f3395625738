"""Segment → Accurate chooses the model tier in the real window; the layer, Model Information and Export say which."""

from __future__ import annotations

import json

import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from brats_desktop.app.inference.controller import ACCURATE_KEY, SegmentController
from brats_desktop.app.main_window import MainWindow
from brats_desktop.core.patient import patient_from_arrays
from brats_desktop.core.prediction_sidecar import read_sidecar
from inference_support import RecordingDialogs, click_menu_action, close_window, synthetic_arrays, tiny_model
from tier_support import any_sequence_model, install_three_plane_bundle, write_manifest

torch.set_num_threads(1)


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    folder, models = install_three_plane_bundle(tmp_path, monkeypatch)
    return folder, models


@pytest.fixture
def window(qtbot, tmp_path, bundle):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    dialogs = RecordingDialogs()
    win = MainWindow(settings=settings, dialogs=dialogs)
    qtbot.addWidget(win)
    win.segment.batch_size = 6
    win.show()
    qtbot.waitExposed(win)
    # The device probe (this machine has no CUDA GPU) shows the default before any choice.
    qtbot.waitUntil(lambda: win.segment.device_label.text() != "Device: …", timeout=10_000)
    yield win
    close_window(win)


def _run(qtbot, win):
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        qtbot.mouseClick(win.segment.toolbar.widgetForAction(win.segment.run_action), Qt.MouseButton.LeftButton)
    return win.segment.last_run


def _layer_box(win):
    return win.layers_panel.controls_for("Prediction")


def test_toggling_accurate_changes_the_next_run_and_the_layer_says_so(qtbot, window, tmp_path):
    win = window
    images, labels = synthetic_arrays(seed=3)
    win.show_patient(patient_from_arrays("synthetic-3", images, labels))
    action = win.segment.accurate_action
    assert not action.isChecked() and win.settings.value(ACCURATE_KEY) is None  # CPU: Fast, nothing chosen yet
    assert win.segment.tier_request == "auto" and win.segment.resolved_tier() == "fast"

    fast = _run(qtbot, win)
    assert fast.tier == "fast" and len(fast.producer["members"]) == 1
    assert _layer_box(win).origin.text() == "— Fast"

    click_menu_action(qtbot, win.menu("Segment"), action)
    assert action.isChecked() and win.settings.value(ACCURATE_KEY) in (True, "true")

    accurate = _run(qtbot, win)
    assert accurate.tier == "accurate"
    assert [m["file"] for m in accurate.producer["members"]] == ["axial/tiny.pt", "coronal/tiny.pt", "sagittal/tiny.pt"]
    box = _layer_box(win)
    assert box.origin.text() == "— Accurate" and box.origin.isVisible()
    assert "3 models: axial + coronal + sagittal" in box.origin.toolTip() and "sagittal/tiny.pt" in box.origin.toolTip()
    assert "(Accurate)" in win.statusBar().currentMessage()

    info = win.segment.show_model_info()
    text = info.browser.toPlainText()
    assert "Fast tier" in text and "Accurate tier" in text and "coronal/tiny.pt" in text
    info.close()

    win.dialogs.save_paths.append(tmp_path / "exported.nii.gz")
    written = win.export_layer("Prediction")
    sidecar = read_sidecar(written)
    assert sidecar is not None and sidecar["tier"] == "accurate" and sidecar["edited"] is False
    assert sidecar["patient"] == "synthetic-3" and len(sidecar["members"]) == 3

    again = SegmentController(win, win.state, settings=win.settings)  # the choice is remembered
    assert again.accurate_action.isChecked() and again.tier_request == "accurate"


def test_the_default_follows_a_cuda_device_until_the_user_chooses(qtbot, window):
    segment = window.segment
    segment._device_found.emit("GPU: test", "cuda")
    qtbot.waitUntil(segment.accurate_action.isChecked, timeout=5_000)
    assert window.settings.value(ACCURATE_KEY) is None  # shown, not remembered
    segment.accurate_action.trigger()  # the user's choice: Fast, kept even on a GPU
    segment._device_found.emit("GPU: test", "cuda")
    qtbot.wait(50)
    assert not segment.accurate_action.isChecked() and segment.tier_request == "fast"


def test_segment_all_runs_the_chosen_tier(qtbot, window, tmp_path):
    from cohort_support import make_cohort

    root = make_cohort(tmp_path, broken=False)
    window.segment.accurate_action.trigger()  # Accurate, chosen
    window.cohort.open_cohort(root)
    with qtbot.waitSignal(window.cohort.segment_all_ended, timeout=120_000) as ended:
        qtbot.mouseClick(window.cohort.panel.segment_all_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["finished"] and window.cohort.cohort.pending() == []
    review = json.loads((root / "brats-review.json").read_text())["cases"]
    assert {entry["ai_tier"] for entry in review.values()} == {"accurate"}
    assert all("3 models" in entry["ai_model"] for entry in review.values())


def test_a_patient_without_t1ce_gets_the_any_sequence_model_and_its_dice(qtbot, window, bundle):
    folder, _ = bundle
    dice = {"flair+t2": {"WT": 0.81, "TC": 0.62, "ET": 0.48, "n": 31}}
    any_sequence_model(folder, subset_dice=dice)
    write_manifest(folder, ["axial/tiny.pt"], ["axial/tiny.pt"], any_sequence=["any.pt"])
    images, labels = synthetic_arrays(seed=5)
    window.show_patient(patient_from_arrays("no-t1ce", {m: images[m] for m in ("flair", "t2")}, labels))
    run = _run(qtbot, window)
    assert run.tier == "any_sequence" and run.producer["missing"] == ["t1ce"]
    box = _layer_box(window)
    assert box.origin.text() == "— Any-sequence: FLAIR + T2 (out-of-fold Dice WT 0.81, TC 0.62, ET 0.48)"
    assert "Out-of-fold Dice with FLAIR + T2: WT 0.81, TC 0.62, ET 0.48 (31 patients)" in box.origin.toolTip()
    assert not window.dialogs.errors
