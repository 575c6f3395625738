"""Label classes, file label conventions and BraTS regions.

Internally every label map is uint8 with 0 background, 1 NCR/NET, 2 edema,
3 enhancing tumour. Files use either the BraTS 2017-2021 convention (enhancing = 4)
or the BraTS 2023+ convention (enhancing = 3); we remember which one a patient used
and write it back the same way on export.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import numpy as np

BACKGROUND, NCR, EDEMA, ENHANCING = 0, 1, 2, 3
TUMOUR_CLASSES: tuple[int, ...] = (NCR, EDEMA, ENHANCING)

CLASS_NAMES: dict[int, str] = {
    BACKGROUND: "Background",
    NCR: "Necrotic / non-enhancing core",
    EDEMA: "Peritumoral edema",
    ENHANCING: "Enhancing tumour",
}
CLASS_SHORT: dict[int, str] = {BACKGROUND: "BG", NCR: "NCR", EDEMA: "ED", ENHANCING: "ET"}

# Colours of the reference tutorial: core blue, edema green, enhancing yellow.
CLASS_COLOURS: dict[int, tuple[int, int, int]] = {
    NCR: (40, 90, 255),
    EDEMA: (0, 220, 0),
    ENHANCING: (255, 230, 0),
}

# BraTS evaluation regions, in internal labels.
REGIONS: dict[str, tuple[int, ...]] = {
    "WT": (NCR, EDEMA, ENHANCING),
    "TC": (NCR, ENHANCING),
    "ET": (ENHANCING,),
}


class LabelConvention(str, enum.Enum):
    """How a segmentation file encodes the enhancing tumour."""

    BRATS2020 = "brats2020"  # 0, 1, 2, 4 (BraTS 2017-2021)
    BRATS2023 = "brats2023"  # 0, 1, 2, 3 (BraTS 2023 and later)

    @property
    def file_values(self) -> tuple[int, ...]:
        return (0, 1, 2, 4) if self is LabelConvention.BRATS2020 else (0, 1, 2, 3)

    @property
    def enhancing_value(self) -> int:
        return 4 if self is LabelConvention.BRATS2020 else 3


def unexpected_values(values: Iterable[int], convention: LabelConvention) -> list[int]:
    """Values present in a file that its convention does not allow, sorted."""
    allowed = set(convention.file_values)
    return sorted(int(v) for v in values if int(v) not in allowed)


def infer_convention(values: Iterable[int], default: LabelConvention) -> LabelConvention:
    """Guess the convention of a file whose name does not tell: 4 means 2020, 3 means 2023."""
    present = {int(v) for v in values}
    if 4 in present and 3 not in present:
        return LabelConvention.BRATS2020
    if 3 in present and 4 not in present:
        return LabelConvention.BRATS2023
    return default


def to_internal(file_labels: np.ndarray, convention: LabelConvention) -> np.ndarray:
    """File values -> internal uint8 (4 -> 3 for BraTS 2020). Caller validates values first."""
    out = np.asarray(file_labels).astype(np.uint8, copy=True)
    if convention is LabelConvention.BRATS2020:
        out[out == 4] = ENHANCING
    return out


def to_file(internal: np.ndarray, convention: LabelConvention) -> np.ndarray:
    """Internal uint8 -> the file convention (3 -> 4 for BraTS 2020)."""
    out = np.asarray(internal).astype(np.uint8, copy=True)
    if convention is LabelConvention.BRATS2020:
        out[out == ENHANCING] = 4
    return out


def region_mask(labels: np.ndarray, region: str) -> np.ndarray:
    """Boolean mask of a BraTS region (WT, TC, ET) from an internal label map."""
    return np.isin(labels, REGIONS[region])


def lookup_table(visible: Iterable[int] = TUMOUR_CLASSES, alpha: int = 255) -> np.ndarray:
    """256x4 uint8 RGBA table for label display; row 0 and hidden classes transparent."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for cls in visible:
        if cls in CLASS_COLOURS:
            lut[cls, :3] = CLASS_COLOURS[cls]
            lut[cls, 3] = alpha
    return lut
