"""Draw docs/architecture.png: the layers, the feature interface and a patient's path (Qt, offscreen).

    QT_QPA_PLATFORM=offscreen python scripts/draw_architecture.py [OUT.png]

Boxes and arrows are written out here, not derived from the code: change the picture when the
layers change (tests/test_import_layers.py is what enforces them).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter, QPen, QPolygonF

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1400, 860

# (x, y, w, h, title, lines, fill colour)
BOXES: dict[str, tuple[float, float, float, float, str, str, str]] = {
    "core": (40, 700, 1320, 120, "brats_desktop/core  (numpy, no Qt)",
             "patient + nifti_io (read to RAS+, write back exactly) · labels · metrics · postprocessing · history/editing\n"
             "measurements · uncertainty · meshes · synthetic* · cohort · naming · focus", "#dfe9f3"),
    "models": (40, 565, 420, 110, "models/", "U-Net, checkpoint (safe load), runtime.predict_patient,\ntta, bundled weights", "#e6e0f3"),
    "training": (490, 565, 420, 110, "training/  ·  preprocess/  ·  cohort_predict",
                 "trainer, train_args, run_record, evaluate, crossval ·\nraw scans -> BraTS folder · Segment All / brats-predict", "#e6e0f3"),
    "cli": (940, 565, 420, 110, "cli/", "brats-predict (one patient, a cohort,\ntorchrun ranks)", "#f3e6e0"),
    "base": (40, 410, 640, 125, "app base: state.py · views/ · loader · dialogs",
             "ViewerState (patient, cursor, layers; past-tense signals)\nSliceView x3 + layouts + 3-D view · PatientLoader (first image early)", "#e0f3e6"),
    "feature": (710, 410, 650, 125, "app/feature.py  —  the one interface",
                "AppContext: state, views, menu(path), add_action, add_shortcut, toolbar,\n"
                "add_dock(task_tab), show_message, workers, dialogs, settings, patients, feature(name)\n"
                "Feature: name, may_discard, hover_text, shutdown", "#fff2c6"),
    "features": (40, 215, 1320, 120, "feature packages  (app/<name>/: controller = Feature, panels emit signals)",
                 "inference (Segment: run, model choice, label-1 meaning)   annotation (editor, paint, save, recovery)   "
                 "correction\nai_correct   uncertainty   measure   compare (error map)   cohort (worklist, prefetch, "
                 "Segment All)   importer   help\n— each imports core/models lazily where heavy, never another "
                 "feature's modules, never the window —", "#fde8d7"),
    "list": (40, 120, 640, 70, "app/features.py", "FEATURES (build order) · TASK_TAB_ORDER", "#f7f7f7"),
    "window": (710, 120, 650, 70, "app/main_window.py (+ patient_opening, layer_export)",
               "builds AppContext, then every feature; File / View; closes them", "#f7f7f7"),
    "main": (40, 30, 1320, 60, "app/main.py  ·  brats-desktop [CASE] [--screenshot] [--cohort] [--import]", "", "#f7f7f7"),
}
# "from imports to", as (x, y) -> (x, y) and a label; drawn straight, through gaps between boxes.
ARROWS: list[tuple[tuple[float, float], tuple[float, float], str]] = [
    ((1035, 90), (1035, 120), ""),  # main -> window
    ((710, 155), (680, 155), ""),  # window -> feature list
    ((360, 190), (360, 215), ""),  # feature list -> feature packages
    ((1035, 335), (1035, 410), "uses"),  # features -> the interface
    ((360, 335), (360, 410), ""),  # features -> app base
    ((695, 335), (695, 565), "lazy"),  # features -> training / cohort_predict (when first used)
    ((710, 470), (680, 470), ""),  # interface -> app base
    ((475, 535), (475, 700), ""),  # app base -> core
    ((250, 675), (250, 700), ""),  # models -> core
    ((800, 675), (800, 700), ""),  # training -> core
    ((490, 620), (460, 620), ""),  # training -> models
    ((940, 620), (910, 620), ""),  # cli -> training
]


def _arrow(p: QPainter, a: QPointF, b: QPointF, label: str) -> None:
    p.setPen(QPen(QColor("#555"), 2))
    p.drawLine(a, b)
    direction = b - a
    length = max((direction.x() ** 2 + direction.y() ** 2) ** 0.5, 1e-6)
    ux, uy = direction.x() / length, direction.y() / length
    head = QPolygonF([b, QPointF(b.x() - 12 * ux + 6 * uy, b.y() - 12 * uy - 6 * ux),
                      QPointF(b.x() - 12 * ux - 6 * uy, b.y() - 12 * uy + 6 * ux)])
    p.setBrush(QColor("#555"))
    p.drawPolygon(head)
    if label:
        p.setFont(QFont("DejaVu Sans", 10, italic=True))
        p.drawText(QPointF(a.x() + 6, a.y() + 22), label)  # near the start: gaps are there


def draw(out: Path) -> None:
    image = QImage(WIDTH, HEIGHT, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    for name, (x, y, w, h, title, text, fill) in BOXES.items():
        p.setPen(QPen(QColor("#444"), 1.5))
        p.setBrush(QColor(fill))
        p.drawRoundedRect(QRectF(x, y, w, h), 8, 8)
        p.setFont(QFont("DejaVu Sans", 12, QFont.Weight.Bold))
        p.drawText(QRectF(x + 10, y + 6, w - 20, 22), Qt.AlignmentFlag.AlignLeft, title)
        p.setFont(QFont("DejaVu Sans", 10))
        p.drawText(QRectF(x + 10, y + 32, w - 20, h - 36), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, text)
    for (x0, y0), (x1, y1), label in ARROWS:
        _arrow(p, QPointF(x0, y0), QPointF(x1, y1), label)
    p.setFont(QFont("DejaVu Sans", 10, italic=True))
    p.setPen(QColor("#333"))
    p.drawText(QRectF(40, 835, 1320, 20), Qt.AlignmentFlag.AlignRight,
               "arrows: imports (downwards only; no loops — tests/test_import_layers.py)")
    p.end()
    if not image.save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out}")


if __name__ == "__main__":
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    draw(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "architecture.png")
