"""The cohort's review summary as a PDF beside the per-patient reports (``brats-predict COHORT --report``).

The same rows as the worklist's CSV export (``Cohort.summary_rows``: review status, AI and
corrected volumes, Dice), as a table someone can print; it may run over several pages.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

from brats_desktop.core.atomic import write_atomically
from brats_desktop.core.errors import ExportError

from .data import DISCLAIMER
from .pdf import ensure_gui_application

COLUMNS = (
    ("case", "Case"), ("status", "Review"), ("prediction", "AI"), ("corrected", "Corrected"),
    ("ai_ml_WT", "AI WT mL"), ("ai_ml_TC", "AI TC mL"), ("ai_ml_ET", "AI ET mL"),
    ("corrected_ml_WT", "Corr. WT mL"), ("dice_ai_vs_corrected_WT", "Dice AI/corr. WT"),
    ("dice_ai_vs_gt_WT", "Dice AI/GT WT"), ("comment", "Comment"), ("problem", "Problem"),
)


def _cell(key: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if key.startswith("dice") else f"{value:.2f}"  # Dice 0-1, volumes in mL
    return html.escape(str(value if value is not None else ""))


def summary_html(cohort: Any) -> str:
    rows = cohort.summary_rows()
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_cell(key, row.get(key, ''))}</td>" for key, _ in COLUMNS) + "</tr>"
                   for row in rows)
    return (f"<html><body style='font-family: sans-serif; font-size: 8pt'>"
            f"<h2>Review summary: {html.escape(str(cohort.root))}</h2>"
            f"<p style='color: #b00000; font-weight: bold'>{html.escape(DISCLAIMER)}</p>"
            f"<p>{len(rows)} case(s). Volumes in mL; Dice on the whole tumour (WT).</p>"
            f"<table border='1' cellspacing='0' cellpadding='2'><tr>{head}</tr>{body}</table></body></html>")


def write_summary(cohort: Any, target: Path | str) -> Path:
    """Write the summary PDF atomically (A4 landscape, as many pages as the table needs)."""
    ensure_gui_application()

    def render(path: Path) -> None:
        writer = QPdfWriter(str(path))
        writer.setResolution(150)
        writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Landscape,
                                         QMarginsF(10, 10, 10, 10), QPageLayout.Unit.Millimeter))
        writer.setTitle("Review summary")
        doc = QTextDocument()
        doc.setHtml(summary_html(cohort))
        doc.print_(writer)

    return write_atomically(Path(target), render, ExportError, tmp_suffix=".pdf")
