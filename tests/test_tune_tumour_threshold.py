"""training.tune_tumour_threshold on three hand-made out-of-fold patients whose Dice is worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tiny_cases import save
from training.folds import save_folds, splits_of
from training.oof_predictions import save_prediction
from training.tune_tumour_threshold import load_cases, main, nested_choice, score_thresholds

SHAPE = (30, 30, 30)
NAMES = ("Brats18_a_1", "Brats18_b_1", "Brats18_c_1")  # one per fold


def _cube(lo: int, hi: int) -> tuple[slice, slice, slice]:
    return (slice(lo, hi),) * 3


def _write(tmp_path: Path, probabilities: bool = True) -> tuple[Path, Path]:
    """Each reference is a 1000-voxel cube of edema. The model is sure of its inner 512 voxels; on the cube's
    outer layer (488 voxels) background has probability 0.6 (patient c: 0.7), on the layer outside the cube
    (728 voxels) 0.8 (patient c: 0.9)."""
    data, run = tmp_path / "data", tmp_path / "run"
    save_folds(splits_of([[n] for n in NAMES], 0), {n: "enhancing" for n in NAMES}, run)
    for i, name in enumerate(NAMES):
        ref = np.zeros(SHAPE, np.uint8)
        ref[_cube(10, 20)] = 2
        edema = np.zeros(SHAPE, np.float32)
        edema[_cube(9, 21)] = 0.1 if name == "Brats18_c_1" else 0.2
        edema[_cube(10, 20)] = 0.3 if name == "Brats18_c_1" else 0.4
        edema[_cube(11, 19)] = 0.9
        probs = np.stack([1 - edema, np.zeros_like(edema), edema, np.zeros_like(edema)])
        folder = data / name
        save(folder / f"{name}_flair.nii.gz", np.ones(SHAPE, np.float32))
        save(folder / f"{name}_seg.nii.gz", ref)
        save_prediction(run / f"fold-{i}" / "pred" / f"{name}.npz", probs.argmax(axis=0).astype(np.uint8),
                        probs if probabilities else None, (1.0, 1.0, 1.0), {"model_ncr_definition": "brats2013"})
    return data, run


def test_each_threshold_scores_as_computed_by_hand(tmp_path: Path) -> None:
    data, run = _write(tmp_path)
    cases = load_cases(str(run), {p.name: p for p in data.iterdir()})
    assert [(c.name, c.fold) for c in cases] == [(n, i) for i, n in enumerate(NAMES)]
    scores = score_thresholds(cases, (None, 0.65, 0.75, 0.85), "brats2013")
    wt = {b: [scores[b][n]["dice_WT"] for n in NAMES] for b in scores}
    core, outer = 2 * 512 / 1512, 2 * 1000 / 2728  # the inner cube alone; the cube and the layer outside it
    assert wt[None] == pytest.approx([core] * 3)
    assert wt[0.65] == pytest.approx([1.0, 1.0, core])
    assert wt[0.75] == pytest.approx([1.0, 1.0, 1.0])
    assert wt[0.85] == pytest.approx([outer, outer, 1.0])
    for b in scores:  # no core in prediction or reference: TC and ET are empty against empty
        assert all(scores[b][n]["dice_TC"] == 1.0 and scores[b][n]["dice_ET"] == 1.0 for n in NAMES)
        assert [scores[b][n]["mean"] for n in NAMES] == pytest.approx([(w + 2) / 3 for w in wt[b]])
    nested, chosen = nested_choice(cases, scores)
    # fold 0 and 1: on the other two, 0.75 ties 0.65 for one and beats it for c; fold 2 (c): 0.65 ties 0.75
    # on a and b and the milder threshold wins the tie, which leaves c's outer layer out.
    assert chosen == {0: 0.75, 1: 0.75, 2: 0.65}
    assert [nested[n]["dice_WT"] for n in NAMES] == pytest.approx([1.0, 1.0, core])


def test_the_table_and_the_refusal_of_files_without_probabilities(tmp_path: Path, capsys) -> None:
    data, run = _write(tmp_path)
    out = tmp_path / "bias.md"
    assert main([f"{run}:pred", "--data", str(data), "--thresholds", "0.65,0.75", "--out", str(out),
                 "--baseline", str(run)]) == 0
    text = out.read_text()
    assert text.strip() in capsys.readouterr().out
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    core = 2 * 512 / 1512
    d = np.array([1 - core, 1 - core, 0.0])
    first = rows["background < 0.65"]
    assert first[1] == f"{(2 + core) / 3:.3f}" and first[4] == f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(3):.3f}"
    assert rows["argmax"][4] == "+0.000 ± 0.000" and rows["background < 0.75"][1] == "1.000"
    assert ("Chosen per fold: fold 0: background < 0.75, fold 1: background < 0.75, fold 2: background < 0.65"
            in text)
    assert f"Against `{run}` (its argmax), on the 3 patients both scored" in text
    assert f"- background < 0.75: WT 1.000 vs {core:.3f} (+{1 - core:.3f} ± 0.000, " in text
    bare = tmp_path / "bare"
    data2, run2 = _write(bare, probabilities=False)
    with pytest.raises(SystemExit, match="holds no class probabilities"):
        main([str(run2), "--data", str(data2)])
