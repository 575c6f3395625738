"""brats-evaluate: lesion-wise columns, the meaning of label 1 per folder (--ncr-definition auto), box plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from brats_desktop.core.lesionwise import lesionwise_regions
from tests.test_training_evaluate import _tiny_model
from tests.tiny_cases import make_folder, ras_labels
from training.evaluate import main, score

torch.set_num_threads(1)


def _cohort(root: Path) -> Path:
    """One BraTS 2020-named patient (label 1 = NCR/NET) and one BraTS 2023-named patient (label 1 = necrosis)."""
    make_folder(root / "BraTS20_Training_001", {
        "flair": "BraTS20_Training_001_flair.nii.gz", "t1ce": "BraTS20_Training_001_t1ce.nii.gz",
        "seg": "BraTS20_Training_001_seg.nii.gz"}, seg_values="2020")
    make_folder(root / "BraTS-GLI-00002-000", {
        "flair": "BraTS-GLI-00002-000-t2f.nii.gz", "t1ce": "BraTS-GLI-00002-000-t1c.nii.gz",
        "seg": "BraTS-GLI-00002-000-seg.nii.gz"}, seg_values="2023")
    return root


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_score_has_the_lesion_wise_columns_of_core_lesionwise() -> None:
    ref = ras_labels()
    pred = ref.copy()
    pred[pred == 3] = 2  # enhancing missed: ET lesion-wise Dice 0, one false negative
    s = score(pred, ref, (1.0, 1.0, 1.0), "brats2023")
    expected = lesionwise_regions(pred, ref, (1.0, 1.0, 1.0), "brats2023")
    for region, e in expected.items():
        assert s[f"lw_dice_{region}"] == e.dice and s[f"lw_hd95_{region}"] == e.hd95
        assert (s[f"lw_tp_{region}"], s[f"lw_fn_{region}"], s[f"lw_fp_{region}"]) == (e.tp, e.fn, e.fp)
    # The 24-voxel ET lesion is below the 2023 rule's 50 mm3: not scored; panoptica counts the miss.
    assert (s["lw_dice_ET"], s["lw_fn_ET"]) == (1.0, 0)
    p = score(pred, ref, (1.0, 1.0, 1.0), "panoptica")
    assert (p["lw_dice_ET"], p["lw_fn_ET"], p["lw_hd95_ET"]) == (0.0, 1, 374.0)
    assert "lw_dice_WT" not in score(pred, ref, (1.0, 1.0, 1.0))  # off unless asked


def test_auto_definition_per_folder_and_one_mean_per_definition(tmp_path: Path) -> None:
    root = _cohort(tmp_path / "cohort")
    model = _tiny_model(tmp_path / "m.pt")
    out = tmp_path / "eval"
    assert main([str(root), "--model", str(model), "--out", str(out), "--threads", "1"]) == 0
    rows = _csv(out / "evaluation.csv")
    by_name = {r["patient"]: r for r in rows}
    assert by_name["BraTS20_Training_001"]["ncr_definition"] == "brats2013"
    assert by_name["BraTS-GLI-00002-000"]["ncr_definition"] == "brats2021"
    assert "BraTS 2020" in by_name["BraTS20_Training_001"]["ncr_definition_from"]
    # No overall mean over two meanings of label 1: one mean row each.
    assert "mean" not in by_name
    assert by_name["mean brats2013"]["dice_TC"] == by_name["BraTS20_Training_001"]["dice_TC"]
    assert by_name["mean brats2021"]["lw_dice_WT"] == by_name["BraTS-GLI-00002-000"]["lw_dice_WT"]
    for r in rows[:2]:
        assert 0.0 <= float(r["lw_dice_WT"]) <= 1.0 and 0.0 <= float(r["lw_hd95_ET"]) <= 374.0
    data = json.loads((out / "evaluation.json").read_text())
    assert data["mean"] is None and set(data["means"]) == {"brats2013", "brats2021"}
    assert data["lesion_method"] == "brats2023" and data["tta"] == "none"

    from PySide6.QtGui import QImage

    image = QImage(str(out / "evaluation.png"))
    assert image.width() >= 800 and image.height() >= 300
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 5  # boxes drawn, not a blank canvas


def test_explicit_definition_applies_to_every_row(tmp_path: Path) -> None:
    root = _cohort(tmp_path / "cohort")
    model = _tiny_model(tmp_path / "m.pt")
    out = tmp_path / "eval"
    assert main([str(root), "--model", str(model), "--out", str(out), "--threads", "1",
                 "--ncr-definition", "brats2013", "--lesion-method", "panoptica"]) == 0
    rows = _csv(out / "evaluation.csv")
    assert [r["patient"] for r in rows][-1] == "mean"
    assert {r["ncr_definition"] for r in rows} == {"brats2013"}
    assert {r["ncr_definition_from"] for r in rows[:2]} == {"option"}
    assert json.loads((out / "evaluation.json").read_text())["lesion_method"] == "panoptica"


def test_bare_folder_says_it_fell_back(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "case", {"flair": "flair.nii.gz", "t1ce": "t1ce.nii.gz", "seg": "seg.nii.gz"},
                         seg_values="2020")
    model = _tiny_model(tmp_path / "m.pt")
    out = tmp_path / "eval"
    assert main([str(folder), "--model", str(model), "--out", str(out), "--threads", "1",
                 "--lesion-method", "none"]) == 0
    row = _csv(out / "evaluation.csv")[0]
    assert row["ncr_definition"] == "brats2021" and row["ncr_definition_from"].startswith("default")
    assert row["lw_dice_WT"] == ""


def test_evaluate_folders_called_as_crossval_does_keeps_the_old_row_keys(tmp_path: Path) -> None:
    """training.crossval caches rows per fold and writes one CSV with the first fold's keys: they must not change."""
    from models.checkpoint import load_model
    from training.evaluate import evaluate_folders

    root = _cohort(tmp_path / "cohort")
    model = load_model(_tiny_model(tmp_path / "m.pt"))
    rows = evaluate_folders(model, sorted(root.iterdir()), "cpu", 16, lambda s: None, "brats2013")
    old = ["patient"] + [f"dice_{k}" for k in ("NCR", "ED", "ET", "WT", "TC")] \
        + [f"hd95_{k}" for k in ("NCR", "ED", "ET", "WT", "TC")] + ["seconds"]
    assert [list(r) for r in rows] == [old, old]


