"""Training curves and evaluation box plots as PNGs, drawn with pyqtgraph offscreen (no matplotlib).

pyqtgraph and PySide6 are already dependencies of the app; pulling in matplotlib (tens
of MB) for a few charts is not worth it. Qt is imported lazily, so the training loop
itself stays GUI-free, and a missing/broken Qt only costs the picture, never the run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brats_desktop.core.atomic import write_atomically

# (title, series, legend corner): the legend sits where the curves are not, top for falling
# loss and bottom for rising scores, so it never hides the last epochs.
PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Loss", ("train_loss", "val_loss"), "top"),
    ("Accuracy", ("train_accuracy", "val_accuracy"), "bottom"),
    ("Dice", ("train_dice_tumour", "val_dice_tumour", "val_dice_mean", "val_dice_coef"), "bottom"),
)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _ensure_widgets_app():  # pragma: no cover - trivial
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    return app if isinstance(app, QApplication) else None


def _offscreen_layout(width: int, height: int) -> Any | None:
    """A white pyqtgraph ``GraphicsLayoutWidget`` to draw into, or None where Qt cannot draw (the picture is optional)."""
    try:
        import pyqtgraph as pg

        if _ensure_widgets_app() is None:
            return None
    except Exception:  # noqa: BLE001 - the picture is optional
        return None
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    layout = pg.GraphicsLayoutWidget()
    layout.resize(width, height)
    return layout


def _export(layout: Any, path: Path | str, width: int, height: int) -> Path | None:
    """Lay ``layout`` out at ``width`` x ``height`` without showing a window and write it as PNG."""
    import pyqtgraph as pg
    from pyqtgraph.exporters import ImageExporter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout.ci.setGeometry(pg.QtCore.QRectF(0, 0, width, height))
    pg.QtWidgets.QApplication.processEvents()
    exporter = ImageExporter(layout.scene())
    exporter.parameters()["width"] = width
    try:  # rewritten every epoch: a kill mid-write must not leave half a PNG
        write_atomically(path, lambda tmp: exporter.export(str(tmp)), OSError, ".png")
    except OSError:
        pass
    layout.close()
    layout.deleteLater()
    return path if path.exists() else None


def plot_history(rows: Sequence[Mapping[str, float]], path: Path | str, width: int = 1500, height: int = 450) -> Path | None:
    """Loss / accuracy / Dice against epoch, one panel each; returns the path, or None if Qt is unusable.

    Rewritten after every epoch, so a long run can be watched as a picture; the numbers
    are in ``history.csv``. Series with no finite value yet (validation off) are left out.
    """
    layout = _offscreen_layout(width, height)
    if layout is None:
        return None
    import pyqtgraph as pg

    epochs = [float(r.get("epoch", i + 1)) for i, r in enumerate(rows)]
    for title, keys, corner in PANELS:
        plot = layout.addPlot(title=title)
        plot.setLabel("bottom", "epoch")
        plot.showGrid(x=True, y=True, alpha=0.3)
        legend = plot.addLegend(offset=(-10, 10 if corner == "top" else -10), brush=pg.mkBrush(255, 255, 255, 210))
        for j, key in enumerate(keys):
            pts = [(e, float(r[key])) for e, r in zip(epochs, rows)
                   if key in r and r[key] not in ("", None) and math.isfinite(float(r[key]))]
            if not pts:
                continue
            colour = COLOURS[j % len(COLOURS)]
            plot.plot([e for e, _ in pts], [v for _, v in pts], pen=pg.mkPen(colour, width=2), symbol="o",
                      symbolSize=5, symbolBrush=colour, symbolPen=None, name=key)
        if not legend.items:
            legend.hide()
    return _export(layout, path, width, height)


# --------------------------------------------------------------------------- evaluation box plots

BOX_REGIONS = ("WT", "TC", "ET")
BOX_SERIES = (  # (column prefix, legend, colour): global then lesion-wise, side by side per region
    ("dice", "Dice", "#1f77b4"),
    ("lw_dice", "lesion-wise Dice", "#ff7f0e"),
)
HD_SERIES = (("hd95", "HD95", "#1f77b4"), ("lw_hd95", "lesion-wise HD95", "#ff7f0e"))


def box_stats(values: Sequence[float]) -> dict[str, float | list[float]] | None:
    """Tukey box: quartiles, whiskers at the furthest points within 1.5 IQR, and the points beyond."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(float(x))], dtype=float)
    if v.size == 0:
        return None
    q1, med, q3 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    iqr = q3 - q1
    inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
    return {"q1": q1, "median": med, "q3": q3, "low": float(inside.min()), "high": float(inside.max()),
            "outliers": [float(x) for x in v if x < inside.min() or x > inside.max()], "n": int(v.size)}


