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


def near(points: np.ndarray, shape: tuple[int, ...], radius: float, origin=(0, 0, 0)) -> np.ndarray:
    """Bool mask (of a box of ``shape`` at ``origin``) of voxels within ``radius`` voxels of any of ``points``."""
    mask = np.zeros(shape, dtype=bool)
    rel = np.asarray(points, dtype=np.int64) - np.asarray(origin, dtype=np.int64)[None, :]
    ok = np.all((rel >= 0) & (rel < np.asarray(shape)[None, :]), axis=1)
    if not ok.any():
        return mask
    mask[tuple(rel[ok].T)] = True
    return ndimage.distance_transform_edt(~mask) <= radius


def connected_changes(old: np.ndarray, new: np.ndarray, seeds: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """Bool mask of the voxels where ``new`` differs from ``old`` and whose 26-connected
    changed piece touches ``seeds`` (the drawn guidance of the newest items); with
    ``within``, only changes inside it count (a reach around the click)."""
    diff = old != new
    if within is not None:
        diff &= within
    if not diff.any() or not seeds.any():
        return np.zeros_like(diff)
    comp, n = ndimage.label(diff, _TWENTY_SIX)
    touched = np.unique(comp[seeds & diff])
    touched = touched[touched > 0]
    if not len(touched):
        return np.zeros_like(diff)
    return np.isin(comp, touched)
