"""Training curves are drawn by pyqtgraph: each series with data shows up in its colour, series without data do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.plots import COLOURS, plot_history
from viewer_support import image_rgba


def _pixels_near(path: Path, hex_colour: str, tol: int = 40) -> int:
    from PySide6.QtGui import QImage

    rgb = image_rgba(QImage(str(path)))[..., :3]
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb.astype(int) - target).max(axis=-1) <= tol).sum())


def _rows(validated: bool) -> list[dict[str, float | str]]:
    rows = []
    for epoch in range(1, 9):
        row: dict[str, float | str] = {"epoch": epoch, "train_loss": 1.0 / epoch, "train_accuracy": 0.9 + epoch / 100,
                                       "train_dice_tumour": 0.3 + epoch / 20}
        row |= {"val_loss": 1.2 / epoch, "val_accuracy": 0.88 + epoch / 100, "val_dice_tumour": 0.25 + epoch / 20} if validated \
            else {"val_loss": "", "val_accuracy": "", "val_dice_tumour": ""}
        rows.append(row)
    return rows


def test_curves_show_validation_only_when_there_is_some(qapp, tmp_path: Path) -> None:
    with_val = plot_history(_rows(True), tmp_path / "with.png", width=900, height=300)
    without = plot_history(_rows(False), tmp_path / "without.png", width=900, height=300)
    assert with_val is not None and without is not None
    from PySide6.QtGui import QImage

    assert QImage(str(with_val)).width() == 900
    train, val = COLOURS[0], COLOURS[1]
    assert _pixels_near(with_val, train) > 200 and _pixels_near(without, train) > 200
    assert _pixels_near(with_val, val) > 200  # validation curves drawn in the second colour
    assert _pixels_near(without, val) == 0  # no validation: nothing in that colour, not even a legend entry


def test_click_curves_draw_one_line_per_engine_in_its_colour(qapp, tmp_path: Path) -> None:
    from training.plots import ENGINE_COLOURS, plot_click_curves

    rising = {r: [0.80 + 0.01 * k for k in range(11)] for r in ("WT", "TC", "ET")}
    path = plot_click_curves({"click": rising}, tmp_path / "one.png", title="t", width=900, height=300)
    both = plot_click_curves({"click": rising, "brush": {r: [0.8] * 11 for r in rising}}, tmp_path / "two.png",
                             width=900, height=300)
    assert path is not None and both is not None
    assert _pixels_near(path, ENGINE_COLOURS["click"]) > 200 and _pixels_near(path, ENGINE_COLOURS["brush"]) == 0
    assert _pixels_near(both, ENGINE_COLOURS["brush"]) > 200
