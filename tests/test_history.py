"""Undo/redo history: changed voxels only, one step per block, bounded by memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from brats_desktop.core.editing import flood_fill, paint_dab, paint_stroke
from brats_desktop.core.history import EditHistory, bbox_of_mask, bbox_union

SHAPE = (240, 240, 155)


def test_single_edit_outside_block_is_one_step_and_undo_is_voxel_exact() -> None:
    labels = np.zeros((20, 20, 10), np.uint8)
    labels[5, 5, 5] = 2
    before = labels.copy()
    history = EditHistory(labels)
    assert not history.can_undo and not history.can_redo
    paint_dab(labels, "axial", (10, 10, 5), 3, 1, history=history)
    after = labels.copy()
    assert history.can_undo and history.undo_depth == 1
    bbox = history.undo()
    np.testing.assert_array_equal(labels, before)
    assert bbox == (slice(7, 14), slice(7, 14), slice(5, 6))
    assert history.can_redo and not history.can_undo
    history.redo()
    np.testing.assert_array_equal(labels, after)


def test_block_merges_many_dabs_into_one_step_keeping_the_earliest_old_values() -> None:
    labels = np.zeros((30, 30, 5), np.uint8)
    labels[10:20, 10:20, 2] = 3
    before = labels.copy()
    history = EditHistory(labels)
    history.begin()
    for x in range(5, 25):
        paint_dab(labels, "axial", (x, 15, 2), 2, 1, history=history)
    # A second pass over the same voxels with another class, still in the same stroke.
    for x in range(5, 25):
        paint_dab(labels, "axial", (x, 15, 2), 1, 2, history=history)
    assert not history.can_undo  # nothing is undoable while a stroke is open
    history.commit()
    assert history.undo_depth == 1
    after = labels.copy()
    history.undo()
    np.testing.assert_array_equal(labels, before)
    history.redo()
    np.testing.assert_array_equal(labels, after)


def test_painting_back_to_the_original_value_inside_a_block_is_no_step() -> None:
    labels = np.zeros((10, 10, 3), np.uint8)
    history = EditHistory(labels)
    with history.group():
        paint_dab(labels, "axial", (5, 5, 1), 2, 1, history=history)
        paint_dab(labels, "axial", (5, 5, 1), 2, 0, history=history)
    assert not history.can_undo


def test_new_edit_after_undo_clears_redo() -> None:
    labels = np.zeros((10, 10, 3), np.uint8)
    history = EditHistory(labels)
    paint_dab(labels, 2, (2, 2, 1), 1, 1, history=history)
    history.undo()
    assert history.can_redo
    paint_dab(labels, 2, (7, 7, 1), 1, 2, history=history)
    assert not history.can_redo and history.undo_depth == 1


def test_undo_redo_sequence_restores_each_state_exactly() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(24, 20, 16), dtype=np.uint8)
    history = EditHistory(labels)
    states = [labels.copy()]
    for i in range(12):
        plane = ("axial", "coronal", "sagittal")[i % 3]
        voxel = tuple(int(v) for v in rng.integers(0, 16, size=3))
        with history.group():
            paint_stroke(labels, plane, voxel, (voxel[0] + 3, voxel[1] + 2, voxel[2] + 1),
                         float(rng.integers(0, 4)), int(rng.integers(0, 4)), history=history)
            if i % 4 == 0:
                flood_fill(labels, plane, voxel, int(rng.integers(0, 4)), history=history)
        if not np.array_equal(labels, states[-1]):
            states.append(labels.copy())
    assert history.undo_depth == len(states) - 1
    for expected in reversed(states[:-1]):
        history.undo()
        np.testing.assert_array_equal(labels, expected)
    assert not history.can_undo
    for expected in states[1:]:
        history.redo()
        np.testing.assert_array_equal(labels, expected)


def test_track_context_manager_records_direct_writes_as_one_step() -> None:
    labels = np.zeros((16, 16, 8), np.uint8)
    history = EditHistory(labels)
    prediction = np.zeros_like(labels)
    prediction[3:9, 4:7, 2:5] = 2
    with history.track() as target:
        target[...] = prediction  # e.g. applying a model prediction
    assert history.undo_depth == 1
    atom_bbox = history.undo()
    assert atom_bbox == (slice(3, 9), slice(4, 7), slice(2, 5))
    assert not labels.any()
    history.redo()
    np.testing.assert_array_equal(labels, prediction)


def test_exception_inside_group_rolls_the_edit_back() -> None:
    labels = np.zeros((10, 10, 3), np.uint8)
    history = EditHistory(labels)
    with pytest.raises(RuntimeError):
        with history.group():
            paint_dab(labels, "axial", (5, 5, 1), 2, 3, history=history)
            raise RuntimeError("boom")
    assert not labels.any() and not history.can_undo and not history.in_block


def test_history_refuses_another_array() -> None:
    a = np.zeros((5, 5, 5), np.uint8)
    history = EditHistory(a)
    with pytest.raises(ValueError, match="different label array"):
        paint_dab(np.zeros_like(a), "axial", (2, 2, 2), 1, 1, history=history)


def test_uniform_new_values_are_stored_as_one_scalar() -> None:
    labels = np.zeros((40, 40, 3), np.uint8)
    history = EditHistory(labels)
    flood_fill(labels, "axial", (0, 0, 1), 2, history=history)
    atom = history._undo[-1]
    assert atom.new.ndim == 0 and int(atom.new) == 2
    # 1600 voxels: packed mask 200 B + old values 1600 B + 1 B
    assert atom.nbytes == 200 + 1600 + 1


def test_hundred_strokes_on_a_brats_volume_hold_under_100_mb() -> None:
    """The issue's bound, measured two ways: bytes the history holds, and traced allocations."""
    labels = np.zeros(SHAPE, np.uint8)
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    history = EditHistory(labels)
    for i in range(100):
        z = i % SHAPE[2]
        with history.group():
            if i % 10 == 0:  # a whole-slice fill: the largest single-slice stroke
                flood_fill(labels, "axial", (0, 0, z), 1 + i % 3, history=history)
            else:  # a big brush dragged across the whole slice
                for x in range(0, SHAPE[0], 4):
                    paint_dab(labels, "axial", (x, 120, z), 20, 1 + i % 3, history=history)
    held = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    assert history.undo_depth == 100
    assert history.nbytes < 100 * 2**20
    assert held < 100 * 2**20
    # Far below a copy per stroke (100 x 8.9 MB).
    assert history.nbytes < 10 * 2**20


