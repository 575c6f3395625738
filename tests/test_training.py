"""training/: split, label remap, metrics, losses, sampling, augmentation, a learning loop, the CLI and resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from brats_desktop.core.labels import LabelConvention, to_file, to_internal
from brats_desktop.core.metrics import dice, dice_scores, hd95
from models.checkpoint import load_model
from training.augment import augment_batch
from training.cohort import CohortError, real_patient_folders, synthetic_case
from training.configs import DEFAULT, SEED, AugmentConfig, get_config
from training.data import epoch_samples, patient_batches, prepare_case
from training.losses import compute_loss, soft_dice_loss, soft_region_dice_loss, tutorial_metrics
from training.split import Split, split_patients
from training.train import HISTORY_COLUMNS, Dist, Trainer, main

torch.set_num_threads(1)
TINY = (48, 48, 24)


def _tiny_config(**changes):
    base = {"base_width": 4, "depth": 3, "batch_size": 4, "samples_per_epoch": 16, "patch_size": (32, 32),
            "synthetic_shape": TINY}
    return DEFAULT.replace(**(base | changes))


# --------------------------------------------------------------------------- split


def test_split_is_patient_level_disjoint_seeded_and_68_20_12() -> None:
    names = [f"P{i:03d}" for i in range(100)]
    split = split_patients(names, seed=42)
    assert (len(split.train), len(split.val), len(split.test)) == (68, 20, 12)
    assert not (set(split.train) & set(split.val) or set(split.train) & set(split.test) or set(split.val) & set(split.test))
    assert sorted(split.train + split.val + split.test) == names
    assert split_patients(names, seed=42) == split
    assert split_patients(names, seed=7).val != split.val


def test_split_file_round_trip_and_tiny_cohorts_keep_a_validation_patient(tmp_path: Path) -> None:
    split = split_patients(["a", "b", "c", "d"], seed=42)
    assert len(split.val) == 1 and len(split.train) == 3 and split.test == []
    assert Split.load(split.save(tmp_path / "split.json")) == split
    with pytest.raises(ValueError, match="two sets"):
        Split(["a"], ["a"], [], 0)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        Split.load(tmp_path / "bad.json")


# --------------------------------------------------------------------------- labels and metrics


def test_label_remap_4_to_3_round_trip() -> None:
    file_2020 = np.array([0, 1, 2, 4, 4, 0], np.uint8)
    internal = to_internal(file_2020, LabelConvention.BRATS2020)
    assert internal.tolist() == [0, 1, 2, 3, 3, 0]
    assert np.array_equal(to_file(internal, LabelConvention.BRATS2020), file_2020)
    assert np.array_equal(to_file(internal, LabelConvention.BRATS2023), internal)


def test_dice_against_hand_computed_values_and_empty_cases() -> None:
    pred = np.zeros((4, 4, 1), np.uint8)
    ref = np.zeros((4, 4, 1), np.uint8)
    pred[0, :3] = 3  # 3 ET voxels
    ref[0, 1:4] = 3  # 3 ET voxels, overlap 2
    ref[3, 3] = 2  # one edema voxel only in the reference
    scores = dice_scores(pred, ref)
    assert scores["ET"] == pytest.approx(2 * 2 / 6)
    assert scores["WT"] == pytest.approx(2 * 2 / 7)
    assert scores["ED"] == 0.0  # only the reference has edema
    assert scores["NCR"] == 1.0  # both empty
    assert dice(np.zeros(5, bool), np.zeros(5, bool)) == 1.0
    assert dice(np.ones(5, bool), np.zeros(5, bool)) == 0.0
    a = np.zeros((10, 10, 10), bool)
    a[2:5, 2:5, 2:5] = True
    assert hd95(a, a) == 0.0
    assert hd95(np.zeros_like(a), np.zeros_like(a)) == 0.0
    assert hd95(a, np.zeros_like(a)) == pytest.approx(np.sqrt(300))  # BraTS penalty: the diagonal


def test_region_dice_loss_scores_the_brats_regions_not_the_classes() -> None:
    """Edema called necrosis: WT is perfect, TC is all false positive, ET is correctly empty."""
    target = torch.zeros((1, 8, 8), dtype=torch.long)
    target[0, 2:6, 2:6] = 2  # edema
    pred = target.clone()
    pred[target == 2] = 1  # called necrotic core
    logits = torch.nn.functional.one_hot(pred, 4).permute(0, 3, 1, 2).float() * 30
    # regions: WT Dice 1, TC Dice 0, ET empty in both (1) -> loss (0 + 1 + 0) / 3
    assert float(soft_region_dice_loss(logits, target)) == pytest.approx(1 / 3, abs=1e-4)
    # classes: NCR 0, ED 0, ET 1 -> loss 2/3: the class loss punishes the same mistake twice
    assert float(soft_dice_loss(logits, target)) == pytest.approx(2 / 3, abs=1e-4)
    perfect = torch.nn.functional.one_hot(target, 4).permute(0, 3, 1, 2).float() * 30
    assert float(compute_loss("dice_ce_regions", perfect, target)) < 1e-3
    assert float(compute_loss("dice_ce_regions", logits, target)) > float(soft_region_dice_loss(logits, target))


def test_losses_and_tutorial_metrics_on_a_perfect_prediction() -> None:
    target = torch.randint(0, 4, (2, 8, 8))
    logits = torch.nn.functional.one_hot(target, 4).permute(0, 3, 1, 2).float() * 20
    assert float(soft_dice_loss(logits, target)) < 1e-3
    assert float(compute_loss("dice_ce", logits, target)) < 1e-3
    soft = torch.nn.functional.one_hot(target, 4).permute(0, 3, 1, 2).float()
    assert float(compute_loss("ce", logits, soft)) == pytest.approx(float(compute_loss("ce", logits, target)), abs=1e-6)
    m = tutorial_metrics(logits, target)
    for key in ("accuracy", "mean_iou", "precision", "sensitivity", "specificity"):
        assert m[key] == pytest.approx(1.0, abs=1e-4)
    assert m["dice_coef"] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="unknown loss"):
        compute_loss("focal", logits, target)


# --------------------------------------------------------------------------- cohort and data


def test_measurement_cases_are_refused_for_training(tmp_path: Path) -> None:
    held = tmp_path / "brainles-sample-case"
    held.mkdir()
    (held / "t2f.nii.gz").write_bytes(b"")
    (held / "seg.nii.gz").write_bytes(b"")
    with pytest.raises(CohortError, match="reserved for measuring"):
        real_patient_folders([tmp_path])
    with pytest.raises(CohortError, match="does not exist"):
        real_patient_folders([tmp_path / "nope"])


@pytest.fixture(scope="module")
def tiny_cases():
    config = _tiny_config()
    return [prepare_case(synthetic_case(100 + i, config.modalities, TINY), config) for i in range(3)]


def test_epoch_samples_are_deterministic_and_subsample_empty_slices(tiny_cases) -> None:
    config = _tiny_config(samples_per_epoch=None, empty_slice_fraction=0.0)
    a = epoch_samples(tiny_cases, config, epoch=3)
    assert np.array_equal(a, epoch_samples(tiny_cases, config, epoch=3))
    assert not np.array_equal(a, epoch_samples(tiny_cases, config, epoch=4))
    assert all(tiny_cases[c].tumour[z] for c, z in a)  # fraction 0: tumour slices only
    assert len(a) == sum(int(c.tumour.sum()) for c in tiny_cases)
    drawn = epoch_samples(tiny_cases, _tiny_config(samples_per_epoch=40), epoch=0)
    assert drawn.shape == (40, 2)
    batches = patient_batches(tiny_cases, epoch=0, seed=1)
    assert sorted(i for i, _ in batches) == [0, 1, 2]


def test_augmentation_keeps_shapes_labels_and_background() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(6, 6, 32, 32)
    x[:, :, 8:24, 8:24] = torch.randn(6, 6, 16, 16)
    y = torch.zeros(6, 32, 32, dtype=torch.long)
    y[:, 12:20, 12:20] = 2
    ax, ay = augment_batch(x, y, AugmentConfig(affine=1.0, intensity=1.0, gamma=1.0, noise=1.0, blur=0.0), 3, g)
    assert ax.shape == x.shape and ay.shape == y.shape
    assert set(ay.unique().tolist()) <= {0, 2}
    assert float(ax[:, :, :2, :2].abs().max()) == 0.0  # background corners stay exactly 0
    assert not torch.equal(ax, x)


def test_a_few_training_steps_lower_the_loss(tiny_cases) -> None:
    config = _tiny_config(augment=None, lr=5e-3)
    trainer = Trainer(config, torch.device("cpu"), Dist(), amp=False, real_fraction=None)
    x, y = next(iter(trainer.batches(tiny_cases, epoch=0, max_steps=1)))
    losses = [trainer.train_step(x, y)["loss"] for _ in range(12)]
    assert losses[-1] < losses[0] * 0.9


def test_bfloat16_training_on_a_cpu_that_has_it_lowers_the_loss(tiny_cases, monkeypatch) -> None:
    from models import runtime

    monkeypatch.setenv("BRATS_CPU_BF16", "1")
    runtime.cpu_has_native_bf16.cache_clear()
    try:
        trainer = Trainer(_tiny_config(augment=None, lr=5e-3), torch.device("cpu"), Dist(), amp=True, real_fraction=None)
        assert trainer.amp and trainer.amp_dtype == torch.bfloat16 and not trainer.scaler.is_enabled()
        x, y = next(iter(trainer.batches(tiny_cases, epoch=0, max_steps=1)))
        losses = [trainer.train_step(x, y)["loss"] for _ in range(12)]
        assert losses[-1] < losses[0] * 0.9
        monkeypatch.setenv("BRATS_CPU_BF16", "0")
        runtime.cpu_has_native_bf16.cache_clear()
        assert not Trainer(_tiny_config(), torch.device("cpu"), Dist(), amp=True, real_fraction=None).amp
    finally:
        runtime.cpu_has_native_bf16.cache_clear()


def test_configs_seed_is_the_tutorial_and_default_differs() -> None:
    assert SEED.architecture["in_channels"] == 2 and SEED.preprocessing.resize == (128, 128)
    assert SEED.slice_range == (60, 135) and SEED.epochs == 35 and SEED.loss == "ce" and SEED.batch_size == 75
    assert DEFAULT.preprocessing.context == 1 and DEFAULT.architecture["in_channels"] == 6
    assert get_config("default") is DEFAULT
    with pytest.raises(ValueError, match="unknown config"):
        get_config("nope")


# --------------------------------------------------------------------------- the command line


def _train_args(out: Path, *extra: str) -> list[str]:
    return [
        "--synthetic", "4", "--synthetic-shape", *map(str, TINY), "--synthetic-cache", "",
        "--base-width", "4", "--depth", "3", "--batch-size", "4", "--samples-per-epoch", "8",
        "--patch-size", "32", "32", "--threads", "1", "--no-progress", "--out", str(out), *extra,
    ]


def test_a_real_patient_split_with_synthetic_asked_for_trains_on_both(tmp_path: Path, monkeypatch) -> None:
    """A cross-validation fold's split names real patients only; --synthetic N must still add the cohort."""
    from training import train as train_mod
    from training.cohort import Case

    folders = [tmp_path / name for name in ("r1", "r2", "r3")]
    monkeypatch.setattr(train_mod, "real_patient_folders", lambda roots: folders)
    monkeypatch.setattr(train_mod, "load_real_case", lambda folder, modalities, allow_missing=False: Case(
        folder.name, {m: np.zeros(TINY, np.float32) for m in modalities}, np.zeros(TINY, np.uint8), "real"))
    Split(["r1", "r2"], ["r3"], [], 42).save(tmp_path / "fold.json")
    base = ["--data", str(tmp_path), "--split", str(tmp_path / "fold.json"), "--synthetic-shape", *map(str, TINY),
            "--synthetic-cache", ""]
    args = train_mod.parse_args([*base, "--synthetic", "6", "--synthetic-val", "0"])
    cohort = train_mod.build_cohort(args, train_mod.make_config(args), tmp_path / "out", lambda m: None)
    names = [c.name for c in cohort.train]
    assert {"r1", "r2"} <= set(names) and sum(c.source == "synthetic" for c in cohort.train) >= 3
    assert [c.name for c in cohort.val] == ["r3"]  # the held-out patients stay exactly the fold's
    assert Split.load(tmp_path / "out" / "split.json").train == sorted(names)
    args = train_mod.parse_args(base)  # without --synthetic the fold is used as it is
    cohort = train_mod.build_cohort(args, train_mod.make_config(args), tmp_path / "out2", lambda m: None)
    assert [c.name for c in cohort.train] == ["r1", "r2"]


