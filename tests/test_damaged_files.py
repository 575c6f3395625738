"""A damaged file does not block the rest of the patient.

A corrupt FLAIR beside a valid T1CE, or a segmentation with one unexpected label,
used to stop the whole folder from opening. The app now opens what is readable,
names each file it left out and why, and Segment → Run says which input the model
then lacks and why it is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brats_desktop.core.errors import (
    GeometryMismatchError,
    LabelValueError,
    PatientFolderError,
    VolumeReadError,
)
from brats_desktop.core.patient import load_patient

from inference_support import RecordingDialogs, close_window, open_window, tiny_model
from tiny_cases import RAS_AFFINE, SHAPE, make_folder, ras_labels, save

NAMES_2020 = {
    "t1": "BraTS20_Training_001_t1.nii.gz",
    "t1ce": "BraTS20_Training_001_t1ce.nii.gz",
    "t2": "BraTS20_Training_001_t2.nii.gz",
    "flair": "BraTS20_Training_001_flair.nii.gz",
    "seg": "BraTS20_Training_001_seg.nii.gz",
}


def _folder(tmp_path: Path, name: str = "BraTS20_Training_001") -> Path:
    return make_folder(tmp_path / name, NAMES_2020, seg_values="2020")


def _corrupt(path: Path) -> bytes:
    """Keep the gzip header but cut the data short: a download that stopped halfway."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path.read_bytes()


def _bad_label(folder: Path) -> Path:
    labels = np.where(ras_labels() == 3, 4, ras_labels()).astype(np.uint8)
    labels[0, 0, 0] = 5  # one voxel of a label BraTS 2020 does not have
    return save(folder / NAMES_2020["seg"], labels, RAS_AFFINE, np.uint8)


# ----------------------------------------------------------------------------- core


def test_corrupt_flair_is_left_out_and_named(tmp_path):
    folder = _folder(tmp_path)
    flair = folder / NAMES_2020["flair"]
    _corrupt(flair)
    with pytest.raises(VolumeReadError):  # scripts and training still get all or nothing
        load_patient(folder)
    patient = load_patient(folder, skip_unreadable=True)
    assert patient.modalities == ["t1", "t1ce", "t2"]
    assert patient.ground_truth is not None and patient.ground_truth.shape == SHAPE
    (problem,) = patient.problems
    assert isinstance(problem, VolumeReadError) and problem.path == flair
    assert patient.skipped("flair") is problem and patient.skipped("t1ce") is None
    assert flair.resolve() in patient.input_paths  # a damaged original is never written over


def test_segmentation_with_an_unexpected_label_is_kept_out_and_named(tmp_path):
    folder = _folder(tmp_path)
    seg = _bad_label(folder)
    with pytest.raises(LabelValueError):
        load_patient(folder)
    patient = load_patient(folder, skip_unreadable=True)
    assert patient.ground_truth is None
    assert patient.modalities == ["t1", "t1ce", "t2", "flair"]
    (problem,) = patient.problems
    assert isinstance(problem, LabelValueError) and problem.path == seg and "5" in problem.problem
    assert patient.skipped("seg") is problem
    assert "seg" not in patient.sources and patient.grid.path != seg


def test_a_volume_on_another_grid_is_left_out_not_the_majority(tmp_path):
    folder = _folder(tmp_path)
    odd = folder / NAMES_2020["t1"]
    save(odd, np.zeros((SHAPE[0] + 2, *SHAPE[1:]), np.float32))
    patient = load_patient(folder, skip_unreadable=True)
    assert patient.modalities == ["t1ce", "t2", "flair"]
    (problem,) = patient.problems
    assert isinstance(problem, GeometryMismatchError) and problem.path == odd


def test_progressive_load_shows_the_next_modality_when_the_first_is_damaged(tmp_path):
    folder = _folder(tmp_path)
    _corrupt(folder / NAMES_2020["flair"])
    partial = []
    patient = load_patient(folder, first=("flair", "t1ce"), on_first=partial.append, skip_unreadable=True)
    assert [p.modalities for p in partial] == [["t1ce"]]
    assert partial[0].ground_truth is not None
    assert patient.modalities == ["t1", "t1ce", "t2"] and len(patient.problems) == 1


