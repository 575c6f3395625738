"""Training curves as a PNG, drawn with Qt's QPainter offscreen (no matplotlib dependency).

PySide6 is already a dependency of the app; pulling in matplotlib (tens of MB) for
three line charts is not worth it. Qt is imported lazily, so the training loop itself
stays GUI-free, and a missing/broken Qt only costs the picture, never the run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

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