def test_val_every_skips_validation_between_and_needs_select_by_last(tmp_path: Path) -> None:
    """Cross-validation folds score their held-out patients afterwards: validating each epoch only costs time."""
    out = tmp_path / "run"
    assert main(_train_args(out, "--epochs", "3", "--set", "select_by=last", "--val-every", "2")) == 0
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["val_dice_WT"] != "" for r in rows] == [False, True, False]
    assert load_model(out / "best.pt").metadata["training"]["epochs"] == 3  # the last epoch, validated or not
    with pytest.raises(SystemExit, match="select_by=last"):
        main(_train_args(tmp_path / "other", "--epochs", "1", "--val-every", "0"))


def test_brats_train_synthetic_writes_history_curves_and_checkpoints_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(_train_args(out, "--epochs", "1")) == 0
    for name in ("config.json", "split.json", "history.csv", "curves.png", "best.pt", "best.json", "last_state.pt"):
        assert (out / name).exists(), name
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == HISTORY_COLUMNS and len(rows) == 1
    explained = (out / "history-columns.txt").read_text().splitlines()
    assert len(explained) >= len(HISTORY_COLUMNS)
    assert any(line.startswith("val_dice_ET") for line in explained)
    assert any(line.startswith("val_dice_coef_enhancing") for line in explained)
    model = load_model(out / "best.pt")
    meta = model.metadata
    assert meta["modalities"] == ["flair", "t1ce"] and meta["architecture"]["base_width"] == 4
    assert "brats-train" in meta["training"]["command"] and meta["training"]["epochs"] == 1
    assert "val_dice_WT" in meta["metrics"]["validation"]
    split = json.loads((out / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])

    assert main(["--resume", str(out / "last_state.pt"), "--epochs", "2", "--no-progress", "--synthetic", "4",
                 "--synthetic-shape", *map(str, TINY), "--synthetic-cache", "", "--split", str(out / "split.json")]) == 0
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2"]