def test_no_readable_image_at_all_is_an_error_naming_each_file(tmp_path):
    folder = make_folder(tmp_path / "p", {"flair": "p_flair.nii.gz", "t1ce": "p_t1ce.nii.gz"})
    for name in ("p_flair.nii.gz", "p_t1ce.nii.gz"):
        (folder / name).write_bytes(b"not a NIfTI file at all")
    with pytest.raises(PatientFolderError) as info:
        load_patient(folder, skip_unreadable=True)
    assert info.value.path == folder
    assert "p_flair.nii.gz" in info.value.problem and "p_t1ce.nii.gz" in info.value.problem


# ----------------------------------------------------------------------------- app


class FolderDialogs(RecordingDialogs):
    """RecordingDialogs that also answers File → Open Patient Folder…"""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def open_folder(self, parent, start):
        return self.folder


def _open_with_menu(qtbot, win, folder: Path):
    open_action = next(a for a in win.menus["File"].actions() if a.text().startswith("&Open Patient"))
    with qtbot.waitSignal(win.patient_loaded, timeout=20_000):
        open_action.trigger()  # File -> Open Patient Folder… (the dialog answers `folder`)


def test_app_opens_the_readable_files_and_names_the_damaged_one(qtbot, tmp_path):
    folder = _folder(tmp_path)
    flair = folder / NAMES_2020["flair"]
    damaged = _corrupt(flair)
    dialogs = FolderDialogs(folder)
    win, _ = open_window(qtbot, tmp_path, dialogs)
    try:
        _open_with_menu(qtbot, win, folder)
        assert win.state.patient.modalities == ["t1", "t1ce", "t2"]
        assert win.state.layer("Ground truth") is not None
        title, text = dialogs.errors[-1]
        assert title == "Some files were not opened"
        assert flair.name in text and "corrupt or truncated" in text and str(folder) in text
        assert "FLAIR is missing now" in text
        assert "without 1 file" in win.statusBar().currentMessage()

        # Segment -> Run: the model says which input it lacks, and why that file is missing.
        model = tiny_model(tmp_path / "model", modalities=("flair", "t1ce"))
        dialogs.open_files.append(model.path)
        win.segment.load_model_action.trigger()  # File -> Load Model…
        win.segment.run_action.trigger()
        title, text = dialogs.errors[-1]
        assert title == "Missing modalities"
        assert "needs FLAIR" in text and f"{flair.name} could not be opened" in text
        assert win.state.layer("Prediction") is None
        assert flair.read_bytes() == damaged  # the damaged original is untouched
    finally:
        close_window(win)


def test_app_keeps_a_segmentation_with_an_unexpected_label_out_and_says_so(qtbot, tmp_path):
    folder = _folder(tmp_path)
    seg = _bad_label(folder)
    dialogs = FolderDialogs(folder)
    win, _ = open_window(qtbot, tmp_path, dialogs)
    try:
        _open_with_menu(qtbot, win, folder)
        assert win.state.patient.modalities == ["t1", "t1ce", "t2", "flair"]
        assert win.state.layer("Ground truth") is None
        title, text = dialogs.errors[-1]
        assert title == "Some files were not opened"
        assert seg.name in text and "unexpected label value(s) 5" in text and "ground truth is not shown" in text
    finally:
        close_window(win)


# ----------------------------------------------------------------------------- brats-predict


def test_brats_predict_runs_without_a_damaged_file_the_model_does_not_need(tmp_path, capsys):
    import json

    from brats_desktop.cli.predict import main as predict_main

    folder = _folder(tmp_path)
    t1 = folder / NAMES_2020["t1"]
    _corrupt(t1)
    model = tiny_model(tmp_path / "model", modalities=("flair", "t1ce"))
    assert predict_main([str(folder), "--model", str(model.path), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert Path(result["output"]).exists() and "dice" in result
    assert result["skipped_files"] == [{"key": "t1", "file": str(t1), "problem": result["skipped_files"][0]["problem"]}]
    assert "corrupt or truncated" in result["skipped_files"][0]["problem"]
    assert f"skipped {t1}" in captured.err


def test_brats_predict_names_the_damaged_file_the_model_needs(tmp_path, capsys):
    from brats_desktop.cli.predict import main as predict_main

    folder = _folder(tmp_path)
    flair = folder / NAMES_2020["flair"]
    _corrupt(flair)
    model = tiny_model(tmp_path / "model", modalities=("flair", "t1ce"))
    assert predict_main([str(folder), "--model", str(model.path), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "needs FLAIR" in err and f"{flair.name} could not be read (corrupt or truncated" in err
    assert not list(folder.glob("*prediction*"))
