"""Segment → Accurate on a loaded checkpoint (its flip test-time augmentation) in the real main window,
and brats-predict --tta. The tiers themselves: tests/test_tiers_app.py."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from brats_desktop.app.inference.controller import ACCURATE_KEY, SegmentController
from brats_desktop.app.main_window import MainWindow
from brats_desktop.core.patient import patient_from_arrays
from inference_support import RecordingDialogs, click_menu_action, close_window, synthetic_arrays, tiny_model, write_patient_folder
from models.tta import predict_with_tta

torch.set_num_threads(1)


@pytest.fixture
def model(tmp_path):
    return tiny_model(tmp_path)


@pytest.fixture
def window(qtbot, tmp_path, model):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, dialogs=RecordingDialogs())
    qtbot.addWidget(win)
    win.segment.batch_size = 4
    win.segment.load_model(model.path)
    win.segment.info_dialog.close()
    win.show()
    qtbot.waitExposed(win)
    yield win
    close_window(win)


def test_accurate_action_runs_flip_tta_and_is_remembered(qtbot, window, model):
    win = window
    images, labels = synthetic_arrays(seed=3)
    patient = patient_from_arrays("synthetic-3", images, labels)
    win.show_patient(patient)
    menu = win.menu("Segment")
    action = win.segment.accurate_action
    assert action in menu.actions() and action.isCheckable() and not action.isChecked()

    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        win.segment.run_action.trigger()
    assert win.segment.last_run.tta == "none"  # CPU default

    click_menu_action(qtbot, menu, action)
    assert action.isChecked()
    assert win.settings.value(ACCURATE_KEY) in (True, "true")

    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        button = win.segment.toolbar.widgetForAction(win.segment.run_action)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    run = win.segment.last_run
    assert run.tta == "flip"
    expected = predict_with_tta(model, {m: images[m] for m in model.modalities}, tta="flip")
    np.testing.assert_array_equal(run.raw_labels, expected.labels)
    assert run.probabilities is not None and run.probabilities.shape == (4, *patient.shape)

    again = SegmentController(win, win.state, settings=win.settings)
    assert again.accurate_action.isChecked() and again.tier_request == "accurate"
    again.load_model(model.path)  # Accurate on a loaded checkpoint is its flip TTA
    again.info_dialog.close()
    assert again.tta == "flip"


def test_brats_predict_tta_flag(tmp_path, model):
    from brats_desktop.cli.predict import main

    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00009-000")
    out = tmp_path / "pred.nii.gz"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main([str(folder), "--model", str(model.path), "--out", str(out), "--tta", "flip", "--device", "cpu"])
    assert code == 0 and out.exists()
    record = json.loads(buffer.getvalue())
    assert record["tta"] == "flip"