def test_memory_budget_drops_the_oldest_steps() -> None:
    labels = np.zeros((64, 64, 64), np.uint8)
    history = EditHistory(labels, max_bytes=200_000)
    for i in range(20):
        with history.track() as target:
            target[...] = (i % 3) + 1  # whole-volume change: ~262 KB + 32 KB each
        assert history.nbytes <= max(200_000, history._undo[-1].nbytes)
    assert history.undo_depth == 1  # the newest step is always kept
    history.undo()
    assert np.all(labels == ((18 % 3) + 1))


def test_max_steps_bound() -> None:
    labels = np.zeros((10, 10, 10), np.uint8)
    history = EditHistory(labels, max_steps=3)
    for i in range(6):
        paint_dab(labels, "axial", (5, 5, i), 1, 1, history=history)
    assert history.undo_depth == 3


def test_bbox_helpers() -> None:
    mask = np.zeros((5, 6, 7), bool)
    assert bbox_of_mask(mask) is None
    mask[1, 2, 3] = mask[3, 4, 5] = True
    assert bbox_of_mask(mask) == (slice(1, 4), slice(2, 5), slice(3, 6))
    a = (slice(0, 2), slice(5, 6), slice(1, 2))
    assert bbox_union(a, (slice(1, 4), slice(0, 1), slice(1, 3))) == (slice(0, 4), slice(0, 6), slice(1, 3))
    assert bbox_union(None, a) == a


def test_steps_and_redo_steps_follow_undo_and_redo_by_identity() -> None:
    labels = np.zeros((20, 20, 10), np.uint8)
    history = EditHistory(labels)
    paint_dab(labels, "axial", (5, 5, 5), 1, 1, history=history)
    paint_dab(labels, "axial", (12, 12, 5), 1, 2, history=history)
    first, second = history.steps
    assert history.redo_steps == ()
    history.undo()
    assert history.steps == (first,) and history.redo_steps[0] is second
    history.redo()
    assert history.steps[-1] is second and history.redo_steps == ()
