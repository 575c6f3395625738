"""Qt application: observable state, slice views, panels, workers and the main window.

Import order matters for pyqtgraph: :func:`brats_desktop.app.views.pg_setup.configure` sets
the row-major axis order once, before any widget exists.
"""
