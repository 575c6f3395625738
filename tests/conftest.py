"""Test configuration: Qt offscreen, shared real data located, deterministic seeds."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Float32 everywhere unless a test asks for bfloat16 (tests/test_inference_runtime.py and
# test_training.py set BRATS_CPU_BF16=1 themselves): tests comparing the app's or the CLI's
# labels with a direct float32 prediction then hold on every CPU, with or without bfloat16.
os.environ["BRATS_CPU_BF16"] = "0"

import pytest  # noqa: E402

# The 3-D view's pyqtgraph shaders are compiled once per process: every OpenGL context of
# the many test windows must share them (set before pytest-qt creates the QApplication).
from brats_desktop.app.views.volume_view import share_opengl_contexts  # noqa: E402

share_opengl_contexts()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; skips the test when it is absent (as on a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real cases not available: {SHARED_DATA} does not exist")
    return SHARED_DATA
