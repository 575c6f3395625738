"""Where two label maps disagree: false positives and false negatives for one region or class.

A reviewer compares a *test* map (a prediction, or the AI's labels) with a
*reference* (the ground truth, or the corrected labels). Dice says how much they
disagree; the error map says where: a voxel is a false positive when the test puts
it in the chosen region and the reference does not, a false negative the other
way round. The two kinds get two values (and two colours in the app), and their
connected pieces, largest first, are what *Next Error* steps through.

Plain numpy, no Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .components import Component, find_components, voxel_volume_ml
from .labels import EDEMA, NCR, REGIONS

CORRECT = 0
FALSE_POSITIVE = 1
FALSE_NEGATIVE = 2
KIND_NAMES: dict[int, str] = {FALSE_POSITIVE: "false positive", FALSE_NEGATIVE: "false negative"}

# Chosen to differ from the class colours (blue, green, yellow) and from each other.
ERROR_COLOURS: dict[int, tuple[int, int, int]] = {
    FALSE_POSITIVE: (255, 0, 255),  # magenta: the test labels it, the reference does not
    FALSE_NEGATIVE: (0, 230, 255),  # cyan: the reference labels it, the test missed it
}

# What can be compared: the BraTS regions and the single classes (ET is both).
TARGETS: dict[str, tuple[int, ...]] = {
    "WT": REGIONS["WT"],
    "TC": REGIONS["TC"],
    "ET": REGIONS["ET"],
    "NCR": (NCR,),
    "ED": (EDEMA,),
}
TARGET_NAMES: dict[str, str] = {
    "WT": "Whole tumour (WT)",
    "TC": "Tumour core (TC)",
    "ET": "Enhancing tumour (ET)",
    "NCR": "Necrotic core (NCR)",
    "ED": "Edema (ED)",
}


def target_mask(labels: np.ndarray, target: str) -> np.ndarray:
    """Boolean mask of a region or class (a 256-entry lookup: faster than ``np.isin``)."""
    try:
        classes = TARGETS[target]
    except KeyError:
        raise ValueError(f"unknown region/class {target!r}; expected one of {sorted(TARGETS)}") from None
    table = np.zeros(256, dtype=bool)
    table[list(classes)] = True
    return table[labels]


def error_map(test: np.ndarray, reference: np.ndarray, target: str = "WT") -> np.ndarray:
    """uint8 map: FALSE_POSITIVE where only ``test`` has ``target``, FALSE_NEGATIVE where only ``reference`` has."""
    if test.shape != reference.shape:
        raise ValueError(f"label maps differ in shape: {test.shape} vs {reference.shape}")
    t, r = target_mask(test, target), target_mask(reference, target)
    out = np.zeros(test.shape, dtype=np.uint8)
    out[t & ~r] = FALSE_POSITIVE
    out[r & ~t] = FALSE_NEGATIVE
    return out


@dataclass(frozen=True)
class ErrorSummary:
    """Volumes of the two error kinds, in voxels and mL."""

    false_positive_voxels: int
    false_negative_voxels: int
    false_positive_ml: float
    false_negative_ml: float


def summarize(errors: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> ErrorSummary:
    counts = np.bincount(errors.ravel(), minlength=3)
    unit = voxel_volume_ml(spacing)
    fp, fn = int(counts[FALSE_POSITIVE]), int(counts[FALSE_NEGATIVE])
    return ErrorSummary(fp, fn, fp * unit, fn * unit)


def error_components(
    errors: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0), connectivity: int = 26
) -> list[Component]:
    """Connected false-positive and false-negative regions, one list, largest first.

    The kinds are labelled separately (``Component.kind`` names the kind), so a
    boundary shifted by a voxel shows as a false-positive rim and a false-negative
    rim, not as one region of mixed meaning.
    """
    found: list[Component] = []
    for value, name in KIND_NAMES.items():
        found += find_components(errors == value, spacing, connectivity, kind=name)
    found.sort(key=lambda c: (-c.voxels, c.focus))
    return found


def error_lookup_table(alpha: int = 255) -> np.ndarray:
    """256x4 RGBA table for displaying an error map: 0 transparent, FP and FN coloured."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for value, rgb in ERROR_COLOURS.items():
        lut[value, :3] = rgb
        lut[value, 3] = alpha
    return lut
