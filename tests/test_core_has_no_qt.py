"""The core must stay importable without a GUI toolkit (training jobs, headless CLI)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import brats_desktop.core


def test_importing_every_core_module_loads_no_qt() -> None:
    modules = [f"brats_desktop.core.{m.name}" for m in pkgutil.iter_modules(brats_desktop.core.__path__)]
    assert "brats_desktop.core.patient" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core imports pulled in Qt: {result.stdout.strip()}"
