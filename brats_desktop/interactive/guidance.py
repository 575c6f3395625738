"""What the user tells the click model, and how it is drawn into the network's guidance channels.

Numpy only: the app, the robot user of the evaluation and the training simulator all
build guidance with these types and the same rasterisation, so what the network learned
from is exactly what it is given.

Encoding (one channel per label *including background*, as MONAI DeepEdit does, so
"this is background" needs no separate negative channel):

- a :class:`Click` is a small 3-D ellipsoid: radius :data:`CLICK_RADIUS_XY` in-plane and
  :data:`CLICK_RADIUS_Z` across slices, so the 2.5-D network sees it on the neighbouring
  axial slices too and a click can change them (tumours are 3-D);
- a :class:`Scribble` is its path drawn with a thick brush (:data:`SCRIBBLE_RADIUS_XY`,
  :data:`SCRIBBLE_RADIUS_Z`).

Later guidance wins where two items of different labels overlap: the user corrected
themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

NUM_LABELS = 4  # internal 0 background, 1 NCR, 2 ED, 3 ET
CLICK_RADIUS_XY = 3.0
CLICK_RADIUS_Z = 4.0
SCRIBBLE_RADIUS_XY = 1.5
SCRIBBLE_RADIUS_Z = 1.0

Voxel = tuple[int, int, int]


@dataclass(frozen=True)
class Click:
    """"The voxel here has this label": canonical RAS+ voxel, internal label (0 background ... 3 ET)."""

    voxel: Voxel
    label: int

    def __post_init__(self) -> None:
        _check_label(self.label)
        object.__setattr__(self, "voxel", tuple(int(v) for v in self.voxel))


@dataclass(frozen=True)
class Scribble:
    """A drawn path (canonical voxels, in order) whose voxels all have ``label``."""

    voxels: tuple[Voxel, ...]
    label: int

    def __post_init__(self) -> None:
        _check_label(self.label)
        if not self.voxels:
            raise ValueError("a scribble needs at least one voxel")
        object.__setattr__(self, "voxels", tuple(tuple(int(c) for c in v) for v in self.voxels))


Guidance = Click | Scribble


def _check_label(label: int) -> None:
    if int(label) != label or not 0 <= int(label) < NUM_LABELS:
        raise ValueError(f"guidance label must be an internal label 0-{NUM_LABELS - 1}, got {label!r}")


@lru_cache(maxsize=8)
def ellipsoid_offsets(radius_xy: float, radius_z: float) -> np.ndarray:
    """(n, 3) integer offsets of the voxels of an axis-aligned ellipsoid centred on a voxel."""
    rx, rz = int(np.floor(radius_xy)), int(np.floor(radius_z))
    g = np.mgrid[-rx : rx + 1, -rx : rx + 1, -rz : rz + 1].reshape(3, -1).T
    inside = (g[:, 0] ** 2 + g[:, 1] ** 2) / radius_xy**2 + g[:, 2] ** 2 / max(radius_z, 0.5) ** 2 <= 1.0 + 1e-9
    out = g[inside].astype(np.int64)
    out.setflags(write=False)
    return out


def exact_voxels(item: Guidance) -> np.ndarray:
    """(n, 3) voxels the user pointed at (the click, the path): these are forced to the label."""
    if isinstance(item, Click):
        return np.asarray([item.voxel], dtype=np.int64)
    return np.asarray(item.voxels, dtype=np.int64)


def drawn_voxels(item: Guidance) -> np.ndarray:
    """(n, 3) voxels the item covers in its guidance channel (ellipsoids around each point)."""
    if isinstance(item, Click):
        offsets = ellipsoid_offsets(CLICK_RADIUS_XY, CLICK_RADIUS_Z)
    else:
        offsets = ellipsoid_offsets(SCRIBBLE_RADIUS_XY, SCRIBBLE_RADIUS_Z)
    points = exact_voxels(item)
    out = (points[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
    return np.unique(out, axis=0) if len(points) > 1 else out


def _inside(points: np.ndarray, origin: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """Points relative to ``origin``, only those inside a box of ``shape``."""
    rel = points - np.asarray(origin, dtype=np.int64)[None, :]
    ok = np.all((rel >= 0) & (rel < np.asarray(shape, dtype=np.int64)[None, :]), axis=1)
    return rel[ok]


def rasterise(guidance: Iterable[Guidance], origin: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """(4, *shape) float32 guidance channels of the box starting at canonical ``origin``.

    Items are drawn in order; a later item clears the other labels' channels where it
    lies, so the latest word of the user wins.
    """
    out = np.zeros((NUM_LABELS, *shape), dtype=np.float32)
    for item in guidance:
        rel = _inside(drawn_voxels(item), origin, shape)
        if not len(rel):
            continue
        x, y, z = rel.T
        out[:, x, y, z] = 0.0
        out[item.label, x, y, z] = 1.0
    return out


def force_guided(labels: np.ndarray, guidance: Iterable[Guidance], origin: Sequence[int] = (0, 0, 0)) -> None:
    """Set every exactly pointed-at voxel (inside the array, placed at ``origin``) to its item's label, in place."""
    for item in guidance:
        rel = _inside(exact_voxels(item), origin, labels.shape)
        if len(rel):
            labels[rel[:, 0], rel[:, 1], rel[:, 2]] = item.label


def guided_mask(shape: Sequence[int], guidance: Iterable[Guidance], origin: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """Bool mask of the exactly pointed-at voxels inside a box of ``shape`` at ``origin``."""
    mask = np.zeros(tuple(shape), dtype=bool)
    for item in guidance:
        rel = _inside(exact_voxels(item), origin, shape)
        if len(rel):
            mask[rel[:, 0], rel[:, 1], rel[:, 2]] = True
    return mask


def extent(items: Iterable[Guidance]) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) inclusive canonical corners of the exact voxels of ``items``; None when empty."""
    pts = [exact_voxels(item) for item in items]
    if not pts:
        return None
    allp = np.concatenate(pts)
    return allp.min(axis=0), allp.max(axis=0)
