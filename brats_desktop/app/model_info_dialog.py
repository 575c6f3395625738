"""A non-modal window describing a checkpoint: inputs, classes, training, metrics, licence.

File → Load Model… and Segment → Model Information… show it, so the user sees what a
model needs and how it was made before trusting its output.
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from brats_desktop.core.discovery import MODALITY_LABELS


class ModelInfoDialog(QDialog):
    """Shows a checkpoint's metadata: what it needs, how it was trained, how well it did, its licence."""

    def __init__(self, model: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {model.name}")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.browser = QTextBrowser()
        self.browser.setHtml(model_info_html(model))
        self.browser.setMinimumSize(520, 420)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)


def model_info_html(model: Any) -> str:
    """Readable summary of the metadata, then the whole of it as JSON."""
    meta: dict[str, Any] = dict(model.metadata)
    path = getattr(model, "path", None)
    rows = [
        ("Name", meta.get("name", "")),
        ("File", str(path) if path else "(in memory)"),
        ("Input modalities", ", ".join(MODALITY_LABELS.get(m, m) for m in meta.get("modalities", []))),
        ("Classes", ", ".join(f"{k}: {v}" for k, v in dict(meta.get("classes", {})).items())),
        ("Label convention", meta.get("label_convention", "")),
    ]
    for key in ("training", "metrics", "licence", "license"):
        if key in meta:
            value = meta[key]
            rows.append((key.capitalize(), value if isinstance(value, str) else json.dumps(value, indent=1)[:1200]))
    body = "".join(
        f"<tr><th align='left' valign='top'>{html.escape(str(k))}</th>"
        f"<td><pre style='margin:0; white-space:pre-wrap'>{html.escape(str(v))}</pre></td></tr>"
        for k, v in rows
    )
    full = html.escape(json.dumps(meta, indent=2, default=str))
    return f"<table cellspacing='6'>{body}</table><h4>All metadata</h4><pre>{full}</pre>"
