"""Overlays that can be on screen together keep colours a reader can tell apart."""

from __future__ import annotations

import pytest

from brats_desktop.app.measure.rano_overlay import RANO_COLOUR
from brats_desktop.app.measure.ruler import RULER_COLOUR
from brats_desktop.core.error_map import ERROR_COLOURS, FALSE_NEGATIVE, FALSE_POSITIVE
from brats_desktop.core.labels import CLASS_COLOURS

# Smallest RGB distance between two overlay colours: magenta (255, 64, 255) against the error
# map's magenta (255, 0, 255) is 64 and was reported as indistinguishable.
MIN_DISTANCE = 150


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


OVERLAYS = {
    "RANO lines": RANO_COLOUR,
    "error map false positive": ERROR_COLOURS[FALSE_POSITIVE],
    "error map false negative": ERROR_COLOURS[FALSE_NEGATIVE],
    **{f"label {value}": rgb for value, rgb in CLASS_COLOURS.items()},
}


@pytest.mark.parametrize(("name", "other"), [("RANO lines", o) for o in OVERLAYS if o != "RANO lines"])
def test_rano_lines_stand_apart_from_labels_and_error_map(name: str, other: str) -> None:
    assert _distance(OVERLAYS[name], OVERLAYS[other]) >= MIN_DISTANCE, (name, other)


def test_rano_lines_are_not_the_ruler_colour() -> None:
    assert _distance(RANO_COLOUR, RULER_COLOUR) >= MIN_DISTANCE


@pytest.mark.parametrize("other", [o for o in OVERLAYS if o != "RANO lines"])
def test_ruler_stands_apart_from_error_map_and_labels(other: str) -> None:
    """The ruler once shared the error map's false-negative cyan, so a measurement read as missed tumour."""
    assert _distance(RULER_COLOUR, OVERLAYS[other]) >= MIN_DISTANCE, other
