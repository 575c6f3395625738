"""File → Export Prediction as NIfTI…: voxel-exact on the source grid, in the patient's convention."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from brats_desktop.app.main_window import MainWindow
from brats_desktop.core import postprocessing
from brats_desktop.core.labels import to_internal
from brats_desktop.core.nifti_io import read_volume
from brats_desktop.core.patient import load_patient
from inference_support import RecordingDialogs, close_window, open_window, tiny_model, write_patient_folder

torch.set_num_threads(1)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    # The tiny test model's enhancing pieces are far below the shipped post-processing's
    # 200-voxel core threshold (meant for 1 mm brains); this test is about geometry and label
    # values on export, so it keeps only the speck rule.
    monkeypatch.setattr(postprocessing, "DEFAULT_POSTPROCESSING", postprocessing.PostprocessParams(min_fraction=0.1))
    dialogs = RecordingDialogs()
    win, _ = open_window(qtbot, tmp_path, dialogs)
    win.segment.load_model(tiny_model(tmp_path).path)
    win.segment.info_dialog.close()
    yield win, dialogs
    close_window(win)


def _predict(qtbot, win: MainWindow, folder) -> np.ndarray:
    win.show_patient(load_patient(folder))
    with qtbot.waitSignal(win.segment.prediction_applied, timeout=60_000) as blocker:
        win.segment.run_action.trigger()
    return blocker.args[0].data


@pytest.mark.parametrize(
    "orientation,naming,enhancing",
    [("LPS", "2023", 3), ("RAS", "2023", 3), ("LPS", "2020", 4), ("RAS", "2020", 4)],
)
def test_export_round_trips_on_the_source_grid(qtbot, tmp_path, window, orientation, naming, enhancing):
    win, dialogs = window
    folder, _, _ = write_patient_folder(tmp_path, f"case_{orientation}_{naming}", orientation, naming)
    labels = _predict(qtbot, win, folder)
    assert (labels == 3).any(), "the test model should predict enhancing tumour somewhere"
    target = tmp_path / "out" / "pred.nii.gz"
    dialogs.save_paths.append(target)
    written = win.segment.export_prediction()
    assert written == target

    source = nib.load(str(next(folder.glob("*t2f*" if naming == "2023" else "*flair*"))))
    out = nib.load(str(written))
    np.testing.assert_array_equal(out.affine, source.affine)
    np.testing.assert_array_equal(out.header.get_sform(), source.header.get_sform())
    np.testing.assert_array_equal(out.header.get_qform(), source.header.get_qform())
    assert out.shape == source.shape and out.get_data_dtype() == np.uint8
    on_disk = np.asarray(out.dataobj)
    # Put the canonical (RAS) prediction into the file's own voxel order by hand.
    expected = labels[::-1, ::-1, :] if orientation == "LPS" else labels
    expected = np.where(expected == 3, enhancing, expected)
    np.testing.assert_array_equal(on_disk, expected)
    assert set(np.unique(on_disk)) <= {0, 1, 2, enhancing}
    # And the app's reader brings it back to exactly the prediction, in canonical order.
    back, _ = read_volume(written, dtype=np.uint8)
    np.testing.assert_array_equal(to_internal(back, win.state.patient.convention), labels)
    assert not win.state.layer("Prediction").modified


def test_export_asks_before_replacing_and_never_writes_inputs(qtbot, tmp_path, window):
    win, dialogs = window
    folder, _, _ = write_patient_folder(tmp_path, "case", "LPS", "2023")
    _predict(qtbot, win, folder)
    target = tmp_path / "pred.nii.gz"
    target.write_bytes(b"keep me")
    dialogs.save_paths.append(target)
    dialogs.confirm_answers.append(False)  # "Replace it?" -> No
    assert win.segment.export_prediction() is None
    assert target.read_bytes() == b"keep me"
    assert "already exists" in dialogs.confirms[-1]

    dialogs.save_paths.append(target)
    dialogs.confirm_answers.append(True)
    assert win.segment.export_prediction() == target
    assert nib.load(str(target)).shape == (40, 36, 24)

    seg = next(folder.glob("*-seg.nii.gz"))
    before = seg.read_bytes()
    dialogs.save_paths.append(seg)
    dialogs.confirm_answers.append(True)
    assert win.segment.export_prediction() is None
    assert seg.read_bytes() == before
    assert "never overwritten" in dialogs.errors[-1][1]


def test_export_without_prediction_says_so(qtbot, tmp_path, window):
    win, dialogs = window
    folder, _, _ = write_patient_folder(tmp_path, "case", "RAS", "2023")
    win.show_patient(load_patient(folder))
    assert not win.segment.export_action.isEnabled()
    assert win.segment.export_prediction() is None
    assert "run Segment" in dialogs.errors[-1][1]
