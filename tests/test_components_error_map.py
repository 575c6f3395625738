"""Connected components (sizes, mL, jump targets, one-step removal) and the FP/FN error map."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.components import (
    CLASS,
    LESION,
    component_at,
    find_components,
    lesions,
    relabel_component,
)
from brats_desktop.core.error_map import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    error_components,
    error_map,
    summarize,
)
from brats_desktop.core.history import EditHistory


def test_components_sorted_by_size_with_volume_in_ml_from_spacing() -> None:
    mask = np.zeros((30, 20, 10), bool)
    mask[2:5, 2:5, 2:5] = True  # 27 voxels
    mask[10:20, 10:15, 5:7] = True  # 100 voxels
    mask[25, 1, 1] = True  # 1 voxel
    found = find_components(mask, spacing=(1.0, 2.0, 0.5))
    assert [c.voxels for c in found] == [100, 27, 1]
    assert found[0].volume_ml == pytest.approx(100 * 1.0 / 1000)
    assert found[0].bbox == (slice(10, 20), slice(10, 15), slice(5, 7))
    assert found[2].focus == (25, 1, 1)
    for comp in found:
        assert mask[comp.focus]


def test_focus_lies_inside_a_ring_whose_centroid_does_not() -> None:
    mask = np.zeros((21, 21, 3), bool)
    yy, xx = np.mgrid[:21, :21]
    ring = ((yy - 10) ** 2 + (xx - 10) ** 2 <= 81) & ((yy - 10) ** 2 + (xx - 10) ** 2 >= 49)
    mask[:, :, 1] = ring
    (comp,) = find_components(mask)
    assert not mask[tuple(int(round(c)) for c in comp.centroid)]  # centre of the hole
    assert mask[comp.focus]


def test_corner_touching_blobs_are_one_lesion_at_26_but_two_at_6_connectivity() -> None:
    labels = np.zeros((6, 6, 6), np.uint8)
    labels[1, 1, 1] = 2
    labels[2, 2, 2] = 3
    assert len(lesions(labels)) == 1
    assert len(find_components(labels > 0, connectivity=6)) == 2


def test_remove_component_takes_the_whole_blob_in_one_undo_step() -> None:
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[2:10, 2:10, 2:10] = 2  # the tumour
    labels[4:8, 4:8, 4:8] = 3
    labels[15:18, 15:18, 15:17] = 2  # a false-positive blob with two classes
    labels[16, 16, 16] = 1
    before = labels.copy()
    history = EditHistory(labels)
    bbox = relabel_component(labels, (15, 15, 15), 0, LESION, history=history)
    assert bbox == (slice(15, 18), slice(15, 18), slice(15, 17))
    assert not labels[12:, 12:, 12:].any()
    np.testing.assert_array_equal(labels[:12, :12, :12], before[:12, :12, :12])
    assert history.undo_depth == 1
    history.undo()
    np.testing.assert_array_equal(labels, before)


def test_relabel_class_scope_keeps_the_other_classes_of_the_lesion() -> None:
    labels = np.zeros((12, 12, 12), np.uint8)
    labels[2:9, 2:9, 2:9] = 2
    labels[4:7, 4:7, 4:7] = 3
    bbox = relabel_component(labels, (2, 2, 2), 1, CLASS)
    assert bbox is not None
    assert (labels[4:7, 4:7, 4:7] == 3).all()
    assert np.count_nonzero(labels == 1) == 7**3 - 3**3
    assert np.count_nonzero(labels == 2) == 0


def test_clicking_background_or_same_label_changes_nothing() -> None:
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[2:4, 2:4, 2:4] = 2
    history = EditHistory(labels)
    assert relabel_component(labels, (0, 0, 0), 0, history=history) is None
    assert relabel_component(labels, (2, 2, 2), 2, history=history) is None
    assert component_at(labels, (7, 7, 7)) is None
    assert component_at(labels, (99, 0, 0)) is None
    assert history.undo_depth == 0


def test_error_map_marks_false_positives_and_negatives_per_region() -> None:
    ref = np.zeros((10, 10, 10), np.uint8)
    test = np.zeros_like(ref)
    ref[2:6, 2:6, 2:6] = 2
    ref[3:5, 3:5, 3:5] = 3
    test[2:6, 2:6, 2:6] = 2
    test[6:8, 2:4, 2:4] = 3  # enhancing in the wrong place
    wt = error_map(test, ref, "WT")
    assert set(np.unique(wt)) == {0, FALSE_POSITIVE}
    assert np.count_nonzero(wt == FALSE_POSITIVE) == 8
    et = error_map(test, ref, "ET")
    assert np.count_nonzero(et == FALSE_NEGATIVE) == 8  # the reference's ET core was missed
    assert np.count_nonzero(et == FALSE_POSITIVE) == 8
    assert et[3, 3, 3] == FALSE_NEGATIVE and et[6, 2, 2] == FALSE_POSITIVE
    ed = error_map(test, ref, "ED")  # class edema: the reference core is ET, the test says ED
    assert ed[3, 3, 3] == FALSE_POSITIVE
    s = summarize(et, spacing=(2.0, 1.0, 1.0))
    assert (s.false_positive_voxels, s.false_negative_voxels) == (8, 8)
    assert s.false_negative_ml == pytest.approx(8 * 2 / 1000)
    with pytest.raises(ValueError):
        error_map(test, ref, "XX")


def test_error_components_list_both_kinds_largest_first() -> None:
    ref = np.zeros((20, 20, 20), np.uint8)
    test = np.zeros_like(ref)
    ref[2:5, 2:5, 2:5] = 1  # missed: 27 voxels
    test[10:14, 10:14, 10:14] = 2  # invented: 64 voxels
    test[18, 18, 18] = 2  # a speck
    comps = error_components(error_map(test, ref, "WT"))
    assert [(c.kind, c.voxels) for c in comps] == [
        ("false positive", 64), ("false negative", 27), ("false positive", 1)
    ]
