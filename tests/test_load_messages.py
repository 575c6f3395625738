"""Messages a person understands: the path the user gave, and what is wrong, in words.

Before: a missing folder read "patient: folder does not exist (in /nonexistent)"
(folder-level problems named the parent folder), and a file given to ``--model``
that is not a model ended in "(pop from empty list)" or in PyTorch's own
"Weights only load failed ..." text.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from brats_desktop.cli.predict import main as predict_main
from models.checkpoint import ModelLoadError, load_model

from inference_support import RecordingDialogs, close_window, open_window, tiny_model, write_patient_folder

INTERNALS = ("pop from empty list", "Weights only load failed", "weights_only", "Traceback", "list index",
             "PytorchStreamReader", "miniz", "Unsupported operand")


class FolderDialogs(RecordingDialogs):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def open_folder(self, parent, start):
        return self.folder


def _open_failing(qtbot, tmp_path: Path, folder: Path) -> tuple[str, list]:
    dialogs = FolderDialogs(folder)
    win, _ = open_window(qtbot, tmp_path, dialogs)
    try:
        open_action = next(a for a in win.menus["File"].actions() if a.text().startswith("&Open Patient"))
        with qtbot.waitSignal(win.load_failed, timeout=20_000) as blocker:
            open_action.trigger()  # File -> Open Patient Folder…
        return blocker.args[0], dialogs.errors
    finally:
        close_window(win)


def test_missing_folder_is_named_in_full_not_by_its_parent(qtbot, tmp_path):
    folder = tmp_path / "nonexistent" / "patient"
    message, errors = _open_failing(qtbot, tmp_path, folder)
    assert message == f"{folder}: folder does not exist"
    assert errors[-1] == ("Cannot open patient", message)


def test_folder_without_images_names_that_folder(qtbot, tmp_path):
    folder = tmp_path / "study" / "visit-1"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("no images here")
    message, _ = _open_failing(qtbot, tmp_path, folder)
    assert message.startswith(f"{folder}: no MRI volumes found")
    assert "(in " not in message


def test_file_problems_still_name_the_file_and_its_folder(qtbot, tmp_path):
    folder, _, _ = write_patient_folder(tmp_path, "case", "RAS", "2023", modalities=("flair",), with_seg=False)
    flair = next(folder.glob("*t2f*"))
    flair.write_bytes(b"\x1f\x8b damaged")
    message, _ = _open_failing(qtbot, tmp_path, folder)
    assert message.startswith(f"{flair.name}: ") and message.endswith(f"(in {folder})")


def test_brats_predict_missing_folder(capsys, tmp_path):
    folder = tmp_path / "nonexistent" / "patient"
    assert predict_main([str(folder)]) == 1
    assert capsys.readouterr().err.strip() == f"brats-predict: error: {folder}: folder does not exist"


def _write_kind(path: Path, kind: str) -> str:
    """Write a file that is not a model; returns the words the message must contain."""
    if kind == "text":
        path.write_text("epoch,loss\n1,0.5\n")
        return "not a model file: it is a text file"
    if kind == "empty":
        path.write_bytes(b"")
        return "not a model file: the file is empty"
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "hello")
        return "not a model file: a ZIP archive that is not a PyTorch checkpoint"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
        return "not a model file: a Python pickle"
    if kind == "hdf5":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
        return "not a model file: it is an HDF5 file (e.g. a Keras .h5 model)"
    if kind == "nifti":
        path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
        return "not a model file: it is a gzip-compressed file"
    if kind == "whole_network":
        torch.save(torch.nn.Linear(2, 2), path)
        return "refused: the file holds Python objects other than weights"
    if kind == "truncated":
        torch.save({"a": torch.zeros(100)}, path)
        path.write_bytes(path.read_bytes()[:200])
        return "damaged or incomplete"
    raise AssertionError(kind)


KINDS = ["text", "empty", "zip", "pickle", "hdf5", "nifti", "whole_network", "truncated"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_is_not_a_model_is_called_so(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    words = _write_kind(path, kind)
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and words in message
    assert not any(bit in message for bit in INTERNALS), message


@pytest.mark.parametrize("kind", ["text", "zip", "empty"])
def test_brats_predict_says_the_model_file_is_not_a_model(tmp_path, capsys, kind):
    folder, _, _ = write_patient_folder(tmp_path, "case", "RAS", "2023", modalities=("flair", "t1ce"))
    path = tmp_path / f"model.{kind}"
    words = _write_kind(path, kind)
    assert predict_main([str(folder), "--model", str(path), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"brats-predict: error: {path}: ") and words in err
    assert not any(bit in err for bit in INTERNALS), err
    assert not list(folder.glob("*prediction*"))  # nothing written


def test_load_model_menu_names_the_file_and_a_real_model_still_loads(qtbot, tmp_path):
    dialogs = RecordingDialogs()
    win, _ = open_window(qtbot, tmp_path, dialogs)
    try:
        notes = tmp_path / "notes.txt"
        _write_kind(notes, "text")
        dialogs.open_files.append(notes)
        win.segment.load_model_action.trigger()  # File -> Load Model…
        title, text = dialogs.errors[-1]
        assert title == "Cannot load model" and text.startswith(f"{notes}: not a model file: it is a text file")
        model = tiny_model(tmp_path / "model")
        dialogs.open_files.append(model.path)
        win.segment.load_model_action.trigger()
        assert win.segment.user_model is not None and win.segment.user_model.path == model.path
        assert len(dialogs.errors) == 1
    finally:
        close_window(win)
