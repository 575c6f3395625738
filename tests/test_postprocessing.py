"""Post-processing of predictions: small-component removal and the meaning of label 1.

The volumes are drawn by hand so each expected voxel count follows from the drawing:
an enhancing ring (3) around necrosis (1), with non-enhancing tumour (1) beside the
ring and edema (2) around everything.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from brats_desktop.core.patient import load_patient
from brats_desktop.core.postprocessing import (
    NCR_DEFINITIONS,
    necrosis_inside_enhancing,
    postprocess,
    remove_small_components,
)
from inference_support import SHAPE, close_window, open_window, write_patient_folder
from models.inference import model_ncr_definition, postprocess_prediction
from models.runtime import predict_patient

torch.set_num_threads(1)


def ring_tumour(shape=SHAPE) -> np.ndarray:
    """Slices 8-15: enhancing ring (radius 4-6) around necrosis, a non-enhancing block beside it, edema around."""
    labels = np.zeros(shape, np.uint8)
    x, y = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(x - 18, y - 18)
    for z in range(8, 16):
        sl = labels[:, :, z]
        sl[(r < 11)] = 2  # edema halo
        sl[28:32, 14:22] = 1  # non-enhancing tumour outside the ring
        sl[(r >= 4) & (r < 6.5)] = 3  # enhancing ring
        sl[r < 4] = 1  # necrosis inside the ring
    return labels


def inside_count(labels: np.ndarray) -> int:
    x, y = np.mgrid[: labels.shape[0], : labels.shape[1]]
    inside = np.hypot(x - 18, y - 18) < 4
    return int(sum((labels[:, :, z][inside] == 1).sum() for z in range(labels.shape[2])))


def test_necrosis_outside_the_enhancing_ring_becomes_edema():
    labels = ring_tumour()
    out = necrosis_inside_enhancing(labels)
    outside_block = (slice(28, 32), slice(14, 22), slice(8, 16))
    assert (labels[outside_block] == 1).all() and (out[outside_block] == 2).all()
    assert inside_count(out) == inside_count(labels) > 0  # necrosis inside the ring stays
    np.testing.assert_array_equal(out == 3, labels == 3)  # enhancing tumour untouched
    np.testing.assert_array_equal(out > 0, labels > 0)  # whole tumour untouched
    assert (out == 1).sum() == (labels == 1).sum() - 4 * 8 * 8


def test_a_ring_with_a_gap_still_encloses_its_necrosis():
    labels = ring_tumour()
    labels[18, 22:25, :][labels[18, 22:25, :] == 3] = 2  # a 1-voxel-wide break in the rim
    out = necrosis_inside_enhancing(labels)
    assert inside_count(out) == inside_count(labels)


def test_a_core_without_enhancement_keeps_its_label():
    labels = ring_tumour()
    labels[labels == 3] = 1  # a non-enhancing tumour: no rim to be inside of
    np.testing.assert_array_equal(necrosis_inside_enhancing(labels), labels)


def test_small_distant_components_are_removed_and_multifocal_lesions_kept():
    labels = ring_tumour()
    labels[2:4, 2:4, 2:4] = 2  # 8 voxels far away: a speck
    labels[30:40, 28:36, 16:24] = 3  # a second focus, 640 voxels, > 10 % of the main lesion
    main = int((ring_tumour() > 0).sum())
    assert 640 >= 0.1 * main
    out = remove_small_components(labels)
    assert (out[2:4, 2:4, 2:4] == 0).all()
    assert (out[30:40, 28:36, 16:24] == 3).all()
    assert (out > 0).sum() == main + 640


def test_postprocess_definitions_and_errors():
    labels = ring_tumour()
    labels[2:4, 2:4, 2:4] = 1
    old = postprocess(labels, target="brats2013", source="brats2013")
    assert (old[28:32, 14:22, 8:16] == 1).all() and (old[2:4, 2:4, 2:4] == 0).all()
    new = postprocess(labels, target="brats2021", source="brats2013")
    assert (new[28:32, 14:22, 8:16] == 2).all()
    # A model trained with the 2021 meaning is left alone: non-enhancing tumour cannot be recovered.
    np.testing.assert_array_equal(postprocess(labels, target="brats2013", source="brats2021"), old)
    empty = np.zeros(SHAPE, np.uint8)
    np.testing.assert_array_equal(postprocess(empty), empty)
    with pytest.raises(ValueError, match="brats2021"):
        postprocess(labels, target="brats2020")


class _Model:
    def __init__(self, metadata: dict) -> None:
        self.metadata = metadata
        self.modalities = ["flair", "t1ce"]
        self.name = "fake"


def test_model_definition_defaults_to_the_old_meaning_and_none_is_raw():
    labels = ring_tumour()
    assert model_ncr_definition(_Model({})) == "brats2013"
    assert postprocess_prediction(_Model({}), labels, None) is labels
    converted = postprocess_prediction(_Model({}), labels, "brats2021")
    assert (converted[28:32, 14:22, 8:16] == 2).all()
    trained_new = postprocess_prediction(_Model({"ncr_definition": "brats2021"}), labels, "brats2021")
    assert (trained_new[28:32, 14:22, 8:16] == 1).all()


def _fixed_predict(model, images, **kwargs):
    return ring_tumour(next(iter(images.values())).shape)


def test_predict_patient_keeps_the_raw_argmax_beside_the_post_processed_labels(tmp_path):
    folder, _, _ = write_patient_folder(tmp_path, "case", "RAS", "2023", with_seg=False)
    patient = load_patient(folder)
    run = predict_patient(_Model({}), patient, device="cpu", predict=_fixed_predict)
    np.testing.assert_array_equal(run.raw_labels, ring_tumour())
    assert run.ncr_definition == "brats2021" and run.model_ncr_definition == "brats2013"
    assert (run.labels[28:32, 14:22, 8:16] == 2).all()


BLOCK = (slice(28, 32), slice(14, 22), slice(8, 16))  # the non-enhancing tumour beside the ring


@pytest.fixture
def window(qtbot, tmp_path):
    """A shown window (so Ctrl+Z reaches it) with a patient segmented by the fixed ring prediction."""
    win, settings = open_window(qtbot, tmp_path)
    win.segment.predict = _fixed_predict  # the bundled model is chosen, but this hook answers for it
    win.show()
    qtbot.waitExposed(win)
    folder, _, _ = write_patient_folder(tmp_path, "case", "LPS", "2023", with_seg=False)
    win.show_patient(load_patient(folder))
    assert win.segment.ncr_actions["brats2021"].isChecked()  # the current BraTS protocol by default
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        win.segment.run_action.trigger()
    yield win, settings
    close_window(win)


def test_menu_choice_relabels_the_unedited_prediction_and_is_remembered(window):
    win, settings = window
    actions = win.segment.ncr_actions
    assert (win.state.layer("Prediction").data[BLOCK] == 2).all()

    actions["brats2013"].trigger()  # what a click on the menu item does
    assert (win.state.layer("Prediction").data[BLOCK] == 1).all()
    assert not win.state.layer("Prediction").modified
    assert settings.value("inference/ncr_definition") == "brats2013"

    assert "non-enhancing" in win.segment.metrics_panel.label_meaning.text()
    actions["brats2021"].trigger()
    assert (win.state.layer("Prediction").data[BLOCK] == 2).all()
    assert "inside the enhancing rim" in win.segment.metrics_panel.label_meaning.text()
    assert not win.segment.metrics_panel.label_meaning.isHidden()
    assert set(NCR_DEFINITIONS) == set(actions)
    win.state.set_patient(None)
    assert win.segment.metrics_panel.label_meaning.isHidden()


def test_menu_choice_never_overwrites_edits(window):
    win, _ = window
    layer = win.state.layer("Prediction")
    edited = layer.data.copy()
    edited[0:3, 0:3, 0:3] = 1
    layer.set_data(edited, modified=True)
    win.segment.ncr_actions["brats2013"].trigger()
    np.testing.assert_array_equal(win.state.layer("Prediction").data, edited)
    assert "next run" in win.statusBar().currentMessage()


def test_relabelling_and_re_running_are_undo_steps_of_the_prediction_layer(qtbot, window):
    win, _ = window
    layer = win.state.layer("Prediction")
    editor = win.annotation.editor
    editor.set_layer(layer)
    first = layer.data.copy()

    win.segment.ncr_actions["brats2013"].trigger()
    assert win.state.layer("Prediction") is layer and (layer.data[BLOCK] == 1).all()
    assert editor.history().undo_depth == 1
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(layer.data, first)
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (layer.data[BLOCK] == 1).all()

    # A re-run with a different result is one more step; its history keeps the earlier ones.
    win.segment.predict = lambda model, images, **kw: np.zeros(next(iter(images.values())).shape, np.uint8)
    win.dialogs.confirm_answers.append(True)  # undo/redo count as edits: "Replace edited prediction?" -> Yes
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000):
        win.segment.run_action.trigger()
    assert not layer.data.any() and editor.history().undo_depth == 2
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (layer.data[BLOCK] == 1).all()
