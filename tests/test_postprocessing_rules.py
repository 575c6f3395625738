"""The tunable post-processing rules (nnU-Net's small-ET rule, far components) on hand-built volumes."""

from __future__ import annotations

import numpy as np

from brats_desktop.core.postprocessing import (
    DEFAULT_POSTPROCESSING,
    PostprocessParams,
    postprocess,
    remove_core_specks,
    remove_far_components,
    small_enhancing_to_necrosis,
)

SHAPE = (96, 80, 40)


def lesion(labels: np.ndarray, corner: tuple[int, int, int], size: int, et: int = 0) -> np.ndarray:
    """An edema cube with an enhancing core of ``et`` voxels per side in its middle."""
    x, y, z = corner
    labels[x : x + size, y : y + size, z : z + size] = 2
    if et:
        o = (size - et) // 2
        labels[x + o : x + o + et, y + o : y + o + et, z + o : z + o + et] = 3
    return labels


def test_small_enhancing_tumour_becomes_necrosis_and_large_stays():
    labels = lesion(np.zeros(SHAPE, np.uint8), (10, 10, 10), 12, et=3)  # 27 ET voxels
    out = small_enhancing_to_necrosis(labels, et_min_voxels=50)
    assert not (out == 3).any() and (out == 1).sum() == 27
    np.testing.assert_array_equal(out > 0, labels > 0)
    big = lesion(np.zeros(SHAPE, np.uint8), (10, 10, 10), 12, et=5)  # 125 ET voxels
    assert small_enhancing_to_necrosis(big, 50) is big


def test_far_component_is_dropped_and_near_satellite_kept():
    labels = lesion(np.zeros(SHAPE, np.uint8), (5, 10, 10), 20, et=8)  # main lesion, x 5-24
    lesion(labels, (80, 10, 10), 10)  # 1000 voxels, 56 voxels beyond the main lesion's edge
    lesion(labels, (28, 12, 12), 2)  # 8-voxel satellite, 4 voxels from the main lesion
    out = remove_far_components(labels, max_distance_mm=30)
    assert (out[80:90, 10:20, 10:20] == 0).all()
    assert (out[28:30, 12:14, 12:14] == 2).all()
    np.testing.assert_array_equal(out[:40], labels[:40])
    # Anisotropic voxels: 2 mm along x puts the satellite 8 mm away, still kept; the far one 112 mm.
    out2 = remove_far_components(labels, max_distance_mm=10, spacing=(2.0, 1.0, 1.0))
    assert (out2[28:30, 12:14, 12:14] == 2).all() and (out2[80:90] == 0).all()


def test_multifocal_lesions_within_the_distance_are_kept():
    labels = lesion(np.zeros(SHAPE, np.uint8), (5, 10, 10), 16, et=6)
    lesion(labels, (36, 10, 10), 14, et=4)  # a second focus 15 voxels away
    np.testing.assert_array_equal(remove_far_components(labels, 40), labels)
    out = postprocess(labels, "brats2013", "brats2013",
                      PostprocessParams(min_fraction=0.1, et_min_voxels=10, max_distance_mm=40))
    np.testing.assert_array_equal(out, labels)  # 216 + 64 ET voxels: nothing relabelled either


def test_postprocess_applies_the_rules_in_order_and_the_tuned_default():
    labels = lesion(np.zeros(SHAPE, np.uint8), (5, 10, 10), 20, et=3)  # 27 ET voxels
    lesion(labels, (70, 10, 10), 12)  # 1728 voxels: big enough to survive speck removal, 45 mm away
    legacy = PostprocessParams(min_fraction=0.1, min_core_voxels=0, et_min_voxels=0, max_distance_mm=None)
    np.testing.assert_array_equal(postprocess(labels, "brats2013", "brats2013", legacy), labels)  # nothing is a speck
    tuned = postprocess(labels, "brats2013", "brats2013", PostprocessParams(et_min_voxels=50, max_distance_mm=20))
    assert not (tuned == 3).any() and (tuned == 1).sum() == 27
    assert (tuned[70:82] == 0).all()
    assert (tuned[:40] > 0).sum() == (labels[:40] > 0).sum()
    # The shipped default (chosen on held-out predictions): the 27-voxel core piece becomes edema,
    # the lesion 45 mm from the main one is dropped, the main lesion keeps its extent.
    assert DEFAULT_POSTPROCESSING == PostprocessParams(min_fraction=0.1, min_core_voxels=200, max_distance_mm=40.0)
    default = postprocess(labels, "brats2013", "brats2013")
    assert not np.isin(default, (1, 3)).any()
    assert (default[70:82] == 0).all()
    assert (default[:40] > 0).sum() == (labels[:40] > 0).sum()


def test_core_specks_become_edema_and_enhancing_specks_necrosis():
    labels = lesion(np.zeros(SHAPE, np.uint8), (5, 10, 10), 20, et=6)  # 216 ET voxels in the middle
    labels[7:9, 12:14, 12] = 3  # a 4-voxel ET fragment alone in the edema
    labels[6:9, 25:28, 12:14] = 1  # an 18-voxel necrosis piece away from the ET core (x 12-17)
    labels[7, 26, 14] = 3  # one ET voxel on that piece: a 19-voxel core piece, a 1-voxel ET piece
    out = remove_core_specks(labels, min_voxels=10)
    assert (out[7:9, 12:14, 12] == 2).all()  # lone core fragment -> edema
    assert out[7, 26, 14] == 1  # ET voxel of a kept core piece -> necrosis
    assert (out[6:9, 25:28, 12:14] == 1).all()
    assert (out == 3).sum() == 216
    np.testing.assert_array_equal(out > 0, labels > 0)  # whole tumour unchanged
    assert remove_core_specks(labels, min_voxels=1) is labels
