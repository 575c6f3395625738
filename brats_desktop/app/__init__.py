"""Qt application: observable state, slice views, panels, workers and the main window.

Import order matters for pyqtgraph: :func:`brats_desktop.app.pg_setup.configure` sets
the row-major axis order once, before any widget exists.
"""

from . import qt_compat  # noqa: E402,F401  (PySide6 6.12 emit() refcount bug; see the module)
