"""The growth rule's cross-validation: rotated choice on hand-made robot curves (no model, no patient)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from training.interactive_grow_cv import SEARCH_COLUMNS, select


def _write(path: Path, curves: dict[tuple[str, int, str], list[float]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SEARCH_COLUMNS)
        w.writeheader()
        for (case, fold, setting), wt in curves.items():
            for k, v in enumerate(wt):
                w.writerow({"case": case, "fold": fold, "setting": setting, "clicks": k, "WT": v, "TC": v, "ET": v,
                            "seconds": "" if k == 0 else 0.1})


def test_each_fold_gets_the_best_safe_setting_of_the_other_folds(tmp_path: Path) -> None:
    curves = {}
    for case, fold in (("a", 0), ("b", 0), ("c", 1), ("d", 1)):
        curves[(case, fold, "greedy")] = [0.5, 0.9, 0.85, 0.95]  # the largest gain, but a click that harms
        curves[(case, fold, "steady")] = [0.5, 0.6, 0.7, 0.8]
        curves[(case, fold, "none")] = [0.5, 0.5, 0.5, 0.5]
    _write(tmp_path / "search.csv", curves)
    args = argparse.Namespace(cache=tmp_path, name="search.csv", grid=["greedy", "steady", "none"], compare=False)
    assert select(args) == 0
    text = (tmp_path / "search-select.md").read_text()
    assert "| 0 | steady |" in text and "| 1 | steady |" in text  # greedy harms on 1 of 3 clicks (33 % > 5 %)
    assert "Chosen on all 4 cases (what the engine ships): steady" in text
    assert "WT 0.500 -> 0.800 (+0.300)" in text
    compare = argparse.Namespace(cache=tmp_path, name="search.csv", grid=["none", "steady"], compare=True)
    assert select(compare) == 0
    table = (tmp_path / "search-compare.md").read_text()
    assert "| steady | +0.300 / +0.300 / +0.300 |" in table and "held-out fold" not in table
    assert "harm rate 0.0% of 12 clicks" in table


def test_the_oracle_and_manual_tools_are_never_chosen_as_a_setting(tmp_path: Path) -> None:
    curves = {}
    for case, fold in (("a", 0), ("b", 1)):
        curves[(case, fold, "oracle")] = [0.5, 0.9, 0.95, 1.0]  # reads the reference: beats every setting
        curves[(case, fold, "brush")] = [0.5, 0.55, 0.6, 0.65]
        curves[(case, fold, "steady")] = [0.5, 0.52, 0.54, 0.56]
    _write(tmp_path / "search.csv", curves)
    assert select(argparse.Namespace(cache=tmp_path, name="search.csv", grid=[], compare=False)) == 0
    text = (tmp_path / "search-select.md").read_text()
    assert "| 0 | steady |" in text and "Chosen on all 2 cases (what the engine ships): steady" in text
