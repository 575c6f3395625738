"""A click grows over the piece it was put on, as far as the class probabilities (and the image) say, no further."""

from __future__ import annotations

import numpy as np
import torch

from brats_desktop.interactive import Click
from brats_desktop.interactive.engine import ClickEngine
from brats_desktop.interactive.grow import NO_GROWTH, GrowRule, grow_region
from models.checkpoint import LoadedModel
from tests.interactive_support import AUTO_ARCH, SHAPE, images, tiny_engine, tiny_metadata
from tests.test_interactive_engine import FlairThreshold

torch.set_num_threads(1)
RULE = GrowRule(margin=2.0, reach=20.0)


def probabilities(shape=SHAPE, **regions: tuple[tuple[slice, ...], dict[int, float]]) -> np.ndarray:
    """Confident background everywhere, then per region the given class probabilities (rest to background)."""
    p = np.zeros((4, *shape), np.float32)
    p[0] = 0.997
    p[1:] = 0.001
    for box, classes in regions.values():
        for c, value in classes.items():
            p[(c, *box)] = value
        p[(0, *box)] = 1.0 - sum(v for c, v in classes.items() if c) - 0.001 * (3 - len([c for c in classes if c]))
    return p


BLOB = (slice(4, 10), slice(4, 10), slice(2, 7))
OTHER = (slice(13, 18), slice(13, 18), slice(2, 7))


def test_a_click_on_a_missed_blob_fills_it_where_the_probabilities_say_so() -> None:
    probs = probabilities(blob=(BLOB, {2: 0.4}), other=(OTHER, {2: 0.4}))  # edema a close second in both
    labels = np.zeros(SHAPE, np.uint8)
    grown = grow_region(probs, labels, np.array([[6, 6, 4]]), 2, RULE)
    expected = np.zeros(SHAPE, bool)
    expected[BLOB] = True
    np.testing.assert_array_equal(grown, expected)  # the blob, not the other one (not connected through plausible voxels)
    strict = grow_region(probs, labels, np.array([[6, 6, 4]]), 2, GrowRule(margin=0.1, reach=20.0))
    assert strict.sum() == 1  # edema must be (nearly) the model's answer: only the clicked voxel itself
    assert not grow_region(probs, labels, np.array([[6, 6, 4]]), 2, NO_GROWTH).any()
    near = grow_region(probs, labels, np.array([[6, 6, 4]]), 2, GrowRule(margin=2.0, reach=2.0))
    assert near.sum() < expected.sum() and near[6, 6, 4] and not near[4, 4, 2]  # bounded by the reach


def test_growth_takes_only_what_the_clicked_voxel_showed_and_keeps_locked_voxels() -> None:
    probs = probabilities(blob=(BLOB, {2: 0.4}))
    labels = np.zeros(SHAPE, np.uint8)
    labels[4:10, 4:6, 2:7] = 3  # part of the blob already shows enhancing: a class click on background leaves it
    locked = np.zeros(SHAPE, bool)
    locked[8:10, 8:10, 2:7] = True  # hand painted
    grown = grow_region(probs, labels, np.array([[6, 7, 4]]), 2, RULE, locked=locked)
    assert grown[6, 8, 4] and not grown[6, 4, 4] and not grown[9, 9, 4]
    assert not grow_region(probs, labels, np.array([[6, 4, 4]]), 3, RULE).any()  # already shows the label


def test_a_background_click_on_a_false_positive_piece_removes_it_but_not_the_true_lesion() -> None:
    fp = (slice(10, 14), slice(4, 10), slice(2, 7))  # an extra piece attached to the lesion's side
    probs = probabilities(lesion=(BLOB, {2: 0.99}), fp=(fp, {2: 0.45}))
    labels = np.zeros(SHAPE, np.uint8)
    labels[BLOB] = 2
    labels[fp] = 2
    grown = grow_region(probs, labels, np.array([[12, 6, 4]]), 0, RULE)
    expected = np.zeros(SHAPE, bool)
    expected[fp] = True
    np.testing.assert_array_equal(grown, expected)


