"""Every history.csv column is explained, and the two Dice families are told apart."""

from __future__ import annotations

import csv

from training import history_columns as hc
from training.train import HISTORY_COLUMNS


def test_every_history_column_is_documented_and_none_is_stale():
    assert list(hc.HISTORY_COLUMNS) == list(HISTORY_COLUMNS)
    for column, (family, text) in hc.HISTORY_COLUMNS.items():
        assert family in (hc.RUN, hc.TUTORIAL, hc.BRATS, hc.OURS), column
        assert len(text) > 20, f"{column}: meaning too short to help"


def test_tutorial_per_class_dice_and_brats_region_dice_are_told_apart():
    for cls, region in (("necrotic", "TC"), ("edema", "WT"), ("enhancing", "ET")):
        family, text = hc.HISTORY_COLUMNS[f"val_dice_coef_{cls}"]
        assert family == hc.TUTORIAL
        assert "soft" in text and f"val_dice_{region}" in text  # points the reader to the region Dice
        family, text = hc.HISTORY_COLUMNS[f"val_dice_{region}"]
        assert family == hc.BRATS and "hard labels" in text
    assert "INCLUDING background" in hc.HISTORY_COLUMNS["val_dice_coef"][1]


def test_command_explains_a_history_file_with_its_values(tmp_path, capsys):
    path = tmp_path / "history.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["epoch", "val_dice_coef_enhancing", "val_dice_ET", "extra"])
        writer.writeheader()
        writer.writerow({"epoch": 1, "val_dice_coef_enhancing": 0.05, "val_dice_ET": 0.7, "extra": 3})
        writer.writerow({"epoch": 2, "val_dice_coef_enhancing": 0.097, "val_dice_ET": 0.818, "extra": 4})
    assert hc.main([str(path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "= 0.097" in lines["val_dice_coef_enhancing"] and "[tutorial]" in lines["val_dice_coef_enhancing"]
    assert "= 0.818" in lines["val_dice_ET"] and "[BraTS region]" in lines["val_dice_ET"]
    assert "not documented" in lines["extra"]
    assert hc.main([str(tmp_path / "missing.csv")]) == 1
    assert "missing.csv" in capsys.readouterr().err
