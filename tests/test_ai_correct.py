"""AI Correct tool with real mouse and key events on the slice views, against a fake click engine."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from brats_desktop.app.help.shortcuts import gesture_entries, shortcut_conflicts, shortcut_entries
from brats_desktop.app.state import PREDICTION
from brats_desktop.core.patient import patient_from_arrays
from tests.ai_correct_support import FakeEngine, use_fake_engine
from tests.annotation_support import annot_window, click, pos, stroke  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CENTRE = (17, 15, 13)


@pytest.fixture
def ai(qtbot, annot_window):
    """(window, ai controller, fake engine) with AI Correct switched on by its key, class 2 chosen."""
    window, _, _ = annot_window
    controller = window.ai_correct
    engine = use_fake_engine(controller, FakeEngine())
    window.state.set_cursor(CENTRE)
    qtbot.keyClick(window, Qt.Key.Key_A)
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert controller.active and all(view.tool is controller.tool for view in window.views)
    wait_idle(qtbot, controller)  # A made the engine in the worker and warmed it up
    assert controller.worker.engine is engine and len(engine.calls) == 1
    engine.calls.clear()
    engine.entered.clear()
    return window, controller, engine


def wait_idle(qtbot, controller) -> None:
    qtbot.waitUntil(lambda: not controller.running, timeout=10000)


def segment_run_with_probabilities(window) -> np.ndarray:
    """Pretend a Segment run just put its prediction on screen: its (background-only) probabilities."""
    probabilities = np.zeros((4, *window.state.patient.shape), np.float16)
    probabilities[0] = 1.0

    class Run:
        pass

    run = Run()
    run.probabilities = probabilities
    window.segment.last_run = run
    window.segment.prediction_applied.emit(None)
    return probabilities


def markers(window) -> list[str]:
    return [text for overlay in window.ai_correct.overlays for text in overlay.labels]


def test_left_click_sends_a_click_of_the_chosen_class_and_writes_the_answer(qtbot, ai):
    window, controller, engine = ai
    voxel = (12, 9, CENTRE[2])
    click(qtbot, window.axial_view, voxel)
    wait_idle(qtbot, controller)
    (call,) = engine.calls
    assert [(c.voxel, c.label) for c in call.guidance] == [(voxel, 2)]
    layer = controller.editor.layer
    assert layer is not None and layer.data[voxel] == 2
    assert np.all(layer.data[11:14, 8:11, CENTRE[2] - 1:CENTRE[2] + 2] == 2)
    assert layer.modified and window.windowTitle().endswith("*")
    assert markers(window) == ["click 2 answered"]  # the axial view's slice only


@pytest.mark.parametrize("gesture", ["right", "alt"])
def test_right_click_and_alt_click_say_background(qtbot, ai, gesture):
    window, controller, engine = ai
    voxel = CENTRE  # inside the ground truth tumour
    vp = window.coronal_view.viewport()
    if gesture == "right":
        qtbot.mouseClick(vp, Qt.MouseButton.RightButton, pos=pos(window.coronal_view, voxel))
    else:
        click(qtbot, window.coronal_view, voxel, Qt.KeyboardModifier.AltModifier)
    wait_idle(qtbot, controller)
    (call,) = engine.calls
    assert [(c.voxel, c.label) for c in call.guidance] == [(voxel, 0)]
    assert controller.editor.layer.data[voxel] == 0


def test_right_drag_still_zooms_and_adds_nothing(qtbot, ai):
    window, controller, engine = ai
    view = window.axial_view
    vp = view.viewport()
    before = view.viewbox.viewRange()
    qtbot.mousePress(vp, Qt.MouseButton.RightButton, pos=pos(view, (10, 10, CENTRE[2])))
    qtbot.mouseMove(vp, pos(view, (20, 20, CENTRE[2])))
    qtbot.mouseRelease(vp, Qt.MouseButton.RightButton, pos=pos(view, (20, 20, CENTRE[2])))
    wait_idle(qtbot, controller)
    assert engine.calls == [] and controller.guidance() == []
    assert view.viewbox.viewRange() != before


def test_left_drag_sends_one_scribble_along_the_path_on_one_slice(qtbot, ai):
    window, controller, engine = ai
    z = CENTRE[2]
    path = [(5, 5, z), (15, 5, z), (15, 12, z)]
    stroke(qtbot, window.axial_view, path)
    wait_idle(qtbot, controller)
    (call,) = engine.calls
    (scribble,) = call.guidance
    assert scribble.label == 2 and not hasattr(scribble, "voxel")
    voxels = list(scribble.voxels)
    assert voxels[0] == path[0] and voxels[-1] == path[-1] and (15, 5, z) in voxels
    assert {v[2] for v in voxels} == {z}
    steps = np.abs(np.diff(np.array(voxels), axis=0)).max(axis=1)
    assert steps.max() == 1  # continuous: no gaps between consecutive voxels
    assert "scribble 2 answered" in markers(window)


def test_each_ai_step_is_one_undo_entry_and_ctrl_z_restores_exactly(qtbot, ai):
    window, controller, engine = ai
    gt = window.state.layers[0]
    controller.editor.set_layer(gt)  # works on the ground truth copy too
    history = controller.editor.history(gt)
    before = gt.data.copy()
    click(qtbot, window.axial_view, (5, 5, CENTRE[2]))
    wait_idle(qtbot, controller)
    after_first = gt.data.copy()
    click(qtbot, window.axial_view, (25, 20, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert history.undo_depth == 2 and len(engine.calls) == 2
    assert len(engine.calls[1].guidance) == 2  # cumulative: the first click is sent again
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(gt.data, after_first)
    assert len(controller.guidance()) == 1 and markers(window) == ["click 2 answered"]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(gt.data, before)
    assert controller.guidance() == [] and markers(window) == []
    assert not gt.modified  # back where the file was
    np.testing.assert_array_equal(window.state.patient.ground_truth, before)  # the file's labels untouched


def test_hand_painted_voxels_are_sent_as_locked_and_kept(qtbot, ai):
    window, controller, engine = ai
    editor = controller.editor
    layer = editor.new_annotation_layer()
    z = CENTRE[2]
    qtbot.keyClick(window, Qt.Key.Key_B)  # brush: leaves AI Correct
    assert not controller.active and window.axial_view.tool is window.annotation.paint_tool
    qtbot.keyClick(window, Qt.Key.Key_3)
    editor.set_radius(0)
    stroke(qtbot, window.axial_view, [(8, 10, z), (10, 10, z)])  # ET by hand: 3 voxels
    painted = layer.data == 3
    assert painted.sum() == 3
    qtbot.keyClick(window, Qt.Key.Key_A)
    qtbot.keyClick(window, Qt.Key.Key_2)
    click(qtbot, window.axial_view, (10, 11, z))  # next to the painted voxels: the cube covers two
    wait_idle(qtbot, controller)
    (call,) = engine.calls
    np.testing.assert_array_equal(call.locked, painted)
    assert np.all(layer.data[painted] == 3) and layer.data[10, 11, z] == 2
    # A click on a painted voxel wins over the lock.
    click(qtbot, window.axial_view, (9, 10, z))
    wait_idle(qtbot, controller)
    assert layer.data[9, 10, z] == 2 and layer.data[8, 10, z] == 3


def test_undoing_a_stroke_frees_its_voxels_and_the_lock_can_be_switched_off(qtbot, ai):
    window, controller, engine = ai
    editor = controller.editor
    layer = editor.new_annotation_layer()
    controller.set_active(False)
    editor.set_radius(1)
    stroke(qtbot, window.axial_view, [(8, 10, CENTRE[2])])
    painted = layer.data > 0
    np.testing.assert_array_equal(editor.hand_painted(layer), painted)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.hand_painted(layer) is None
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(editor.hand_painted(layer), painted)
    controller.widget.keep_hand_painted.setChecked(False)
    qtbot.keyClick(window, Qt.Key.Key_A)
    click(qtbot, window.axial_view, (20, 20, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert engine.calls[-1].locked is None


def test_clicks_during_a_run_are_merged_into_one_next_run(qtbot, ai):
    window, controller, engine = ai
    engine.gate = threading.Event()
    z = CENTRE[2]
    first, second, third = (5, 5, z), (25, 5, z), (25, 20, z)
    click(qtbot, window.axial_view, first)
    qtbot.waitUntil(engine.entered.is_set, timeout=10000)
    click(qtbot, window.axial_view, second)
    qtbot.mouseClick(window.axial_view.viewport(), Qt.MouseButton.RightButton, pos=pos(window.axial_view, third))
    assert controller.running and len(engine.calls) == 1
    assert sorted(markers(window)) == ["click 0 waiting", "click 2 waiting", "click 2 waiting"]
    engine.gate.set()
    wait_idle(qtbot, controller)
    assert len(engine.calls) == 2 and controller.runs == 2
    got = [(c.voxel, c.label) for c in engine.calls[1].guidance]
    assert got == [(first, 2), (second, 2), (third, 0)]
    assert controller.editor.history().undo_depth == 2  # two runs, two undo entries
    assert sorted(markers(window)) == ["click 0 answered", "click 2 answered", "click 2 answered"]


def test_an_undo_during_a_run_makes_the_answer_rerun_on_the_new_labels(qtbot, ai):
    window, controller, engine = ai
    layer = controller.editor.new_annotation_layer()
    click(qtbot, window.axial_view, (5, 5, CENTRE[2]))
    wait_idle(qtbot, controller)
    engine.gate = threading.Event()
    engine.entered.clear()
    click(qtbot, window.axial_view, (20, 20, CENTRE[2]))
    qtbot.waitUntil(engine.entered.is_set, timeout=10000)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the first step meanwhile
    engine.gate.set()
    wait_idle(qtbot, controller)
    assert len(engine.calls) == 3  # the stale answer was not written; the clicks left ran again
    assert [c.voxel for c in engine.calls[2].guidance] == [(20, 20, CENTRE[2])]
    assert layer.data[5, 5, CENTRE[2]] == 0 and layer.data[20, 20, CENTRE[2]] == 2
    assert controller.editor.history(layer).undo_depth == 1


def test_esc_clears_the_markers_and_keeps_the_labels(qtbot, ai):
    window, controller, engine = ai
    click(qtbot, window.axial_view, (6, 6, CENTRE[2]))
    wait_idle(qtbot, controller)
    labels = controller.editor.layer.data.copy()
    assert markers(window) and controller.clear_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert markers(window) == [] and controller.guidance() == []
    np.testing.assert_array_equal(controller.editor.layer.data, labels)
    assert not controller.clear_action.isEnabled()  # Esc goes back to whoever else wants it


def test_enter_accepts_and_the_next_click_starts_a_new_set(qtbot, ai):
    window, controller, engine = ai
    click(qtbot, window.axial_view, (6, 6, CENTRE[2]))
    wait_idle(qtbot, controller)
    qtbot.keyClick(window, Qt.Key.Key_Return)
    assert markers(window) == []
    click(qtbot, window.axial_view, (20, 6, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert [c.voxel for c in engine.calls[-1].guidance] == [(20, 6, CENTRE[2])]
    assert controller.editor.history().undo_depth == 2  # accepted steps stay undoable


def test_works_on_a_prediction_layer_chosen_automatically(qtbot, ai):
    window, controller, engine = ai
    data = np.zeros(window.state.patient.shape, np.uint8)
    prediction = window.state.replace_layer("Prediction", data, PREDICTION)
    controller.editor.set_layer(None)
    click(qtbot, window.sagittal_view, CENTRE)
    wait_idle(qtbot, controller)
    assert controller.editor.layer is prediction and prediction.data[CENTRE] == 2
    assert window.sagittal_view.tool is controller.tool  # still AI Correct after the layer switch


def test_a_patient_without_the_models_modalities_gets_a_message(qtbot, ai):
    window, controller, engine = ai
    engine.modalities = ("flair", "t1ce")
    failures = []
    controller.run_failed.connect(failures.append)
    click(qtbot, window.axial_view, CENTRE)
    wait_idle(qtbot, controller)
    assert engine.calls == [] and len(failures) == 1
    assert "T1" in failures[0] and "does not have" in failures[0]
    assert "T1" in window.statusBar().currentMessage()
    assert controller.guidance() == [] and markers(window) == []


def test_help_lists_the_tool_and_its_keys_without_conflicts(ai):
    window, controller, _ = ai
    entries = shortcut_entries(window)
    keys = {e.keys: e.command for e in entries}
    assert keys["A"].startswith("AI Correct") and keys["Esc"] == "Clear AI Clicks"
    assert keys["Return"] == "Accept AI Correction"
    assert shortcut_conflicts(entries) == {}
    gestures = [g for g in gesture_entries(window) if g.where == controller.tool.TITLE]
    assert any(g.gesture.startswith("Right click") for g in gestures)


def test_building_the_window_does_not_load_the_click_engine(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtCore import QSettings, QStandardPaths\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "QStandardPaths.setTestModeEnabled(True)\n"
        "import brats_desktop.app.ai_correct.controller\n"
        "assert 'torch' not in sys.modules, 'ai_correct imports torch'\n"
        "from brats_desktop.app.main_window import MainWindow\n"
        f"w = MainWindow(settings=QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat))\n"
        "assert w.ai_correct.worker.engine is None\n"
        "assert 'brats_desktop.interactive.engine' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_engine_is_made_when_a_is_pressed_on_the_force_cpu_device(qtbot, annot_window):
    window, _, _ = annot_window
    controller = window.ai_correct
    engine, asked, made = FakeEngine(), [], []
    controller.worker.device_for = lambda force_cpu: asked.append(force_cpu) or "cpu"
    controller.worker.engine_factory = lambda device: made.append(device) or engine
    window.segment.force_cpu_action.setChecked(True)
    assert controller.worker.engine is None and made == []  # building the window made nothing
    window.state.set_cursor(CENTRE)
    qtbot.keyClick(window, Qt.Key.Key_A)
    qtbot.keyClick(window, Qt.Key.Key_2)
    click(qtbot, window.axial_view, CENTRE)  # while the model may still be loading: it waits
    wait_idle(qtbot, controller)
    click(qtbot, window.axial_view, (5, 5, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert asked == [True, True, True] and made == ["cpu"]  # made once, kept for the next runs
    assert len(engine.calls) == 3 and controller.editor.layer.data[CENTRE] == 2  # warm-up + 2 clicks
    assert engine.calls[0].labels.sum() == 0  # the warm-up ran on its own empty map, written nowhere


def test_an_engine_failure_is_a_status_message_and_the_tool_keeps_working(qtbot, ai, capsys):
    window, controller, engine = ai
    broken = FakeEngine()
    broken.refine = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("weights do not fit"))
    controller.worker.engine = broken
    failures = []
    controller.run_failed.connect(failures.append)
    click(qtbot, window.axial_view, CENTRE)
    wait_idle(qtbot, controller)
    assert failures and "weights do not fit" in failures[0] and markers(window) == []
    controller.worker.engine = engine  # e.g. the next attempt finds a working model
    click(qtbot, window.axial_view, CENTRE)
    wait_idle(qtbot, controller)
    assert controller.editor.layer.data[CENTRE] == 2


def test_no_brush_outline_or_region_highlight_follows_the_mouse_in_ai_correct(qtbot, ai):
    window, controller, engine = ai
    editor = controller.editor
    editor.set_layer(window.state.layers[0])
    editor.set_tool("component")  # the 3-D region tool was the last manual tool
    controller.set_active(True)
    view = window.axial_view
    qtbot.mouseMove(view.viewport(), pos(view, CENTRE))
    qtbot.mouseMove(view.viewport(), pos(view, (CENTRE[0] + 1, CENTRE[1], CENTRE[2])))
    assert window.correction.preview.region is None
    outline = window.annotation.paint_tool.outline_item(view)
    assert outline is None or not outline.isVisible()
    controller.set_active(False)  # back to the region tool: its highlight follows the mouse again
    qtbot.mouseMove(view.viewport(), pos(view, CENTRE))
    assert window.correction.preview.region is not None
    # Leave the (application-wide) cursor elsewhere: Qt sends no move to where it already is.
    qtbot.mouseMove(view.viewport(), pos(view, (1, 1, CENTRE[2])))


def test_the_bundled_click_engine_answers_a_click_in_the_window(qtbot, annot_window):
    """The real engine and model file on a small synthetic case: the contract as the app uses it."""
    pytest.importorskip("torch")
    from brats_desktop.core.patient import patient_from_arrays
    from brats_desktop.core.synthetic import make_synthetic_case
    from brats_desktop.interactive.engine import bundled_click_model_path

    if not bundled_click_model_path().is_file():
        pytest.skip("no bundled click model in this checkout")
    window, _, _ = annot_window
    case = make_synthetic_case(3, shape=(48, 48, 24), modalities=("flair", "t1ce"))
    window.show_patient(patient_from_arrays("Synthetic", case.images, case.labels))
    controller = window.ai_correct
    controller.worker.device_for = lambda force_cpu: "cpu"
    layer = window.state.layers[0]
    controller.editor.set_layer(layer)
    before = layer.data.copy()
    voxel = tuple(int(c) for c in np.argwhere(layer.data == 2)[0])
    window.state.set_cursor(voxel)
    qtbot.keyClick(window, Qt.Key.Key_A)
    qtbot.keyClick(window, Qt.Key.Key_3)
    wait_idle(qtbot, controller)
    click(qtbot, window.axial_view, voxel)
    wait_idle(qtbot, controller)
    assert type(controller.worker.engine).__name__ == "ClickEngine"
    assert layer.data[voxel] == 3 and controller.editor.history(layer).undo_depth == 1
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(layer.data, before)


def test_pressing_a_with_no_edited_layer_edits_the_prediction(qtbot, ai):
    window, controller, _ = ai
    controller.set_active(False)
    prediction = window.state.replace_layer("Prediction", np.zeros(window.state.patient.shape, np.uint8), PREDICTION)
    controller.editor.set_layer(None)
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert controller.editor.layer is prediction and window.axial_view.tool is controller.tool


@pytest.mark.parametrize("meaning", ["brats2013", "brats2021"])
def test_the_engine_works_in_the_label_1_meaning_chosen_in_the_segment_menu(qtbot, ai, meaning):
    """The click model's answers are converted to the meaning of label 1 that the map on screen uses."""
    window, controller, engine = ai
    engine.ncr_definition = None
    window.segment.ncr_actions[meaning].trigger()
    assert window.segment.ncr_definition == meaning
    click(qtbot, window.axial_view, (12, 9, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert len(engine.calls) == 1 and engine.ncr_definition == meaning


def test_a_click_gets_the_automatic_segmentations_probabilities_of_this_patient_only(qtbot, ai):
    """Clicks grow where the automatic model found their class plausible: the engine is handed
    that prediction's probabilities, and never those of a patient that is no longer open."""
    window, controller, engine = ai
    priors: list = []
    engine.set_prior = lambda images, probabilities: priors.append((images, probabilities))
    patient = window.state.patient
    probabilities = segment_run_with_probabilities(window)
    click(qtbot, window.axial_view, (12, 9, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert len(priors) == 1 and priors[0][1] is probabilities and priors[0][0] is patient.images

    window.show_patient(patient_from_arrays("other", {m: v.copy() for m, v in patient.images.items()},
                                            None))
    qtbot.waitUntil(lambda: window.state.patient is not patient, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_2)
    window.state.set_cursor(CENTRE)
    click(qtbot, window.axial_view, (12, 9, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert priors[-1][1] is None  # another patient: no probabilities of the first one


def test_without_a_segment_run_the_engine_reads_each_patient_once_when_a_is_pressed(qtbot, annot_window):
    """Clicks on a map with no Segment run behind it grow with the engine's own whole-volume
    probabilities: computed in the worker when A is pressed (and for the next patient opened
    while the tool is on), once per patient, and replaced by a Segment run's."""
    window, _, _ = annot_window
    controller = window.ai_correct
    engine = use_fake_engine(controller, FakeEngine())
    computed: list = []
    given: list = []
    ready: dict = {}
    engine.prior_ready = lambda images: ready.get("images") is images
    engine.own_prior = lambda images: computed.append(images) or ready.update(images=images)
    engine.set_prior = lambda images, probabilities: given.append(probabilities) or ready.update(
        images=images if probabilities is not None else None)
    said: list[str] = []
    controller.status_changed.connect(said.append)
    patient = window.state.patient
    window.state.set_cursor(CENTRE)
    qtbot.keyClick(window, Qt.Key.Key_A)
    wait_idle(qtbot, controller)
    assert len(computed) == 1 and computed[0] is patient.images
    assert any("reading" in s and patient.name in s for s in said) and "ready" in said[-1]
    qtbot.keyClick(window, Qt.Key.Key_2)
    click(qtbot, window.axial_view, CENTRE)
    wait_idle(qtbot, controller)
    assert len(computed) == 1 and controller.editor.layer.data[CENTRE] == 2  # not read again for the click

    probabilities = segment_run_with_probabilities(window)
    click(qtbot, window.axial_view, (12, 9, CENTRE[2]))
    wait_idle(qtbot, controller)
    assert given[-1] is probabilities and len(computed) == 1  # the Segment run's replace the engine's own

    window.show_patient(patient_from_arrays("other", {m: v.copy() for m, v in patient.images.items()}, None))
    qtbot.waitUntil(lambda: len(computed) == 2, timeout=10000)  # the tool is on: the next patient is read at once
    assert computed[1] is window.state.patient.images
