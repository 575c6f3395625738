"""AI-assisted correction: guidance (clicks, scribbles), the click model's engine and a headless session.

``InteractiveSession`` is imported lazily so that ``import brats_desktop.interactive``
(e.g. for the guidance types) does not load torch.
"""

from __future__ import annotations

from typing import Any

from .guidance import Click, Scribble

__all__ = ["Click", "Scribble", "InteractiveSession", "ClickEngine", "RefineResult"]


def __getattr__(name: str) -> Any:
    if name == "InteractiveSession":
        from .session import InteractiveSession

        return InteractiveSession
    if name in ("ClickEngine", "RefineResult"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
