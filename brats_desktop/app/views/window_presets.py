"""Window/level presets for MRI (auto, brain, tumour-focused, full range), pure numpy.

MRI intensities have no physical unit (unlike CT's Hounsfield scale), so the fixed
numeric presets of CT viewers (Slicer's "Brain W 100 L 50") mean nothing here. Each
preset is instead a pair of percentiles of a chosen set of voxels of the displayed
volume: the brain, the brain outside the tumour, a box around the tumour, everything.
No Qt, so it is tested without a window and could run in a worker.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from brats_desktop.app.views.windowing import HIGH_PERCENTILE, LOW_PERCENTILE, robust_window

AUTO, BRAIN, TUMOUR, FULL = "auto", "brain", "tumour", "full"
PRESETS: tuple[str, ...] = (AUTO, BRAIN, TUMOUR, FULL)
PRESET_TEXT = {AUTO: "Auto", BRAIN: "Brain", TUMOUR: "Tumour", FULL: "Full range"}
PRESET_HELP = {
    AUTO: f"Automatic window: {LOW_PERCENTILE:g}–{HIGH_PERCENTILE:g} % of the intensities inside the brain",
    BRAIN: "Normal brain tissue: 2–98 % of the brain outside the labelled tumour (tumour may saturate)",
    TUMOUR: "Tumour-focused: 1–99 % of a box around the labelled tumour (any label layer)",
    FULL: "Full range: darkest to brightest voxel of the volume",
}
# Percentiles of each preset; wider for auto (whole dynamic range), narrower for tissue contrast.
BRAIN_PERCENTILES = (2.0, 98.0)
TUMOUR_PERCENTILES = (1.0, 99.0)
TUMOUR_MARGIN = 5  # voxels of surrounding tissue around the tumour's box, for context
_SAMPLE = 400_000  # at most this many voxels enter a whole-brain percentile estimate


def _window(values: np.ndarray, low_pct: float, high_pct: float) -> tuple[float, float] | None:
    if values.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(values, [low_pct, high_pct]))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return (lo, hi) if hi > lo else (lo, lo + max(abs(lo) * 1e-3, 1e-6))


def tumour_mask(layers: Iterable[np.ndarray]) -> np.ndarray | None:
    """Union of the tumour voxels (label > 0) of the given label arrays; None when there are none."""
    mask: np.ndarray | None = None
    for labels in layers:
        m = labels > 0
        mask = m if mask is None else (mask | m)
    return mask if mask is not None and mask.any() else None


def full_range_window(volume: np.ndarray) -> tuple[float, float]:
    """Darkest to brightest finite voxel (what a file viewer without windowing shows)."""
    lo, hi = float(volume.min()), float(volume.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):  # rare: NaN/inf voxels; the slow path skips them
        finite = volume[np.isfinite(volume)]
        if finite.size == 0:
            return 0.0, 1.0
        lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def brain_window(volume: np.ndarray, tumour: np.ndarray | None = None) -> tuple[float, float]:
    """Grey/white matter contrast: percentiles of the non-zero voxels outside the tumour.

    Excluding the tumour keeps bright edema (FLAIR, T2) or enhancement (T1CE) from
    stretching the range, so normal tissue gets the whole grey scale.
    """
    flat = volume.reshape(-1)
    step = max(1, flat.size // _SAMPLE)
    sample = flat[::step]
    keep = sample != 0
    if tumour is not None:
        keep &= ~tumour.reshape(-1)[::step]
    return _window(sample[keep], *BRAIN_PERCENTILES) or robust_window(volume)


def tumour_box(mask: np.ndarray, margin: int = TUMOUR_MARGIN) -> tuple[slice, slice, slice] | None:
    """Bounding box of ``mask`` grown by ``margin`` voxels (clipped to the volume); None if empty."""
    box = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        if hits.size == 0:
            return None
        box.append(slice(max(int(hits[0]) - margin, 0), min(int(hits[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)  # type: ignore[return-value]


def tumour_window(volume: np.ndarray, tumour: np.ndarray | None) -> tuple[float, float] | None:
    """Percentiles of the brain voxels in a box around the tumour; None without a tumour.

    The box (tumour + a margin of surrounding tissue) spreads the grey scale over the
    intensities that matter when judging the tumour's borders and sub-regions.
    """
    if tumour is None:
        return None
    box = tumour_box(tumour)
    if box is None:
        return None
    region = volume[box].reshape(-1)
    region = region[:: max(1, region.size // _SAMPLE)]  # a big tumour: a regular sample is enough
    inside = region[region != 0]
    return _window(inside if inside.size else region, *TUMOUR_PERCENTILES)


def preset_window(
    name: str, volume: np.ndarray, tumour: np.ndarray | None = None,
    auto: tuple[float, float] | None = None,
) -> tuple[float, float] | None:
    """The (low, high) window of preset ``name`` for ``volume``; None when it does not apply.

    ``auto`` is the automatic window already computed at load (the state keeps it), so
    the auto preset is the same Reset as before rather than a re-estimate.
    """
    if name == AUTO:
        return auto if auto is not None else robust_window(volume)
    if name == BRAIN:
        return brain_window(volume, tumour)
    if name == TUMOUR:
        return tumour_window(volume, tumour)
    if name == FULL:
        return full_range_window(volume)
    raise ValueError(f"unknown window preset {name!r}; expected one of {', '.join(PRESETS)}")
