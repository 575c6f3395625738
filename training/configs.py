"""Named training configurations: ``seed`` (the reference tutorial, faithfully) and ``default`` (ours).

A config is a frozen dataclass of plain values so that it can be written into the
checkpoint's metadata and reproduced from it. ``seed`` is the baseline every change is
measured against; ``default`` is what the bundled model is trained with. Each
departure of ``default`` from ``seed`` is listed in :data:`DEFAULT_CHANGES` with the
reason, and the README reports what was measured.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from brats_desktop.core.preprocessing import PreprocessingSpec


@dataclass(frozen=True)
class AugmentConfig:
    """Random transforms applied per sample on the batch (training only)."""

    flip_lr: float = 0.5  # probability of a left-right flip (axis 0 of the slice)
    flip_ap: float = 0.2  # probability of an anterior-posterior flip
    affine: float = 0.5  # probability of a rotation + scaling
    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    intensity: float = 0.8  # probability of a per-modality scale and shift inside the brain
    intensity_scale: tuple[float, float] = (0.8, 1.25)
    intensity_shift: float = 0.3  # in z-score units
    gamma: float = 0.3  # probability of a gamma change
    gamma_range: tuple[float, float] = (0.7, 1.5)
    noise: float = 0.3  # probability of additive Gaussian noise
    noise_sd: float = 0.1
    blur: float = 0.15  # probability of a 3x3 box blur (resolution variety)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run learns (not where its files go)."""

    name: str
    modalities: tuple[str, ...] = ("flair", "t1ce")
    preprocessing: PreprocessingSpec = field(default_factory=PreprocessingSpec)
    base_width: int = 12
    depth: int = 5
    dropout: float = 0.1
    batch_norm: bool = True
    up_mode: str = "transpose"
    slice_range: tuple[int, int] | None = None  # [start, stop) of axial slices to train on
    soft_targets: bool = False  # the tutorial's bilinear-resized one-hot targets
    loss: str = "dice_ce"  # "ce", "dice_ce" or "dice_ce_regions" (training.losses.LOSSES)
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "poly"  # "poly" (stateless decay to 0) or "plateau" (Keras ReduceLROnPlateau)
    plateau_factor: float = 0.2
    plateau_patience: int = 2
    min_lr: float = 1e-6
    epochs: int = 40
    batching: str = "slices"  # "slices" (shuffled) or "patient" (one batch = one patient, the tutorial)
    batch_size: int = 16
    samples_per_epoch: int | None = 1600  # None: every selected slice once per epoch
    empty_slice_fraction: float = 0.2  # share of tumour-free brain slices kept per epoch
    patch_size: tuple[int, int] | None = (128, 128)  # random crop of each slice; None = whole slice
    foreground_patch_prob: float = 0.6  # chance a patch is centred on tumour when the slice has some
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    # Chance that a sample is shown with a random part of its sequences zeroed (at least one
    # kept); > 0 also lets patients lacking a sequence train (it is zeros, as at inference),
    # so one model segments studies with any subset of its modalities.
    modality_dropout: float = 0.0
    select_by: str = "val_dice"  # "val_dice" (mean WT/TC/ET), "val_loss" or "last" (final epoch; no validation needed)
    seed: int = 42
    split_fractions: tuple[float, float, float] = (0.68, 0.20, 0.12)
    synthetic_cases: int = 24
    synthetic_shape: tuple[int, int, int] = (240, 240, 155)

    @property
    def architecture(self) -> dict[str, Any]:
        """The ``build_network`` description, input channels derived from modalities and context."""
        return {
            "type": "unet2d",
            "in_channels": self.preprocessing.in_channels(len(self.modalities)),
            "num_classes": 4,
            "base_width": self.base_width,
            "depth": self.depth,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            "up_mode": self.up_mode,
        }

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["preprocessing"] = self.preprocessing.to_dict()
        return d

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed; preprocessing fields may be given as ``pre_<name>``, augmentation ones as ``aug_<name>``."""
        pre = {k[4:]: v for k, v in changes.items() if k.startswith("pre_")}
        aug = {k[4:]: v for k, v in changes.items() if k.startswith("aug_")}
        rest = {k: v for k, v in changes.items() if not k.startswith(("pre_", "aug_"))}
        if pre:
            rest["preprocessing"] = dataclasses.replace(self.preprocessing, **pre)
        if aug:
            base_aug = rest.get("augment", self.augment)
            if base_aug is None:
                raise ValueError(f"augmentation is off (augment=null): cannot set {', '.join('aug_' + k for k in aug)}")
            rest["augment"] = dataclasses.replace(base_aug, **aug)
        if "depth" in rest:  # keep the padding multiple consistent with the pooling depth
            base = rest.get("preprocessing", self.preprocessing)
            rest["preprocessing"] = dataclasses.replace(base, size_multiple=2 ** (int(rest["depth"]) - 1))
        return dataclasses.replace(self, **rest)


SEED = TrainConfig(
    name="seed",
    modalities=("flair", "t1ce"),
    preprocessing=PreprocessingSpec(
        normalisation="max_volume", crop="full", margin=0, resize=(128, 128), context=0, size_multiple=16
    ),
    base_width=32,
    depth=5,
    dropout=0.2,
    batch_norm=False,
    up_mode="upsample_conv",
    slice_range=(60, 135),
    soft_targets=True,
    loss="ce",
    optimizer="adam",
    lr=1e-3,
    weight_decay=0.0,
    schedule="plateau",
    epochs=35,
    batching="patient",
    batch_size=75,
    samples_per_epoch=None,
    empty_slice_fraction=1.0,
    patch_size=None,
    foreground_patch_prob=0.0,
    augment=None,
    select_by="val_loss",
)

DEFAULT = TrainConfig(
    name="default",
    preprocessing=PreprocessingSpec(
        normalisation="zscore_brain", crop="brain_box", margin=4, resize=None, context=1, size_multiple=16
    ),
)

CONFIGS: dict[str, TrainConfig] = {"seed": SEED, "default": DEFAULT}

DEFAULT_CHANGES: dict[str, str] = {
    "zscore_brain": "per-modality z-score inside the brain mask: scanner-independent intensities "
    "(the tutorial's max division depends on one bright voxel)",
    "brain_box": "crop to the brain's bounding box at native 1 mm resolution instead of 240->128 downscaling",
    "context=1": "2.5-D: neighbouring slices as extra channels give through-plane context at 2-D cost",
    "all slices": "every brain slice is predicted and trained, not only 60-134, with tumour-free slices subsampled",
    "dice_ce": "Dice + cross-entropy: the Dice term counters the background's dominance",
    "augment": "flips, rotation/scale, intensity scale/shift, gamma, noise, blur: few real cases",
    "batch_norm, base 12": "a small, fast network (<=3 s per volume on 2 CPU cores) that trains on CPU",
    "val_dice": "best checkpoint by mean validation Dice of WT/TC/ET, the quantity we report",
}


def get_config(name: str) -> TrainConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown config {name!r}; choose from {', '.join(CONFIGS)}") from None
