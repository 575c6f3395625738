"""brats-train --set overrides and the ablation runner's pieces (training itself is covered in test_training)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from training.ablation import COLUMNS, VARIANTS, seed_epochs, write_table
from training.configs import DEFAULT
from training.split import Split
from training.train import make_config, parse_args


def test_set_overrides_change_fields_preprocessing_and_accept_null():
    config = make_config(parse_args([
        "--set", "loss=ce", "--set", "augment=null", "--set", "pre_context=0",
        "--set", "pre_resize=[128,128]", "--set", "slice_range=[60,135]", "--set", "empty_slice_fraction=1.0",
    ]))
    assert config.loss == "ce" and config.augment is None
    assert config.preprocessing.context == 0 and config.preprocessing.resize == (128, 128)
    assert config.slice_range == (60, 135) and config.empty_slice_fraction == 1.0
    assert config.architecture["in_channels"] == 2  # two modalities, no context
    assert make_config(parse_args([])) == DEFAULT


def test_set_changes_one_augmentation_setting_and_keeps_the_others():
    config = make_config(parse_args(["--set", "aug_intensity_scale=[0.7,1.4]", "--set", "aug_gamma=0.5"]))
    assert config.augment is not None and DEFAULT.augment is not None
    assert config.augment.intensity_scale == (0.7, 1.4) and config.augment.gamma == 0.5
    assert config.augment.rotate_deg == DEFAULT.augment.rotate_deg and config.augment.noise == DEFAULT.augment.noise
    with pytest.raises(SystemExit, match="augment=null"):
        make_config(parse_args(["--set", "augment=null", "--set", "aug_gamma=0.5"]))
    with pytest.raises(SystemExit, match="augmentation is off"):  # the tutorial's seed config has none
        make_config(parse_args(["--config", "seed", "--set", "aug_gamma=0.5"]))


@pytest.mark.parametrize("item", ["bogus=1", "loss", "name=x", "augment={}", "aug_bogus=1"])
def test_set_refuses_unknown_keys_and_bad_values_with_a_message(item):
    with pytest.raises(SystemExit, match="--set"):
        make_config(parse_args(["--set", item]))


def test_every_variant_is_a_valid_brats_train_command_line():
    for name, (_, extra) in VARIANTS.items():
        args = [a for a in extra if a != "--synthetic-only"]
        config = make_config(parse_args(args))
        if name == "default":
            assert config == DEFAULT
        elif name != "synthetic-2mod":
            assert config != DEFAULT, name


def test_seed_variant_gets_the_same_slice_budget_in_patient_epochs():
    split = Split([f"P{i}" for i in range(30)], ["V"], [], 42)
    assert seed_epochs(split, 6 * 800) == 2  # 30 patients x 75 slices = 2250 per epoch
    assert seed_epochs(split, 10) == 1


def test_ablation_table_has_every_column(tmp_path: Path):
    row = {k: 0.5 for k in COLUMNS} | {"variant": "default", "undoes": "nothing", "epochs": 6, "train_slices": 4800}
    write_table([row], tmp_path)
    with open(tmp_path / "ablation.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["variant"] == "default" and rows[0]["test_TC"] == "0.5000"
    table = (tmp_path / "ablation.md").read_text()
    assert table.splitlines()[2].startswith("| default | nothing |")


def test_geometry_round_trip_keeps_the_grid_and_loses_little_of_a_large_tumour():
    from brats_desktop.core.metrics import compare
    from brats_desktop.core.synthetic import make_synthetic_case
    from training.geometry_bound import geometry_round_trip

    case = make_synthetic_case(3, shape=(96, 96, 40))
    trip = geometry_round_trip(case.images, case.labels)
    assert trip.shape == case.labels.shape and trip.dtype == np.uint8
    assert compare(trip, case.labels)["WT"].dice > 0.9
    assert (trip[case.labels == 0] > 0).mean() < 0.01  # almost no tumour appears where there was none
