"""training.tune_et_rule on three hand-made out-of-fold patients whose Dice is worked out by hand below."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_cases import save
from training.folds import save_folds, splits_of
from training.oof_predictions import save_prediction
from training.tune_et_rule import (
    Rule,
    candidate_rules,
    load_run,
    main,
    nested_choice,
    prediction_folder_name,
    score_rules,
)

SHAPE = (40, 40, 30)
NAMES = ("Brats18_low_1", "Brats18_hga_1", "Brats18_hgb_1")  # one per fold, in fold order


def _box(labels: np.ndarray, corner: tuple[int, int, int], size: int, value: int) -> None:
    x, y, z = corner
    labels[x : x + size, y : y + size, z : z + size] = value


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(reference, prediction, ET probability) per patient; every piece is above the default 200-voxel speck rule.

    low: no enhancement; the prediction puts a 216-voxel (0.216 mL) ET blob in the necrotic core.
    hga: one 343-voxel (0.343 mL) ET piece, predicted exactly.
    hgb: the same piece, predicted with a second, false 216-voxel ET piece beside it.
    """
    out = {}
    for name in NAMES:
        ref = np.zeros(SHAPE, np.uint8)
        _box(ref, (5, 5, 5), 24, 2)
        prob = np.zeros(SHAPE, np.float32)
        if name == "Brats18_low_1":
            _box(ref, (10, 10, 10), 8, 1)
            pred = ref.copy()
            _box(pred, (11, 11, 11), 6, 3)
            _box(prob, (11, 11, 11), 6, 0.4)
        else:
            _box(ref, (8, 8, 8), 7, 3)
            pred = ref.copy()
            _box(prob, (8, 8, 8), 7, 0.9)
            if name == "Brats18_hgb_1":
                _box(pred, (20, 20, 18), 6, 3)
                _box(prob, (20, 20, 18), 6, 0.45)
        out[name] = (ref, pred, prob)
    return out


def _write(tmp_path: Path, with_probability: bool = True) -> tuple[Path, Path]:
    data, run = tmp_path / "data", tmp_path / "run"
    strata = {n: ("low_enhancing" if "low" in n else "enhancing") for n in NAMES}
    save_folds(splits_of([[n] for n in NAMES], 0), strata, run)
    for i, (name, (ref, pred, prob)) in enumerate(_cases().items()):
        folder = data / name
        save(folder / f"{name}_flair.nii.gz", np.ones(SHAPE, np.float32))
        save(folder / f"{name}_seg.nii.gz", np.where(ref == 3, 4, ref).astype(np.uint8))
        probs = np.stack([1 - prob, np.zeros_like(prob), np.zeros_like(prob), prob]) if with_probability else None
        save_prediction(run / f"fold-{i}" / "pred" / f"{name}.npz", pred, probs, (1.0, 1.0, 1.0),
                        {"model_ncr_definition": "brats2013"})
    return data, run


def test_the_rules_score_as_computed_by_hand(tmp_path: Path) -> None:
    data, run = _write(tmp_path)
    cases = load_run(str(run), {p.name: p for p in data.iterdir()})
    assert [(c.name, c.fold, c.low_grade) for c in cases] == [
        ("Brats18_low_1", 0, True), ("Brats18_hga_1", 1, False), ("Brats18_hgb_1", 2, False)]
    rules = candidate_rules((0.25, 0.5, 1.0), (0.5,))
    scores = score_rules(cases, rules)
    et = {r.describe(): [scores[r][n]["dice_ET"] for n in NAMES] for r in rules}
    hgb = 2 * 343 / (343 + 559)  # a true 343-voxel piece plus a false 216-voxel one
    assert et["no rule"] == pytest.approx([0.0, 1.0, hgb])  # a blob against no enhancement: 0
    assert et["ET in all < 0.25 mL"] == pytest.approx([1.0, 1.0, hgb])  # both empty: 1
    assert et["ET in all < 0.5 mL"] == pytest.approx([1.0, 0.0, hgb])  # 0.343 mL of real ET lost; 0.559 kept
    assert et["ET in all < 1 mL"] == pytest.approx([1.0, 0.0, 0.0])
    assert et["each ET piece < 0.25 mL"] == pytest.approx([1.0, 1.0, 1.0])  # the false piece alone goes
    assert et["each ET piece < 0.5 mL"] == pytest.approx([1.0, 0.0, 0.0])
    assert et["ET piece mean p < 0.5"] == pytest.approx([1.0, 1.0, 1.0])  # p 0.4 and 0.45 go, 0.9 stays
    tc = [scores[rules[0]][n]["dice_TC"] for n in NAMES]
    assert tc == pytest.approx([1.0, 1.0, hgb])  # hgb's false piece is false tumour core, whatever its label
    for r in rules:  # label 3 -> 1 stays inside WT and TC
        assert [scores[r][n]["dice_WT"] for n in NAMES] == [1.0] * 3 and [scores[r][n]["dice_TC"] for n in NAMES] == tc
    assert [scores[rules[1]][n]["changed"] for n in NAMES] == [1.0, 0.0, 0.0]
    nested, chosen = nested_choice(cases, scores)
    # fold 0 (low): on hga+hgb each piece < 0.25 mL is best (1.0); fold 1 the same; fold 2 (hgb): on low+hga
    # 'ET in all < 0.25 mL' ties with it at 1.0 and comes first, and leaves hgb's false piece.
    assert chosen == {0: Rule("per_lesion", 0.25), 1: Rule("per_lesion", 0.25), 2: Rule("total", 0.25)}
    assert [nested[n]["dice_ET"] for n in NAMES] == pytest.approx([1.0, 1.0, hgb])


