"""``brats-predict`` on synthetic folders: one JSON object, non-overwriting defaults, cohort CSV."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from brats_desktop.cli.predict import main
from brats_desktop.core.patient import load_patient
from inference_support import tiny_model, write_patient_folder
from models.inference import postprocess_prediction, predict_volume

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _hand_dice(pred: np.ndarray, ref: np.ndarray, classes: tuple[int, ...]) -> float:
    p, r = np.isin(pred, classes), np.isin(ref, classes)
    total = p.sum() + r.sum()
    return 1.0 if total == 0 else float(2 * (p & r).sum() / total)


def test_json_output_and_dice_in_a_subprocess(tmp_path):
    model = tiny_model(tmp_path)
    folder, images, labels = write_patient_folder(tmp_path, "BraTS-GLI-99999-000", "LPS", "2023")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "brats_desktop.cli.predict", str(folder), "--model", str(model.path),
         "--device", "cpu"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # exactly one JSON object, nothing else on stdout
    out = Path(result["output"])
    # core.naming: the app's Export/Save name, '-' separator for BraTS 2023 names
    assert out == folder / "BraTS-GLI-99999-000-prediction.nii.gz" and out.exists()
    assert result["device"] == "cpu" and result["seconds"] > 0
    assert result["label_convention"] == "brats2023"

    raw = predict_volume(model, {m: images[m] for m in model.modalities}, device="cpu")
    pred = postprocess_prediction(model, raw, "brats2021")  # the app's default post-processing
    written = load_patient(folder)  # inputs untouched and still loadable
    back = np.asarray(nib.load(str(out)).dataobj)[::-1, ::-1, :]  # LPS on disk -> canonical
    np.testing.assert_array_equal(back, pred)
    np.testing.assert_array_equal(written.ground_truth, labels)

    classes = {"NCR": (1,), "ED": (2,), "ET": (3,)}
    regions = {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,)}
    for key, cls in classes.items():
        assert result["dice"]["classes"][key] == pytest.approx(_hand_dice(pred, labels, cls), abs=1e-6)
    for key, cls in regions.items():
        assert result["dice"]["regions"][key] == pytest.approx(_hand_dice(pred, labels, cls), abs=1e-6)


def test_ncr_definition_flag_is_applied_and_reported(tmp_path, capsys):
    model = tiny_model(tmp_path, seed=2)  # a random model whose label 1 partly lies outside its enhancing rim
    folder, images, _ = write_patient_folder(tmp_path, "case", "RAS", "2020")
    out = tmp_path / "pred.nii.gz"
    args = [str(folder), "--out", str(out), "--model", str(model.path), "--device", "cpu"]
    assert main(args + ["--ncr-definition", "brats2013"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["ncr_definition"] == "brats2013"
    raw = predict_volume(model, {m: images[m] for m in model.modalities}, device="cpu")
    expected = postprocess_prediction(model, raw, "brats2013")
    assert (expected != postprocess_prediction(model, raw, "brats2021")).sum() > 100  # the flag matters here
    written = np.asarray(nib.load(str(out)).dataobj)
    np.testing.assert_array_equal(np.where(written == 4, 3, written), expected)
    with pytest.raises(SystemExit):  # argparse names the allowed choices
        main(args + ["--ncr-definition", "brats2099"])
    assert "brats2021" in capsys.readouterr().err


def test_default_output_never_overwrites(tmp_path, capsys):
    model = tiny_model(tmp_path)
    folder, _, _ = write_patient_folder(tmp_path, "BraTS20_Training_777", "RAS", "2020", with_seg=False)
    first = folder / "BraTS20_Training_777_prediction.nii.gz"
    first.write_bytes(b"an older prediction")
    assert main([str(folder), "--model", str(model.path), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == str(folder / "BraTS20_Training_777_prediction-1.nii.gz")
    assert first.read_bytes() == b"an older prediction"
    assert "dice" not in result  # no segmentation in the folder
    assert result["label_convention"] == "brats2020"
    values = set(np.unique(np.asarray(nib.load(result["output"]).dataobj)))
    assert values <= {0, 1, 2, 4}


def test_explicit_out_refuses_existing_file_and_inputs(tmp_path, capsys):
    model = tiny_model(tmp_path)
    folder, _, _ = write_patient_folder(tmp_path, "case", "RAS", "2023")
    out = tmp_path / "existing.nii.gz"
    out.write_bytes(b"x")
    assert main([str(folder), "--out", str(out), "--model", str(model.path), "--device", "cpu"]) == 1
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"x"
    seg = folder / "case-seg.nii.gz"
    before = seg.read_bytes()
    assert main([str(folder), "--out", str(seg), "--overwrite", "--model", str(model.path)]) == 1
    assert "never overwritten" in capsys.readouterr().err and seg.read_bytes() == before


def test_missing_modality_and_bad_model_are_clear_errors(tmp_path, capsys):
    model = tiny_model(tmp_path)
    folder, _, _ = write_patient_folder(tmp_path, "t1only", "RAS", "2023", modalities=("t1", "t2"))
    assert main([str(folder), "--model", str(model.path)]) == 1
    err = capsys.readouterr().err
    assert "FLAIR" in err and "T1CE" in err and "t1only" in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert main([str(folder), "--model", str(bad)]) == 1
    assert "bad.pt" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([str(folder), "--model", str(model.path), "--device", "cuda"]) == 1
        assert "CUDA" in capsys.readouterr().err


def test_cohort_folder_writes_csv(tmp_path, capsys):
    model = tiny_model(tmp_path)
    cohort = tmp_path / "cohort"
    write_patient_folder(cohort, "p1", "RAS", "2023", seed=1)
    write_patient_folder(cohort, "p2", "LPS", "2020", seed=2, with_seg=False)
    write_patient_folder(cohort, "p3", "RAS", "2023", seed=3, modalities=("t1",))
    out_dir = tmp_path / "preds"
    assert main([str(cohort), "--out", str(out_dir), "--model", str(model.path), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["patients"] == 3 and result["succeeded"] == 2 and result["failed"] == 1
    with open(result["csv"], newline="") as fh:
        rows = {row["patient"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"p1", "p2", "p3"}
    assert rows["p1"]["dice_WT"] != "" and rows["p2"]["dice_WT"] == ""
    assert "FLAIR" in rows["p3"]["error"]
    assert Path(rows["p1"]["output"]).parent == out_dir and Path(rows["p1"]["output"]).exists()
    assert (out_dir / "p2_prediction.nii.gz").exists()  # core.naming: <case id>_prediction


@pytest.mark.realdata
def test_real_case_prediction_lies_on_its_grid(tmp_path, shared_data, capsys):
    """brainles-sample-case (LPS, float images, BraTS 2023 labels): output on the seg's own grid."""
    model = tiny_model(tmp_path)
    case = shared_data / "brainles-sample-case"
    out = tmp_path / "real_pred.nii.gz"
    assert main([str(case), "--out", str(out), "--model", str(model.path), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["dice"]["regions"]) == {"WT", "TC", "ET"}
    ref = nib.load(str(case / "seg.nii.gz"))
    got = nib.load(str(out))
    assert got.shape == ref.shape == (240, 240, 155)
    np.testing.assert_allclose(got.affine, ref.affine, atol=1e-6)
    assert got.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(got.dataobj))) <= {0, 1, 2, 3}


