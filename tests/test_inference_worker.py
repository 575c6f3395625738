"""The inference worker and the Segment controller in the real main window.

A tiny random checkpoint (tests/inference_support.py) runs through the real
predict_volume on small synthetic patients, so these tests exercise the same code the
user's Run does, only on a smaller network and volume.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.app.inference.worker import InferenceWorker
from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.inference.controller import FORCE_CPU_KEY, SegmentController
from brats_desktop.app.state import PREDICTION
from brats_desktop.core.patient import patient_from_arrays
from inference_support import GatedPredict, RecordingDialogs, close_window, synthetic_arrays, tiny_model
from models.inference import postprocess_prediction, predict_volume

torch.set_num_threads(1)


@pytest.fixture
def model(tmp_path):
    return tiny_model(tmp_path)


@pytest.fixture
def patient():
    images, labels = synthetic_arrays(seed=3)
    return patient_from_arrays("synthetic-3", images, labels)


@pytest.fixture
def window(qtbot, tmp_path, model):
    dialogs = RecordingDialogs()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, dialogs=dialogs)
    qtbot.addWidget(win)
    win.segment.batch_size = 4  # several batches even on the tiny volume
    win.segment.load_model(model.path)
    win.segment.info_dialog.close()
    win.show()
    qtbot.waitExposed(win)
    yield win, dialogs
    close_window(win)


def _layer_names(win: MainWindow) -> list[str]:
    return [layer.name for layer in win.state.layers]


# --------------------------------------------------------------------------- worker alone


def test_worker_result_equals_direct_prediction_and_progress_is_monotonic(qtbot, model, patient):
    worker = InferenceWorker(model, patient, device="cpu", batch_size=4)
    seen: list[tuple[int, int]] = []
    started: list[bool] = []
    worker.progress.connect(lambda d, t: seen.append((d, t)))
    worker.started.connect(lambda: started.append(True))
    with qtbot.waitSignal(worker.finished, timeout=60_000) as blocker:
        worker.start()
    assert worker.wait(10_000)
    run = blocker.args[0]
    assert started == [True]
    expected = predict_volume(model, {m: patient.images[m] for m in model.modalities}, device="cpu")
    assert run.labels.shape == patient.shape
    np.testing.assert_array_equal(run.raw_labels, expected)
    np.testing.assert_array_equal(run.labels, postprocess_prediction(model, expected, run.ncr_definition))
    assert set(np.unique(run.labels)) <= {0, 1, 2, 3}
    QApplication.processEvents()
    done = [d for d, _ in seen]
    assert len(seen) >= 3, "several batches expected"
    assert done == sorted(done) and len(set(done)) == len(done)
    assert seen[-1][0] == seen[-1][1]  # reaches 100 %


def test_worker_cancel_mid_run_emits_cancelled_only(qtbot, model, patient):
    gated = GatedPredict()
    worker = InferenceWorker(model, patient, device="cpu", batch_size=4, predict=gated)
    finished: list[object] = []
    worker.finished.connect(finished.append)
    with qtbot.waitSignal(worker.cancelled, timeout=20_000):
        worker.start()
        assert gated.paused.wait(20)  # provably mid-run: first batch done, more to come
        worker.cancel()
    assert worker.wait(5_000)
    QApplication.processEvents()
    assert finished == []
    assert not gated.returned.is_set()


# --------------------------------------------------------------------------- in the window


def _run_by_click(qtbot, win: MainWindow) -> None:
    button = win.segment.toolbar.widgetForAction(win.segment.run_action)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_run_from_toolbar_shows_prediction_layer(qtbot, window, patient, model):
    win, dialogs = window
    win.show_patient(patient)
    progress: list[int] = []
    win.segment.progress_bar.valueChanged.connect(progress.append)
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000) as blocker:
        _run_by_click(qtbot, win)
        assert win.segment.running and win.segment.progress_bar.isVisible()
        assert not win.segment.run_action.isEnabled()
    layer = blocker.args[0]
    assert layer is win.state.layer("Prediction") and layer.kind == PREDICTION
    raw = predict_volume(model, {m: patient.images[m] for m in model.modalities}, device="cpu")
    run = win.segment.last_run
    np.testing.assert_array_equal(run.raw_labels, raw)
    np.testing.assert_array_equal(layer.data, postprocess_prediction(model, raw, run.ncr_definition))
    assert _layer_names(win) == ["Ground truth", "Prediction"]
    assert progress == sorted(progress) and progress[-1] == 100
    assert not win.segment.progress_bar.isVisible() and win.segment.run_action.isEnabled()
    assert win.segment.device_label.text().startswith("Device: CPU")
    assert not layer.modified  # a fresh prediction is not an unsaved edit
    # The metrics panel compares it with the ground truth.
    panel = win.segment.metrics_panel
    assert not panel.overlap_table.isHidden()
    assert panel.cell_text(panel.overlap_table, "WT", "Dice") != "—"
    assert dialogs.errors == []


def test_ctrl_r_runs_segmentation(qtbot, window, patient):
    win, _ = window
    win.show_patient(patient)
    win.activateWindow()
    win.axial_view.setFocus()
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        qtbot.keyClick(win.axial_view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert win.state.layer("Prediction") is not None


def test_cancel_button_mid_run_leaves_app_as_before(qtbot, window, patient):
    win, dialogs = window
    win.show_patient(patient)
    before = _layer_names(win)
    gated = GatedPredict()
    win.segment.predict = gated
    _run_by_click(qtbot, win)
    assert gated.paused.wait(20)
    assert win.segment.cancel_button.isVisible()
    qtbot.mouseClick(win.segment.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.segment.running, timeout=5_000)
    qtbot.waitUntil(lambda: win.segment.active_threads() == 0, timeout=5_000)
    QApplication.processEvents()
    assert _layer_names(win) == before  # no prediction layer
    assert win.state.layer("Prediction") is None
    assert not gated.returned.is_set()  # stopped inside predict_volume, not after it
    assert win.segment.run_action.isEnabled() and not win.segment.progress_bar.isVisible()
    assert "cancelled" in win.statusBar().currentMessage().lower()
    assert dialogs.errors == []


@pytest.mark.parametrize("honour_cancel", [True, False], ids=["cancelled", "result-arrives-late"])
def test_opening_another_patient_mid_run_discards_the_old_run(qtbot, window, patient, honour_cancel):
    win, dialogs = window
    win.show_patient(patient)
    gated = GatedPredict(honour_cancel=honour_cancel)
    win.segment.predict = gated
    _run_by_click(qtbot, win)
    assert gated.paused.wait(20)
    if not honour_cancel:
        gated.release()  # the old run completes anyway; its result must not be applied
    images, labels = synthetic_arrays(seed=9)
    other = patient_from_arrays("synthetic-9", images, labels)
    win.show_patient(other)  # cancels and waits for the worker
    assert win.segment.active_threads() == 0
    assert not win.segment.running
    for _ in range(20):
        QApplication.processEvents()
    assert win.state.patient is other
    assert _layer_names(win) == ["Ground truth"]
    np.testing.assert_array_equal(win.state.layer("Ground truth").data, labels)
    assert dialogs.errors == []


def test_missing_modalities_are_named_before_starting(qtbot, window):
    win, dialogs = window
    images, labels = synthetic_arrays(seed=4)
    partial = patient_from_arrays("t1-t2-only", {"t1": images["t1"], "t2": images["t2"]}, labels)
    win.show_patient(partial)
    _run_by_click(qtbot, win)
    assert not win.segment.running
    title, text = dialogs.errors[-1]
    assert "FLAIR" in text and "T1CE" in text and "t1-t2-only" in text
    assert win.state.layer("Prediction") is None


def test_closing_the_window_mid_run_stops_the_worker(qtbot, tmp_path, model, patient):
    dialogs = RecordingDialogs()
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, dialogs=dialogs)
    win.segment.load_model(model.path)
    win.segment.info_dialog.close()
    win.segment.batch_size = 4
    win.show()
    win.show_patient(patient)
    gated = GatedPredict()
    win.segment.predict = gated
    assert win.segment.run()
    assert gated.paused.wait(20)
    assert win.segment.active_threads() == 1
    assert win.close()
    assert win.segment.active_threads() == 0
    assert not gated.returned.is_set()
    win.deleteLater()
    QApplication.processEvents()


def test_force_cpu_setting_is_remembered(qtbot, tmp_path, window):
    win, _ = window
    assert win.segment.force_cpu_action in win.menu("Segment").actions()
    assert not win.segment.force_cpu
    win.segment.force_cpu_action.trigger()
    assert win.segment.force_cpu
    assert win.settings.value(FORCE_CPU_KEY) in (True, "true")
    again = SegmentController(win, win.state, settings=win.settings)
    assert again.force_cpu
    qtbot.waitUntil(lambda: again.device_label.text().startswith("Device: CPU"), timeout=5_000)


def test_load_model_shows_metadata_and_refuses_bad_files(qtbot, tmp_path, window):
    win, dialogs = window
    other = tiny_model(tmp_path / "other", modalities=("t1", "t2", "flair", "t1ce"), seed=1)
    dialogs.open_files.append(other.path)
    win.segment.load_model_action.trigger()
    assert win.segment.model.modalities == ["t1", "t2", "flair", "t1ce"]
    text = win.segment.info_dialog.browser.toPlainText()
    assert "tiny-test-unet" in text and "T1CE" in text and "FLAIR" in text and "test only" in text
    win.segment.info_dialog.close()

    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint")
    dialogs.open_files.append(bad)
    win.segment.load_model_action.trigger()
    title, message = dialogs.errors[-1]
    assert title == "Cannot load model" and "broken.pt" in message
    assert win.segment.model.path == other.path  # the previous model stays


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_worker_runs_on_cuda(qtbot, model, patient):
    worker = InferenceWorker(model, patient, device="cuda", batch_size=8)
    with qtbot.waitSignal(worker.finished, timeout=60_000) as blocker:
        worker.start()
    assert blocker.args[0].device == "cuda"
    worker.wait()


def test_rerun_asks_before_replacing_an_edited_prediction(qtbot, window, patient):
    win, dialogs = window
    win.show_patient(patient)
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        _run_by_click(qtbot, win)
    layer = win.state.layer("Prediction")
    layer.data[0, 0, 0] = 2  # a correction, as the brush would make it
    layer.notify_changed((slice(0, 1), slice(0, 1), slice(0, 1)))
    assert layer.modified
    dialogs.confirm_answers.append(False)
    _run_by_click(qtbot, win)
    assert not win.segment.running and "edits" in dialogs.confirms[-1]
    assert layer.data[0, 0, 0] == 2  # the edit is kept
    dialogs.confirm_answers.append(True)
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        _run_by_click(qtbot, win)
    assert win.state.layer("Prediction").data[0, 0, 0] == 0


def test_run_waits_for_a_progressive_load_to_finish(qtbot, tmp_path, window):
    from inference_support import write_patient_folder

    win, _ = window
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00042-000", "LPS", "2023")
    seen: list[tuple[bool, bool]] = []
    win.first_image_shown.connect(
        lambda: seen.append((win.state.loading, win.segment.run_action.isEnabled()))
    )
    with qtbot.waitSignal(win.patient_loaded, timeout=30_000):
        win.open_patient(folder)
    assert seen and all(enabled == (not loading) for loading, enabled in seen)
    assert win.segment.run_action.isEnabled()
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        _run_by_click(qtbot, win)
    assert win.state.layer("Prediction").data.shape == (40, 36, 24)


def test_the_bundled_tier_is_loaded_for_the_patient(qtbot, tmp_path, monkeypatch):
    import models.tiers as tiers
    from tier_support import write_manifest

    two = tiny_model(tmp_path / "two", modalities=("flair", "t1ce")).path
    four = tiny_model(tmp_path / "four", modalities=("flair", "t1ce", "t1", "t2"), seed=2).path
    write_manifest(tmp_path, ["two/tiny.pt"], ["two/tiny.pt", "four/tiny.pt"])
    monkeypatch.setattr(tiers, "BUNDLED_DIR", tmp_path)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    dialogs = RecordingDialogs()
    win = MainWindow(settings=settings, dialogs=dialogs)
    qtbot.addWidget(win)
    images, labels = synthetic_arrays(seed=5)
    win.show_patient(patient_from_arrays("all-four", images, labels))
    assert win.segment.model.key == "fast" and win.segment.model.paths == [two]  # no GPU: Fast
    win.segment.accurate_action.trigger()
    assert win.segment.model.paths == [two, four]
    pair = {m: images[m] for m in ("flair", "t1ce")}
    win.show_patient(patient_from_arrays("flair-t1ce", pair, labels))
    assert win.segment.run() is False  # an Accurate member needs T1 and T2: said before anything runs
    assert dialogs.errors[-1][0] == "Missing modalities" and "T1, T2" in dialogs.errors[-1][1]
    win.segment.accurate_action.trigger()  # Fast reads FLAIR + T1CE
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        win.segment.run_action.trigger()
    assert win.segment.last_run.tier == "fast"
    win.state.set_patient(None)
    win.close()


def test_gui_stays_usable_while_the_worker_runs(qtbot, window, patient):
    win, _ = window
    win.show_patient(patient)
    gated = GatedPredict()
    win.segment.predict = gated
    _run_by_click(qtbot, win)
    assert gated.paused.wait(20)  # the worker is busy in the middle of the volume
    z = win.state.cursor[2]
    qtbot.keyClick(win.axial_view, Qt.Key.Key_PageUp)
    assert win.state.cursor[2] == z + 1
    qtbot.mouseClick(win.display_panel.modality_buttons["t1"], Qt.MouseButton.LeftButton)
    assert win.state.modality == "t1"
    gt = win.state.layer("Ground truth")
    gt.set_visible(False)
    assert win.segment.running  # all of the above happened during the run
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=30_000):
        gated.release()
    assert win.state.cursor[2] == z + 1 and win.state.modality == "t1" and not gt.visible


def test_gpu_out_of_memory_falls_back_to_cpu_and_tells_the_user(qtbot, window, patient, monkeypatch):
    """A fake 'GPU' that is always out of memory: the app retries smaller, then uses the CPU."""
    from models import runtime

    monkeypatch.setattr(runtime, "select_device", lambda preference="auto", force_cpu=False: torch.device("cuda"))
    monkeypatch.setattr(runtime, "_release_gpu_memory", lambda device: None)
    monkeypatch.setattr(runtime, "describe_device", lambda device: f"fake {torch.device(device).type}")
    tried: list[tuple[str, int]] = []

    def oom_on_gpu(model, images, *, device, batch_size, **kwargs):
        tried.append((torch.device(device).type, batch_size))
        if torch.device(device).type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return predict_volume(model, images, device=device, batch_size=batch_size, **kwargs)

    win, dialogs = window
    win.show_patient(patient)
    win.segment.predict = oom_on_gpu
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        _run_by_click(qtbot, win)
    assert tried == [("cuda", 4), ("cuda", 2), ("cuda", 1), ("cpu", 4)]
    assert win.segment.last_run.device == "cpu"
    title, text = dialogs.errors[-1]
    assert "fell back" in title and "CPU" in text and "retrying with 2" in text
    assert "fake cpu" in win.segment.device_label.text()


def test_cancel_after_the_last_batch_discards_the_result_and_returns_to_idle(qtbot, window, patient):
    """Cancel pressed while a finished result is still queued to the GUI: nothing applied, not stuck."""
    win, _ = window
    win.show_patient(patient)
    before = _layer_names(win)
    assert win.segment.run()
    worker = win.segment.worker
    assert worker.wait(60_000)  # finished in the worker; its signal waits in the GUI queue
    win.segment.cancel()
    qtbot.waitUntil(lambda: not win.segment.running, timeout=5_000)
    assert _layer_names(win) == before
    assert win.segment.run_action.isEnabled()
    assert "cancelled" in win.statusBar().currentMessage().lower()


def test_finished_workers_do_not_keep_patients_alive(qtbot, window):
    """Volumes are big: after a run and a patient switch, nothing of ours holds the old patient."""
    import gc
    import weakref

    win, _ = window
    images, labels = synthetic_arrays(seed=6)
    first = patient_from_arrays("first", images, labels)
    ref = weakref.ref(first)
    win.show_patient(first)
    del first
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        _run_by_click(qtbot, win)
    qtbot.waitUntil(lambda: win.segment.active_threads() == 0, timeout=5_000)
    win.show_patient(patient_from_arrays("second", images, labels))
    for _ in range(5):
        QApplication.processEvents()
    gc.collect()
    assert ref() is None
