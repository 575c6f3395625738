"""Fill between slices: interpolate labels painted on some slices of one plane into the gaps.

ITK-SNAP and 3D Slicer users outline a structure on every few slices and let the
program fill the slices in between. For each class, every slice of the plane that
holds the class is a key slice; between two key slices with empty slices between
them, the shape is interpolated by *shape-based interpolation* (Raya & Udupa 1990):
the signed distance to each key shape's boundary (negative inside), computed with
``scipy.ndimage.distance_transform_edt`` in millimetres, is blended linearly along
the plane's axis and the interpolated shape is where the blend is negative. Both
key shapes are first moved onto the linearly interpolated centroid, so a lesion
that drifts between key slices moves with it instead of vanishing where the two
shapes do not overlap. Shapes then grow, shrink and move smoothly, which a
per-voxel vote cannot do.

When two classes claim the same voxel, the one the voxel lies deeper inside wins
(smallest blended distance). Only background voxels are written, so labels already
in the gap slices (another class painted there, a tumour core) are never replaced.
The whole fill is one undo step.

Plain numpy/SciPy, no Qt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .editing import in_plane_axes, plane_axis
from .history import BBox, EditHistory
from .labels import BACKGROUND, TUMOUR_CLASSES


@dataclass(frozen=True)
class InterpolationResult:
    """What a fill did: the changed box (None: nothing), and the slice indices it wrote to."""

    bbox: BBox | None
    slices: tuple[int, ...] = field(default_factory=tuple)
    voxels: int = 0


def key_slices(labels: np.ndarray, plane: str | int, label: int) -> np.ndarray:
    """Indices along the plane's axis of the slices that hold ``label``."""
    axis = plane_axis(plane)
    others = in_plane_axes(axis)
    return np.flatnonzero((labels == label).any(axis=others))


def gaps(keys: Sequence[int]) -> list[tuple[int, int]]:
    """Pairs of consecutive key slices with at least one empty slice between them."""
    return [(int(a), int(b)) for a, b in zip(keys[:-1], keys[1:]) if b - a > 1]


def _signed_distance(mask: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """Signed distance in mm to the boundary of a 2-D mask: negative inside, positive outside."""
    from scipy import ndimage

    outside = ndimage.distance_transform_edt(~mask, sampling=sampling)
    inside = ndimage.distance_transform_edt(mask, sampling=sampling)
    return (outside - inside).astype(np.float32)


def _box2d(a: np.ndarray, b: np.ndarray, margin: int) -> tuple[slice, slice]:
    """In-plane box around two 2-D masks, ``margin`` pixels wider on every side (clipped).

    Work is done inside this box only. With ``margin`` at least the centroid shift plus
    one, every moved shape stays inside and a ring of outside pixels surrounds the
    shapes, so the distances measured in the box are the true ones.
    """
    both = a | b
    rows = np.flatnonzero(both.any(axis=1))
    cols = np.flatnonzero(both.any(axis=0))
    r0, r1 = max(0, rows[0] - margin), min(both.shape[0], rows[-1] + 1 + margin)
    c0, c1 = max(0, cols[0] - margin), min(both.shape[1], cols[-1] + 1 + margin)
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))


def _shifted(distance: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``distance`` moved by ``offset`` pixels (bilinear; beyond the edge, the edge value)."""
    from scipy import ndimage

    if not np.any(np.abs(offset) > 1e-6):
        return distance
    return ndimage.shift(distance, offset, order=1, mode="nearest")


def interpolate_slices(
    labels: np.ndarray,
    plane: str | int,
    classes: Iterable[int] = TUMOUR_CLASSES,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    history: EditHistory | None = None,
) -> InterpolationResult:
    """Fill the empty slices between key slices of ``plane`` for each of ``classes``, in place.

    ``spacing`` (mm per canonical axis) makes distances physical, so anisotropic
    in-plane voxels interpolate round shapes as round. Records one undo step into
    ``history``; returns what changed.
    """
    axis = plane_axis(plane)
    if history is not None and history.target is not labels:
        raise ValueError("the history belongs to a different label array")
    a, b = in_plane_axes(axis)
    sampling = (float(spacing[a]), float(spacing[b]))
    stack = np.moveaxis(labels, axis, 0)  # a view: [slice, a, b]
    # Per gap slice: the smallest blended distance seen so far and the class that gave it.
    best: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for label in classes:
        label = int(label)
        if label == BACKGROUND:
            continue
        for k0, k1 in gaps(key_slices(labels, axis, label)):
            m0, m1 = stack[k0] == label, stack[k1] == label
            c0, c1 = np.argwhere(m0).mean(axis=0), np.argwhere(m1).mean(axis=0)
            box = _box2d(m0, m1, margin=int(np.ceil(np.abs(c1 - c0).max())) + 1)
            m0, m1 = m0[box], m1[box]
            d0, d1 = _signed_distance(m0, sampling), _signed_distance(m1, sampling)
            for k in range(k0 + 1, k1):
                w = (k - k0) / (k1 - k0)
                # Both key shapes are moved onto the blended centroid before blending:
                # a lesion that drifts between key slices then moves instead of
                # vanishing where the two shapes do not overlap.
                s0, s1 = w * (c1 - c0), (1 - w) * (c0 - c1)
                d = (1 - w) * _shifted(d0, s0) + w * _shifted(d1, s1)
                dist, cls = best.setdefault(
                    k,
                    (np.full(stack.shape[1:], np.inf, np.float32), np.zeros(stack.shape[1:], np.uint8)),
                )
                sub_d, sub_c = dist[box], cls[box]  # views: writes land in the slice's arrays
                wins = d < sub_d
                sub_d[wins] = d[wins]
                sub_c[wins] = label
    # Decide every gap slice first, then write: the key slices of one class must not
    # change while another class is still being interpolated.
    plans: list[tuple[int, np.ndarray, np.ndarray]] = []
    for k, (dist, cls) in sorted(best.items()):
        write = (dist < 0) & (stack[k] == BACKGROUND)
        if write.any():
            plans.append((k, write, cls))
    if not plans:
        return InterpolationResult(None)
    union = np.zeros(stack.shape[1:], dtype=bool)
    for _, write, _ in plans:
        union |= write
    rows = np.flatnonzero(union.any(axis=1))
    cols = np.flatnonzero(union.any(axis=0))
    box3: list[slice] = [slice(0)] * 3
    box3[axis] = slice(plans[0][0], plans[-1][0] + 1)
    box3[a] = slice(int(rows[0]), int(rows[-1]) + 1)
    box3[b] = slice(int(cols[0]), int(cols[-1]) + 1)
    bbox: BBox = tuple(box3)  # type: ignore[assignment]
    written = 0
    guard = history.track(bbox) if history is not None else contextlib.nullcontext()
    with guard:
        for k, write, cls in plans:
            stack[k][write] = cls[write]
            written += int(write.sum())
    return InterpolationResult(bbox, tuple(k for k, _, _ in plans), written)