def test_a_tiers_whole_tumour_first_decision_is_what_evaluate_scores(tmp_path: Path) -> None:
    """brats-evaluate --accurate scores the labels the app shows: the tier's decision, then post-processing."""
    import numpy as np

    from brats_desktop.core.decision import decide_labels
    from models.checkpoint import load_model
    from training.evaluate import evaluate_folders

    root = _cohort(tmp_path / "cohort")
    model = load_model(_tiny_model(tmp_path / "m.pt"))
    seen: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {"plain": {}, "first": {}}

    def keep(kind: str):
        def hook(folder, patient, raw, probabilities) -> None:
            seen[kind][folder.name] = (raw, probabilities)
        return hook

    folders = sorted(root.iterdir())
    evaluate_folders(model, folders, "cpu", 16, lambda s: None, "brats2013", on_prediction=keep("plain"))
    evaluate_folders(model, folders, "cpu", 16, lambda s: None, "brats2013", on_prediction=keep("first"),
                     background_below=0.99)
    for name, (raw, probabilities) in seen["first"].items():
        plain = seen["plain"][name][0]
        np.testing.assert_array_equal(raw, decide_labels(probabilities, 0.99, plain=plain))
        assert np.count_nonzero(raw) > np.count_nonzero(plain)  # the untrained model is unsure: more is tumour
    from training.evaluate import write_results

    rows = evaluate_folders(model, folders, "cpu", 16, lambda s: None, "brats2013", background_below=0.99)
    _, json_path = write_results(rows, tmp_path / "eval", model, background_below=0.99)
    assert json.loads(json_path.read_text())["background_below"] == 0.99  # the evaluation says how it decided
