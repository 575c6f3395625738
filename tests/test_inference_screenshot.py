"""``brats-desktop PATIENT --screenshot FILE.png --predict`` renders the window with the prediction."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtGui import QImage

from brats_desktop.app.main import main
from inference_support import tiny_model, write_patient_folder

torch.set_num_threads(1)


def _pixels(path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    assert not image.isNull(), f"{path} is not an image"
    ptr = image.constBits()
    # Copy while the QImage is alive: the view would dangle once it is garbage-collected.
    return np.frombuffer(ptr, np.uint8, image.sizeInBytes()).reshape(image.height(), image.bytesPerLine()).copy()


def test_screenshot_with_prediction_differs_from_without(qtbot, tmp_path, monkeypatch, capsys):
    import models.checkpoint as checkpoint

    model = tiny_model(tmp_path).path
    monkeypatch.setattr(checkpoint, "bundled_models", lambda: [model])
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00077-000", "LPS", "2023", with_seg=False)
    plain, predicted = tmp_path / "plain.png", tmp_path / "pred.png"
    assert main([str(folder), "--screenshot", str(plain), "--size", "900x700"]) == 0
    assert main([str(folder), "--screenshot", str(predicted), "--size", "900x700", "--predict"]) == 0
    a, b = _pixels(plain), _pixels(predicted)
    assert a.shape == b.shape
    assert (a != b).any(axis=1).sum() > 50  # the overlay (and the metrics dock) changed many rows


def test_screenshot_predict_reports_missing_modalities(qtbot, tmp_path, monkeypatch, capsys):
    import models.checkpoint as checkpoint

    model = tiny_model(tmp_path).path
    monkeypatch.setattr(checkpoint, "bundled_models", lambda: [model])
    folder, _, _ = write_patient_folder(tmp_path, "only-t1", "RAS", "2023", modalities=("t1",))
    out = tmp_path / "x.png"
    assert main([str(folder), "--screenshot", str(out), "--predict"]) == 2
    assert "FLAIR" in capsys.readouterr().err and not out.exists()
