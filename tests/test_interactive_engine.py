"""The click model's guidance, warm start, engine guarantees and model file, on tiny volumes and networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from brats_desktop.interactive import Click, Scribble
from brats_desktop.interactive import guidance as G
from brats_desktop.interactive.engine import ClickEngine, bundled_click_model_path
from brats_desktop.interactive.grow import NO_GROWTH
from brats_desktop.interactive.network import assemble_inputs, warm_start
from models.checkpoint import LoadedModel, load_model, save_model
from tests.interactive_support import AUTO_ARCH, SHAPE, images, tiny_auto, tiny_click_model, tiny_engine, tiny_metadata

torch.set_num_threads(1)


class FlairThreshold(nn.Module):
    """Enhancing where the centre FLAIR channel is bright, else background: a predictable 'network'.

    Confident both ways (enhancing is far from plausible on dark voxels), as a trained model
    is away from a lesion: a click grows only where its class is plausible.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 4, *x.shape[-2:])
        logits[:, 0] = 0.5
        logits[:, 3] = torch.where(x[:, 1] > 1.0, 5.0, -5.0)
        return logits


def threshold_engine(local: bool = True) -> ClickEngine:
    meta = tiny_metadata({**AUTO_ARCH, "in_channels": 19}, True)
    return ClickEngine(LoadedModel(FlairThreshold(), meta), local=local)


# ---------------------------------------------------------------------------- guidance


def test_click_is_drawn_on_neighbouring_slices_and_later_guidance_wins() -> None:
    g = G.rasterise([Click((5, 5, 4), 2)], (0, 0, 0), SHAPE)
    assert g[2, 5, 5, 4] == 1 and g[2, 5, 5, 2] == 1 and g[2, 5, 5, 6] == 1  # seen on z +- 2
    assert g[2, 5, 8, 4] == 1 and g[2, 5, 9, 4] == 0  # radius 3 in-plane
    assert g[[0, 1, 3]].sum() == 0
    g = G.rasterise([Click((5, 5, 4), 2), Click((5, 6, 4), 0)], (0, 0, 0), SHAPE)
    assert g[0, 5, 6, 4] == 1 and g[2, 5, 6, 4] == 0  # the later, background click took the overlap
    assert g[2, 5, 2, 4] == 1  # the far side of the first click is still edema
    s = G.rasterise([Scribble(((2, 2, 4), (3, 2, 4), (4, 2, 4)), 3)], (1, 1, 3), (10, 10, 3))
    assert s[3, 1, 1, 1] == 1 and s[3, 3, 1, 1] == 1 and s[3, 1, 1, 0] == 1  # shifted by the origin, thick


def test_guidance_refuses_bad_labels() -> None:
    with pytest.raises(ValueError):
        Click((1, 2, 3), 4)
    with pytest.raises(ValueError):
        Scribble((), 1)


# ---------------------------------------------------------------------------- warm start


