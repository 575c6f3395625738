"""Training curves (QPainter) and evaluation box plots (pyqtgraph) as PNGs, offscreen (no matplotlib).

PySide6 is already a dependency of the app; pulling in matplotlib (tens of MB) for
three line charts is not worth it. Qt is imported lazily, so the training loop itself
stays GUI-free, and a missing/broken Qt only costs the picture, never the run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Loss", ("train_loss", "val_loss")),
    ("Accuracy", ("train_accuracy", "val_accuracy")),
    ("Dice", ("train_dice_tumour", "val_dice_tumour", "val_dice_mean", "val_dice_coef")),
)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _ensure_gui_app():  # pragma: no cover - trivial
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication([])
    return app


def plot_history(rows: Sequence[Mapping[str, float]], path: Path | str, width: int = 1500, height: int = 450) -> Path | None:
    """Draw loss / accuracy / Dice against epoch, one panel each; returns the path, or None if Qt is unusable."""
    try:
        from PySide6.QtCore import QPointF, QRectF, Qt
        from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

        app = _ensure_gui_app()  # noqa: F841 - fonts need a QGuiApplication
    except Exception:  # noqa: BLE001 - the picture is optional
        return None
    path = Path(path)
    img = QImage(width, height, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setFont(QFont("Sans", 9))
    epochs = [float(r.get("epoch", i + 1)) for i, r in enumerate(rows)]
    panel_w = width / len(PANELS)
    for p, (title, keys) in enumerate(PANELS):
        frame = QRectF(p * panel_w + 55, 30, panel_w - 75, height - 80)
        series = {
            k: [(e, float(r[k])) for e, r in zip(epochs, rows) if k in r and r[k] not in ("", None) and math.isfinite(float(r[k]))]
            for k in keys
        }
        values = [v for pts in series.values() for _, v in pts]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        e0, e1 = (min(epochs), max(epochs)) if epochs else (0.0, 1.0)
        if e1 - e0 < 1e-9:
            e0, e1 = e0 - 1, e1 + 1

        def to_px(e: float, v: float) -> QPointF:
            return QPointF(
                frame.left() + (e - e0) / (e1 - e0) * frame.width(),
                frame.bottom() - (v - lo) / (hi - lo) * frame.height(),
            )

        painter.setPen(QPen(QColor("black"), 1))
        painter.drawRect(frame)
        painter.drawText(QRectF(frame.left(), 5, frame.width(), 20), Qt.AlignmentFlag.AlignCenter, title)
        for i in range(5):
            v = lo + (hi - lo) * i / 4
            y = to_px(e0, v).y()
            painter.setPen(QPen(QColor("#dddddd"), 1))
            painter.drawLine(QPointF(frame.left(), y), QPointF(frame.right(), y))
            painter.setPen(QPen(QColor("black"), 1))
            painter.drawText(QRectF(frame.left() - 52, y - 8, 48, 16), Qt.AlignmentFlag.AlignRight, f"{v:.3g}")
        painter.drawText(
            QRectF(frame.left(), frame.bottom() + 4, frame.width(), 16), Qt.AlignmentFlag.AlignCenter, "epoch"
        )
        for j, (key, pts) in enumerate(series.items()):
            colour = QColor(COLOURS[j % len(COLOURS)])
            painter.setPen(QPen(colour, 2))
            for (a, b) in zip(pts, pts[1:]):
                painter.drawLine(to_px(*a), to_px(*b))
            for pt in pts:
                painter.drawEllipse(to_px(*pt), 2, 2)
            painter.drawText(
                QRectF(frame.left() + 5 + (j % 2) * frame.width() / 2, frame.bottom() + 22 + (j // 2) * 14, frame.width() / 2, 14),
                Qt.AlignmentFlag.AlignLeft,
                f"— {key}",
            )
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path if img.save(str(path), "PNG") else None


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


def _ensure_widgets_app():  # pragma: no cover - trivial
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    return app if isinstance(app, QApplication) else None


def plot_region_boxes(
    rows: Sequence[Mapping[str, object]], path: Path | str, title: str = "", width: int = 1200, height: int = 480
) -> Path | None:
    """Box plots of Dice / lesion-wise Dice (left) and HD95 / lesion-wise HD95 (right) per region, with pyqtgraph.

    One box per region and measure over the patients in ``rows`` (brats-evaluate's
    rows); columns that are absent (e.g. no lesion-wise scores) are left out. Returns
    the path, or None when Qt cannot draw here (the CSV and JSON are what matter).
    """
    try:
        import pyqtgraph as pg
        from pyqtgraph.exporters import ImageExporter

        if _ensure_widgets_app() is None:
            return None
    except Exception:  # noqa: BLE001 - the picture is optional
        return None
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    layout = pg.GraphicsLayoutWidget()
    layout.resize(width, height)
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout.ci.setGeometry(pg.QtCore.QRectF(0, 0, width, height))  # lay out without showing a window
    pg.QtWidgets.QApplication.processEvents()
    exporter = ImageExporter(layout.scene())
    exporter.parameters()["width"] = width
    exporter.export(str(path))
    layout.close()
    layout.deleteLater()
    return path if path.exists() else None
