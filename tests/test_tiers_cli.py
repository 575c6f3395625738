"""brats-predict --fast / --accurate for one patient and a cohort, and the sidecar beside the mask."""

from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest
import torch

from brats_desktop.cli.predict import main
from brats_desktop.core.prediction_sidecar import read_sidecar, sidecar_path
from inference_support import tiny_model, write_patient_folder
from tier_support import install_three_plane_bundle

torch.set_num_threads(1)


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """A three-plane tiny Accurate tier and a one-model Fast tier, installed as the bundled manifest."""
    folder, models = install_three_plane_bundle(tmp_path, monkeypatch)
    return models


def _predict(argv: list[str]) -> dict:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    assert code == 0
    return json.loads(buffer.getvalue())


def test_accurate_flag_runs_the_tier_and_the_sidecar_records_it(tmp_path, bundle):
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00009-000")
    out = tmp_path / "pred.nii.gz"
    record = _predict([str(folder), "--accurate", "--out", str(out), "--device", "cpu", "--batch-size", "8"])
    assert record["tier"] == "accurate" and record["members"] == ["axial/tiny.pt", "coronal/tiny.pt", "sagittal/tiny.pt"]
    assert record["model_label"].startswith("Accurate (3 models: axial + coronal + sagittal")
    sidecar = read_sidecar(out)
    assert sidecar is not None and record["sidecar"] == str(sidecar_path(out)) == str(tmp_path / "pred.json")
    assert sidecar["tier"] == "accurate" and sidecar["mask"] == "pred.nii.gz" and sidecar["edited"] is False
    assert [m["plane"] for m in sidecar["members"]] == ["axial", "coronal", "sagittal"]
    assert all(m["version"].startswith("sha256:") for m in sidecar["members"])


def test_on_a_cpu_the_default_is_fast_and_fast_can_be_named(tmp_path, bundle):
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00010-000")
    auto = _predict([str(folder), "--out", str(tmp_path / "a.nii.gz"), "--device", "cpu"])
    fast = _predict([str(folder), "--fast", "--out", str(tmp_path / "b.nii.gz"), "--device", "cpu"])
    assert auto["tier"] == fast["tier"] == "fast" and auto["members"] == ["axial/tiny.pt"]
    assert read_sidecar(tmp_path / "b.nii.gz")["tier"] == "fast"
    with pytest.raises(SystemExit):  # one tier or the other
        main([str(folder), "--fast", "--accurate"])


def test_accurate_with_a_checkpoint_means_flip_tta_on_it(tmp_path, bundle):
    (tmp_path / "own").mkdir()
    model = tiny_model(tmp_path / "own")
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00011-000")
    record = _predict([str(folder), "--accurate", "--model", str(model.path), "--out", str(tmp_path / "p.nii.gz"),
                       "--device", "cpu"])
    assert record["tier"] is None and record["tta"] == "flip" and record["members"] == ["tiny.pt"]


def test_a_cohort_runs_the_chosen_tier(tmp_path, bundle):
    cohort = tmp_path / "cohort"
    for i in (1, 2):
        write_patient_folder(cohort, f"BraTS-GLI-0000{i}-000", seed=i)
    summary = _predict([str(cohort), "--accurate", "--device", "cpu", "--workers", "0", "--batch-size", "8"])
    assert summary["succeeded"] == 2 and summary["tiers"] == ["accurate"]
    assert all(r["tier"] == "accurate" and len(r["members"]) == 3 for r in summary["results"])
    with open(summary["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["tier"] for r in rows] == ["accurate", "accurate"]
    review = json.loads((cohort / "brats-review.json").read_text())
    entries = review.get("cases", review)
    assert {e["ai_tier"] for e in entries.values()} == {"accurate"}


def test_brats_evaluate_scores_the_accurate_tier(tmp_path, bundle, capsys):
    from training.evaluate import main as evaluate

    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-00012-000")
    out = tmp_path / "eval"
    assert evaluate([str(folder), "--accurate", "--out", str(out), "--lesion-method", "none", "--batch-size", "8"]) == 0
    assert "Accurate (3 models: axial + coronal + sagittal" in capsys.readouterr().err
    written = json.loads((out / "evaluation.json").read_text())
    assert "coronal/tiny.pt" in json.dumps(written)  # the partners are recorded with the scores
    with pytest.raises(SystemExit):
        evaluate([str(folder), "--accurate", "--model", str(bundle["axial"].path)])
