"""The robot user: deepest point of the largest 6-connected error component, never the same voxel twice."""

from __future__ import annotations

import numpy as np

from brats_desktop.core.robot_user import RobotUser, next_click

SHAPE = (24, 20, 16)


def _cube(labels: np.ndarray, corner: tuple[int, int, int], size: int, value: int) -> None:
    x, y, z = corner
    labels[x:x + size, y:y + size, z:z + size] = value


def test_clicks_the_centre_of_the_largest_missed_component_with_its_true_label() -> None:
    truth = np.zeros(SHAPE, np.uint8)
    _cube(truth, (2, 2, 2), 7, 2)  # 343 voxels of edema, missed
    _cube(truth, (14, 10, 6), 5, 3)  # 125 voxels of enhancing, missed
    shown = np.zeros_like(truth)
    click = next_click(shown, truth)
    assert click is not None
    assert (click.voxel, click.label, click.component_voxels) == ((5, 5, 5), 2, 343)
    assert click.depth == 4.0  # from the centre of a 7-cube to the first voxel outside it


def test_a_false_positive_is_clicked_as_background() -> None:
    truth = np.zeros(SHAPE, np.uint8)
    _cube(truth, (2, 2, 2), 3, 1)  # 27 voxels of core missed
    shown = truth.copy()
    _cube(shown, (12, 8, 4), 5, 3)  # 125 voxels of enhancing where there is nothing
    click = next_click(shown, truth)
    assert click is not None
    assert (click.voxel, click.label, click.component_voxels) == ((14, 10, 6), 0, 125)


def test_components_are_six_connected_and_never_mix_true_labels() -> None:
    truth = np.zeros(SHAPE, np.uint8)
    # Two 4-cubes of edema touching only along an edge: one piece of 128 under 26-connectivity,
    # two of 64 under the protocol's 6-connectivity, so the 5-cube of enhancing (125) is the largest.
    _cube(truth, (1, 1, 1), 4, 2)
    _cube(truth, (5, 5, 1), 4, 2)
    _cube(truth, (14, 10, 8), 5, 3)
    # A 6-cube whose halves have different true labels: two errors of 108, not one of 216.
    truth[1:7, 12:18, 8:11] = 1
    truth[1:7, 12:18, 11:14] = 3
    click = next_click(np.zeros_like(truth), truth)
    assert click is not None
    assert (click.label, click.component_voxels, click.voxel) == (3, 125, (16, 12, 10))


def test_never_the_same_voxel_twice_takes_the_next_deepest_point() -> None:
    truth = np.zeros(SHAPE, np.uint8)
    _cube(truth, (2, 2, 2), 7, 2)
    shown = np.zeros_like(truth)
    robot = RobotUser(truth)
    first = robot.click(shown)
    second = robot.click(shown)  # the method ignored the first click: same errors shown again
    assert first is not None and second is not None
    assert first.voxel == (5, 5, 5)
    # The next depth (3) is shared by the 26 voxels around the centre: the first in array order wins.
    assert (second.voxel, second.label, second.depth) == ((4, 4, 4), 2, 3.0)
    assert len({c.voxel for c in robot.clicks}) == 2


def test_a_component_clicked_everywhere_gives_way_to_the_next_one() -> None:
    truth = np.zeros(SHAPE, np.uint8)
    truth[3, 3, 3] = 1  # one missed voxel ...
    truth[10, 10, 10] = 2  # ... and another (equal size: the lower label goes first)
    shown = np.zeros_like(truth)
    robot = RobotUser(truth)
    assert [robot.click(shown).voxel for _ in range(2)] == [(3, 3, 3), (10, 10, 10)]  # type: ignore[union-attr]
    assert robot.click(shown) is None  # every wrong voxel clicked once: nothing left to click


def test_the_border_of_the_volume_is_a_border_of_the_component() -> None:
    truth = np.zeros(SHAPE, np.uint8)
    truth[0:3, :, :] = 2  # a slab on the volume's face, 3 voxels thick
    click = next_click(np.zeros_like(truth), truth)
    assert click is not None and click.voxel[0] == 1 and click.depth == 2.0


def test_nothing_wrong_means_no_click() -> None:
    truth = np.zeros(SHAPE, np.uint8)
    _cube(truth, (2, 2, 2), 4, 3)
    assert next_click(truth.copy(), truth) is None
