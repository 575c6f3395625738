"""Training and inference with sequences missing (modality dropout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brats_desktop.core.preprocessing import PreprocessingSpec, prepare_stack
from models.inference import MissingModalityError, predict_volume
from tests.inference_support import synthetic_arrays, tiny_model
from training.augment import drop_modalities


def test_dropout_keeps_at_least_one_sequence_with_signal_and_zeroes_whole_sequences():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 9, 8, 8) + 0.1  # 3 sequences x 3 context slices
    x[:8, 6:9] = 0  # these samples lack the third sequence already
    out = drop_modalities(x.clone(), 1.0, 3, g)
    groups = out.view(64, 3, 3, 8, 8)
    present = (groups != 0).flatten(2).any(dim=2)
    assert present.any(dim=1).all()  # never all zeros
    for i in range(64):  # a sequence is either untouched or entirely zero
        for j in range(3):
            kept = torch.equal(groups[i, j], x.view(64, 3, 3, 8, 8)[i, j])
            assert kept or not groups[i, j].any()
    assert (~present).sum() > 30  # p = 1: most samples lost something
    assert not present[:8, 2].any()
    untouched = drop_modalities(x.clone(), 0.0, 3, g)
    torch.testing.assert_close(untouched, x)


def test_a_missing_sequence_is_zeros_for_a_model_that_accepts_it():
    images, _ = synthetic_arrays()
    spec = PreprocessingSpec(margin=2, size_multiple=2)
    full = prepare_stack(images, ["flair", "t1ce"], spec)
    partial = prepare_stack({"flair": images["flair"]}, ["flair", "t1ce"], spec, allow_missing=True)
    assert partial.data.shape[1] == 2 and not partial.data[:, 1].any() and partial.data[:, 0].any()
    assert full.data[:, 1].any()
    with pytest.raises(KeyError, match="t1ce"):
        prepare_stack({"flair": images["flair"]}, ["flair", "t1ce"], spec)
    with pytest.raises(KeyError):
        prepare_stack({}, ["flair", "t1ce"], spec, allow_missing=True)


def test_only_a_dropout_model_segments_a_study_lacking_a_sequence(tmp_path):
    images, _ = synthetic_arrays()
    flair_only = {"flair": images["flair"]}
    plain = tiny_model(tmp_path / "plain")
    with pytest.raises(MissingModalityError, match="T1CE"):
        predict_volume(plain, flair_only)
    robust = tiny_model(tmp_path / "robust")
    robust.metadata["optional_modalities"] = True
    labels = predict_volume(robust, flair_only, batch_size=8)
    assert labels.shape == images["flair"].shape
    with pytest.raises(MissingModalityError):
        predict_volume(robust, {"t2": images["flair"]})
