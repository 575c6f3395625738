"""Qt-free core shared by the app, the command-line tools and training.

Nothing in this package may import PySide6 or pyqtgraph (a test enforces it), so
training jobs and headless prediction never pull in a GUI toolkit.
"""
