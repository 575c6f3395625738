"""A small colour bar for the uncertainty heat map: its colour ramp from 0 to 1 and where the threshold cuts it.

Below the threshold nothing is drawn on the slices, so the bar shows that part as a
hatched grey strip; the marker and its number move with the Threshold slider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

if TYPE_CHECKING:
    from brats_desktop.app.views.heatmap_layer import HeatmapLayer

BAR_HEIGHT = 12
NOT_DRAWN = QColor(90, 90, 90)


class UncertaintyColourBar(QWidget):
    """Ramp 0 → 1 of ``layer.lut``; hatched below ``layer.threshold``; a marker labelled with the threshold."""

    def __init__(self, layer: "HeatmapLayer", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("UncertaintyColourBar")
        self.layer = layer
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Colour of the uncertainty (normalised entropy 0–1) on the slices; "
                        "values below the threshold (hatched) are not drawn.")
        layer.display_changed.connect(self.update)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(200, self._text_height() + BAR_HEIGHT + 6)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(80, self._text_height() + BAR_HEIGHT + 6)

    def _text_height(self) -> int:
        return self.fontMetrics().height()

    def bar_rect(self) -> QRectF:
        """Where the ramp is drawn (widget coordinates); value v sits at left + v * width."""
        margin = 4.0
        return QRectF(margin, 2.0, max(self.width() - 2 * margin, 1.0), float(BAR_HEIGHT))

    def x_of(self, value: float) -> float:
        bar = self.bar_rect()
        return bar.left() + min(max(value, 0.0), 1.0) * bar.width()

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        bar = self.bar_rect()
        lut = self.layer.lut
        ramp = QImage(256, 1, QImage.Format.Format_RGB32)
        for i in range(256):
            r, g, b = (int(v) for v in lut[max(i, 1), :3])  # row 0 is the transparent "not drawn" row
            ramp.setPixel(i, 0, QColor(r, g, b).rgb())
        painter.drawImage(bar, ramp)
        cut = self.x_of(self.layer.threshold)
        below = QRectF(bar.left(), bar.top(), cut - bar.left(), bar.height())
        if below.width() > 0:
            painter.fillRect(below, NOT_DRAWN)
            painter.fillRect(below, QBrush(QColor(150, 150, 150), Qt.BrushStyle.BDiagPattern))
        painter.setPen(QPen(self.palette().windowText().color(), 1))
        painter.drawRect(bar)
        painter.setPen(QPen(self.palette().windowText().color(), 2))
        painter.drawLine(int(round(cut)), int(bar.top()) - 2, int(round(cut)), int(bar.bottom()) + 3)
        text_top = bar.bottom() + 3
        height = float(self._text_height())
        painter.setPen(self.palette().windowText().color())
        painter.drawText(QRectF(bar.left(), text_top, 40, height), Qt.AlignmentFlag.AlignLeft, "0")
        painter.drawText(QRectF(bar.right() - 40, text_top, 40, height), Qt.AlignmentFlag.AlignRight, "1")
        label = f"≥ {self.layer.threshold:.2f} drawn"
        width = self.fontMetrics().horizontalAdvance(label) + 4
        left = min(max(cut - width / 2, bar.left() + 14), bar.right() - 14 - width)
        painter.drawText(QRectF(left, text_top, width, height), Qt.AlignmentFlag.AlignCenter, label)
        painter.end()
