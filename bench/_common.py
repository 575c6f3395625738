"""Setup shared by the viewer benches: an offscreen main window with throw-away settings.

Imported by scripts run as ``python bench/<name>.py`` (bench/ is then first on sys.path);
it keeps the window size, the temporary settings file and the "Prediction" layer the
same in every bench, so their figures stay comparable.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from brats_desktop.app.main_window import MainWindow


def bench_window() -> tuple[QApplication, MainWindow]:
    """A shown 1400x900 MainWindow whose settings go to a temporary file (never the user's)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from brats_desktop.app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1400, 900)
    window.show()
    return app, window


def add_shifted_prediction(window: MainWindow) -> None:
    """A second label layer "Prediction" (the first layer moved 3 voxels), as after inference."""
    import numpy as np

    state = window.state
    if state.layers:
        state.replace_layer("Prediction", np.roll(state.layers[0].data, 3, axis=0), modified=False)


def repaint_views(window: MainWindow) -> None:
    """Paint the three slice views now, so a timing includes the paint and not only the update."""
    for view in window.views:
        view.viewport().repaint()