def plot_region_boxes(
    rows: Sequence[Mapping[str, object]], path: Path | str, title: str = "", width: int = 1200, height: int = 480
) -> Path | None:
    """Box plots of Dice / lesion-wise Dice (left) and HD95 / lesion-wise HD95 (right) per region, with pyqtgraph.

    One box per region and measure over the patients in ``rows`` (brats-evaluate's
    rows); columns that are absent (e.g. no lesion-wise scores) are left out. Returns
    the path, or None when Qt cannot draw here (the CSV and JSON are what matter).
    """
    layout = _offscreen_layout(width, height)
    if layout is None:
        return None
    import pyqtgraph as pg

    key = "  ".join(f'<span style="color:{c}">■ {"lesion-wise" if p.startswith("lw_") else "whole region"}</span>'
                    for p, _, c in BOX_SERIES)
    layout.addLabel(f"{title}    {key}" if title else key, colspan=2)
    layout.nextRow()
    for label, series, unit in (("Dice", BOX_SERIES, ""), ("HD95", HD_SERIES, " (mm)")):
        plot = layout.addPlot()
        plot.setTitle(f"{label} per region")
        plot.setLabel("left", f"{label}{unit}")
        plot.showGrid(y=True, alpha=0.3)
        present = [s for s in series if any(f"{s[0]}_{r}" in row for row in rows for r in BOX_REGIONS)]
        width_box = 0.7 / max(1, len(present))
        for j, (prefix, name, colour) in enumerate(present):
            for i, region in enumerate(BOX_REGIONS):
                stats = box_stats([row.get(f"{prefix}_{region}") for row in rows])  # type: ignore[misc]
                if stats is None:
                    continue
                x = i + (j - (len(present) - 1) / 2) * width_box
                fill = pg.mkColor(colour)
                fill.setAlpha(90)
                plot.addItem(pg.BarGraphItem(x=[x], y0=[stats["q1"]], height=[stats["q3"] - stats["q1"]],
                                             width=width_box * 0.85, brush=fill, pen=pg.mkPen(colour, width=1.5)))
                half = width_box * 0.85 / 2
                xs = [x - half, x + half, x, x, x, x, x - half / 2, x + half / 2, x - half / 2, x + half / 2]
                ys = [stats["median"]] * 2 + [stats["q3"], stats["high"], stats["q1"], stats["low"]] \
                    + [stats["high"]] * 2 + [stats["low"]] * 2
                plot.addItem(pg.PlotDataItem(xs, ys, connect="pairs", pen=pg.mkPen(colour, width=2)))
                if stats["outliers"]:
                    out = stats["outliers"]
                    plot.addItem(pg.ScatterPlotItem([x] * len(out), out, symbol="o", size=6,
                                                    pen=pg.mkPen(colour), brush=None))
        plot.getAxis("bottom").setTicks([[(i, r) for i, r in enumerate(BOX_REGIONS)]])
        plot.setXRange(-0.6, len(BOX_REGIONS) - 0.4, padding=0)
        if label == "Dice":
            plot.setYRange(0, 1.05, padding=0)
    return _export(layout, path, width, height)


# --------------------------------------------------------------------------- robot-user curves

CURVE_REGIONS = ("WT", "TC", "ET")
ENGINE_COLOURS = {"click": "#1f77b4", "brush": "#ff7f0e", "region": "#2ca02c"}


def plot_click_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]], path: Path | str, title: str = "",
    width: int = 1350, height: int = 450,
) -> Path | None:
    """Mean Dice against the number of robot clicks, one panel per region, one line per engine.

    ``curves`` maps engine -> region -> mean Dice after 0..N clicks (the interactive
    evaluation's summary). Returns the path, or None when Qt cannot draw here.
    """
    layout = _offscreen_layout(width, height)
    if layout is None:
        return None
    import pyqtgraph as pg

    # One colour key above the panels: inside a panel a legend hides the curves wherever they end.
    key = "  ".join(f'<span style="color:{ENGINE_COLOURS.get(e, COLOURS[j % len(COLOURS)])}">■ {e}</span>'
                    for j, e in enumerate(curves))
    layout.addLabel(f"{title}    {key}" if title else key, colspan=len(CURVE_REGIONS))
    layout.nextRow()
    values = [v for regions in curves.values() for series in regions.values() for v in series]
    low = max(0.0, math.floor((min(values) if values else 0.0) * 20) / 20 - 0.05)
    for region in CURVE_REGIONS:
        plot = layout.addPlot(title=f"Dice {region}")
        plot.setLabel("bottom", "clicks")
        plot.setLabel("left", "mean Dice")
        plot.showGrid(x=True, y=True, alpha=0.3)
        # Drawn last to first, so the first engine (the one under study) stays visible where curves coincide.
        for j, (engine, regions) in reversed(list(enumerate(curves.items()))):
            series = list(regions.get(region, ()))
            if not series:
                continue
            colour = ENGINE_COLOURS.get(engine, COLOURS[j % len(COLOURS)])
            plot.plot(list(range(len(series))), series, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6,
                      symbolBrush=colour, symbolPen=None)
        plot.setYRange(low, 1.0, padding=0.02)
    return _export(layout, path, width, height)
