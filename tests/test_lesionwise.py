"""Lesion-wise Dice and HD95 (core.lesionwise) on hand-computed cases and against the official package.

The comparison with ``brats-evaluation`` (PyPI, built on ``panoptica``) runs only where
that package is installed (``pip install .[eval]``); it pins numpy < 2.3, so the default
test environment does not carry it and the test skips there.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from brats_desktop.core.lesionwise import HD95_PENALTY, lesionwise, lesionwise_regions
from brats_desktop.core.metrics import hd95

SHAPE = (48, 48, 32)


def cube(mask: np.ndarray, corner: tuple[int, int, int], size: int | tuple[int, int, int]) -> np.ndarray:
    sizes = (size,) * 3 if isinstance(size, int) else size
    mask[tuple(slice(c, c + s) for c, s in zip(corner, sizes))] = True
    return mask


def empty() -> np.ndarray:
    return np.zeros(SHAPE, dtype=bool)


@pytest.mark.parametrize("method", ["brats2023", "panoptica"])
def test_a_missed_lesion_scores_zero_and_the_penalty(method):
    ref = cube(cube(empty(), (4, 4, 4), 5), (30, 30, 20), 5)  # two 125-voxel lesions far apart
    pred = cube(empty(), (4, 4, 4), 5)  # only the first found, exactly
    s = lesionwise(pred, ref, method=method)
    assert (s.tp, s.fn, s.fp) == (1, 1, 0)
    assert s.dice == pytest.approx(0.5)  # (1 + 0) / 2
    assert s.hd95 == pytest.approx(HD95_PENALTY / 2)  # (0 + 374) / 2


@pytest.mark.parametrize("method", ["brats2023", "panoptica"])
def test_a_false_positive_lesion_counts_like_a_miss(method):
    ref = cube(empty(), (4, 4, 4), 6)
    pred = cube(cube(empty(), (4, 4, 4), 6), (36, 36, 22), 3)
    s = lesionwise(pred, ref, method=method)
    assert (s.tp, s.fn, s.fp) == (1, 0, 1)
    assert s.dice == pytest.approx(0.5)
    assert s.hd95 == pytest.approx(HD95_PENALTY / 2)


def test_two_predicted_pieces_of_one_lesion_are_scored_together_in_brats2023():
    ref = cube(empty(), (10, 10, 10), 6)  # 216 voxels
    pred = ref.copy()
    pred[13] = False  # a gap splits the prediction into 3 + 2 slabs: 108 + 72 voxels
    s = lesionwise(pred, ref, method="brats2023")
    assert (s.tp, s.fn, s.fp) == (1, 0, 0)
    assert s.pairs[0].preds == (1, 2)
    assert s.dice == pytest.approx(2 * 180 / (180 + 216))
    assert s.hd95 == pytest.approx(hd95(pred, ref))
    # panoptica pairs one to one: the larger piece matches (Dice 2*108/324), the other is a false positive.
    p = lesionwise(pred, ref, method="panoptica")
    assert (p.tp, p.fn, p.fp) == (1, 0, 1)
    assert p.dice == pytest.approx((2 * 108 / 324) / 2)
    assert p.sq_dice == pytest.approx(2 * 108 / 324) and p.rq == pytest.approx(1 / 1.5)


def test_one_predicted_blob_over_two_reference_lesions():
    ref = cube(cube(empty(), (5, 5, 5), 5), (5, 20, 5), 5)  # 10 voxels apart: two lesions even after grouping
    pred = cube(empty(), (5, 5, 5), (5, 20, 5))  # one blob covering both and the gap
    s = lesionwise(pred, ref, method="brats2023")
    assert (s.tp, s.fn, s.fp) == (2, 0, 0)  # the blob counts for both
    assert [pair.dice for pair in s.pairs] == pytest.approx([2 * 125 / (125 + 500)] * 2)
    p = lesionwise(pred, ref, method="panoptica")
    assert (p.tp, p.fn, p.fp) == (1, 1, 0)  # one-to-one: the second reference lesion is missed


def test_brats2023_groups_close_lesions_and_ignores_small_ones():
    ref = cube(cube(empty(), (5, 5, 5), 5), (5, 12, 5), 5)  # 2 voxels apart: one lesion after dilation 3
    ref = cube(ref, (35, 35, 20), 3)  # 27 mm³, missed: at most 50 mm³ is not scored
    pred = cube(empty(), (5, 5, 5), 5)
    s = lesionwise(pred, ref, method="brats2023")
    assert (s.tp, s.fn, s.fp) == (1, 0, 0)
    assert s.dice == pytest.approx(2 * 125 / (125 + 250))
    assert [p.counted for p in s.pairs] == [True, False]
    assert lesionwise(pred, ref, method="panoptica").fn == 2  # no grouping, no size limit


def test_nothing_on_either_side_is_perfect_and_spacing_counts_for_volume():
    s = lesionwise(empty(), empty())
    assert (s.tp, s.fp, s.fn, s.dice, s.hd95) == (0, 0, 0, 1.0, 0.0)
    assert math.isnan(s.sq_dice)
    ref = cube(empty(), (5, 5, 5), 3)  # 27 voxels of 2 mm³: 54 mm³ > 50, scored
    s = lesionwise(empty(), ref, spacing=(1.0, 1.0, 2.0))
    assert (s.fn, s.dice, s.hd95) == (1, 0.0, HD95_PENALTY)


def test_regions_follow_internal_labels():
    ref = np.zeros(SHAPE, dtype=np.uint8)
    ref[5:15, 5:15, 5:15] = 2
    ref[8:12, 8:12, 8:12] = 3
    pred = ref.copy()
    pred[pred == 3] = 1  # enhancing called necrosis: TC still right, ET missed
    scores = lesionwise_regions(pred, ref)
    assert scores["WT"].dice == 1.0 and scores["TC"].dice == 1.0
    assert (scores["ET"].fn, scores["ET"].dice) == (1, 0.0)


# --------------------------------------------------------------------------- official package


def random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Label maps (0/1/2/3) with several blobs; the prediction shifts, drops, splits and adds some."""
    rng = np.random.default_rng(seed)
    grid = np.indices(SHAPE).transpose(1, 2, 3, 0)
    ref = np.zeros(SHAPE, dtype=np.uint8)
    pred = np.zeros(SHAPE, dtype=np.uint8)
    for _ in range(5):
        c = rng.integers(6, np.array(SHAPE) - 6)
        r = rng.uniform(2.0, 5.0)
        d = np.linalg.norm(grid - c, axis=-1)
        ref[d <= r] = 2
        ref[d <= r * 0.6] = 3
        ref[d <= r * 0.3] = 1
        roll = rng.integers(-2, 3, size=3)
        kept = rng.random() > 0.25
        if kept:
            dp = np.linalg.norm(grid - (c + roll), axis=-1)
            pred[dp <= r * rng.uniform(0.7, 1.2)] = 2
            pred[dp <= r * 0.5] = 3
            pred[dp <= r * 0.25] = 1
    for _ in range(2):  # spurious blobs
        c = rng.integers(4, np.array(SHAPE) - 4)
        pred[tuple(slice(v - 1, v + 2) for v in c)] = rng.integers(1, 4)
    pred[:, :, int(rng.integers(8, 24))] = 0  # a cut that may split a lesion in two
    return pred, ref


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_panoptica_method_matches_the_official_brats_evaluation_package(seed):
    pytest.importorskip("brats_evaluation")
    panoptica = pytest.importorskip("panoptica")
    from importlib.resources import files

    config = files("brats_evaluation").joinpath("configs", "config_gli.yaml")
    evaluator = panoptica.Panoptica_Evaluator.load_from_config(str(config))
    pred, ref = random_case(seed)
    official = evaluator.evaluate(pred, ref)
    ours = lesionwise_regions(pred, ref, method="panoptica")
    for region, group in (("WT", "wt"), ("TC", "tc"), ("ET", "et")):
        o, s = official[group], ours[region]
        assert (s.tp, s.fp, s.fn) == (o.tp, o.fp, o.fn), region
        for mine, theirs in ((s.sq_dice, o.sq_dsc), (s.pq_dice, o.pq_dsc), (s.sq_hd95, o.sq_hd95), (s.rq, o.rq)):
            if math.isnan(theirs):
                assert math.isnan(mine), region
            else:
                assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-9), region
        # The BraTS lesion-wise Dice from the package's own numbers.
        n = o.tp + o.fp + o.fn
        if n:
            assert s.dice == pytest.approx((o.sq_dsc * o.tp if o.tp else 0.0) / n), region
