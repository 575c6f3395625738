"""Model tiers (models.tiers): the choice, the manifest, the three-plane mean, the any-sequence stand-in."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import models.checkpoint as checkpoint
import models.tiers as tiers
from brats_desktop.core.patient import patient_from_arrays
from inference_support import synthetic_arrays, tiny_model
from models.inference import MissingModalityError
from models.runtime import best_bundled_model, predict_patient
from models.tiers import TierError, load_tier, read_manifest, resolve_tier, subset_key
from models.tta import predict_with_tta
from tier_support import any_sequence_model, three_plane_bundle, write_manifest

torch.set_num_threads(1)


def test_tier_choice_follows_the_device_unless_a_flag_names_one():
    assert resolve_tier("auto", "cpu") == "fast"
    assert resolve_tier(None, "mps") == "fast"
    assert resolve_tier("auto", "cuda") == "accurate"
    assert resolve_tier("auto", torch.device("cuda", 1)) == "accurate"
    assert resolve_tier("accurate", "cpu") == "accurate"
    assert resolve_tier("fast", "cuda:0") == "fast"
    assert resolve_tier("FAST", torch.device("cuda")) == "fast"
    with pytest.raises(ValueError, match="fast, accurate"):
        resolve_tier("precise", "cpu")


def test_the_tiers_module_imports_no_torch():
    import subprocess

    code = "import sys, models.tiers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_every_bundled_member_exists_and_loads_with_weights_only():
    specs = read_manifest()
    assert set(specs) >= {"fast", "accurate"}
    for key in ("fast", "accurate"):
        for path in specs[key].paths():
            assert path.is_file(), f"{key}: {path} named in tiers.json is missing"
            payload = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors and containers only
            assert payload["format"] == checkpoint.FORMAT
        tier = load_tier(key)
        assert tier.key == key and tier.members and tier.modalities == ["flair", "t1ce"]
    spare = specs.get("any_sequence")  # optional: its file may not ship yet
    if spare is not None and all(p.is_file() for p in spare.paths()):
        for path in spare.paths():
            torch.load(path, map_location="cpu", weights_only=True)


def test_the_shipped_accurate_tier_is_the_axial_model_with_a_coronal_one():
    """What the folds chose: two orthogonal planes beat one; flip TTA and a sagittal third added nothing."""
    fast, accurate = load_tier("fast"), load_tier("accurate")
    assert fast.tta == "none" and accurate.tta == "none"
    assert fast.label.startswith("Fast (1 model: axial")
    assert accurate.label == "Accurate (2 models: axial + coronal, no TTA)"
    assert accurate.members[0] is not accurate.members[1]
    assert [m.metadata["preprocessing"].get("plane", "axial") for m in accurate.members] == ["axial", "coronal"]


def test_a_three_plane_tier_gives_the_mean_of_its_members(tmp_path):
    models = three_plane_bundle(tmp_path)
    tier = load_tier("accurate", folder=tmp_path)
    assert tier.label == "Accurate (3 models: axial + coronal + sagittal, no TTA)"
    images, labels = synthetic_arrays(seed=4)
    patient = patient_from_arrays("case", images, labels)
    each = [predict_with_tta(m, images, tta="none", batch_size=6).probabilities.astype(np.float32)
            for m in models.values()]
    assert np.abs(each[0] - each[1]).max() > 0.05  # members disagree, so the mean is none of them
    seen: list[tuple[int, int]] = []
    run = predict_patient(tier, patient, device="cpu", batch_size=6, ncr_definition=None,
                          progress=lambda d, t: seen.append((d, t)))
    mean = sum(each) / 3
    np.testing.assert_allclose(run.probabilities.astype(np.float32), mean, atol=2e-3)
    assert np.mean(run.raw_labels == mean.argmax(axis=0)) > 0.999  # float16 rounding may flip near-ties
    assert run.tier == "accurate" and run.model_label == tier.label
    assert [m["file"] for m in run.producer["members"]] == ["axial/tiny.pt", "coronal/tiny.pt", "sagittal/tiny.pt"]
    # Progress over all members (their slice counts differ by plane): never backwards, ends full.
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1][0] == seen[-1][1] and len({t for _, t in seen}) == 1


def test_a_one_member_tier_is_exactly_that_model(tmp_path):
    three_plane_bundle(tmp_path)
    fast = load_tier("fast", folder=tmp_path)
    images, labels = synthetic_arrays(seed=4)
    run = predict_patient(fast, patient_from_arrays("case", images, labels), device="cpu", batch_size=6,
                          ncr_definition=None)
    alone = predict_with_tta(fast.primary, images, tta="none", batch_size=6)
    np.testing.assert_array_equal(run.raw_labels, alone.labels)
    assert run.tier == "fast" and run.tta == "none"


def test_the_any_sequence_model_stands_in_only_when_a_sequence_is_missing(tmp_path):
    tiny_model(tmp_path, seed=1)  # tmp_path/tiny.pt: FLAIR + T1CE
    dice = {"flair+t2": {"WT": 0.81, "TC": 0.62, "ET": 0.48, "n": 31}}
    any_sequence_model(tmp_path, subset_dice=dice)
    write_manifest(tmp_path, ["tiny.pt"], ["tiny.pt"], any_sequence=["any.pt"])
    images, labels = synthetic_arrays(seed=5)

    complete = patient_from_arrays("all", images, labels)
    assert load_tier("fast", complete, folder=tmp_path).key == "fast"
    assert load_tier("accurate", complete, folder=tmp_path).key == "accurate"

    no_t1ce = patient_from_arrays("no-t1ce", {m: images[m] for m in ("flair", "t2")}, labels)
    stand_in = load_tier("accurate", no_t1ce, folder=tmp_path)
    assert stand_in.key == "any_sequence" and stand_in.requested == "accurate"
    assert stand_in.missing == ("t1ce",) and stand_in.modalities == ["flair", "t2"]
    assert subset_key(stand_in.modalities) == "flair+t2" and stand_in.subset_dice == dice["flair+t2"]
    assert "T1CE missing" in stand_in.label and "WT 0.81, TC 0.62, ET 0.48 (31 patients)" in stand_in.details()
    run = predict_patient(stand_in, no_t1ce, device="cpu", batch_size=8)
    assert run.tier == "any_sequence" and run.labels.shape == no_t1ce.shape
    assert run.producer["missing"] == ["t1ce"] and run.producer["subset_dice"] == dice["flair+t2"]

    only_t1 = patient_from_arrays("t1", {"t1": images["t1"]}, labels)  # nothing the stand-in reads either
    assert load_tier("fast", only_t1, folder=tmp_path).key == "fast"


def test_without_the_any_sequence_file_a_missing_sequence_is_named(tmp_path):
    tiny_model(tmp_path, seed=1)
    write_manifest(tmp_path, ["tiny.pt"], ["tiny.pt"], any_sequence=["not-trained-yet.pt"])
    images, labels = synthetic_arrays(seed=5)
    patient = patient_from_arrays("no-t1ce", {m: images[m] for m in ("flair", "t2")}, labels)
    tier = load_tier("fast", patient, folder=tmp_path)
    assert tier.key == "fast"
    with pytest.raises(MissingModalityError, match="T1CE"):
        predict_patient(tier, patient, device="cpu")


def test_a_bad_manifest_or_missing_member_is_named(tmp_path):
    with pytest.raises(checkpoint.ModelLoadError, match="tier manifest not found"):
        load_tier("fast", folder=tmp_path)
    (tmp_path / "tiers.json").write_text('{"fast": {"members": []}}')
    with pytest.raises(TierError, match="fast.members"):
        read_manifest(tmp_path)
    write_manifest(tmp_path, ["tiny.pt"], ["gone.pt"])
    tiny_model(tmp_path)
    assert load_tier("fast", folder=tmp_path).key == "fast"
    with pytest.raises(checkpoint.ModelLoadError, match="gone.pt.*not found"):
        load_tier("accurate", folder=tmp_path)
    assert tiers.tier_summaries(tmp_path)[1] == ("Accurate", "none", ["gone.pt (not installed)"], "test accurate")


def test_the_enhancing_rule_is_off_while_null_and_kept_through_relabel(tmp_path):
    from brats_desktop.core.postprocessing import DEFAULT_POSTPROCESSING

    tiny_model(tmp_path, seed=1)
    write_manifest(tmp_path, ["tiny.pt"], ["tiny.pt"])
    assert load_tier("accurate", folder=tmp_path).postprocess_params() is None  # null: the app's default rules

    write_manifest(tmp_path, ["tiny.pt"], ["tiny.pt"], min_enhancing_ml=1e6)  # every case "low grade"
    tier = load_tier("accurate", folder=tmp_path)
    params = tier.postprocess_params()
    assert params.min_enhancing_ml == 1e6 and params.min_core_voxels == DEFAULT_POSTPROCESSING.min_core_voxels
    assert "below 1e+06 mL becomes label 1" in tier.details()
    images, gt = synthetic_arrays(seed=3)
    patient = patient_from_arrays("c", images, gt)
    run = predict_patient(tier, patient, device="cpu", batch_size=8, ncr_definition="brats2013")
    assert (run.raw_labels == 3).any() and not (run.labels == 3).any()
    assert run.producer["min_enhancing_ml"] == 1e6
    run.relabel("brats2021")  # a change of meaning keeps the rule
    assert not (run.labels == 3).any()
    run.relabel(None)  # the raw argmax stays raw
    assert (run.labels == 3).any()
    fast = predict_patient(load_tier("fast", folder=tmp_path), patient, device="cpu", batch_size=8,
                           ncr_definition="brats2013")
    assert (fast.labels == 3).any()  # Fast has no such rule


def test_whole_tumour_first_turns_split_votes_into_tumour_and_is_recorded(tmp_path):
    from models.tta import Prediction

    tiny_model(tmp_path, seed=1)
    tiny_model(tmp_path / "b", seed=2)
    write_manifest(tmp_path, ["tiny.pt"], ["tiny.pt", "b/tiny.pt"], background_below=0.5)
    tier = load_tier("accurate", folder=tmp_path)
    assert tier.background_below == 0.5 and "below 0.5" in tier.details()
    images, gt = synthetic_arrays(seed=3)
    patient = patient_from_arrays("c", images, gt)
    # Two members that disagree at the "edge" (x 10-19); their mean there is background 0.45,
    # enhancing 0.35, edema 0.2: the argmax says background though tumour is likelier.
    calls = []

    def hook(model, images, **kwargs):
        calls.append(model)
        p = np.zeros((4, *gt.shape), np.float32)
        p[0] = 1.0
        p[:, 10:20] = 0
        if len(calls) % 2:
            p[0, 10:20], p[2, 10:20], p[3, 10:20] = 0.3, 0.3, 0.4
        else:
            p[0, 10:20], p[2, 10:20], p[3, 10:20] = 0.6, 0.1, 0.3
        p[0, 20:25], p[3, 20:25] = 0.2, 0.8  # enhancing both agree on
        return Prediction(p.argmax(axis=0).astype(np.uint8), p.astype(np.float16), "none")

    run = predict_patient(tier, patient, device="cpu", predict=hook, ncr_definition=None)
    assert (run.raw_labels[10:20] == 2).all()  # won as edema: a won voxel is never enhancing
    assert (run.raw_labels[20:25] == 3).all() and (run.raw_labels[:10] == 0).all() and (run.raw_labels[25:] == 0).all()
    assert run.producer["background_below"] == 0.5
    write_manifest(tmp_path, ["tiny.pt"], ["tiny.pt", "b/tiny.pt"])  # null: the plain argmax
    plain = predict_patient(load_tier("accurate", folder=tmp_path), patient, device="cpu", predict=hook,
                            ncr_definition=None)
    assert (plain.raw_labels[10:20] == 0).all() and plain.producer["background_below"] is None
    (tmp_path / "tiers.json").write_text(json.dumps({"fast": {"members": ["tiny.pt"]},
                                                      "accurate": {"members": ["tiny.pt"], "background_below": 1.5}}))
    with pytest.raises(TierError, match="accurate.background_below must be null or a probability"):
        read_manifest(tmp_path)


def test_a_dropout_model_does_not_beat_the_default_for_having_more_inputs(tmp_path, monkeypatch):
    default = tiny_model(tmp_path, seed=1)
    spare = any_sequence_model(tmp_path)
    monkeypatch.setattr(checkpoint, "bundled_models", lambda: [default.path, spare.path])
    images, labels = synthetic_arrays(seed=5)
    complete = patient_from_arrays("all", images, labels)
    assert best_bundled_model(complete).path == default.path
    no_t1ce = patient_from_arrays("no-t1ce", {m: images[m] for m in ("flair", "t2")}, labels)
    assert best_bundled_model(no_t1ce).path == spare.path  # the stand-in when the default cannot read it
    only_t1 = patient_from_arrays("t1", {"t1": images["t1"]}, labels)
    assert best_bundled_model(only_t1).path == default.path  # nothing fits: the default names what is missing


def test_a_hooked_multi_member_tier_votes(tmp_path):
    three_plane_bundle(tmp_path)
    tier = load_tier("accurate", folder=tmp_path)
    images, labels = synthetic_arrays(seed=4)
    calls = []

    def hook(model, images, **kwargs):
        calls.append(model.metadata["preprocessing"].get("plane", "axial"))
        return np.full(labels.shape, 2 if len(calls) < 3 else 1, np.uint8)

    run = predict_patient(tier, patient_from_arrays("c", images, labels), device="cpu", predict=hook,
                          ncr_definition=None)
    assert calls == ["axial", "coronal", "sagittal"] and (run.labels == 2).all()


def test_manifest_keys_are_documented():
    text = json.loads(tiers.manifest_path().read_text())
    for entry in text.values():
        assert entry["description"]
