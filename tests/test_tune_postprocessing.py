"""training/tune_postprocessing.py: saving out-of-fold predictions and the grid search, on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from brats_desktop.core.postprocessing import PostprocessParams
from inference_support import tiny_model, write_patient_folder
from training.tune_postprocessing import (
    grid_search,
    load_cases,
    main,
    parameter_grid,
    save_oof_predictions,
)

torch.set_num_threads(1)
SHAPE = (100, 60, 40)


def _case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: one lesion (edema cube, enhancing core). Raw prediction: the same plus two typical errors.

    * ET specks of 4 voxels in the edema (false TC/ET lesions);
    * a large blob 50 voxels away (2744 voxels: over a quarter of the lesion, so only distance removes it).
    """
    rng = np.random.default_rng(seed)
    ref = np.zeros(SHAPE, np.uint8)
    x0 = 5 + int(rng.integers(0, 4))
    ref[x0 : x0 + 20, 10:30, 10:30] = 2
    ref[x0 + 7 : x0 + 13, 17:23, 17:23] = 3
    raw = ref.copy()
    raw[x0 + 1 : x0 + 3, 11:13, 11] = 3
    raw[x0 + 16 : x0 + 18, 26:28, 27] = 3
    raw[75:89, 30:44, 10:24] = 2
    return raw, ref


def _write_cases(folder: Path, n: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        raw, ref = _case(i)
        np.savez_compressed(folder / f"case{i}.npz", raw=raw, reference=ref, spacing=np.ones(3),
                            ncr_definition="brats2013", ncr_definition_from="test", model_ncr_definition="brats2013",
                            model="test", tta="none")


def test_grid_search_finds_the_rules_that_undo_the_errors(tmp_path: Path) -> None:
    _write_cases(tmp_path / "oof")
    cases = load_cases(tmp_path / "oof")
    assert [c.name for c in cases] == ["case0", "case1", "case2"]
    table = grid_search(cases, parameter_grid())
    best = table[0]
    # Specks gone (25 voxels is enough), far blob gone (only the distance rule can), nothing else touched.
    assert (best["min_fraction"], best["min_core_voxels"], best["et_min_voxels"], best["max_distance_mm"]) == \
        (None, 25, 0, 40.0)
    assert best["mean_lw_dice"] == 1.0 and best["mean_dice"] == 1.0
    legacy = next(r for r in table if (r["min_fraction"], r["min_core_voxels"], r["et_min_voxels"],
                                       r["max_distance_mm"]) == (0.1, 0, 0, None))
    assert legacy["rank"] > 1 and legacy["mean_lw_dice"] < 0.5  # specks and blob are false lesions
    # Relabelling a 216-voxel ET core as necrosis (threshold 300) costs ET: ranked below.
    worse = next(r for r in table if (r["min_fraction"], r["min_core_voxels"], r["et_min_voxels"],
                                      r["max_distance_mm"]) == (None, 25, 300, 40.0))
    assert worse["dice_ET"] == 0.0 and worse["rank"] > best["rank"]


def test_grid_cli_writes_the_table_and_the_winner(tmp_path: Path, capsys) -> None:
    _write_cases(tmp_path / "oof", n=2)
    assert main(["grid", str(tmp_path / "oof"), "--min-fraction", "none,0.1", "--min-core-voxels", "0,50",
                 "--et-min-voxels", "0", "--max-distance-mm", "none,40", "--objective", "global"]) == 0
    best = json.loads((tmp_path / "oof" / "best.json").read_text())
    assert best["params"] == {"min_fraction": None, "min_core_voxels": 50, "et_min_voxels": 0,
                              "max_distance_mm": 40.0}
    assert best["objective"] == "global" and best["cases"] == 2
    md = (tmp_path / "oof" / "grid.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 8  # 2 x 2 x 1 x 2 combinations
    assert PostprocessParams(**best["params"]).describe() in capsys.readouterr().err


def test_save_oof_predictions_keeps_raw_labels_and_reference_and_resumes(tmp_path: Path) -> None:
    model = tiny_model(tmp_path)
    labelled, _, labels = write_patient_folder(tmp_path / "data", "BraTS-GLI-00003-000")
    unlabelled, _, _ = write_patient_folder(tmp_path / "data", "BraTS-GLI-00004-000", with_seg=False)
    messages: list[str] = []
    written = save_oof_predictions(model.path, [labelled, unlabelled], tmp_path / "oof", log=messages.append)
    assert [p.name for p in written] == ["BraTS-GLI-00003-000.npz"]
    assert any("BraTS-GLI-00004-000" in m and "no segmentation" in m for m in messages)
    with np.load(written[0]) as z:
        assert z["raw"].dtype == np.uint8 and z["raw"].shape == z["reference"].shape
        assert (z["reference"] > 0).sum() == (labels > 0).sum()  # the crop keeps the whole reference
        assert str(z["ncr_definition"]) == "brats2021"  # BraTS 2023 naming
        assert str(z["model_ncr_definition"]) == "brats2013"
    before = written[0].stat().st_mtime_ns
    again = save_oof_predictions(model.path, [labelled], tmp_path / "oof", log=messages.append)
    assert again == written and written[0].stat().st_mtime_ns == before
    cases = load_cases(tmp_path / "oof")
    assert len(cases) == 1 and cases[0].ncr_definition == "brats2021"


def test_save_cv_oof_uses_each_folds_own_model_on_its_validation_patients(tmp_path: Path) -> None:
    from training.tune_postprocessing import save_cv_oof

    data = tmp_path / "data"
    for name in ("BraTS-GLI-00011-000", "BraTS-GLI-00012-000", "BraTS-GLI-00013-000"):
        write_patient_folder(data, name)
    cv = tmp_path / "cv"
    (cv / "fold-0").mkdir(parents=True)
    (cv / "fold-1").mkdir()
    (cv / "folds.json").write_text(json.dumps({"folds": [["BraTS-GLI-00011-000", "BraTS-GLI-00012-000"],
                                                         ["BraTS-GLI-00013-000"]]}))
    model = tiny_model(tmp_path)
    model.path.rename(cv / "fold-0" / "best.pt")  # fold 1 is still training: no best.pt
    messages: list[str] = []
    written = save_cv_oof(cv, [data], tmp_path / "oof", log=messages.append)
    assert sorted(p.stem for p in written) == ["BraTS-GLI-00011-000", "BraTS-GLI-00012-000"]
    assert any("fold 1" in m and "skipped" in m for m in messages)
    with np.load(written[0]) as z:
        assert str(z["model"]).endswith("fold-0/best.pt")