def test_warm_start_with_any_labels_and_guidance_equals_the_automatic_model() -> None:
    auto = tiny_auto()
    net, arch = warm_start(auto)
    assert arch["in_channels"] == 19 and arch["prior_channels"] == [6, 19]
    rng = np.random.default_rng(1)
    img = rng.normal(size=(2, 16, 16, 7)).astype(np.float32)
    labels = rng.integers(0, 4, size=(16, 16, 7)).astype(np.uint8)
    guid = G.rasterise([Click((8, 8, 3), 3), Click((2, 3, 2), 0)], (0, 0, 0), labels.shape)
    x = torch.from_numpy(assemble_inputs(img, labels, guid, np.arange(1, 6)))
    with torch.no_grad():
        expected = auto.network(x[:, :6])
        got = net(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_inputs_hold_images_labels_and_guidance_of_the_right_slices() -> None:
    img = np.zeros((2, 4, 4, 5), np.float32)
    img[0, :, :, 2] = 7.0  # FLAIR slice 2
    labels = np.zeros((4, 4, 5), np.uint8)
    labels[1, 1, 3] = 2
    guid = np.zeros((4, 4, 4, 5), np.float32)
    guid[3, 2, 2, 2] = 1
    x = assemble_inputs(img, labels, guid, [2])
    assert x.shape == (1, 19, 4, 4)
    assert x[0, 1, 0, 0] == 7.0 and x[0, 0, 0, 0] == 0  # FLAIR z-1, z, z+1 then T1CE
    assert x[0, 6 + 3 + 2, 1, 1] == 1  # edema at z+1: class-major prev-seg block, third slot
    assert x[0, 15 + 3, 2, 2] == 1  # the ET guidance channel at z


# ---------------------------------------------------------------------------- engine guarantees


def test_empty_guidance_changes_nothing() -> None:
    labels = np.random.default_rng(0).integers(0, 4, SHAPE).astype(np.uint8)
    result = ClickEngine(tiny_click_model()).refine(images(), labels, [])
    np.testing.assert_array_equal(result.labels, labels)
    assert result.labels is not labels
    assert all(s.stop - s.start == 0 for s in result.bbox)


def test_warm_started_engine_answers_as_the_automatic_model_around_a_click() -> None:
    """Untrained, the click model re-predicts the window exactly as the automatic model did."""
    from models.inference import predict_volume

    auto, click = tiny_auto(3), tiny_click_model(3)
    imgs = images(2)
    auto_labels = predict_volume(auto, imgs)
    v = (10, 10, 4)
    result = ClickEngine(click, local=False).refine(imgs, auto_labels, [Click(v, int(auto_labels[v]))])
    np.testing.assert_array_equal(result.labels, auto_labels)


def test_click_sets_its_voxel_and_nothing_changes_outside_the_bbox() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, SHAPE).astype(np.uint8)
    labels[12, 7, 5] = 0
    engine = ClickEngine(tiny_click_model(5), local=False)
    result = engine.refine(images(), labels, [Click((12, 7, 5), 3)])
    assert result.labels[12, 7, 5] == 3
    outside = np.ones(SHAPE, bool)
    outside[result.bbox] = False
    np.testing.assert_array_equal(result.labels[outside], labels[outside])
    assert result.bbox[2] == slice(3, 8)  # the clicked slice +- 2 (the model file's setting)
    assert labels[12, 7, 5] == 0  # the input is not modified


def test_scribble_voxels_all_get_the_label() -> None:
    labels = np.zeros(SHAPE, np.uint8)
    path = tuple((x, 9, 4) for x in range(3, 15))
    result = ClickEngine(tiny_click_model()).refine(images(), labels, [Scribble(path, 2)])
    assert all(result.labels[v] == 2 for v in path)


def test_changes_stay_connected_to_the_click() -> None:
    """Two bright blobs: a click in one turns it enhancing; the other is left alone unless locality is off."""
    imgs = images(7)
    imgs["flair"][2:6, 2:6, 2:7] = 400.0
    imgs["flair"][14:18, 14:18, 2:7] = 400.0
    labels = np.zeros(SHAPE, np.uint8)
    local = threshold_engine(local=True).refine(imgs, labels, [Click((3, 3, 4), 3)])
    assert (local.labels[2:6, 2:6, 2:7] == 3).all()
    assert (local.labels[14:18, 14:18] == 0).all()
    everywhere = threshold_engine(local=False).refine(imgs, labels, [Click((3, 3, 4), 3)])
    assert (everywhere.labels[14:18, 14:18, 2:7] == 3).all()


def test_locked_voxels_keep_their_label_unless_clicked() -> None:
    imgs = images(8)
    imgs["flair"][2:10, 2:10, 2:7] = 400.0
    labels = np.zeros(SHAPE, np.uint8)
    labels[4:6, 4:6, 4] = 1  # hand-painted necrosis
    locked = labels > 0
    result = threshold_engine().refine(imgs, labels, [Click((3, 3, 4), 3)], locked=locked)
    assert (result.labels[4:6, 4:6, 4] == 1).all()
    assert result.labels[7, 7, 4] == 3
    clicked = threshold_engine().refine(imgs, labels, [Click((4, 4, 4), 3)], locked=locked)
    assert clicked.labels[4, 4, 4] == 3 and clicked.labels[5, 5, 4] == 1


# ---------------------------------------------------------------------------- model files


def test_click_model_file_round_trips_through_the_safe_loader(tmp_path) -> None:
    model = tiny_click_model(6)
    path = save_model(tmp_path / "click.pt", model.network, model.metadata)
    engine = ClickEngine.from_file(path)
    labels = np.zeros(SHAPE, np.uint8)
    a = engine.refine(images(), labels, [Click((9, 9, 4), 2)])
    b = ClickEngine(model).refine(images(), labels, [Click((9, 9, 4), 2)])
    np.testing.assert_array_equal(a.labels, b.labels)


