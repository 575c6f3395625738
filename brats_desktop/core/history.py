"""Undo/redo history of a label array that stores changed voxels only.

Why not full copies: one 240x240x155 uint8 label map is 8.9 MB, so a hundred
strokes kept as copies would cost almost a gigabyte. A step here is one
:class:`EditAtom`: the bounding box of what changed, a bit-packed boolean mask of
the changed voxels inside it, their old values and their new values (one scalar
when a single label was written, which is the usual case for a brush stroke). A
brush stroke of a few thousand voxels then costs a few kilobytes.

A step is opened with :meth:`EditHistory.begin` on mouse press and closed with
:meth:`EditHistory.commit` on release, so the many dabs of one drag are merged into
a single undo step (the FSLeyes/napari "history block"). Edits made in code use the
:meth:`EditHistory.group` context manager (several operations, one step) or
:meth:`EditHistory.track` (snapshot a region, diff it on exit; applying a whole
prediction is one undo step that way).

The history is bounded by the bytes it holds (``max_bytes``) and optionally by the
number of steps: the oldest undo steps are dropped first, so undo reaches back
through the whole session unless a session makes very large edits.

Plain numpy, no Qt: the app's layer objects emit ``labels_changed`` with the bbox
returned by :meth:`undo`/:meth:`redo`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

BBox = tuple[slice, slice, slice]
"""A 3-D box of voxels as ``(slice(x0, x1), slice(y0, y1), slice(z0, z1))`` with int bounds."""

DEFAULT_MAX_BYTES = 96 * 2**20


def bbox_union(a: BBox | None, b: BBox | None) -> BBox | None:
    """Smallest box holding both boxes (None stands for 'nothing')."""
    if a is None:
        return b
    if b is None:
        return a
    return tuple(  # type: ignore[return-value]
        slice(min(sa.start, sb.start), max(sa.stop, sb.stop)) for sa, sb in zip(a, b)
    )


def bbox_of_mask(mask: np.ndarray, *more: np.ndarray) -> BBox | None:
    """Tight box around the nonzero voxels of a 3-D mask (or of several of one shape), or None when
    all are empty. Several are boxed from their projections, without a combined copy."""
    out = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(np.logical_or.reduce([m.any(axis=other) for m in (mask, *more)]))
        if hit.size == 0:
            return None
        out.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(out)  # type: ignore[return-value]


def normalize_bbox(bbox: BBox | tuple[slice, ...], shape: tuple[int, ...]) -> BBox:
    """Explicit int start/stop inside ``shape`` (so boxes compare and merge simply)."""
    out = []
    for sl, n in zip(bbox, shape):
        start, stop, step = sl.indices(n)
        if step != 1:
            raise ValueError(f"bounding boxes need unit steps, got {sl}")
        out.append(slice(start, max(start, stop)))
    return tuple(out)  # type: ignore[return-value]


def _shift(inner: BBox, outer: BBox) -> BBox:
    """``inner`` expressed relative to the start of ``outer``."""
    return tuple(  # type: ignore[return-value]
        slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer)
    )


def _box_shape(bbox: BBox) -> tuple[int, int, int]:
    return tuple(s.stop - s.start for s in bbox)  # type: ignore[return-value]


@dataclass(frozen=True)
class EditAtom:
    """The changed voxels of one undo step, stored compactly."""

    bbox: BBox
    packed_mask: np.ndarray  # np.packbits of the bbox-shaped boolean mask (C order)
    old: np.ndarray  # uint8, one value per changed voxel, mask order
    new: np.ndarray  # uint8, one per changed voxel, or a 0-d array when all are equal

    @classmethod
    def build(cls, bbox: BBox, mask: np.ndarray, old: np.ndarray, new: np.ndarray) -> EditAtom:
        """Pack a (bbox, mask, old, new) change; ``new`` collapses to a scalar when uniform."""
        new = np.asarray(new, dtype=np.uint8)
        if new.ndim == 1 and new.size > 0 and np.all(new == new[0]):
            new = np.asarray(new[0], dtype=np.uint8)
        return cls(
            bbox,
            np.packbits(mask, axis=None),
            np.ascontiguousarray(old, dtype=np.uint8),
            new,
        )

    @property
    def mask(self) -> np.ndarray:
        shape = _box_shape(self.bbox)
        count = int(np.prod(shape))
        return np.unpackbits(self.packed_mask, count=count).view(bool).reshape(shape)

    @property
    def count(self) -> int:
        """Number of voxels this step changes."""
        return int(self.old.size)

    @property
    def nbytes(self) -> int:
        """Bytes of array data this step holds (what the memory bound counts)."""
        return int(self.packed_mask.nbytes + self.old.nbytes + self.new.nbytes)

    def apply(self, target: np.ndarray, forward: bool) -> BBox:
        """Write the new (``forward``) or the old values into ``target``; return the bbox."""
        region = target[self.bbox]
        region[self.mask] = self.new if forward else self.old
        return self.bbox


class EditHistory:
    """Bounded undo/redo stacks of :class:`EditAtom` steps for one label array.

    The history is bound to one array (``target``) so an undo can never be applied
    to the wrong layer. Operations in :mod:`brats_desktop.core.editing` record
    into it; inside an open block (:meth:`begin` ... :meth:`commit`) their changes
    are merged into one step.
    """

    def __init__(
        self,
        target: np.ndarray,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_steps: int | None = None,
    ) -> None:
        if target.ndim != 3:
            raise ValueError(f"label history needs a 3-D array, got shape {target.shape}")
        self._target = target
        self.max_bytes = int(max_bytes)
        self.max_steps = max_steps
        self._undo: deque[EditAtom] = deque()
        self._redo: deque[EditAtom] = deque()
        self._open: list[tuple[BBox, np.ndarray, np.ndarray]] | None = None
        self._depth = 0
        # Positions are identities: the newest undo atom, or ``_base`` (the state before
        # every step still held). ``_clean`` is the position last saved (None: none is).
        self._base: object = object()
        self._clean: object | None = self._base

    # ----------------------------------------------------------------- state
    @property
    def target(self) -> np.ndarray:
        return self._target

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) and self._open is None

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and self._open is None

    @property
    def undo_depth(self) -> int:
        return len(self._undo)

    @property
    def redo_depth(self) -> int:
        return len(self._redo)

    @property
    def in_block(self) -> bool:
        return self._open is not None

    @property
    def steps(self) -> tuple[EditAtom, ...]:
        """The undo steps held now, oldest first: what the array is made of beyond the base.

        Lets a caller that remembers which steps it made (by identity) tell whether each
        is still applied after undo/redo, e.g. which voxels were painted by hand.
        """
        return tuple(self._undo)

    @property
    def redo_steps(self) -> tuple[EditAtom, ...]:
        """The undone steps redo can bring back, oldest first."""
        return tuple(self._redo)

    @property
    def nbytes(self) -> int:
        """Bytes of array data held by all undo and redo steps and the open block."""
        held = sum(a.nbytes for a in self._undo) + sum(a.nbytes for a in self._redo)
        if self._open:
            held += sum(m.nbytes + o.nbytes for _, m, o in self._open)
        return held

    def clear(self, target: np.ndarray | None = None) -> None:
        """Forget every step (e.g. the layer got a new array); optionally rebind."""
        if target is not None:
            if target.ndim != 3:
                raise ValueError(f"label history needs a 3-D array, got shape {target.shape}")
            self._target = target
        self._undo.clear()
        self._redo.clear()
        self._open = None
        self._depth = 0
        self._base = object()
        self._clean = self._base

    # ------------------------------------------------------------------ saved
    @property
    def position(self) -> object:
        """An opaque token of where the history stands (compare with ``is``).

        Undo and redo move it back and forth, so returning to a position means the
        array holds the same labels again: what "unsaved" has to follow (QUndoStack's
        clean index, for a history whose oldest steps may be dropped).
        """
        return self._undo[-1] if self._undo else self._base

    @property
    def is_clean(self) -> bool:
        """True when the array is at the position last marked clean (saved, exported, freshly loaded)."""
        return self._open is None and self._clean is not None and self.position is self._clean

    def mark_clean(self) -> None:
        """The array as it is now was saved: undoing back to here makes it clean again."""
        self._clean = self.position

    def mark_dirty(self) -> None:
        """No position of this history matches what was saved (e.g. changes made without it)."""
        self._clean = None

    # ------------------------------------------------------------- recording
    def begin(self) -> None:
        """Open a block: every change recorded until :meth:`commit` is one undo step.

        Blocks nest (an operation that opens its own block inside a stroke joins it).
        """
        if self._open is None:
            self._open = []
        self._depth += 1

    def record(self, bbox: BBox, mask: np.ndarray, old: np.ndarray) -> None:
        """Note that the voxels ``mask`` inside ``bbox`` had values ``old`` before a change.

        The change must already be written to :attr:`target`; new values are read
        from it when the step is committed. Outside a block the change becomes its
        own step at once.
        """
        bbox = normalize_bbox(bbox, self._target.shape)
        if mask.shape != _box_shape(bbox):
            raise ValueError(f"mask shape {mask.shape} does not match bbox {bbox}")
        if not mask.any():
            return
        alone = self._open is None
        if alone:
            self.begin()
        assert self._open is not None
        self._open.append((bbox, mask.copy(), np.asarray(old, dtype=np.uint8).copy()))
        if alone:
            self.commit()

    def commit(self) -> BBox | None:
        """Close the current block; returns the bbox of the step (None if nothing changed)."""
        if self._open is None:
            raise RuntimeError("commit() without begin()")
        self._depth -= 1
        if self._depth > 0:
            return None
        parts, self._open = self._open, None
        atom = self._merge(parts)
        if atom is None:
            return None
        if any(a is self._clean for a in self._redo):
            self._clean = None  # the saved state was undone and is now overwritten: unreachable
        self._redo.clear()
        self._undo.append(atom)
        self._enforce_bounds()
        return atom.bbox

    def cancel(self) -> BBox | None:
        """Abandon the open block, putting back the old values of everything it changed."""
        if self._open is None:
            return None
        parts, self._open = self._open, None
        self._depth = 0
        changed: BBox | None = None
        for bbox, mask, old in reversed(parts):
            self._target[bbox][mask] = old
            changed = bbox_union(changed, bbox)
        return changed

    @contextmanager
    def group(self) -> Iterator[EditHistory]:
        """Context manager: everything done inside is one undo step; an exception rolls it back."""
        self.begin()
        try:
            yield self
        except BaseException:
            if self._depth == 1:
                self.cancel()
            else:
                self._depth -= 1
            raise
        self.commit()

    @contextmanager
    def track(self, bbox: BBox | None = None) -> Iterator[np.ndarray]:
        """Context manager for direct writes: snapshot ``bbox`` (default: all), diff on exit.

        Yields the target array. Costs one copy of the box while open; what is
        kept afterwards is only the changed voxels.
        """
        box = normalize_bbox(bbox or tuple(slice(None) for _ in range(3)), self._target.shape)
        before = self._target[box].copy()
        try:
            yield self._target
        except BaseException:
            self._target[box] = before
            raise
        after = self._target[box]
        mask = before != after
        if mask.any():
            tight = bbox_of_mask(mask)
            assert tight is not None
            sub = mask[tight]
            abs_box = tuple(  # type: ignore[assignment]
                slice(o.start + t.start, o.start + t.stop) for o, t in zip(box, tight)
            )
            self.record(abs_box, sub, before[tight][sub])

    # ------------------------------------------------------------ undo/redo
    def undo(self) -> BBox | None:
        """Revert the latest step; returns its bbox so views redraw only that region."""
        if not self.can_undo:
            return None
        atom = self._undo.pop()
        bbox = atom.apply(self._target, forward=False)
        self._redo.append(atom)
        return bbox

    def redo(self) -> BBox | None:
        """Re-apply the latest undone step; returns its bbox."""
        if not self.can_redo:
            return None
        atom = self._redo.pop()
        bbox = atom.apply(self._target, forward=True)
        self._undo.append(atom)
        return bbox

    # --------------------------------------------------------------- helpers
    def _merge(self, parts: list[tuple[BBox, np.ndarray, np.ndarray]]) -> EditAtom | None:
        """One atom for a block: union box, earliest old value per voxel, final new value."""
        if not parts:
            return None
        union: BBox | None = None
        for bbox, _, _ in parts:
            union = bbox_union(union, bbox)
        assert union is not None
        shape = _box_shape(union)
        old_buf = np.zeros(shape, dtype=np.uint8)
        mask_buf = np.zeros(shape, dtype=bool)
        # Latest first, so a voxel touched several times keeps its value from before the block.
        for bbox, mask, old in reversed(parts):
            sub = _shift(bbox, union)
            old_view = old_buf[sub]
            old_view[mask] = old
            mask_buf[sub] |= mask
        current = self._target[union]
        mask_buf &= current != old_buf  # painted then painted back: not a change
        tight = bbox_of_mask(mask_buf)
        if tight is None:
            return None
        mask = mask_buf[tight]
        final_box = tuple(  # type: ignore[assignment]
            slice(u.start + t.start, u.start + t.stop) for u, t in zip(union, tight)
        )
        return EditAtom.build(final_box, mask, old_buf[tight][mask], current[tight][mask])

    def _enforce_bounds(self) -> None:
        """Drop the oldest steps (redo first, then undo) until within the limits."""
        if self.max_steps is not None:
            while len(self._undo) > self.max_steps:
                self._drop_oldest()
        total = self.nbytes
        while total > self.max_bytes and self._redo:
            dropped = self._redo.popleft()
            total -= dropped.nbytes
            if dropped is self._clean:
                self._clean = None
        # Keep at least the newest step even if it alone exceeds the budget.
        while total > self.max_bytes and len(self._undo) > 1:
            dropped = self._drop_oldest()
            total -= dropped.nbytes

    def _drop_oldest(self) -> EditAtom:
        """Forget the oldest undo step; the saved position follows (or becomes unreachable)."""
        dropped = self._undo.popleft()
        # The state before ``dropped`` is unreachable now; the one after it is the new base.
        if self._clean is self._base:
            self._clean = None
        self._base = object()
        if self._clean is dropped:
            self._clean = self._base
        return dropped
