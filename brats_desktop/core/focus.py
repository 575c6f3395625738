"""Where the crosshair starts on a case: the middle of its tumour (numpy only).

The window, the cohort's case reader (off the GUI thread) and the screenshot command share it.
"""

from __future__ import annotations

import numpy as np

Voxel = tuple[int, int, int]


def tumour_focus(labels: np.ndarray | None) -> Voxel | None:
    """Axial slice with the most tumour, and the tumour voxel nearest its centre there; None if no tumour."""
    if labels is None:
        return None
    mask = labels > 0
    if not mask.any():
        return None
    z = int(np.argmax(mask.sum(axis=(0, 1))))
    xs, ys = np.nonzero(mask[:, :, z])
    # The in-slice centre of the tumour, snapped onto a tumour voxel so the
    # coronal and sagittal views cut through it too.
    cx, cy = xs.mean(), ys.mean()
    nearest = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
    return (int(xs[nearest]), int(ys[nearest]), z)
