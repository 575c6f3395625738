"""The patient report as one A4 PDF page, with Qt's own PDF writer (no new dependency).

``QPdfWriter`` + ``QTextDocument`` come with PySide6, which the app needs anyway; the text
stays text in the PDF (searchable, readable by ``pdftotext``). The page is laid out as
HTML and drawn once; if it is taller than the page it is scaled down to fit, so the
report is always exactly one page. Needs a ``QGuiApplication`` (the app's, or an offscreen
one for ``brats-predict --report``: :func:`ensure_gui_application`).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMarginsF, QPointF, Qt, QUrl
from PySide6.QtGui import (
    QGuiApplication, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen, QColor, QTextDocument,
)

from brats_desktop.core.atomic import write_atomically
from brats_desktop.core.errors import ExportError
from brats_desktop.core.labels import CLASS_COLOURS, CLASS_NAMES, CLASS_SHORT, TUMOUR_CLASSES

from .data import DICE_KEYS, DISCLAIMER, KeyImage, ReportData

DPI = 200
PAGE_WIDTH_PX = int(round((210 - 24) / 25.4 * DPI))  # A4 minus 12 mm margins each side
LAYOUT_WIDTH = PAGE_WIDTH_PX // 2  # the HTML is laid out at this width, then scaled onto the page
IMAGE_WIDTH_PX = 600  # pixels of each key image (drawn smaller: sharp when printed)
RANO_COLOUR = QColor(255, 255, 255)
REGION_WORDS = {"WT": "Whole tumour (WT = NCR + ED + ET)", "TC": "Tumour core (TC = NCR + ET)"}


def ensure_gui_application() -> QGuiApplication:
    """The running Qt application, or an offscreen one (the CLI has no display).

    A QApplication rather than a bare QGuiApplication: Qt allows one application object per
    process, and a caller that later needs widgets (a script, the test suite) could not make one.
    """
    app = QGuiApplication.instance()
    if app is None:
        from PySide6.QtWidgets import QApplication

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    return app


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: own the pixels


def key_qimage(image: KeyImage, width: int = IMAGE_WIDTH_PX) -> QImage:
    """The key image at ``width`` pixels, in the anatomy's proportions, with the RANO lines drawn."""
    rows, cols = image.rgb.shape[:2]
    height = max(1, int(round(width * rows * image.pixel_mm[1] / (cols * image.pixel_mm[0]))))
    scaled = _qimage(image.rgb).scaled(width, height, Qt.AspectRatioMode.IgnoreAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)
    if image.long_lines:
        sx, sy = width / cols, height / rows
        painter = QPainter(scaled)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for lines, style in ((image.long_lines, Qt.PenStyle.SolidLine), (image.short_lines, Qt.PenStyle.DashLine)):
            painter.setPen(QPen(RANO_COLOUR, 3, style))
            for (a, b) in lines:
                painter.drawLine(QPointF(a[0] * sx, a[1] * sy), QPointF(b[0] * sx, b[1] * sy))
        painter.end()
    return scaled


