"""crossval --save-predictions (raw argmax + ET probability per held-out patient) and --subset (sequences left out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import load_model, save_model
from models.unet import build_network
from tests.test_training_evaluate import ARCH
from tests.tiny_cases import make_folder
from training.folds import save_folds, splits_of
from training.oof_predictions import load_prediction, quantise_probability, save_prediction

torch.set_num_threads(1)


def _model(path: Path, optional: bool = False) -> Path:
    torch.manual_seed(0)
    meta = {
        "name": "tiny", "modalities": ["flair", "t1ce"],
        "classes": {0: "background", 1: "NCR/NET", 2: "edema", 3: "enhancing"}, "label_convention": "internal",
        "preprocessing": {"normalisation": "zscore_brain", "crop": "brain_box", "margin": 1, "resize": None,
                          "context": 1, "size_multiple": 4, "clip": None},
        "architecture": ARCH, "training": {}, "metrics": {}, "licence": "test",
        **({"optional_modalities": True} if optional else {}),
    }
    return save_model(path, build_network(ARCH).eval(), meta)


def _patient(root: Path, name: str, t2: bool) -> Path:
    names = {"flair": f"{name}_flair.nii.gz", "t1ce": f"{name}_t1ce.nii.gz", "seg": f"{name}_seg.nii.gz"}
    if t2:
        names["t2"] = f"{name}_t2.nii.gz"
    return make_folder(root / name, names, seg_values="2020")


def _run(tmp_path: Path, optional: bool = False) -> tuple[Path, list[Path]]:
    """Two finished folds of one held-out patient each (the same tiny model); BraTS20_a has T2, BraTS20_b not."""
    data = tmp_path / "data"
    folders = [_patient(data, "BraTS20_a", True), _patient(data, "BraTS20_b", False)]
    run = tmp_path / "run"
    save_folds(splits_of([["BraTS20_a"], ["BraTS20_b"]], 0), {"BraTS20_a": "enhancing", "BraTS20_b": "enhancing"}, run)
    for i in range(2):
        _model(run / f"fold-{i}" / "best.pt", optional)
        (run / f"fold-{i}" / "done").write_text("finished\n")
    return run, folders


def test_a_saved_prediction_reads_back_as_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 4, (9, 8, 7)).astype(np.uint8)
    probs = rng.dirichlet(np.ones(4), size=raw.shape).transpose(3, 0, 1, 2).astype(np.float16)
    path = save_prediction(tmp_path / "p" / "case.npz", raw, probs, (1.0, 1.0, 2.5), {"fold": "fold-3", "tta": "flip"})
    assert path == tmp_path / "p" / "case.npz" and [p.name for p in path.parent.iterdir()] == ["case.npz"]
    saved = load_prediction(path)
    assert saved.patient == "case" and saved.spacing == (1.0, 1.0, 2.5)
    np.testing.assert_array_equal(saved.raw, raw)
    assert saved.et_probability is not None and saved.et_probability.dtype == np.uint8
    assert np.abs(saved.et_probability_float() - probs[3].astype(np.float32)).max() <= 0.5 / 255 + 1e-6
    assert saved.probabilities is not None and saved.probabilities.shape == (4, *raw.shape)
    assert np.abs(saved.probabilities.astype(np.float32) / 255 - probs.astype(np.float32)).max() <= 0.5 / 255 + 1e-6
    assert saved.meta == {"fold": "fold-3", "tta": "flip"}
    np.testing.assert_array_equal(quantise_probability(np.array([0.0, 1 / 255, 0.5, 1.0, 1.2])), [0, 1, 128, 255, 255])
    without = load_prediction(save_prediction(tmp_path / "q.npz", raw, None, (1.0, 1.0, 1.0)))
    assert without.et_probability is None and without.et_probability_float() is None and without.probabilities is None
    with pytest.raises(ValueError, match="do not fit"):
        save_prediction(tmp_path / "r.npz", raw, probs[:, :3], (1.0, 1.0, 1.0))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a saved out-of-fold prediction"):
        load_prediction(tmp_path / "bad.npz")


def test_scoring_saves_the_raw_argmax_and_refills_a_missing_file(tmp_path: Path, monkeypatch) -> None:
    from models.tta import predict_with_tta
    from training import crossval
    from brats_desktop.core.patient import load_patient

    run, folders = _run(tmp_path)
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: folders)
    assert crossval.main(["--data", str(tmp_path / "data"), "--out", str(run), "--score-only", "--threads", "1"]) == 0
    assert not list(run.glob("fold-*/pred*"))  # not asked: nothing saved
    rows = json.loads((run / "fold-0" / "oof.json").read_text())
    assert crossval.main(["--data", str(tmp_path / "data"), "--out", str(run), "--score-only", "--threads", "1",
                          "--save-predictions"]) == 0
    target = run / "fold-0" / "pred" / "BraTS20_a.npz"
    assert target.exists() and (run / "fold-1" / "pred" / "BraTS20_b.npz").exists()
    saved = load_prediction(target)
    patient = load_patient(folders[0])
    expected = predict_with_tta(load_model(run / "fold-0" / "best.pt"), patient.images, tta="none")
    np.testing.assert_array_equal(saved.raw, expected.labels)  # before post-processing
    np.testing.assert_array_equal(saved.et_probability, quantise_probability(expected.probabilities[3]))
    assert saved.meta["fold"] == "fold-0" and saved.meta["tta"] == "none"
    assert json.loads((run / "fold-0" / "oof.json").read_text()) == rows  # same model, same rows
    # A file lost later is predicted again even though the patient's rows are cached ...
    target.unlink()
    stamp = (run / "fold-1" / "pred" / "BraTS20_b.npz").stat().st_mtime_ns
    crossval.main(["--data", str(tmp_path / "data"), "--out", str(run), "--score-only", "--threads", "1",
                   "--save-predictions"])
    np.testing.assert_array_equal(load_prediction(target).raw, saved.raw)
    assert (run / "fold-1" / "pred" / "BraTS20_b.npz").stat().st_mtime_ns == stamp  # ... and only that one


def test_flip_tta_predictions_go_to_their_own_folder(tmp_path: Path, monkeypatch) -> None:
    from training import crossval

    run, folders = _run(tmp_path)
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: folders)
    crossval.main(["--data", str(tmp_path / "data"), "--out", str(run), "--score-only", "--threads", "1",
                   "--tta", "flip", "--save-predictions", "--only", "0"])
    assert [p.name for p in run.glob("fold-*/pred*")] == ["pred-tta-flip"]
    assert load_prediction(run / "fold-0" / "pred-tta-flip" / "BraTS20_a.npz").meta["tta"] == "flip"


def test_a_subset_scores_the_patients_having_it_and_says_how_many(tmp_path: Path, monkeypatch, capsys) -> None:
    from training import crossval

    run, folders = _run(tmp_path)
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: folders)
    argv = ["--data", str(tmp_path / "data"), "--out", str(run), "--score-only", "--threads", "1",
            "--subset", "flair,t2", "--save-predictions"]
    with pytest.raises(SystemExit, match="needs t1ce.*not trained with modality dropout"):
        crossval.main(argv)  # a model that needs T1CE cannot be scored without it
    run, folders = _run(tmp_path / "dropout", optional=True)
    monkeypatch.setattr(crossval, "real_patient_folders", lambda roots: folders)
    argv[3] = str(run)
    assert crossval.main(argv) == 0
    assert json.loads((run / "fold-1" / "oof-sub-flair-t2.json").read_text()) == []  # BraTS20_b has no T2
    assert [r["patient"] for r in json.loads((run / "fold-0" / "oof-sub-flair-t2.json").read_text())] == ["BraTS20_a"]
    table = (run / "cv-sub-flair-t2.md").read_text()
    assert table.startswith("Sequences FLAIR, T2 only: 1 of 2 held-out patients scored (1 lack one of them).")
    assert (run / "fold-0" / "pred-sub-flair-t2" / "BraTS20_a.npz").exists()
    assert load_prediction(run / "fold-0" / "pred-sub-flair-t2" / "BraTS20_a.npz").meta["subset"] == "flair,t2"
    assert "no T2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        crossval.main(["--data", "x", "--out", str(run), "--score-only", "--subset", "flair,pd"])
    assert "--subset needs sequence names" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        crossval.main(["--data", "x", "--out", str(run), "--subset", "flair"])
    assert "use it with --score-only" in capsys.readouterr().err
    assert crossval.scores_name("flip", [], ["flair", "t2"]) == "-tta-flip-sub-flair-t2"
