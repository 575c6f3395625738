"""Test-time augmentation and the probabilities kept with a prediction (models.tta, models.runtime)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brats_desktop.core.patient import patient_from_arrays
from models.inference import predict_volume
from models.runtime import predict_patient
from models.tta import predict_ensemble, predict_with_tta, resolve_tta
from tests.inference_support import synthetic_arrays, tiny_model


def mirror_symmetric(images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The images made exactly left-right symmetric (axis 0 is the patient's right-left axis)."""
    return {m: ((v + v[::-1]) / 2).astype(np.float32) for m, v in images.items()}


def make_mirror_equivariant(model) -> None:
    """Symmetrise every kernel left-right: the network then commutes with a left-right mirror."""
    with torch.no_grad():
        for module in model.network.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.weight.copy_((module.weight + module.weight.flip(-2)) / 2)


@pytest.fixture()
def model(tmp_path):
    return tiny_model(tmp_path)


def test_no_tta_gives_predict_volume_labels_and_their_probabilities(model):
    images, _ = synthetic_arrays()
    plain = predict_volume(model, images, batch_size=5)
    pred = predict_with_tta(model, images, tta="none", batch_size=5)
    assert pred.tta == "none"
    np.testing.assert_array_equal(pred.labels, plain)
    probs = pred.probabilities
    assert probs.dtype == np.float16 and probs.shape == (4, *plain.shape)
    np.testing.assert_allclose(probs.astype(np.float32).sum(axis=0), 1.0, atol=5e-3)
    assert np.mean(probs.argmax(axis=0) == plain) > 0.999  # float16 rounding may flip near-ties only
    assert probs[1:].max() > 0.3  # the random model does put tumour somewhere


def test_flip_tta_equals_plain_prediction_on_a_symmetric_input(model):
    images = mirror_symmetric(synthetic_arrays()[0])
    make_mirror_equivariant(model)
    plain = predict_with_tta(model, images, tta="none", batch_size=4)
    flipped = predict_with_tta(model, images, tta="flip", batch_size=4)
    assert flipped.tta == "flip"
    np.testing.assert_array_equal(flipped.labels, plain.labels)
    np.testing.assert_allclose(flipped.probabilities.astype(np.float32),
                               plain.probabilities.astype(np.float32), atol=2e-3)


def test_flip_tta_averages_with_the_mirror_image(model):
    """A generic network is not mirror-symmetric; the mean with its mirrored pass is, on a symmetric input."""
    images = mirror_symmetric(synthetic_arrays()[0])
    plain = predict_with_tta(model, images, tta="none", batch_size=4).probabilities.astype(np.float32)
    tta = predict_with_tta(model, images, tta="flip", batch_size=4).probabilities.astype(np.float32)
    assert np.abs(plain - plain[:, ::-1]).max() > 0.05  # the plain pass is lopsided
    np.testing.assert_allclose(tta, tta[:, ::-1], atol=2e-3)  # the average is not
    np.testing.assert_allclose(tta.sum(axis=0), 1.0, atol=5e-3)


def test_predict_patient_keeps_probabilities_and_reports_the_mode(model):
    images, labels = synthetic_arrays()
    patient = patient_from_arrays("tta", images, labels)
    run = predict_patient(model, patient, tta="flip", batch_size=8)
    assert run.tta == "flip"
    assert run.probabilities is not None and run.probabilities.shape == (4, *patient.shape)
    assert run.raw_labels is not None
    assert np.mean(run.probabilities.argmax(axis=0) == run.raw_labels) > 0.999
    auto = predict_patient(model, patient, batch_size=8, device="cpu")
    assert auto.tta == "none"  # the CPU default (bench: two passes break the 3 s budget)


def test_an_ensemble_of_one_model_twice_is_that_model(model):
    images, _ = synthetic_arrays()
    alone = predict_with_tta(model, images, tta="none", batch_size=5)
    twice = predict_ensemble([model, model], images, batch_size=5)
    np.testing.assert_allclose(twice.probabilities.astype(np.float32), alone.probabilities.astype(np.float32), atol=1e-3)
    assert np.mean(twice.labels == alone.labels) > 0.999  # float16 rounding may flip near-ties only


def test_an_ensemble_averages_a_2d_and_a_25d_member_on_the_patient_grid(tmp_path):
    images, _ = synthetic_arrays()
    members = [tiny_model(tmp_path / "a", seed=1, context=1), tiny_model(tmp_path / "b", seed=2, context=0)]
    assert members[0].network is not members[1].network
    each = [predict_with_tta(m, images, tta="none", batch_size=4).probabilities.astype(np.float32) for m in members]
    assert np.abs(each[0] - each[1]).max() > 0.1  # the members disagree, so the mean is not either one
    seen: list[tuple[int, int]] = []
    pred = predict_ensemble(members, images, batch_size=4, progress=lambda done, total: seen.append((done, total)))
    mean = (each[0] + each[1]) / 2
    np.testing.assert_allclose(pred.probabilities.astype(np.float32), mean, atol=2e-3)
    assert np.mean(pred.labels == mean.argmax(axis=0)) > 0.999
    n = seen[-1][1] // 2
    assert seen[-1] == (2 * n, 2 * n) and all(t == 2 * n for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # progress never goes back between members
    with pytest.raises(ValueError, match="at least one model"):
        predict_ensemble([], images)


def test_resolve_tta_names_the_choices():
    assert resolve_tta("auto", "cpu") == "none"
    assert resolve_tta(None, "cuda") == "flip"
    with pytest.raises(ValueError, match="flip"):
        resolve_tta("rotate", "cpu")