def _row(cells: list[str], header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _swatch(label: int) -> str:
    r, g, b = CLASS_COLOURS[label]
    return f"<span style='color: rgb({r},{g},{b}); font-size: 14pt'>&#9632;</span> "


def report_html(data: ReportData) -> str:
    """The page as HTML (images referenced by the names :func:`write_report` registers)."""
    e = html.escape
    m = data.measurement
    info = [
        ("Case", f"<b>{e(data.case_id)}</b>"),
        ("Segmentation", f"{e(data.layer)} &mdash; <b>{e(data.provenance.words)}</b>"),
        ("Model", e(data.algorithm.words) if data.algorithm else "none (manual annotation)"),
        ("Sequences", e(", ".join(data.sequences) or "none")),
    ]
    if data.model_inputs:
        info.append(("Model inputs", e(", ".join(data.model_inputs))))
    if data.ncr_meaning:
        info.append(("Label 1 means", e(data.ncr_meaning)))
    info.append(("Created", e(data.created)))
    parts = [
        "<span style='font-size: 17pt; font-weight: bold'>Brain tumour MRI segmentation</span><br>"
        f"<span style='font-size: 13pt'>Case {e(data.case_id)}</span>",
        f"<p style='color: #b00000; font-weight: bold; margin-top: 4px'>{e(DISCLAIMER)}</p>",
        "<table cellspacing='0' cellpadding='2'>" + "".join(
            f"<tr><td style='color:#555555; padding-right: 10px'>{k}</td><td>{v}</td></tr>" for k, v in info)
        + "</table>",
    ]
    volumes = ["<h3>Volumes</h3><table border='1' cellspacing='0' cellpadding='3'>",
               _row(["Region", "Volume (mL)"], header=True)]
    for label in TUMOUR_CLASSES:
        volumes.append(_row([_swatch(label) + e(f"{CLASS_NAMES[label]} ({CLASS_SHORT[label]})"),
                             f"{m.volumes_ml[CLASS_SHORT[label]]:.2f}"]))
    for key in ("WT", "TC"):
        volumes.append(_row([e(REGION_WORDS[key]), f"<b>{m.volumes_ml[key]:.2f}</b>"]))
    volumes.append("</table>")
    rano = ["<h3>RANO (enhancing lesions)</h3>"]
    if m.lesions:
        rano.append("<table border='1' cellspacing='0' cellpadding='3'>")
        rano.append(_row(["Lesion", "Slice", "Long (mm)", "Perp. (mm)", "Product (mm²)", "Vol. (mL)", "Measurable"],
                         header=True))
        for lesion in m.lesions[:8]:
            z = data.slice_of(2, lesion.z) if data.slice_of else lesion.z
            rano.append(_row([f"ET {lesion.number}", str(z), f"{lesion.long_mm:.1f}", f"{lesion.short_mm:.1f}",
                              f"{lesion.product_mm2:.1f}", f"{lesion.volume_ml:.2f}",
                              "yes" if lesion.measurable else "no"]))
        rano.append("</table>")
        more = len(m.lesions) - 8
        rano.append(f"<p>Sum of products (measurable): <b>{m.sum_of_products_mm2:.1f} mm²</b>"
                    + (f"; {more} smaller lesion(s) not listed" if more > 0 else "")
                    + (f"; {m.small_lesions} speck(s) ≤ {m.min_lesion_ml * 1000:g} mm³ left out" if m.small_lesions
                       else "") + "</p>")
    else:
        rano.append("<p>No enhancing lesion.</p>")
    if data.dice is not None:
        rano.append("<h3>Dice against the loaded ground truth</h3><table border='1' cellspacing='0' cellpadding='3'>")
        rano.append(_row(list(DICE_KEYS), header=True))
        rano.append(_row([f"{data.dice[k]:.3f}" for k in DICE_KEYS]) + "</table>")
    parts.append("<table width='100%' cellspacing='0' cellpadding='0'><tr>"
                 f"<td width='42%' valign='top'>{''.join(volumes)}</td>"
                 f"<td width='58%' valign='top' style='padding-left: 14px'>{''.join(rano)}</td></tr></table>")
    cells = []
    count = len(data.key_images) + (data.volume_rgb is not None)
    width = int((LAYOUT_WIDTH - 12 * count) / max(count, 1))
    for i, image in enumerate(data.key_images):
        cells.append(f"<td align='center' valign='top'><img src='key{i}.png' width='{width}'><br>"
                     f"<span style='font-size: 8pt'>{e(image.caption)}</span></td>")
    if data.volume_rgb is not None:
        cells.append(f"<td align='center' valign='top'><img src='volume.png' width='{width}'><br>"
                     "<span style='font-size: 8pt'>3-D view</span></td>")
    parts.append(f"<h3>Key images</h3><p style='font-size: 8pt'>{e(data.key_reason)}</p>"
                 "<table cellspacing='6'><tr>" + "".join(cells) + "</tr></table>")
    legend = " ".join(_swatch(label) + e(CLASS_SHORT[label]) for label in TUMOUR_CLASSES)
    notes = [f"Overlay: {legend}; RANO lines white (solid: longest diameter, dashed: perpendicular)."]
    if data.volume_rgb is None:
        notes.append(e(data.volume_note) + ".")
    notes.extend(e(n) for n in data.notes)
    parts.append(f"<p style='font-size: 8pt'>{' '.join(notes)}</p>")
    parts.append(f"<p style='font-size: 8pt; color: #b00000'>{e(DISCLAIMER)} Generated by BraTS Desktop.</p>")
    return "<html><body style='font-family: sans-serif; font-size: 9pt'>" + "".join(parts) + "</body></html>"


def _document(data: ReportData) -> QTextDocument:
    doc = QTextDocument()
    for i, image in enumerate(data.key_images):
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"key{i}.png"),
                        key_qimage(image, IMAGE_WIDTH_PX))
    if data.volume_rgb is not None:
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl("volume.png"), _qimage(data.volume_rgb))
    doc.setHtml(report_html(data))
    return doc


def render_pdf(data: ReportData, path: Path | str) -> None:
    """Draw the page into ``path`` (not atomic: :func:`write_report` wraps it)."""
    ensure_gui_application()
    writer = QPdfWriter(str(path))
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter))
    writer.setTitle(f"Segmentation report {data.case_id}")
    writer.setCreator("BraTS Desktop")
    doc = _document(data)
    page = writer.pageLayout().paintRectPixels(DPI)
    # Lay out at a fixed pixel width, then scale that onto the page: the layout does not depend on the dpi.
    doc.setTextWidth(LAYOUT_WIDTH)
    size = doc.size()
    scale = min(page.width() / size.width(), page.height() / size.height())
    painter = QPainter(writer)
    painter.scale(scale, scale)
    doc.drawContents(painter)
    painter.end()


def write_report(data: ReportData, target: Path | str) -> Path:
    """Write the one-page PDF atomically (never a half-written report under the user's name)."""
    target = Path(target)
    if not target.name.lower().endswith(".pdf"):
        target = target.with_name(target.name + ".pdf")
    return write_atomically(target, lambda tmp: render_pdf(data, tmp), ExportError, tmp_suffix=".pdf")


__all__ = ["ensure_gui_application", "key_qimage", "render_pdf", "report_html", "write_report"]
