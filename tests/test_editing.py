"""Brush, eraser, fill and paint-only-over on canonical RAS+ label arrays."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.editing import erase_dab, flood_fill, paint_dab, paint_stroke, plane_axis


def _disk(n: int, centre: tuple[int, int], r: float) -> np.ndarray:
    u, v = np.ogrid[:n, :n]
    return (u - centre[0]) ** 2 + (v - centre[1]) ** 2 <= r * r + 1e-3


@pytest.mark.parametrize(
    ("plane", "axis"), [("sagittal", 0), ("coronal", 1), ("axial", 2)]
)
def test_dab_paints_a_disk_on_the_slice_of_its_plane_only(plane: str, axis: int) -> None:
    labels = np.zeros((21, 22, 23), np.uint8)
    voxel = (10, 11, 12)
    bbox = paint_dab(labels, plane, voxel, 3, 2)
    painted = np.argwhere(labels)
    # every painted voxel lies on the slice through the voxel, and nowhere else
    assert set(painted[:, axis]) == {voxel[axis]}
    assert set(np.unique(labels)) == {0, 2}
    # the slice holds exactly a disk of radius 3 around the in-plane coordinates
    sl = [slice(None)] * 3
    sl[axis] = voxel[axis]
    slice2d = labels[tuple(sl)]
    a, b = [i for i in range(3) if i != axis]
    u, v = np.ogrid[: slice2d.shape[0], : slice2d.shape[1]]
    disk = (u - voxel[a]) ** 2 + (v - voxel[b]) ** 2 <= 9.001
    np.testing.assert_array_equal(slice2d == 2, disk)
    assert labels[voxel] == 2
    assert bbox is not None and bbox[axis] == slice(voxel[axis], voxel[axis] + 1)
    # the bbox holds every changed voxel
    outside = labels.copy()
    outside[bbox] = 0
    assert not outside.any()


def test_radius_zero_paints_one_voxel_and_the_brush_clips_at_the_border() -> None:
    labels = np.zeros((8, 8, 4), np.uint8)
    paint_dab(labels, "axial", (3, 4, 1), 0, 1)
    assert np.argwhere(labels).tolist() == [[3, 4, 1]]
    bbox = paint_dab(labels, "axial", (0, 0, 2), 2, 3)
    assert bbox == (slice(0, 3), slice(0, 3), slice(2, 3))
    assert labels[0, 0, 2] == 3 and labels[2, 0, 2] == 3 and labels[2, 2, 2] == 0


def test_stroke_between_far_points_leaves_no_gap() -> None:
    labels = np.zeros((40, 40, 3), np.uint8)
    paint_stroke(labels, "axial", (2, 20, 1), (37, 20, 1), 1, 1)
    assert np.all(labels[2:38, 20, 1] == 1)
    assert np.all(labels[2:38, 19, 1] == 1) and np.all(labels[2:38, 21, 1] == 1)
    assert labels[2:38, 22, 1].sum() == 0


def test_eraser_sets_background_and_reports_nothing_when_nothing_changed() -> None:
    labels = np.full((10, 10, 3), 2, np.uint8)
    assert erase_dab(labels, "coronal", (5, 5, 1), 1) is not None
    assert labels[5, 5, 1] == 0 and labels[4, 5, 1] == 0 and labels[5, 5, 0] == 0
    assert labels[5, 4, 1] == 2  # another coronal slice
    assert erase_dab(labels, "coronal", (5, 5, 1), 1) is None


def test_paint_only_over_background_keeps_other_classes() -> None:
    labels = np.zeros((20, 20, 3), np.uint8)
    labels[8:12, 8:12, 1] = 1  # a core
    paint_dab(labels, "axial", (10, 10, 1), 5, 2, only_over=0)
    assert np.all(labels[8:12, 8:12, 1] == 1)
    assert labels[6, 10, 1] == 2 and labels[14, 10, 1] == 2


def test_paint_only_over_a_class_changes_only_that_class() -> None:
    labels = np.zeros((20, 20, 3), np.uint8)
    labels[5:15, 5:15, 1] = 2
    labels[9:11, 9:11, 1] = 1
    paint_dab(labels, "axial", (10, 10, 1), 6, 3, only_over=2)
    assert np.all(labels[9:11, 9:11, 1] == 1)  # core kept
    assert labels[5, 10, 1] == 3  # edema became enhancing
    assert labels[3, 10, 1] == 0  # background untouched
    # erasing only one class
    erase_dab(labels, "axial", (10, 10, 1), 6, only_over=1)
    assert not np.any(labels == 1) and labels[5, 10, 1] == 3


def test_flood_fill_fills_the_connected_region_on_the_slice_only() -> None:
    labels = np.zeros((12, 12, 3), np.uint8)
    labels[3:9, 3:9, :] = 2
    labels[4:8, 4:8, :] = 0  # a hole inside an edema ring, on every slice
    bbox = flood_fill(labels, "axial", (5, 5, 1), 1)
    assert bbox == (slice(4, 8), slice(4, 8), slice(1, 2))
    assert np.all(labels[4:8, 4:8, 1] == 1)
    assert np.all(labels[4:8, 4:8, 0] == 0) and np.all(labels[4:8, 4:8, 2] == 0)
    assert labels[0, 0, 1] == 0  # outside background is not connected to the hole


def test_flood_fill_is_4_connected_and_respects_only_over() -> None:
    labels = np.zeros((6, 6, 1), np.uint8)
    labels[1, 1, 0] = labels[2, 2, 0] = 2  # diagonal neighbours
    flood_fill(labels, "axial", (1, 1, 0), 3)
    assert labels[1, 1, 0] == 3 and labels[2, 2, 0] == 2
    assert flood_fill(labels, "axial", (2, 2, 0), 1, only_over=0) is None
    assert flood_fill(labels, "axial", (2, 2, 0), 2) is None  # already that label


def test_bad_arguments_are_refused_with_a_clear_message() -> None:
    labels = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="label must be 0-3"):
        paint_dab(labels, "axial", (1, 1, 1), 1, 4)
    with pytest.raises(ValueError, match="unknown plane"):
        plane_axis("oblique")
    assert paint_dab(labels, "axial", (1, 1, 9), 1, 1) is None  # slice outside the volume
