"""One default file name per kind of output.

Export, Save As and ``brats-predict`` used to suggest ``<folder>_prediction``,
``<case id>-prediction`` and ``<folder>_pred`` for the same prediction; now all three
use :func:`brats_desktop.core.naming.output_path`, and the export dialog says what it exports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brats_desktop.cli.predict import main as predict_main
from brats_desktop.core.patient import load_patient

from inference_support import RecordingDialogs, close_window, open_window, tiny_model, write_patient_folder


class NamingDialogs(RecordingDialogs):
    """Records the title and suggested name of every save dialog, and cancels it."""

    def __init__(self) -> None:
        super().__init__()
        self.save_dialogs: list[tuple[str, Path]] = []

    def save_path(self, parent, title, suggested):
        self.save_dialogs.append((title, Path(suggested)))
        return None  # cancel: only the suggestion matters here


@pytest.mark.parametrize(
    "naming,case,expected",
    [
        ("2023", "BraTS-GLI-00042-000", "BraTS-GLI-00042-000-prediction.nii.gz"),
        ("2020", "BraTS20_Training_042", "BraTS20_Training_042_prediction.nii.gz"),
    ],
)
def test_export_save_and_brats_predict_suggest_one_name(qtbot, tmp_path, naming, case, expected, capsys):
    written, _, labels = write_patient_folder(tmp_path, case, "LPS", naming, modalities=("flair", "t1ce"))
    folder = written.rename(tmp_path / "second visit")  # the folder's name is not the case id
    dialogs = NamingDialogs()
    win, _ = open_window(qtbot, tmp_path, dialogs)
    try:
        win.show_patient(load_patient(folder))
        layer = win.state.replace_layer("Prediction", labels, kind="prediction")
        assert win.segment.export_action.isEnabled()
        win.segment.export_action.trigger()  # File -> Export Prediction as NIfTI…
        title, exported = dialogs.save_dialogs[-1]
        assert title == "Export Prediction as NIfTI"
        assert exported == folder / expected

        win.annotation.editor.set_layer(layer)
        win.annotation.save_as_action.trigger()  # File -> Save Annotation As…
        assert dialogs.save_dialogs[-1][1] == folder / expected
    finally:
        close_window(win)

    model = tiny_model(tmp_path / "model")
    assert predict_main([str(folder), "--model", str(model.path), "--device", "cpu"]) == 0
    assert Path(json.loads(capsys.readouterr().out)["output"]) == folder / expected


def test_export_dialog_is_titled_after_the_layer_it_exports(qtbot, tmp_path):
    folder, _, _ = write_patient_folder(tmp_path, "BraTS20_Training_007", "RAS", "2020", modalities=("flair",))
    dialogs = NamingDialogs()
    win, _ = open_window(qtbot, tmp_path, dialogs)
    try:
        win.show_patient(load_patient(folder))
        win.export_action.trigger()  # File -> Export Label Layer… (one layer: no choice asked)
        title, suggested = dialogs.save_dialogs[-1]
        assert title == "Export Ground truth as NIfTI"
        # An unedited ground truth is named as the copy it is (not "corrected"), never a second *_seg file.
        assert suggested == folder / "BraTS20_Training_007_ground-truth.nii.gz"
    finally:
        close_window(win)