def test_without_model_uses_the_bundled_tier_the_app_would_pick(tmp_path, capsys, monkeypatch):
    import models.checkpoint as checkpoint
    import models.tiers as tiers
    from tier_support import write_manifest

    two = tiny_model(tmp_path / "two", modalities=("flair", "t1ce")).path
    tiny_model(tmp_path / "four", modalities=("t1", "t1ce", "t2", "flair"), seed=1)
    write_manifest(tmp_path, ["two/tiny.pt"], ["two/tiny.pt", "four/tiny.pt"])
    monkeypatch.setattr(tiers, "BUNDLED_DIR", tmp_path)
    full, _, _ = write_patient_folder(tmp_path, "full", "RAS", "2023")
    pair, _, _ = write_patient_folder(tmp_path, "pair", "RAS", "2023", modalities=("flair", "t1ce"))
    assert main([str(full), "--device", "cpu"]) == 0  # no GPU: Fast
    record = json.loads(capsys.readouterr().out)
    assert record["model"] == str(two) and record["tier"] == "fast"
    assert main([str(full), "--device", "cpu", "--accurate", "--out", str(tmp_path / "acc.nii.gz")]) == 0
    assert json.loads(capsys.readouterr().out)["members"] == ["two/tiny.pt", "four/tiny.pt"]
    assert main([str(pair), "--device", "cpu", "--accurate"]) == 1  # a member needs T1 and T2
    assert "T1, T2" in capsys.readouterr().err
    monkeypatch.setattr(checkpoint, "bundled_models", lambda: [])
    assert main([str(pair)]) == 1
    assert "--model" in capsys.readouterr().err


