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


SCREENSHOT = """
import sys
from brats_desktop.app.main import main
code = main([sys.argv[1], "--screenshot", sys.argv[2]])
print("CODE", code)
print("HEAVY", ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}


def test_building_the_window_imports_no_heavy_library(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WINDOW.format(heavy=HEAVY)], capture_output=True, text=True,
        timeout=300, cwd=ROOT, env=_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) if " " in line else (line, "") for line in result.stdout.splitlines())
    assert "segment" in lines["FEATURES"].split(",")  # the window really was built with its features
    assert lines["HEAVY"] == "", f"building the window imported {lines['HEAVY']}"


def test_a_screenshot_without_a_run_imports_no_torch(tmp_path: Path) -> None:
    """``brats-desktop CASE --screenshot`` leaves the device unnamed rather than import torch for it."""
    from tiny_cases import make_folder

    folder = make_folder(tmp_path / "case", {m: f"case_{m}.nii.gz" for m in ("t1", "t1ce", "t2", "flair", "seg")})
    out = tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, "-c", SCREENSHOT.format(heavy=HEAVY), str(folder), str(out)], capture_output=True,
        text=True, timeout=300, cwd=ROOT, env=_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) if " " in line else (line, "") for line in result.stdout.splitlines()
                 if line.startswith(("CODE", "HEAVY")))
    assert lines["CODE"] == "0" and out.is_file()
    assert lines["HEAVY"] == "", f"the screenshot imported {lines['HEAVY']}"


def test_skip_device_probe_leaves_the_device_unnamed(qtbot, tmp_path: Path) -> None:
    """With torch already loaded the probe names the device at the first event, unless skipped."""
    import torch  # noqa: F401  (loaded: the window then probes at once, not after a delay)
    from PySide6.QtWidgets import QApplication

    from brats_desktop.app.main_window import MainWindow
    from viewer_support import ScriptedDialogs, isolated_settings

    window = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(window)
    window.segment.skip_device_probe()
    for _ in range(5):
        QApplication.processEvents()
    assert window.segment.device_label.text() == "Device: …"
    window.close()
