"""Normalised entropy, uncertain volume per class and uncertain regions largest first."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.uncertainty import (
    argmax_labels, entropy_map, uncertain_regions, uncertain_volumes_ml,
)


def probabilities(shape=(20, 18, 40)) -> np.ndarray:
    """Confident background everywhere, with two uncertain blocks of different size."""
    p = np.zeros((4, *shape), np.float16)
    p[0] = 1.0
    p[:, 2:8, 2:8, 3:30] = np.array([0.25, 0.25, 0.25, 0.25], np.float16)[:, None, None, None]  # 6x6x27
    p[:, 12:15, 12:15, 5:8] = np.array([0.0, 0.5, 0.5, 0.0], np.float16)[:, None, None, None]  # 3x3x3
    return p


def test_entropy_is_zero_when_sure_one_when_uniform_and_log2_over_log4_for_a_tie():
    e = entropy_map(probabilities())
    assert e.dtype == np.float32 and e.shape == (20, 18, 40)
    assert e[0, 0, 0] == pytest.approx(0.0, abs=1e-6)
    assert e[3, 3, 10] == pytest.approx(1.0, abs=1e-3)
    assert e[13, 13, 6] == pytest.approx(np.log(2) / np.log(4), abs=1e-3)  # = 0.5


def test_entropy_renormalises_probabilities_that_do_not_sum_to_one():
    p = np.full((4, 2, 2, 2), 0.2, np.float16)  # sums to 0.8 (float16 averaging drift)
    assert entropy_map(p) == pytest.approx(np.ones((2, 2, 2)), abs=1e-3)


def test_uncertain_volume_per_argmax_class():
    p = probabilities()
    e = entropy_map(p)
    labels = argmax_labels(p)
    vols = uncertain_volumes_ml(e, labels, 0.45, 0.001)
    # uniform block: argmax takes the first class (background); tie block: class 1 (NCR)
    assert vols["BG"] == pytest.approx(6 * 6 * 27 / 1000)
    assert vols["NCR"] == pytest.approx(27 / 1000)
    assert vols["ED"] == 0 and vols["ET"] == 0
    assert vols["Tumour"] == pytest.approx(27 / 1000)
    assert vols["Total"] == pytest.approx((6 * 6 * 27 + 27) / 1000)
    # above the tie's 0.5, only the uniform block remains
    assert uncertain_volumes_ml(e, labels, 0.6, 0.001)["NCR"] == 0


def test_regions_are_sorted_largest_first_and_focus_lies_inside():
    e = entropy_map(probabilities())
    regions = uncertain_regions(e, 0.45, voxel_volume_ml=0.002)
    assert [r.voxels for r in regions] == [6 * 6 * 27, 27]
    assert regions[0].volume_ml == pytest.approx(6 * 6 * 27 * 0.002)
    for r in regions:
        assert e[r.focus] >= 0.45
        assert all(s.start <= f < s.stop for f, s in zip(r.focus, r.bbox))
    assert uncertain_regions(e, 0.45, limit=1)[0].voxels == 6 * 6 * 27
    assert uncertain_regions(e, 0.45, min_voxels=28) == uncertain_regions(e, 0.45, limit=1)
    assert uncertain_regions(e, 1.01) == []


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="classes"):
        entropy_map(np.zeros((4, 4, 4)))
