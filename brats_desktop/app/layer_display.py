"""Visibility and opacity settings shared by the label layers and the heat-map layer.

Both layers keep ``_visible`` and ``_opacity`` and announce a change through their own
``display_changed`` signal; the setters were written twice, so they live here once.
"""

from __future__ import annotations


class LayerDisplayMixin:
    """Mixed into a QObject that has a ``display_changed`` signal, ``_visible`` and ``_opacity``."""

    _visible: bool
    _opacity: float

    @property
    def visible(self) -> bool:
        return self._visible

    def set_visible(self, visible: bool) -> None:
        if bool(visible) != self._visible:
            self._visible = bool(visible)
            self.display_changed.emit()  # type: ignore[attr-defined]

    @property
    def opacity(self) -> float:
        return self._opacity

    def set_opacity(self, opacity: float) -> None:
        """Clamped to 0-1; emits only on a real change so sliders do not redraw for nothing."""
        opacity = min(1.0, max(0.0, float(opacity)))
        if opacity != self._opacity:
            self._opacity = opacity
            self.display_changed.emit()  # type: ignore[attr-defined]
