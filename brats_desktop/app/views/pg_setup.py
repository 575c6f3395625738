"""pyqtgraph global options, set once before any pyqtgraph widget exists.

Row-major axis order makes ``image[row, col]`` mean ``(screen y, screen x)``, as numpy
does; changing config options after widgets exist is unsupported by pyqtgraph, so
every module that makes pyqtgraph widgets imports this first.
"""

from __future__ import annotations

import pyqtgraph as pg

_configured = False


def configure() -> None:
    """Apply the options (idempotent)."""
    global _configured
    if not _configured:
        pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="k")
        _configured = True


configure()
