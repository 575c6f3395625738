"""Brush, eraser and fill on a 3-D internal label map, as pure numpy.

The label array is uint8 (0 background, 1-3 tumour classes) in canonical RAS+
order, so a plane is named by the axis it holds fixed: sagittal = ``vol[x, :, :]``
(axis 0), coronal = ``vol[:, y, :]`` (axis 1), axial = ``vol[:, :, z]`` (axis 2).
Every operation works on the one slice of its plane through the given voxel,
writes in place, records the changed voxels into an optional
:class:`~brats_desktop.core.history.EditHistory`, and returns the 3-D bbox of what
changed (None when nothing did), so views redraw only that region.

``only_over`` restricts an edit to voxels that currently hold one value
(0 = paint only over background, k = only over class k), so painting edema around
a core does not destroy the core.

The app's paint tool calls these; nothing here knows about Qt or screens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .history import BBox, EditHistory
from .labels import BACKGROUND, ENHANCING

PLANE_AXIS: dict[str, int] = {"sagittal": 0, "coronal": 1, "axial": 2}
"""Axis held fixed by each plane (canonical RAS+ arrays)."""

Voxel = Sequence[int]


def plane_axis(plane: str | int) -> int:
    """Fixed axis of a plane given by name ('axial', ...) or directly as 0, 1 or 2."""
    if isinstance(plane, str):
        try:
            return PLANE_AXIS[plane.lower()]
        except KeyError:
            raise ValueError(f"unknown plane {plane!r}; expected one of {sorted(PLANE_AXIS)}") from None
    if plane not in (0, 1, 2):
        raise ValueError(f"plane axis must be 0, 1 or 2, got {plane}")
    return int(plane)


def in_plane_axes(axis: int) -> tuple[int, int]:
    """The two array axes that span a plane, in array order (rows, columns of the slice)."""
    return tuple(a for a in range(3) if a != axis)  # type: ignore[return-value]


def _check_label(label: int) -> int:
    if not BACKGROUND <= int(label) <= ENHANCING:
        raise ValueError(f"label must be 0-3 (internal), got {label}")
    return int(label)


def _check_voxel(labels: np.ndarray, voxel: Voxel) -> tuple[int, int, int]:
    if labels.ndim != 3:
        raise ValueError(f"label map must be 3-D, got shape {labels.shape}")
    v = tuple(int(round(float(c))) for c in voxel)
    if len(v) != 3:
        raise ValueError(f"voxel needs 3 coordinates, got {voxel}")
    return v  # type: ignore[return-value]


def _disk_segment_mask(
    p0: tuple[float, float], p1: tuple[float, float], radius: float, shape2d: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """In-plane pixels within ``radius`` of the segment p0-p1 (a disk when p0 == p1).

    Returns the 2-D box (clipped to the slice) and the boolean mask inside it.
    Sweeping the disk along the segment keeps a fast drag gap-free when mouse
    events skip pixels.
    """
    r = max(0.0, float(radius))
    lo = [int(np.floor(min(p0[i], p1[i]) - r)) for i in range(2)]
    hi = [int(np.floor(max(p0[i], p1[i]) + r)) + 1 for i in range(2)]
    lo = [max(0, v) for v in lo]
    hi = [min(n, v) for n, v in zip(shape2d, hi)]
    if hi[0] <= lo[0] or hi[1] <= lo[1]:
        return None
    u = np.arange(lo[0], hi[0], dtype=np.float32)[:, None]
    v = np.arange(lo[1], hi[1], dtype=np.float32)[None, :]
    du, dv = p1[0] - p0[0], p1[1] - p0[1]
    length2 = du * du + dv * dv
    if length2 == 0:
        t = np.float32(0.0)
    else:
        t = np.clip(((u - p0[0]) * du + (v - p0[1]) * dv) / length2, 0.0, 1.0)
    cu = p0[0] + t * du
    cv = p0[1] + t * dv
    # +1e-3 so that radius 1 includes the 4-neighbours exactly at distance 1.
    mask = (u - cu) ** 2 + (v - cv) ** 2 <= r * r + 1e-3
    return (slice(lo[0], hi[0]), slice(lo[1], hi[1])), mask


def _write(
    labels: np.ndarray,
    bbox: BBox,
    where: np.ndarray,
    label: int,
    only_over: int | None,
    history: EditHistory | None,
) -> BBox | None:
    """Set ``label`` at ``where`` inside ``bbox`` (respecting ``only_over``), record, return bbox."""
    if history is not None and history.target is not labels:
        raise ValueError("the history belongs to a different label array")
    region = labels[bbox]
    change = where & (region != label)
    if only_over is not None:
        change &= region == only_over
    if not change.any():
        return None
    old = region[change]
    region[change] = label
    if history is not None:
        history.record(bbox, change, old)
    return bbox


def _slice_box(axis: int, index: int, box2d: tuple[slice, slice]) -> BBox:
    """3-D box of one slice's 2-D box (thickness one along ``axis``)."""
    a, b = in_plane_axes(axis)
    out: list[slice] = [slice(0), slice(0), slice(0)]
    out[axis] = slice(index, index + 1)
    out[a], out[b] = box2d
    return tuple(out)  # type: ignore[return-value]


