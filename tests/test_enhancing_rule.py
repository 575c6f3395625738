"""The enhancing-tumour rules for low-grade tumours (volume in mL, total or per piece; mean ET probability)."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.postprocessing import (
    PostprocessParams,
    enhancing_volume_rule,
    postprocess,
    small_enhancing_to_necrosis,
    uncertain_enhancing_to_necrosis,
)

SHAPE = (60, 40, 30)


def case() -> np.ndarray:
    """Edema slab with a necrotic block, one 27-voxel (3^3) and one 125-voxel (5^3) enhancing piece."""
    labels = np.zeros(SHAPE, np.uint8)
    labels[5:55, 5:35, 5:25] = 2
    labels[8:12, 8:12, 8:12] = 1
    labels[20:23, 10:13, 10:13] = 3  # 27 voxels
    labels[40:45, 20:25, 12:17] = 3  # 125 voxels
    return labels


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return before != after


def test_total_volume_below_the_threshold_becomes_label_1_and_above_stays() -> None:
    labels = case()  # 152 ET voxels = 0.152 mL at 1 mm
    out = enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.2)
    assert not (out == 3).any()
    np.testing.assert_array_equal(changed(labels, out), labels == 3)  # only the ET voxels moved ...
    assert (out[labels == 3] == 1).all()  # ... and all to label 1
    assert enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.1) is labels  # above: untouched
    assert enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.152) is labels  # equal is not below
    assert enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.0) is labels  # rule off
    assert (labels == 3).sum() == 152  # the input is never written


def test_per_lesion_judges_each_enhancing_piece_alone() -> None:
    labels = case()
    total = enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.1)
    per_piece = enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.1, per_lesion=True)
    assert total is labels  # 0.152 mL in all: kept
    small = np.zeros(SHAPE, bool)
    small[20:23, 10:13, 10:13] = True
    np.testing.assert_array_equal(changed(labels, per_piece), small)  # the 0.027 mL piece only
    assert (per_piece[small] == 1).all() and (per_piece[40:45, 20:25, 12:17] == 3).all()
    both = enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.2, per_lesion=True)
    np.testing.assert_array_equal(changed(labels, both), labels == 3)
    assert enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.02, per_lesion=True) is labels


def test_pieces_touching_by_a_corner_are_one_lesion() -> None:
    labels = np.zeros(SHAPE, np.uint8)
    labels[10:13, 10:13, 10:13] = 3  # 27
    labels[13:16, 13:16, 13:16] = 3  # 27, touching the first only at a corner (26-connectivity)
    out = enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=0.05, per_lesion=True)
    assert out is labels  # one 54-voxel piece, above 50 voxels


def test_volume_is_measured_in_ml_from_the_voxel_spacing() -> None:
    labels = case()  # 152 voxels
    assert enhancing_volume_rule(labels, (2.0, 2.0, 2.0), min_ml=1.2) is labels  # 1.216 mL at 8 mm^3
    assert not (enhancing_volume_rule(labels, (2.0, 2.0, 2.0), min_ml=1.3) == 3).any()
    # anisotropic: 1 x 1 x 3 mm -> the pieces are 0.081 and 0.375 mL
    out = enhancing_volume_rule(labels, (1.0, 1.0, 3.0), min_ml=0.1, per_lesion=True)
    assert (out[20:23, 10:13, 10:13] == 1).all() and (out[40:45, 20:25, 12:17] == 3).all()
    assert enhancing_volume_rule(labels, (1.0, 1.0, 3.0), min_ml=0.08, per_lesion=True) is labels


def test_a_case_without_enhancement_is_returned_untouched() -> None:
    labels = case()
    labels[labels == 3] = 2
    assert enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=5.0) is labels
    assert enhancing_volume_rule(labels, (1.0, 1.0, 1.0), min_ml=5.0, per_lesion=True) is labels


def test_the_voxel_rule_is_the_same_rule_in_voxels() -> None:
    labels = case()
    np.testing.assert_array_equal(small_enhancing_to_necrosis(labels, 153),
                                  enhancing_volume_rule(labels, (1.0, 1.0, 1.0), 0.153))
    assert small_enhancing_to_necrosis(labels, 152) is labels


def test_uncertain_enhancing_pieces_become_label_1() -> None:
    labels = case()
    prob = np.zeros(SHAPE, np.float32)
    prob[20:23, 10:13, 10:13] = 0.4  # the small piece: a close call
    prob[40:45, 20:25, 12:17] = 0.9
    prob[40, 20, 12] = 0.2  # one doubtful voxel does not sink a confident piece (mean 0.894)
    out = uncertain_enhancing_to_necrosis(labels, prob, 0.5)
    small = np.zeros(SHAPE, bool)
    small[20:23, 10:13, 10:13] = True
    np.testing.assert_array_equal(changed(labels, out), small)
    assert (out[small] == 1).all()
    quantised = np.round(prob * 255).astype(np.uint8)  # as the saved predictions store it
    np.testing.assert_array_equal(uncertain_enhancing_to_necrosis(labels, quantised, 0.5), out)
    assert uncertain_enhancing_to_necrosis(labels, prob, 0.3) is labels
    both = uncertain_enhancing_to_necrosis(labels, prob, 0.95)
    np.testing.assert_array_equal(changed(labels, both), labels == 3)
    with pytest.raises(ValueError, match="do not match"):
        uncertain_enhancing_to_necrosis(labels, prob[:10], 0.5)


def test_postprocess_applies_the_rule_before_label_1_changes_meaning() -> None:
    """Decided in the training meaning: a lesion left without enhancement keeps its label 1 (no rim to be inside of)."""
    labels = np.zeros(SHAPE, np.uint8)
    labels[5:35, 5:35, 5:25] = 2
    labels[10:15, 10:15, 10:15] = 1  # 125 voxels of NCR/NET
    labels[25:27, 25:27, 12:14] = 3  # 8 enhancing voxels away from it
    plain = PostprocessParams(min_fraction=None)
    without = postprocess(labels, "brats2021", "brats2013", plain)
    assert (without == 1).sum() == 0 and (without == 3).sum() == 8  # NCR outside the 'rim' -> edema
    rule = PostprocessParams(min_fraction=None, min_enhancing_ml=0.01)
    with_rule = postprocess(labels, "brats2021", "brats2013", rule)
    assert (with_rule == 3).sum() == 0 and (with_rule == 1).sum() == 133
    assert "ET < 0.01 mL (in all) -> label 1" in rule.describe()
    # the 2013 meaning: only the rule acts
    np.testing.assert_array_equal(postprocess(labels, "brats2013", "brats2013", rule),
                                  enhancing_volume_rule(labels, (1.0, 1.0, 1.0), 0.01))
