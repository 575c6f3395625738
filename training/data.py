"""Cases -> prepared slice stacks -> per-epoch samples -> (input, target) patches.

Preparation goes through :func:`brats_desktop.core.preprocessing.prepare_stack`, the
function inference uses, so training inputs and app inputs cannot differ. Each epoch's
list of samples is a pure function of (seed, epoch), identical on every process, and
patches are cut with a generator seeded from (seed, epoch, index): runs are
reproducible, resumable mid-way through a schedule and shardable with
``DistributedSampler`` without coordination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from brats_desktop.core.preprocessing import SliceStack, prepare_stack

from .cohort import Case
from .configs import TrainConfig


@dataclass
class PreparedCase:
    """A case in the network's geometry: slice stack, its labels, and which slices are usable."""

    name: str
    source: str
    stack: SliceStack
    targets: np.ndarray  # (Z, H, W) uint8, or (Z, C, H, W) float32 soft one-hot
    labels: np.ndarray  # full-grid internal labels, for volumetric Dice
    spacing: tuple[float, float, float]
    selectable: np.ndarray  # stack indices inside the config's slice range
    tumour: np.ndarray  # bool per stack slice: any tumour label

    @property
    def soft(self) -> bool:
        return self.targets.ndim == 4


def prepare_case(case: Case, config: TrainConfig) -> PreparedCase:
    """Run the shared preprocessing on a case and cut its labels identically."""
    stack = prepare_stack(case.images, config.modalities, config.preprocessing, config.modality_dropout > 0)
    hard = stack.crop_labels(case.labels)
    targets = stack.crop_labels(case.labels, soft=True) if config.soft_targets else hard
    z = stack.z_indices
    if config.slice_range is not None:
        lo, hi = config.slice_range
        selectable = np.flatnonzero((z >= lo) & (z < hi))
    else:
        selectable = np.arange(stack.n_slices)
    tumour = (hard > 0).reshape(hard.shape[0], -1).any(axis=1)
    return PreparedCase(case.name, case.source, stack, targets, case.labels, case.spacing, selectable, tumour)


def epoch_rng(seed: int, epoch: int, *extra: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), *map(int, extra)]))


def epoch_samples(cases: Sequence[PreparedCase], config: TrainConfig, epoch: int, real_fraction: float | None = None) -> np.ndarray:
    """(N, 2) array of (case index, stack slice) for one epoch, the same on every process.

    Tumour slices are all candidates; tumour-free brain slices are subsampled to
    ``empty_slice_fraction``. With ``samples_per_epoch`` the epoch draws that many
    samples; ``real_fraction`` then gives real cases that share of them (four real
    cases would otherwise drown among dozens of synthetic ones).
    """
    rng = epoch_rng(config.seed, epoch, 1)
    pools: list[np.ndarray] = []
    for ci, case in enumerate(cases):
        sel = case.selectable
        tum = sel[case.tumour[sel]]
        empty = sel[~case.tumour[sel]]
        keep = rng.random(len(empty)) < config.empty_slice_fraction
        chosen = np.sort(np.concatenate([tum, empty[keep]]))
        pools.append(np.stack([np.full(len(chosen), ci), chosen], axis=1))
    if config.samples_per_epoch is None:
        allp = np.concatenate(pools) if pools else np.zeros((0, 2), np.int64)
        return allp[rng.permutation(len(allp))]
    weights = []
    sources = [c.source for c in cases]
    n_real = sum(len(p) for p, s in zip(pools, sources) if s == "real")
    n_syn = sum(len(p) for p, s in zip(pools, sources) if s != "real")
    for pool, src in zip(pools, sources):
        if real_fraction is None or n_real == 0 or n_syn == 0:
            w = 1.0
        elif src == "real":
            w = real_fraction / n_real
        else:
            w = (1.0 - real_fraction) / n_syn
        weights.append(np.full(len(pool), w))
    allp = np.concatenate(pools)
    p = np.concatenate(weights)
    pick = rng.choice(len(allp), size=config.samples_per_epoch, replace=True, p=p / p.sum())
    return allp[pick]


def patient_batches(cases: Sequence[PreparedCase], epoch: int, seed: int) -> list[tuple[int, np.ndarray]]:
    """The tutorial's batching: one batch = one patient's selected slices, patients shuffled per epoch."""
    order = epoch_rng(seed, epoch, 2).permutation(len(cases))
    return [(int(i), cases[i].selectable) for i in order if len(cases[i].selectable)]


class SliceDataset(Dataset):
    """Map-style dataset over one epoch's samples; items are (input, target) tensors of one patch."""

    def __init__(self, cases: Sequence[PreparedCase], samples: np.ndarray, config: TrainConfig, epoch: int) -> None:
        self.cases = list(cases)
        self.samples = samples
        self.config = config
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        ci, z = (int(v) for v in self.samples[index])
        case = self.cases[ci]
        x = case.stack.inputs([z])[0]
        y = case.targets[z]
        if self.config.patch_size is not None:
            rng = epoch_rng(self.config.seed, self.epoch, 3, index)
            x, y = random_patch(x, y, self.config.patch_size, self.config.foreground_patch_prob, rng)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


def random_patch(
    x: np.ndarray, y: np.ndarray, size: tuple[int, int], fg_prob: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Crop (C, H, W) input and (H, W) target to ``size``, padding with background when smaller.

    With probability ``fg_prob`` (and tumour present) the patch is centred on a random
    tumour pixel, so small structures such as the enhancing rim are seen often enough.
    """
    ph, pw = size
    h, w = x.shape[-2:]
    if h < ph or w < pw:
        eh, ew = max(ph - h, 0), max(pw - w, 0)
        pad = [(eh // 2, eh - eh // 2), (ew // 2, ew - ew // 2)]
        x = np.pad(x, [(0, 0), *pad])
        y = np.pad(y, [(0, 0)] * (y.ndim - 2) + pad)
        h, w = x.shape[-2:]
    fg = np.argwhere(y > 0) if y.ndim == 2 else np.zeros((0, 2))
    if len(fg) and rng.random() < fg_prob:
        cy, cx = fg[rng.integers(len(fg))]
        top = int(np.clip(cy - ph // 2, 0, h - ph))
        left = int(np.clip(cx - pw // 2, 0, w - pw))
    else:
        top = int(rng.integers(0, h - ph + 1))
        left = int(rng.integers(0, w - pw + 1))
    return x[:, top : top + ph, left : left + pw], y[..., top : top + ph, left : left + pw]
