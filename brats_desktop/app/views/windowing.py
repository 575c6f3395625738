"""Display windows (intensity ranges) for MRI volumes, computed once per volume.

Pure numpy, no Qt, so the loader thread can compute them before the GUI sees the
volume. Fixed levels per volume (not per slice) keep contrast from jumping while the
user scrolls, and keep pyqtgraph on its fast path.
"""

from __future__ import annotations

import numpy as np

# Percentiles of the in-brain intensities; robust to a few hot voxels.
LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
# At most this many voxels enter the percentile estimate: fast and accurate enough.
_SAMPLE = 400_000


def robust_window(volume: np.ndarray) -> tuple[float, float]:
    """(low, high) display range from percentiles inside the brain (non-zero voxels).

    Skull-stripped MRI has exact zeros outside the brain; including them would put
    the low end at 0 and waste contrast. Falls back to all voxels when nothing is
    non-zero, and never returns an empty range.
    """
    flat = volume.reshape(-1)
    step = max(1, flat.size // _SAMPLE)
    sample = flat[::step]
    inside = sample[sample != 0]
    if inside.size == 0:
        inside = sample
    lo, hi = np.percentile(inside, [LOW_PERCENTILE, HIGH_PERCENTILE])
    lo, hi = float(lo), float(hi)
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def windows_for(images: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Automatic window of every modality of a patient."""
    return {key: robust_window(vol) for key, vol in images.items()}