def test_weights_inherit_the_terms_of_the_real_patients_they_saw() -> None:
    from training.train import real_data_licence

    only_2013 = real_data_licence(["BraTS13_pat0003"])
    assert "CC BY-NC-SA 3.0 CH" in only_2013 and "Bakas" not in only_2013
    upenn = real_data_licence(["Brats18_CBICA_ABM_1"])
    assert "Bakas et al., Scientific Data 2017" in upenn and "NC-SA" not in upenn
    both = real_data_licence(["Brats18_CBICA_ABM_1", "Brats18_2013_2_1"])  # BraTS 2013 patients inside BraTS 2018
    assert "NC-SA" in both and "Bakas" in both and "not a medical device" in both


def test_brats_train_skips_a_case_with_a_truncated_file_and_lists_it(tmp_path: Path, capsys) -> None:
    """One damaged download under --data costs that case, not the run; nothing readable left is refused."""
    from inference_support import write_patient_folder

    data = tmp_path / "data"
    for i, name in enumerate(("BraTS20_Training_001", "BraTS20_Training_002", "BraTS20_Training_003")):
        write_patient_folder(data, name, "RAS", "2020", modalities=("t1ce", "flair"), seed=i + 1)
    flair = data / "BraTS20_Training_002" / "BraTS20_Training_002_flair.nii.gz"
    flair.write_bytes(flair.read_bytes()[: flair.stat().st_size // 3])  # a download that stopped halfway
    out = tmp_path / "run"
    args = ["--data", str(data), "--base-width", "4", "--depth", "2", "--batch-size", "4", "--samples-per-epoch", "8",
            "--patch-size", "32", "32", "--threads", "1", "--no-progress", "--epochs", "1",
            "--set", "select_by=last", "--val-every", "0"]
    assert main([*args, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    skip_lines = [line for line in err.splitlines() if "skipping BraTS20_Training_002" in line]
    assert len(skip_lines) == 1 and str(flair) in skip_lines[0] and "truncated" in skip_lines[0]
    assert "Traceback" not in err and "skipped 1 case(s)" in err.splitlines()[-1]
    data_info = json.loads((out / "config.json").read_text())["data"]
    assert [s["case"] for s in data_info["skipped"]] == ["BraTS20_Training_002"]
    assert data_info["skipped"][0]["file"] == str(flair)
    assert "BraTS20_Training_002" not in data_info["real_train"] + data_info["real_val"]
    assert (out / "best.pt").exists()

    for other in ("BraTS20_Training_001", "BraTS20_Training_003"):
        f = data / other / f"{other}_flair.nii.gz"
        f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(SystemExit, match="no case left to train on: 3 case"):
        main([*args, "--out", str(tmp_path / "run2")])
