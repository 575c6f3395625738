"""``brats-predict --uncertainty FILE``: the normalised-entropy map as float32 NIfTI on the source grid."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from brats_desktop.cli.predict import main
from brats_desktop.core.nifti_io import read_volume
from brats_desktop.core.uncertainty import entropy_map
from inference_support import tiny_model, write_patient_folder
from models.inference import predict_probabilities

torch.set_num_threads(1)


def test_uncertainty_map_lies_on_the_lps_source_grid(tmp_path, capsys):
    model = tiny_model(tmp_path)
    folder, images, _ = write_patient_folder(tmp_path, "case", "LPS", "2023")
    out, unc = tmp_path / "pred.nii.gz", tmp_path / "unc.nii.gz"
    assert main([str(folder), "--out", str(out), "--model", str(model.path), "--device", "cpu",
                 "--tta", "none", "--uncertainty", str(unc)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["uncertainty"] == str(unc)
    img, seg = nib.load(str(unc)), nib.load(str(out))
    assert img.get_data_dtype() == np.float32
    assert img.shape == seg.shape
    np.testing.assert_allclose(img.affine, seg.affine)  # same grid as the prediction and the inputs
    canonical, _ = read_volume(unc)
    expected = entropy_map(predict_probabilities(model, {m: images[m] for m in model.modalities}, device="cpu"))
    np.testing.assert_allclose(canonical, expected, atol=5e-3)  # float16 probabilities in the run
    assert 0.0 <= canonical.min() and canonical.max() <= 1.0 and canonical.max() > 0.05


def test_uncertainty_refuses_an_existing_file_and_a_cohort(tmp_path, capsys):
    model = tiny_model(tmp_path)
    folder, _, _ = write_patient_folder(tmp_path, "case", "RAS", "2023")
    unc = tmp_path / "unc.nii.gz"
    unc.write_bytes(b"keep me")
    code = main([str(folder), "--out", str(tmp_path / "p.nii.gz"), "--model", str(model.path),
                 "--device", "cpu", "--uncertainty", str(unc)])
    assert code == 1
    assert "already exists" in capsys.readouterr().err and unc.read_bytes() == b"keep me"
    assert not (tmp_path / "p.nii.gz").exists()  # refused before predicting anything
    cohort = tmp_path / "cohort"
    write_patient_folder(cohort, "a", "RAS", "2023")
    write_patient_folder(cohort, "b", "RAS", "2023")
    assert main([str(cohort), "--model", str(model.path), "--device", "cpu", "--uncertainty", str(unc)]) == 1
    assert "one patient folder" in capsys.readouterr().err


def test_uncertainty_into_a_folder_is_named_by_the_scheme(tmp_path, capsys):
    model = tiny_model(tmp_path)
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-12345-000", "RAS", "2023")
    dest = tmp_path / "maps"
    dest.mkdir()
    assert main([str(folder), "--model", str(model.path), "--device", "cpu", "--uncertainty", str(dest)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["uncertainty"] == str(dest / "BraTS-GLI-12345-000-uncertainty.nii.gz")
