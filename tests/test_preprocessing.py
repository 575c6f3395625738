"""brats_desktop.core.preprocessing: masks, normalisation, crop, 2.5-D context and the exact way back."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from brats_desktop.core.preprocessing import (
    PreprocessingSpec,
    background_value,
    bounding_box,
    brain_mask,
    prepare_stack,
    resize_labels,
    zscore,
)


def _brain_volumes(shape=(40, 36, 14), seed=0, background=0.0):
    """Two modalities with a box-shaped 'brain' of random intensities on a constant background."""
    rng = np.random.default_rng(seed)
    vols = {}
    for i, m in enumerate(("flair", "t1ce")):
        v = np.full(shape, background, dtype=np.float32)
        v[6:31, 5:27, 2:12] = rng.normal(100 + 50 * i, 20, size=(25, 22, 10)).astype(np.float32)
        vols[m] = v
    return vols


def test_background_value_is_the_constant_fill_not_zero() -> None:
    vols = _brain_volumes(background=-2.747)
    assert background_value(vols["flair"]) == pytest.approx(-2.747, abs=1e-6)
    mask = brain_mask(vols.values())
    expected = np.zeros(mask.shape, bool)
    expected[6:31, 5:27, 2:12] = True
    assert np.array_equal(mask, expected)


def test_zscore_inside_mask_and_idempotent_on_normalised_data() -> None:
    vols = _brain_volumes()
    mask = brain_mask(vols.values())
    z = zscore(vols["flair"], mask)
    assert z[mask].mean() == pytest.approx(0.0, abs=1e-5)
    assert z[mask].std() == pytest.approx(1.0, abs=1e-4)
    assert np.all(z[~mask] == 0)
    # Already-normalised data (constant non-zero background) comes out the same.
    renorm = np.where(mask, z, np.float32(-3.1)).astype(np.float32)
    z2 = zscore(renorm, brain_mask([renorm]))
    assert np.allclose(z2, z, atol=1e-5)
    assert np.all(zscore(vols["flair"], mask, clip=0.5) <= 0.5)


def test_bounding_box_margin_clipped_and_empty_mask_gives_full_grid() -> None:
    mask = np.zeros((20, 20, 10), bool)
    mask[1:5, 10:12, 4:6] = True
    assert bounding_box(mask, margin=2) == (slice(0, 7), slice(8, 14), slice(2, 8))
    assert bounding_box(np.zeros((4, 5, 6), bool), 3) == (slice(0, 4), slice(0, 5), slice(0, 6))


def test_stack_pads_to_multiple_and_maps_labels_back_exactly() -> None:
    vols = _brain_volumes()
    rng = np.random.default_rng(1)
    labels = np.zeros((40, 36, 14), np.uint8)
    labels[8:29, 7:25, 3:11] = rng.integers(0, 4, size=(21, 18, 8))
    spec = PreprocessingSpec(margin=2, context=1, size_multiple=16)
    stack = prepare_stack(vols, ["flair", "t1ce"], spec)
    assert stack.box == (slice(4, 33), slice(3, 29), slice(0, 14))
    assert stack.data.shape == (14, 2, 32, 32)
    crop = stack.crop_labels(labels)
    assert crop.shape == (14, 32, 32)
    assert np.array_equal(stack.to_full(stack.unpad(crop)), labels)


def test_context_channels_are_modality_major_with_edge_repeat() -> None:
    vols = _brain_volumes()
    spec = PreprocessingSpec(margin=0, context=1, size_multiple=1)
    stack = prepare_stack(vols, ["flair", "t1ce"], spec)
    x = stack.inputs([0, 5])
    assert x.shape == (2, 6, 25, 22)
    d = stack.data  # (Z, M, H, W)
    # slice 0: neighbours (-1 -> 0 repeated, 0, 1); channels flair(-1,0,1), t1ce(-1,0,1)
    assert np.array_equal(x[0, 0], d[0, 0]) and np.array_equal(x[0, 1], d[0, 0]) and np.array_equal(x[0, 2], d[1, 0])
    assert np.array_equal(x[1, 3], d[4, 1]) and np.array_equal(x[1, 4], d[5, 1]) and np.array_equal(x[1, 5], d[6, 1])
    # the centre channel is the z-scored modality on the crop
    mask = brain_mask(vols.values())
    assert np.allclose(x[1, 1], zscore(vols["flair"], mask)[stack.box][:, :, 5])


def test_resized_stack_returns_full_grid_labels() -> None:
    vols = _brain_volumes(shape=(48, 48, 14))
    labels = np.zeros((48, 48, 14), np.uint8)
    labels[10:30, 12:36, 1:5] = 2
    spec = PreprocessingSpec(normalisation="max_volume", crop="full", margin=0, resize=(16, 16), context=0)
    stack = prepare_stack(vols, ["flair", "t1ce"], spec)
    assert stack.data.shape == (14, 2, 16, 16)
    assert 0.5 < float(stack.data.max()) <= 1.0  # divided by the volume max, then smoothed by resizing
    soft = stack.crop_labels(labels, soft=True)
    assert soft.shape == (14, 4, 16, 16)
    assert np.allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    back = stack.to_full(stack.to_crop_labels(soft))
    assert back.shape == labels.shape
    agree = np.count_nonzero((back == 2) & (labels == 2)) * 2 / (np.count_nonzero(back == 2) + np.count_nonzero(labels == 2))
    assert agree > 0.9


def test_resize_labels_nearest_keeps_label_values() -> None:
    labels = np.random.default_rng(0).integers(0, 4, size=(3, 20, 20)).astype(np.uint8)
    out = resize_labels(labels, (10, 10), soft=False)
    assert out.dtype == np.uint8 and out.shape == (3, 10, 10) and set(np.unique(out)) <= {0, 1, 2, 3}


def test_spec_round_trips_through_dict_and_refuses_unknown_keys() -> None:
    spec = PreprocessingSpec(resize=(128, 128), context=2)
    assert PreprocessingSpec.from_dict(spec.to_dict()) == spec
    assert spec.in_channels(2) == 10
    with pytest.raises(ValueError, match="unknown preprocessing key"):
        PreprocessingSpec.from_dict({"normalisation": "zscore_brain", "bogus": 1})
    with pytest.raises(ValueError, match="normalisation"):
        PreprocessingSpec(normalisation="minmax")


def test_missing_modality_and_shape_mismatch_are_refused() -> None:
    vols = _brain_volumes()
    with pytest.raises(KeyError, match="t2"):
        prepare_stack(vols, ["flair", "t2"], PreprocessingSpec())
    vols["t1ce"] = vols["t1ce"][:-1]
    with pytest.raises(ValueError, match="share one shape"):
        prepare_stack(vols, ["flair", "t1ce"], PreprocessingSpec())


def test_preprocessing_imports_neither_torch_nor_qt() -> None:
    code = (
        "import sys, brats_desktop.core.preprocessing; "
        "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
