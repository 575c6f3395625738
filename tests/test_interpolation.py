"""Fill between slices: shape-based interpolation of painted key slices, one undo step."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.history import EditHistory
from brats_desktop.core.interpolation import gaps, interpolate_slices, key_slices


def _disk(shape2d: tuple[int, int], centre: tuple[float, float], r: float) -> np.ndarray:
    u, v = np.ogrid[: shape2d[0], : shape2d[1]]
    return (u - centre[0]) ** 2 + (v - centre[1]) ** 2 <= r * r


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_equal_disks_on_two_slices_fill_every_slice_between_with_the_same_disk(axis: int) -> None:
    shape = [30, 32, 34]
    labels = np.zeros(shape, np.uint8)
    stack = np.moveaxis(labels, axis, 0)
    disk = _disk(stack.shape[1:], (15, 16), 5)
    stack[5][disk] = 2
    stack[12][disk] = 2
    history = EditHistory(labels)
    result = interpolate_slices(labels, axis, history=history)
    assert result.slices == tuple(range(6, 12))
    for k in range(5, 13):
        np.testing.assert_array_equal(stack[k] == 2, disk)
    assert not stack[:5].any() and not stack[13:].any()
    assert result.bbox is not None and result.bbox[axis] == slice(6, 12)
    assert history.undo_depth == 1
    history.undo()
    assert key_slices(labels, axis, 2).tolist() == [5, 12]


def test_radius_grows_linearly_and_the_shape_moves_between_key_slices() -> None:
    labels = np.zeros((40, 40, 11), np.uint8)
    labels[:, :, 0][_disk((40, 40), (12, 20), 4)] = 3
    labels[:, :, 10][_disk((40, 40), (28, 20), 8)] = 3
    interpolate_slices(labels, "axial")
    mid = labels[:, :, 5] == 3
    rows = np.flatnonzero(mid.any(axis=1))
    centre = (rows[0] + rows[-1]) / 2
    assert centre == pytest.approx(20, abs=1.0)  # halfway between 12 and 28
    radius = (rows[-1] - rows[0] + 1) / 2
    assert radius == pytest.approx(6, abs=1.0)  # halfway between 4 and 8
    areas = [np.count_nonzero(labels[:, :, k]) for k in range(11)]
    assert areas == sorted(areas)


def test_other_labels_in_the_gap_are_kept_and_classes_interpolate_separately() -> None:
    labels = np.zeros((30, 30, 9), np.uint8)
    big, small = _disk((30, 30), (15, 15), 8), _disk((30, 30), (15, 15), 3)
    for k in (0, 8):
        labels[:, :, k][big] = 2
        labels[:, :, k][small] = 3  # enhancing core inside edema
    labels[14:17, 14:17, 4] = 1  # something already in a gap slice
    interpolate_slices(labels, "axial")
    assert (labels[14:17, 14:17, 4] == 1).all()
    assert labels[15, 15, 2] == 3  # the core stays a core
    assert labels[15, 21, 2] == 2  # the ring stays edema
    assert labels[15, 25, 2] == 0


def test_nothing_to_fill_returns_no_bbox_and_records_nothing() -> None:
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2:5, 2:5, 3:7] = 2  # contiguous along z: no gap
    history = EditHistory(labels)
    result = interpolate_slices(labels, "axial", history=history)
    assert result.bbox is None and history.undo_depth == 0
    assert gaps([1, 2, 5, 6, 9]) == [(2, 5), (6, 9)]


def test_only_the_requested_class_is_interpolated() -> None:
    labels = np.zeros((20, 20, 7), np.uint8)
    for k in (0, 6):
        labels[2:6, 2:6, k] = 1
        labels[10:15, 10:15, k] = 2
    interpolate_slices(labels, "axial", classes=[2])
    assert (labels[10:15, 10:15, :] == 2).all()
    assert not labels[2:6, 2:6, 1:6].any()


def test_real_tumour_kept_on_every_fifth_axial_slice_is_filled_back_closely(shared_data) -> None:
    """brainles-sample-case: delete 4 of every 5 axial tumour slices, fill, compare with the original."""
    from brats_desktop.core.metrics import dice
    from brats_desktop.core.nifti_io import read_volume

    seg, _ = read_volume(shared_data / "brainles-sample-case" / "seg.nii.gz", dtype=np.uint8)
    labels = seg.copy()
    zs = np.flatnonzero(labels.any(axis=(0, 1)))
    for z in range(zs[0], zs[-1] + 1):
        if (z - zs[0]) % 5 and z != zs[-1]:
            labels[:, :, z] = 0
    removed = np.count_nonzero(seg) - np.count_nonzero(labels)
    result = interpolate_slices(labels, "axial")
    assert result.voxels > 0.9 * removed  # nearly all of it comes back ...
    assert dice(labels > 0, seg > 0) > 0.92  # ... in the right place (measured 0.938)
    for cls in (1, 2, 3):
        assert dice(labels == cls, seg == cls) > 0.83, cls  # measured 0.856-0.936
