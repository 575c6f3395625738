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
from brats_desktop.core.label_meaning import LABEL1_SHORT, label1_name
from brats_desktop.core.postprocessing import NCR_DEFINITIONS


class ModelInfoDialog(QDialog):
    """Shows a checkpoint's metadata: what it needs, how it was trained, how well it did, its licence."""

    def __init__(self, model: Any, parent: QWidget | None = None, prediction_meaning: str | None = None,
                 tiers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {model.name}")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.browser = QTextBrowser()
        self.browser.setHtml(model_info_html(model, prediction_meaning, tiers))
        self.browser.setMinimumSize(520, 420)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)


TRAINING_KEYS = ("command", "data", "epochs", "epochs_planned", "date", "git_revision", "device", "parameters")


def _compact(value: Any, depth: int = 0) -> str:
    """Nested metadata as indented ``key: value`` lines, floats to 3 decimals."""
    pad = "  " * depth
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v and depth < 2:
                lines.append(f"{pad}{k}:\n{_compact(v, depth + 1)}")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
        return "\n".join(lines)
    if isinstance(value, list):
        return pad + ", ".join(_scalar(v) for v in value)
    return pad + _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_scalar(v)}" for k, v in value.items())[:300]
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value)[:300]
    return str(value)


def model_info_html(model: Any, prediction_meaning: str | None = None,
                    tiers: list[tuple[str, str]] | None = None) -> str:
    """What a user needs first (inputs, licence, quality, provenance), then all metadata as JSON.

    Class 1 is named after the meaning of label 1 in the model's training data
    (``ncr_definition``), not the metadata's ``classes`` text, which ``brats-train``
    writes as "NCR/NET" whatever the data: one dialog must not say two things.
    ``prediction_meaning`` is what the app's predictions currently give label 1.
    ``tiers``: (title, text) rows first, the Fast and Accurate tiers and their models
    (``models/bundled/tiers.json``) and what the next Run uses; the rest describes ``model``
    (the loaded checkpoint, or the tier's first model).
    """
    meta: dict[str, Any] = dict(model.metadata)
    path = getattr(model, "path", None)
    trained = str(meta.get("ncr_definition", "brats2013"))
    classes = meta.get("classes", {})
    if isinstance(classes, dict):
        class_text = ", ".join(
            f"{k}: {LABEL1_SHORT.get(trained, v) if str(k) == '1' else v}" for k, v in classes.items()
        )
    else:
        class_text = ", ".join(map(str, classes))
    rows: list[tuple[str, str]] = [
        ("Name", str(meta.get("name", ""))),
        ("File", str(path) if path else "(in memory)"),
        ("Input modalities", ", ".join(MODALITY_LABELS.get(m, m) for m in meta.get("modalities", []))),
        ("Classes", class_text),
        ("Label convention",
         f"internal 0-3 (0 background, 1 {LABEL1_SHORT.get(trained, 'NCR')} = {label1_name(trained).lower()}, "
         "2 edema, 3 enhancing); files are written in the patient's convention (enhancing 4 in BraTS "
         "2017-2021 files, 3 in BraTS 2023 files)"),
        ("Label 1 in its training data", NCR_DEFINITIONS.get(trained, trained)),
    ]
    if prediction_meaning is not None:
        note = NCR_DEFINITIONS.get(prediction_meaning, prediction_meaning)
        if trained == "brats2021" and prediction_meaning == "brats2013":
            note += " (asked for, but a model trained with the 2021+ meaning keeps it)"
        rows.append(("Label 1 in the app's predictions", note))
    for key in ("licence", "license"):
        if key in meta:
            rows.append(("Licence", _compact(meta[key])))
    if "metrics" in meta:
        rows.append(("Metrics", _compact(meta["metrics"])))
    training = meta.get("training")
    if isinstance(training, dict):
        rows.append(("Training", _compact({k: training[k] for k in TRAINING_KEYS if k in training})))
    elif training:
        rows.append(("Training", _compact(training)))
    for key in ("preprocessing", "architecture"):
        if isinstance(meta.get(key), dict):
            rows.append((key.capitalize(), ", ".join(f"{k}={_scalar(v)}" for k, v in meta[key].items())))
    body = "".join(
        f"<tr><th align='left' valign='top'>{html.escape(k)}</th>"
        f"<td><pre style='margin:0; white-space:pre-wrap'>{html.escape(v)}</pre></td></tr>"
        for k, v in rows
    )
    full = html.escape(json.dumps(meta, indent=2, default=str))
    tier_part = ""
    if tiers:
        tier_body = "".join(
            f"<tr><th align='left' valign='top'>{html.escape(k)}</th>"
            f"<td><pre style='margin:0; white-space:pre-wrap'>{html.escape(v)}</pre></td></tr>"
            for k, v in tiers
        )
        tier_part = f"<h4>Model tiers</h4><table cellspacing='6'>{tier_body}</table><h4>This model</h4>"
    return f"{tier_part}<table cellspacing='6'>{body}</table><h4>All metadata</h4><pre>{full}</pre>"