def test_a_segmentation_model_is_refused_as_click_model() -> None:
    with pytest.raises(ValueError, match="not a click model"):
        ClickEngine(tiny_auto())


def test_bundled_click_model_loads_weights_only_and_is_small() -> None:
    path = bundled_click_model_path()
    assert path.stat().st_size <= 20 * 1024 * 1024
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == "brats-desktop-model"
    engine = ClickEngine.bundled()
    assert engine.modalities == ["flair", "t1ce"]
    assert load_model(path).metadata["interactive"]["format"] == 1


def test_clicks_merged_while_busy_are_all_refined() -> None:
    """The second call adds two clicks at once: the window covers both, not only the last."""
    imgs = images(9)
    imgs["flair"][2:6, 2:6, 2:7] = 400.0
    imgs["flair"][14:18, 14:18, 2:7] = 400.0
    labels = np.zeros(SHAPE, np.uint8)
    engine = threshold_engine()
    first = Click((10, 10, 4), 0)
    engine.refine(imgs, labels, [first])
    result = engine.refine(imgs, labels, [first, Click((3, 3, 4), 3), Click((15, 15, 4), 3)])
    assert (result.labels[2:6, 2:6, 2:7] == 3).all() and (result.labels[14:18, 14:18, 2:7] == 3).all()
    only_last = threshold_engine().refine(imgs, labels, [first, Click((3, 3, 4), 3), Click((15, 15, 4), 3)])
    assert (only_last.labels[2:6, 2:6, 3] == 0).any()  # a fresh engine re-runs around the last click only


def test_a_keep_prior_never_changes_the_automatic_models_own_answer() -> None:
    """Trained click models start with a shortcut favouring the shown labels: on the automatic answer itself
    (and no guidance) the argmax is the automatic model's."""
    auto = tiny_auto(2)
    net, _ = warm_start(auto, keep=4.0, follow=4.0)
    rng = np.random.default_rng(3)
    img = rng.normal(size=(2, 16, 16, 7)).astype(np.float32)
    guid = np.zeros((4, 16, 16, 7), np.float32)
    zeros = np.zeros((16, 16, 7), np.uint8)
    x0 = torch.from_numpy(assemble_inputs(img, zeros, guid, np.arange(7)))
    with torch.no_grad():
        auto_labels = auto.network(x0[:, :6]).argmax(1).numpy().transpose(1, 2, 0).astype(np.uint8)
        x = torch.from_numpy(assemble_inputs(img, auto_labels, guid, np.arange(7)))
        kept = net(x).argmax(1).numpy().transpose(1, 2, 0)
    assert auto_labels.any() and (kept == auto_labels).all()


def test_changes_stay_within_reach_of_the_click() -> None:
    imgs = images(10)
    imgs["flair"][1:19, 1:19, 2:7] = 400.0  # one big bright lesion
    labels = np.zeros(SHAPE, np.uint8)
    # The network's changes (growing over the lesion is the growth rule's, tested with it).
    reach = ClickEngine(threshold_engine().model, reach=5.0, grow=NO_GROWTH).refine(imgs, labels, [Click((2, 2, 4), 3)])
    assert reach.labels[4, 4, 4] == 3 and reach.labels[2, 2, 2] == 3  # 2.8 and 2 voxels away
    assert (reach.labels[10:, 10:] == 0).all()  # beyond 5 voxels nothing moved
    unlimited = ClickEngine(threshold_engine().model, reach=None, grow=NO_GROWTH).refine(imgs, labels, [Click((2, 2, 4), 3)])
    assert (unlimited.labels[10:16, 10:16, 2:7] == 3).all()


def test_prepare_caches_the_normalisation_and_changes_no_answer() -> None:
    imgs, labels = images(11), np.zeros(SHAPE, np.uint8)
    prepared = ClickEngine(tiny_click_model(4))
    prepared.prepare(imgs)
    cached = prepared._cache
    a = prepared.refine(imgs, labels, [Click((9, 9, 4), 3)])
    assert prepared._cache is cached  # the click reused it
    b = ClickEngine(tiny_click_model(4)).refine(imgs, labels, [Click((9, 9, 4), 3)])
    np.testing.assert_array_equal(a.labels, b.labels)


