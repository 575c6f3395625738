"""Start-up pays only for what it shows: building the window imports no heavy library.

torch (about 1.7 s), SimpleITK, HD-BET and scikit-image are imported by the feature that
needs them when it is first used (a Run, an import, the 3-D surfaces in their thread); pydicom
is kept out of nibabel's import (``core.nifti_io``). Checked in a fresh interpreter, since this
test process has imported everything already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "SimpleITK", "HD_BET", "skimage", "pydicom", "models", "training", "brats_desktop.cohort_predict")

BUILD_WINDOW = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from brats_desktop.app.main_window import MainWindow
window = MainWindow()
window.show()
app.processEvents()
print("FEATURES", ",".join(sorted(window.app._features)))
print("HEAVY", ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
window.close()
"""


def test_building_the_window_imports_no_heavy_library(tmp_path: Path) -> None:
    env = {"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WINDOW.format(heavy=HEAVY)], capture_output=True, text=True,
        timeout=300, cwd=ROOT, env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) if " " in line else (line, "") for line in result.stdout.splitlines())
    assert "segment" in lines["FEATURES"].split(",")  # the window really was built with its features
    assert lines["HEAVY"] == "", f"building the window imported {lines['HEAVY']}"