def test_the_table_reports_all_low_grade_and_others_with_paired_errors(tmp_path: Path, capsys) -> None:
    data, run = _write(tmp_path)
    out = tmp_path / "et-rule.md"
    assert main([f"{run}:pred", "--data", str(data), "--volumes-ml", "0.25,0.5", "--probabilities", "",
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() in capsys.readouterr().out
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    hgb = 2 * 343 / (343 + 559)
    d = np.array([1.0, 0.0, 1.0 - hgb])  # per patient gain of 'each ET piece < 0.25 mL'
    se = d.std(ddof=1) / np.sqrt(3)
    row = rows["each ET piece < 0.25 mL"]
    assert row[1:4] == ["1.000", f"{(2 + hgb) / 3:.3f}", "1.000"]
    assert row[4] == f"{d.mean():+.3f} ± {se:.3f}"
    assert row[5] == "1.000"  # the low-grade patient's ET
    assert row[6] == "1.000" and row[7] == f"{(1 - hgb) / 2:+.3f} ± {(1 - hgb) / 2:.3f}"  # the two others
    assert row[8] == "2 |"  # low and hgb changed
    assert rows["no rule"][3] == f"{(1 + hgb) / 3:.3f}" and rows["no rule"][4] == "+0.000 ± 0.000"
    assert "ET Brats18_low_1" in text and "1 low-grade, 2 others" in text
    assert "**each ET piece < 0.25 mL**" in text and "slightly optimistic" in text
    assert "fold 2: ET in all < 0.25 mL" in text
    assert "1 of 3 references have no enhancing tumour" in text and "Smallest enhancing tumour of the others: 0.34 mL (Brats18_hga_1)" in text
    assert "ET piece mean p" not in text  # left out when asked


def test_without_probabilities_the_probability_rule_is_left_out(tmp_path: Path, capsys) -> None:
    data, run = _write(tmp_path, with_probability=False)
    assert main([str(run), "--data", str(data), "--volumes-ml", "0.25"]) == 0
    captured = capsys.readouterr()
    assert "lack the ET probability" in captured.err and "mean p" not in captured.out


def test_a_prediction_in_the_wrong_fold_is_refused(tmp_path: Path) -> None:
    """A fold model's prediction of a patient it trained on would flatter the rule: refused, not scored."""
    data, run = _write(tmp_path)
    (run / "fold-0" / "pred" / "Brats18_low_1.npz").rename(run / "fold-1" / "pred" / "Brats18_low_1.npz")
    with pytest.raises(SystemExit, match="held out by fold 0"):
        load_run(str(run), {p.name: p for p in data.iterdir()})
    with pytest.raises(SystemExit, match="no saved predictions"):
        load_run(f"{run}:tta-flip", {p.name: p for p in data.iterdir()})
    assert json.loads((run / "folds.json").read_text())["strata"]["Brats18_low_1"] == "low_enhancing"


def test_stems_name_the_prediction_folders() -> None:
    assert prediction_folder_name("") == "pred"
    assert prediction_folder_name("pred") == "pred"
    assert [prediction_folder_name(s) for s in ("tta-flip", "-tta-flip", "pred-tta-flip", "oof-tta-flip")] == \
        ["pred-tta-flip"] * 4
    assert prediction_folder_name("ens-acc-coronal") == "pred-ens-acc-coronal"