def test_own_prior_is_the_automatic_models_probabilities_computed_once_per_scan() -> None:
    """Without a Segment run the engine's own whole-volume probabilities stand in for the automatic model's."""
    from models.inference import predict_probabilities

    imgs = images(2)
    for a in imgs.values():
        a[:3] = 0  # outside the brain: the automatic model crops it off and calls it background
    expected = predict_probabilities(tiny_auto(3), imgs)
    engine = ClickEngine(tiny_click_model(3))
    assert not engine.prior_ready(imgs)
    own = engine.own_prior(imgs)
    assert own.shape == expected.shape and engine.prior_ready(imgs)
    np.testing.assert_allclose(own.astype(np.float32), expected, atol=2e-3)
    assert (own[0, :3] == 1).all()
    assert engine.own_prior(imgs) is own  # kept for these arrays
    other = {m: a.copy() for m, a in imgs.items()}
    assert not engine.prior_ready(other)  # another scan's are not these
    given = expected.copy()
    engine.set_prior(imgs, given)  # a Segment run's probabilities replace them
    assert engine.own_prior(imgs) is given


def _ring_answer(shape: tuple[int, int, int]) -> np.ndarray:
    """An enhancing ring around (10, 10) with label 1 inside it and, further out, label 1 outside it."""
    x, y = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(x - 10, y - 10)
    plane = np.zeros(shape[:2], np.uint8)
    plane[(r >= 5.5) & (r <= 7.5)] = 1  # outside the rim: edema in the BraTS 2021 meaning
    plane[(r >= 3) & (r < 4.5)] = 3
    plane[r < 3] = 1  # inside the rim: necrosis in both meanings
    return np.repeat(plane[:, :, None], shape[2], axis=2)


@pytest.mark.parametrize("meaning, outside", [(None, 1), ("brats2013", 1), ("brats2021", 2)])
def test_answers_take_the_corrected_maps_meaning_of_label_1(monkeypatch, meaning, outside) -> None:
    """A map in the 2021 meaning gets the network's label 1 outside the enhancing rim as edema, as its
    automatic prediction did; otherwise a click near the rim would turn that edema back into label 1."""
    engine = tiny_engine(local=False, reach=None, ncr_definition=meaning)
    answer = _ring_answer(SHAPE)
    monkeypatch.setattr(engine, "_predict", lambda norm, labels, guidance, box, probabilities=False: (answer[box].copy(), None))
    result = engine.refine(images(), np.zeros(SHAPE, np.uint8), [Click((10, 13, 4), 3)])
    assert result.labels[10, 10, 4] == 1  # necrosis inside the rim stays necrosis
    assert result.labels[10, 13, 4] == 3  # the ring (and the clicked voxel) enhancing
    assert result.labels[10, 16, 4] == outside


def test_a_label_1_click_keeps_the_networks_label_1_in_the_2021_meaning(monkeypatch) -> None:
    """Clicking label 1 says where label 1 is: the answer around it is not turned into edema."""
    engine = tiny_engine(local=False, reach=None, ncr_definition="brats2021")
    answer = _ring_answer(SHAPE)
    monkeypatch.setattr(engine, "_predict", lambda norm, labels, guidance, box, probabilities=False: (answer[box].copy(), None))
    result = engine.refine(images(), np.zeros(SHAPE, np.uint8), [Click((10, 16, 4), 1)])
    assert result.labels[10, 16, 4] == 1 and result.labels[16, 10, 4] == 1


def test_a_window_runs_on_one_cpu_thread_and_the_callers_setting_comes_back() -> None:
    """Two threads on a window this small only wait for each other on a busy machine; the
    caller's (and another thread's, e.g. a Segment run's) thread count must not change."""
    from brats_desktop.interactive.engine import _thread_local_count

    if not _thread_local_count():
        pytest.skip("torch's thread count is process-wide here (not the OpenMP backend): left alone")
    engine = threshold_engine()
    net = engine._net()
    seen: list[int] = []
    forward = net.forward
    net.forward = lambda x: (seen.append(torch.get_num_threads()), forward(x))[1]  # type: ignore[method-assign]
    labels = np.zeros(SHAPE, np.uint8)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = engine.refine(images(), labels, [Click((9, 9, 4), 3)])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
    assert result.labels[9, 9, 4] == 3