def test_a_click_deep_in_a_confidently_missed_region_grows_with_the_relative_rule() -> None:
    """Where the model is sure and wrong, 'as plausible as where I clicked' still finds the region."""
    probs = probabilities(blob=(BLOB, {1: 0.01}))  # NCR very unlikely in the blob, far less outside (0.001)
    labels = np.zeros(SHAPE, np.uint8)
    assert grow_region(probs, labels, np.array([[6, 6, 4]]), 1, RULE).sum() <= 1
    relative = grow_region(probs, labels, np.array([[6, 6, 4]]), 1, GrowRule(margin=2.0, reach=20.0, relative=1.0))
    expected = np.zeros(SHAPE, bool)
    expected[BLOB] = True
    np.testing.assert_array_equal(relative, expected)


LIKELIHOOD = GrowRule(margin=2.0, reach=20.0, likelihood=1.0, likelihood_reach=25.0, pool_shown=True)


def tissue(seed: int = 0) -> np.ndarray:
    """Two normalised modalities: healthy tissue around 0, the blob around 2.5 in both (noise 0.3)."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.3, (2, *SHAPE)).astype(np.float32)
    images[(slice(None), *BLOB)] += 2.5
    return images


def test_where_the_model_is_sure_and_wrong_a_click_takes_the_tissue_that_looks_like_the_clicked_one() -> None:
    """The per-click classifier: the missed blob looks like the clicked ball and unlike the tissue
    showing background, so it is taken whole though the model calls it background with certainty."""
    probs = probabilities()  # background everywhere, confidently
    labels = np.zeros(SHAPE, np.uint8)
    images = tissue()
    click = np.array([[6, 6, 4]])
    assert grow_region(probs, labels, click, 2, RULE, images=images).sum() <= 1
    grown = grow_region(probs, labels, click, 2, LIKELIHOOD, images=images)
    expected = np.zeros(SHAPE, bool)
    expected[BLOB] = True
    assert grown[BLOB].mean() > 0.95 and not (grown & ~expected).any()
    # Without images (or when healthy tissue is too scarce to learn from) the route adds nothing.
    assert grow_region(probs, labels, click, 2, LIKELIHOOD).sum() <= 1
    assert grow_region(probs, labels, click, 2, GrowRule(margin=2.0, reach=20.0, likelihood=1.0, likelihood_reach=2.0),
                       images=images).sum() <= 1


def test_fill_takes_what_the_grown_piece_encloses() -> None:
    probs = probabilities(blob=(BLOB, {2: 0.4}))
    probs[(slice(None), 6, 6, 4)] = [0.999, 0.0, 0.001, 0.0]  # one voxel inside the blob the model is sure about
    labels = np.zeros(SHAPE, np.uint8)
    click = np.array([[5, 5, 3]])
    porous = grow_region(probs, labels, click, 2, RULE)
    assert porous[BLOB].sum() == porous[BLOB].size - 1 and not porous[6, 6, 4]
    filled = grow_region(probs, labels, click, 2, GrowRule(margin=2.0, reach=20.0, fill=True))
    expected = np.zeros(SHAPE, bool)
    expected[BLOB] = True
    np.testing.assert_array_equal(filled, expected)


def test_a_later_click_does_not_take_back_what_an_earlier_click_of_another_label_grew() -> None:
    probs = probabilities(blob=(BLOB, {2: 0.45}))
    labels = np.zeros(SHAPE, np.uint8)
    labels[BLOB] = 2
    alone = grow_region(probs, labels, np.array([[9, 9, 4]]), 0, RULE)
    assert alone[BLOB].all()
    shared = grow_region(probs, labels, np.array([[9, 9, 4]]), 0, RULE, others=np.array([[4, 4, 4]]))
    assert shared[9, 9, 4] and not shared[4, 4, 4] and not shared[5, 5, 4]  # the earlier click's side stays


def test_engine_grows_with_the_given_probabilities_and_keeps_every_guarantee() -> None:
    imgs = images(3)
    probs = probabilities(blob=(BLOB, {2: 0.4}), other=(OTHER, {2: 0.4}))
    labels = np.zeros(SHAPE, np.uint8)
    locked = np.zeros(SHAPE, bool)
    locked[9, 9, 2] = True
    engine = tiny_engine(grow=RULE)
    engine.set_prior(imgs, probs)
    result = engine.refine(imgs, labels, [Click((6, 6, 4), 2)], locked=locked)
    filled = result.labels[BLOB] == 2
    assert filled.sum() == filled.size - 1 and result.labels[9, 9, 2] == 0  # the blob, less the locked voxel
    plain = tiny_engine(grow=NO_GROWTH).refine(imgs, labels, [Click((6, 6, 4), 2)], locked=locked)
    outside = np.ones(SHAPE, bool)
    outside[BLOB] = False
    np.testing.assert_array_equal(result.labels[outside], plain.labels[outside])  # growing added the blob only
    inside = np.zeros(SHAPE, bool)
    inside[result.bbox] = True
    assert (result.labels[~inside] == labels[~inside]).all()
    assert engine.refine(imgs, labels, []).labels.tolist() == labels.tolist()  # zero guidance: no change
    # Other image arrays (another patient): the probabilities are not theirs, the engine answers as if never given.
    never = tiny_engine(grow=RULE).refine(imgs, labels, [Click((6, 6, 4), 2)], locked=locked)
    assert not np.array_equal(never.labels, result.labels)
    other_images = {m: a.copy() for m, a in imgs.items()}
    without = engine.refine(other_images, labels, [Click((6, 6, 4), 2)], locked=locked)
    np.testing.assert_array_equal(without.labels, never.labels)
    engine.set_prior(imgs, None)
    forgotten = engine.refine(imgs, labels, [Click((6, 6, 4), 2)], locked=locked)
    np.testing.assert_array_equal(forgotten.labels, never.labels)


def test_without_probabilities_a_click_grows_with_the_networks_own_in_its_window() -> None:
    imgs = images(10)
    imgs["flair"][1:19, 1:19, 2:7] = 400.0  # one big bright lesion the 'network' is sure is enhancing
    labels = np.zeros(SHAPE, np.uint8)
    model = LoadedModel(FlairThreshold(), tiny_metadata({**AUTO_ARCH, "in_channels": 19}, True))
    grown = ClickEngine(model, reach=5.0, grow=RULE).refine(imgs, labels, [Click((2, 2, 4), 3)])
    assert (grown.labels[1:16, 1:16, 2:7] == 3).all()  # the whole lesion inside the network's 16 x 16 window
    assert (grown.labels[:, :, 7:] == 0).all() and (grown.labels[0] == 0).all()  # dark voxels: not plausible
    plain = ClickEngine(model, reach=5.0, grow=NO_GROWTH).refine(imgs, labels, [Click((2, 2, 4), 3)])
    assert (plain.labels[10:, 10:] == 0).all()


def test_with_its_own_whole_volume_probabilities_a_click_grows_beyond_its_window() -> None:
    imgs = images(10)
    imgs["flair"][2:18, 2:18, 1:8] = 400.0  # deeper than the network's window (the clicked slice +- 2)
    labels = np.zeros(SHAPE, np.uint8)
    model = LoadedModel(FlairThreshold(), tiny_metadata({**AUTO_ARCH, "in_channels": 19}, True))
    engine = ClickEngine(model, reach=5.0, grow=RULE)
    engine.own_prior(imgs)
    grown = engine.refine(imgs, labels, [Click((9, 9, 4), 3)])
    assert (grown.labels[2:18, 2:18, 1:8] == 3).all()  # the whole lesion
    assert (grown.labels[:, :, [0, 8]] == 0).all() and (grown.labels[:2] == 0).all()  # dark voxels: not plausible
    window_only = ClickEngine(model, reach=5.0, grow=RULE).refine(imgs, labels, [Click((9, 9, 4), 3)])
    assert (window_only.labels[2:18, 2:18, 2:7] == 3).all() and (window_only.labels[:, :, [1, 7]] == 0).all()


def test_growth_rules_read_and_write_the_grid_notation() -> None:
    rule = GrowRule.parse("m2r20d1j0.75")
    assert rule == GrowRule(margin=2.0, reach=20.0, relative=1.0, relative_intensity=0.75)
    assert rule.notation() == "m2r20d1j0.75" and GrowRule.parse("none") == NO_GROWTH and NO_GROWTH.notation() == "none"
    assert GrowRule.parse("m1.5r15i1s0.3").intensity == 1.0
    shipped = GrowRule.parse("m2r20d1j0.75g1R25o1Pf")
    assert shipped == GrowRule(margin=2.0, reach=20.0, relative=1.0, relative_intensity=0.75, likelihood=1.0,
                               likelihood_reach=25.0, likelihood_smooth=1.0, pool_shown=True, fill=True)
    assert shipped.notation() == "m2r20d1j0.75g1R25o1Pf" and shipped.box_reach == 25.0 and shipped.uses_images
    import pytest

    with pytest.raises(ValueError, match="not a growth setting"):
        GrowRule.parse("grow a lot")