def test_read_only_patient_folder_needs_out(tmp_path, capsys):
    model = tiny_model(tmp_path)
    folder, _, _ = write_patient_folder(tmp_path, "locked", "RAS", "2023")
    folder.chmod(0o555)  # like ../shared/data (root would ignore the bits; we do not)
    try:
        assert main([str(folder), "--model", str(model.path), "--device", "cpu"]) == 1
        assert "read-only" in capsys.readouterr().err
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            f"locked-{t}.nii.gz" for t in ("t1n", "t1c", "t2w", "t2f", "seg")
        )
    finally:
        folder.chmod(0o755)


def test_default_meaning_of_label_1_is_each_folders_own_and_a_mixed_cohort_is_warned(tmp_path, capsys):
    """Without --ncr-definition a Brats18_ folder gets the BraTS 2013-2020 label 1, as the app and brats-evaluate give it."""
    model = tiny_model(tmp_path, seed=2)  # its label 1 partly lies outside the enhancing rim: the meaning matters
    root = tmp_path / "cohort"
    old, images, _ = write_patient_folder(root, "Brats18_TCIA10_001_1", "LPS", "2020")
    write_patient_folder(root, "BraTS-GLI-00001-000", "RAS", "2023")
    out = tmp_path / "one.nii.gz"
    assert main([str(old), "--out", str(out), "--model", str(model.path), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["ncr_definition"] == "brats2013"
    assert "BraTS 2018 naming" in record["ncr_definition_from"]
    assert "label 1 = NCR/NET (brats2013" in captured.err
    raw = predict_volume(model, {m: images[m] for m in model.modalities}, device="cpu")
    expected = postprocess_prediction(model, raw, "brats2013")
    assert (expected != postprocess_prediction(model, raw, "brats2021")).sum() > 100
    written = np.asarray(nib.load(str(out)).dataobj)[::-1, ::-1, :]
    np.testing.assert_array_equal(np.where(written == 4, 3, written), expected)

    assert main([str(root), "--model", str(model.path), "--device", "cpu", "--workers", "0"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    meanings = {r["patient"]: r["ncr_definition"] for r in summary["results"]}
    assert meanings == {"Brats18_TCIA10_001_1": "brats2013", "BraTS-GLI-00001-000": "brats2021"}
    assert "mixes two meanings of label 1" in captured.err and summary["warnings"]
    assert "Brats18_TCIA10_001_1: done (label 1 = NCR/NET" in captured.err
    with open(summary["csv"], newline="") as fh:
        rows = {row["patient"]: row for row in csv.DictReader(fh)}
    assert rows["Brats18_TCIA10_001_1"]["ncr_definition"] == "brats2013"
    assert rows["BraTS-GLI-00001-000"]["ncr_definition"] == "brats2021"
    assert "BraTS 2023 naming" in rows["BraTS-GLI-00001-000"]["ncr_definition_from"]
