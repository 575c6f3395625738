"""models.inference.predict_volume on tiny volumes: shape, exact geometry, progress, cancel, missing modalities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from brats_desktop.core.preprocessing import PreprocessingSpec, brain_mask, zscore
from models.checkpoint import LoadedModel
from models.inference import (
    InferenceCancelled,
    MissingModalityError,
    predict_probabilities,
    predict_volume,
)
from models.unet import build_network

torch.set_num_threads(1)
SHAPE = (30, 26, 11)


def _images(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for m in ("t1", "flair", "t1ce"):
        v = np.zeros(SHAPE, np.float32)
        v[5:24, 4:21, 1:10] = rng.normal(200, 40, size=(19, 17, 9))
        out[m] = v
    return out


def _model(spec: PreprocessingSpec, network: nn.Module | None = None) -> LoadedModel:
    arch = {"type": "unet2d", "in_channels": spec.in_channels(2), "num_classes": 4, "base_width": 4, "depth": 3,
            "dropout": 0.0, "batch_norm": True, "up_mode": "transpose"}
    torch.manual_seed(0)
    net = network if network is not None else build_network(arch).eval()
    meta = {"name": "tiny", "modalities": ["flair", "t1ce"], "classes": {}, "label_convention": "internal",
            "preprocessing": spec.to_dict(), "architecture": arch}
    return LoadedModel(net, meta)


class CentreThreshold(nn.Module):
    """Class 1 where the centre FLAIR channel is > 0, class 3 where it is > 1, else background."""

    def __init__(self, centre: int) -> None:
        super().__init__()
        self.centre = centre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x[:, self.centre]
        logits = torch.zeros(x.shape[0], 4, *x.shape[-2:])
        logits[:, 1] = (c > 0).float() * 2
        logits[:, 3] = (c > 1).float() * 4
        return logits


SPEC = PreprocessingSpec(margin=1, context=1, size_multiple=4)


def test_output_is_uint8_labels_on_the_full_grid_for_every_slice() -> None:
    labels = predict_volume(_model(SPEC), _images(), batch_size=4)
    assert labels.shape == SHAPE and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2, 3}
    assert not labels[:4].any() and not labels[25:].any()  # outside the brain box (+margin): background


def test_prediction_lands_exactly_on_the_patient_grid() -> None:
    images = _images()
    labels = predict_volume(_model(SPEC, CentreThreshold(centre=1)), images, batch_size=3)
    z = zscore(images["flair"], brain_mask([images["flair"], images["t1ce"]]))
    expected = np.where(z > 1, 3, np.where(z > 0, 1, 0)).astype(np.uint8)
    assert np.array_equal(labels, expected)


def test_resized_model_also_returns_the_full_grid() -> None:
    spec = PreprocessingSpec(normalisation="max_volume", crop="full", margin=0, resize=(16, 16), context=0)
    labels = predict_volume(_model(spec), _images(), batch_size=5)
    assert labels.shape == SHAPE and labels.dtype == np.uint8


def test_progress_is_monotonic_and_ends_at_total() -> None:
    calls: list[tuple[int, int]] = []
    predict_volume(_model(SPEC), _images(), batch_size=4, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    totals = {t for _, t in calls}
    assert len(totals) == 1 and len(calls) >= 2
    assert done == sorted(done) and len(set(done)) == len(done)
    assert done[-1] == totals.pop()


def test_should_stop_cancels_between_batches() -> None:
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) >= 2

    progress: list[int] = []
    with pytest.raises(InferenceCancelled):
        predict_volume(_model(SPEC), _images(), batch_size=2, progress=lambda d, t: progress.append(d), should_stop=stop)
    assert progress == [2]  # one batch ran, then the poll stopped it


def test_missing_modalities_are_named_before_any_work() -> None:
    images = {"t1": _images()["t1"]}
    calls = []
    with pytest.raises(MissingModalityError) as info:
        predict_volume(_model(SPEC), images, progress=lambda d, t: calls.append(d))
    assert info.value.missing == ["flair", "t1ce"]
    assert "FLAIR" in str(info.value) and "T1CE" in str(info.value)
    assert calls == []


def test_probabilities_sum_to_one_and_agree_with_labels() -> None:
    model = _model(SPEC)
    probs = predict_probabilities(model, _images(), batch_size=4)
    assert probs.shape == (4, *SHAPE) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    labels = predict_volume(model, _images(), batch_size=4)
    assert (probs.argmax(axis=0) == labels).mean() > 0.999
