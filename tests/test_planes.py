"""Models that read coronal or sagittal slices (core.planes): geometry, mirrors and test-time augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brats_desktop.core.planes import PLANES, from_stack_grid, reverse_context, to_stack_grid
from brats_desktop.core.preprocessing import PreprocessingSpec, prepare_stack
from models.inference import predict_probabilities, predict_volume
from models.tta import predict_with_tta
from tests.inference_support import synthetic_arrays, tiny_model
from training.augment import augment_batch
from training.configs import AugmentConfig


@pytest.mark.parametrize("plane", list(PLANES))
def test_labels_survive_the_round_trip_through_every_plane(plane):
    images, labels = synthetic_arrays()
    stack = prepare_stack(images, ["flair", "t1ce"], PreprocessingSpec(plane=plane, margin=2, size_multiple=8))
    assert stack.data.shape[0] <= stack.grid_shape[2]
    back = stack.to_full(stack.unpad(stack.crop_labels(labels)))
    np.testing.assert_array_equal(back, labels)


def test_a_sagittal_stack_slice_is_the_canonical_sagittal_slice():
    images, _ = synthetic_arrays()
    spec = PreprocessingSpec(plane="sagittal", margin=0, size_multiple=1, context=0)
    stack = prepare_stack(images, ["flair"], spec)
    axial = prepare_stack(images, ["flair"], PreprocessingSpec(margin=0, size_multiple=1, context=0))
    # the same normalised voxel values, read along x instead of z
    x0 = stack.box[2].start + 3
    sag = stack.inputs([3])[0, 0]  # (Y, Z) of the crop
    full_axial = np.zeros(axial.full_shape, np.float32)
    full_axial[axial.box] = axial.data[:, 0].transpose(1, 2, 0)
    bx, by, bz = stack.box
    np.testing.assert_allclose(sag, full_axial[x0, bx, by], atol=1e-6)


@pytest.mark.parametrize("plane", list(PLANES))
def test_probabilities_of_any_plane_come_back_on_the_canonical_grid(tmp_path, plane):
    images, _ = synthetic_arrays()
    model = tiny_model(tmp_path, plane=plane)
    probs = predict_probabilities(model, images, batch_size=6)
    labels = predict_volume(model, images, batch_size=6)
    assert probs.shape == (4, *labels.shape)
    assert np.mean(probs.argmax(axis=0) == labels) > 0.999
    assert probs[1:].max() > 0.3


@pytest.mark.parametrize("plane", list(PLANES))
def test_flip_tta_of_every_plane_averages_with_the_left_right_mirror(tmp_path, plane):
    """The mirror is anatomical: in a sagittal model it is the slice order, not an image flip.

    On a left-right symmetric patient a generic network's single pass is lopsided and
    the mean with the mirrored pass is symmetric; an image flip of a sagittal slice
    (anterior-posterior) would leave it lopsided.
    """
    images = {m: ((v + v[::-1]) / 2).astype(np.float32) for m, v in synthetic_arrays()[0].items()}
    model = tiny_model(tmp_path, plane=plane, seed=3)
    plain = predict_with_tta(model, images, tta="none", batch_size=5).probabilities.astype(np.float32)
    tta = predict_with_tta(model, images, tta="flip", batch_size=5).probabilities.astype(np.float32)
    assert np.abs(plain - plain[:, ::-1]).max() > 0.05
    np.testing.assert_allclose(tta, tta[:, ::-1], atol=3e-3)
    np.testing.assert_allclose(tta.sum(axis=0), 1.0, atol=5e-3)


def test_stack_grid_round_trip_keeps_leading_axes():
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    for plane in PLANES:
        grid = np.stack([to_stack_grid(v, plane) for v in a])
        np.testing.assert_array_equal(from_stack_grid(grid, plane), a)


def test_reverse_context_reverses_each_modality_separately():
    x = np.arange(6)[None, :, None, None] * np.ones((1, 6, 2, 2))  # 2 modalities x 3 slices
    out = reverse_context(x, 3)
    assert list(out[0, :, 0, 0]) == [2, 1, 0, 5, 4, 3]
    t = reverse_context(torch.from_numpy(x), 3)
    assert list(t[0, :, 0, 0].tolist()) == [2, 1, 0, 5, 4, 3]


def test_a_sagittal_left_right_flip_reverses_the_context_and_leaves_the_target():
    cfg = AugmentConfig(flip_lr=1.0, flip_ap=0.0, affine=0.0, intensity=0.0, gamma=0.0, noise=0.0, blur=0.0)
    x = torch.arange(6, dtype=torch.float32)[None, :, None, None].expand(2, 6, 4, 4).clone()
    x += torch.arange(4, dtype=torch.float32)[None, None, :, None]  # not symmetric in-plane
    y = torch.zeros(2, 4, 4, dtype=torch.long)
    y[:, 0, 1] = 2
    g = torch.Generator().manual_seed(0)
    xs, ys = augment_batch(x, y, cfg, 3, g, plane="sagittal")
    torch.testing.assert_close(xs, reverse_context(x, 3))
    torch.testing.assert_close(ys, y)
    xa, ya = augment_batch(x, y, cfg, 3, torch.Generator().manual_seed(0), plane="axial")
    torch.testing.assert_close(xa, x.flip(-2))
    torch.testing.assert_close(ya, y.flip(-2))
