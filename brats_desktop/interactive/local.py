"""Keep a click's effect local: accept only the changes connected to the guidance that caused them.

Numpy/scipy only; the engine and the training's validation share it. The network
re-predicts a whole window around the click; where it disagrees with the current map
far from the click (another lesion, a hand-edited border) that disagreement is not
what the user asked for, and accepting it is how interactive tools do harm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_TWENTY_SIX = np.ones((3, 3, 3), dtype=bool)


def connected_changes(old: np.ndarray, new: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Bool mask of the voxels where ``new`` differs from ``old`` and whose 26-connected
    changed piece touches ``seeds`` (the drawn guidance of the newest items)."""
    diff = old != new
    if not diff.any() or not seeds.any():
        return np.zeros_like(diff)
    comp, n = ndimage.label(diff, _TWENTY_SIX)
    touched = np.unique(comp[seeds & diff])
    touched = touched[touched > 0]
    if not len(touched):
        return np.zeros_like(diff)
    return np.isin(comp, touched)