def _lift(axis: int, mask2d: np.ndarray) -> np.ndarray:
    """2-D slice mask -> 3-D mask of thickness one along ``axis``."""
    return np.expand_dims(mask2d, axis)


def paint_stroke(
    labels: np.ndarray,
    plane: str | int,
    start: Voxel,
    end: Voxel | None,
    radius: float,
    label: int,
    only_over: int | None = None,
    history: EditHistory | None = None,
) -> BBox | None:
    """Paint a round brush of ``radius`` voxels from ``start`` to ``end`` on one slice.

    ``start`` fixes the slice (its coordinate along the plane's axis); ``end`` is
    the next mouse position on the same slice (None = a single dab). Radius 0 is
    one voxel. Label 0 erases.
    """
    label = _check_label(label)
    axis = plane_axis(plane)
    v0 = _check_voxel(labels, start)
    v1 = v0 if end is None else _check_voxel(labels, end)
    index = v0[axis]
    if not 0 <= index < labels.shape[axis]:
        return None
    a, b = in_plane_axes(axis)
    shape2d = (labels.shape[a], labels.shape[b])
    found = _disk_segment_mask((v0[a], v0[b]), (v1[a], v1[b]), radius, shape2d)
    if found is None:
        return None
    box2d, mask2d = found
    return _write(labels, _slice_box(axis, index, box2d), _lift(axis, mask2d), label, only_over, history)


def paint_dab(
    labels: np.ndarray,
    plane: str | int,
    voxel: Voxel,
    radius: float,
    label: int,
    only_over: int | None = None,
    history: EditHistory | None = None,
) -> BBox | None:
    """One round brush dab (an in-plane disk of ``radius`` voxels) centred on ``voxel``."""
    return paint_stroke(labels, plane, voxel, None, radius, label, only_over, history)


def paint_ball(
    labels: np.ndarray,
    voxel: Voxel,
    radius: float,
    label: int,
    only_over: int | None = None,
    history: EditHistory | None = None,
) -> BBox | None:
    """A 3-D ball of ``radius`` voxels centred on ``voxel`` (clipped to the volume) set to ``label``.

    The brush above paints one slice; a ball is the one-click 3-D dab that AI-assisted
    correction is measured against (the fair "no AI" baseline of a click).
    """
    label = _check_label(label)
    v = _check_voxel(labels, voxel)
    if any(not 0 <= c < n for c, n in zip(v, labels.shape)):
        return None
    r = max(0.0, float(radius))
    reach = int(np.floor(r))
    box = tuple(slice(max(0, c - reach), min(n, c + reach + 1)) for c, n in zip(v, labels.shape))
    grids = np.ogrid[tuple(slice(s.start - c, s.stop - c) for s, c in zip(box, v))]
    # +1e-3 as for the disk: radius 1 includes the 6 face neighbours exactly at distance 1.
    ball = sum(g.astype(np.float32) ** 2 for g in grids) <= r * r + 1e-3
    return _write(labels, box, ball, label, only_over, history)  # type: ignore[arg-type]


def erase_dab(
    labels: np.ndarray,
    plane: str | int,
    voxel: Voxel,
    radius: float,
    only_over: int | None = None,
    history: EditHistory | None = None,
) -> BBox | None:
    """The eraser: a dab of background (label 0)."""
    return paint_stroke(labels, plane, voxel, None, radius, BACKGROUND, only_over, history)


def flood_fill(
    labels: np.ndarray,
    plane: str | int,
    voxel: Voxel,
    label: int,
    only_over: int | None = None,
    history: EditHistory | None = None,
    within: np.ndarray | None = None,
) -> BBox | None:
    """Fill the 4-connected region of equal value around ``voxel`` on its slice with ``label``.

    2-D on purpose: a 3-D fill of background would flood the whole head. With
    ``only_over`` set, nothing happens unless the clicked region holds that value.
    ``within`` (a boolean mask of the slice, or of the whole volume) confines the
    region: on an empty layer the background region is the whole slice, air
    included, so the app passes the brain (non-zero image) here. A click outside
    ``within`` fills nothing.
    """
    from scipy import ndimage

    label = _check_label(label)
    axis = plane_axis(plane)
    v = _check_voxel(labels, voxel)
    if any(not 0 <= c < n for c, n in zip(v, labels.shape)):
        return None
    index = v[axis]
    sl: list[slice | int] = [slice(None)] * 3
    sl[axis] = index
    plane2d = labels[tuple(sl)]
    a, b = in_plane_axes(axis)
    seed_uv = (v[a], v[b])
    seed_value = int(plane2d[seed_uv])
    if seed_value == label or (only_over is not None and seed_value != only_over):
        return None
    same = plane2d == seed_value
    if within is not None:
        within = np.asarray(within, dtype=bool)
        if within.ndim == 3:
            within = within[tuple(sl)]
        if within.shape != plane2d.shape:
            raise ValueError(f"fill mask shape {within.shape} does not match the slice {plane2d.shape}")
        if not within[seed_uv]:
            return None
        same &= within
    components, _ = ndimage.label(same)  # default structure: 4-connected
    region = components == components[seed_uv]
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    box2d = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    mask2d = region[box2d]
    return _write(labels, _slice_box(axis, index, box2d), _lift(axis, mask2d), label, only_over, history)
