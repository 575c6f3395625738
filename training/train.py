"""``brats-train``: train the U-Net on real cohorts and/or the synthetic cohort.

Examples::

    brats-train --synthetic                      # no data on disk: synthetic cohort only
    brats-train --config seed --data /data/MICCAI_BraTS2020_TrainingData
    brats-train --data ../shared/data/brats2013-train --synthetic 24 --out runs/bundled
    torchrun --nproc_per_node 4 -m training.train --data ...   # DistributedDataParallel
    brats-train --resume runs/bundled/last_state.pt

Files in ``--out``: ``config.json``, ``split.json`` (patient level), ``history.csv`` (one
row per epoch), ``curves.png``, ``best.pt`` (+ ``best.json``; best validation Dice, or
loss for the tutorial's config) and ``last_state.pt`` (everything needed to resume).

The loop is small hooks (``train_step``, ``train_epoch``, ``validate``) so each can be
tested on CPU. Distributed runs use PyTorch's own launcher: ``torchrun`` sets the
``env://`` variables, each process takes a ``DistributedSampler`` shard of the epoch's
samples, and only rank 0 validates and writes files.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as _dt
import json
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from brats_desktop.core.errors import PatientLoadError
from brats_desktop.core.postprocessing import NCR_DEFINITIONS
from brats_desktop.core.preprocessing import PreprocessingSpec
from models.checkpoint import save_model
from models.inference import autocast_dtype
from models.runtime import uses_amp
from models.unet import build_network, count_parameters

from .augment import augment_batch
from .cohort import Case, load_real_case, real_patient_folders, synthetic_case
from .configs import AugmentConfig, TrainConfig, get_config
from .data import PreparedCase, SliceDataset, epoch_samples, patient_batches, prepare_case
from .history_columns import describe
from .losses import batch_summary, compute_loss
from .plots import plot_history
from .progress import Progress, format_seconds
from .split import Split, split_patients
from .validation import validate

REPO_ROOT = Path(__file__).resolve().parents[1]
CLASSES = {0: "background", 1: "NCR/NET", 2: "edema", 3: "enhancing"}
HISTORY_COLUMNS = (
    "epoch", "lr", "seconds", "train_slices_per_s",
    "train_loss", "train_accuracy", "train_dice_coef", "train_dice_tumour",
    "val_loss", "val_accuracy", "val_mean_iou", "val_dice_coef", "val_precision", "val_sensitivity",
    "val_specificity", "val_dice_coef_necrotic", "val_dice_coef_edema", "val_dice_coef_enhancing",
    "val_dice_tumour", "val_dice_WT", "val_dice_TC", "val_dice_ET", "val_dice_mean", "val_dice_real_mean",
    "val_select", "best",
)
BRATS2013_TERMS = (
    "BraTS 2013 patients (BRATS 2015 benchmark, Menze et al., IEEE TMI 2015; as modified for the DeepMedic "
    "examples) are licensed CC BY-NC-SA 3.0 CH: the weights inherit these terms (non-commercial use only, "
    "share-alike, attribution)."
)
BRATS2018_TERMS = (
    "BraTS 2018 training patients may be used for research with citation of Menze et al., IEEE TMI 2015; "
    "Bakas et al., Scientific Data 2017; Bakas et al., arXiv:1811.02629, 2018; the TCGA-derived labels are "
    "published by TCIA under CC BY 3.0."
)


def real_data_licence(real_names: list[str]) -> str:
    """The terms the weights inherit from the real patients they were trained on (data README's wording).

    BraTS 2013 patients appear as ``BraTS13_*`` and inside BraTS 2018 as ``Brats18_2013_*``;
    any of them brings the non-commercial share-alike terms.
    """
    parts = ["Research model, not a medical device."]
    if any(n.startswith("Brats18_") for n in real_names):
        parts.append(BRATS2018_TERMS)
    if any(n.startswith("BraTS13_") or n.startswith("Brats18_2013_") for n in real_names) or not parts[1:]:
        parts.append(BRATS2013_TERMS)
    return " ".join(parts + ["Code: MIT."])


# --------------------------------------------------------------------------- distributed


@dataclass
class Dist:
    """Who this process is in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(device_kind: str) -> Dist:
    """Join the process group ``torchrun`` describes through env:// variables (no-op when run alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    backend = "nccl" if device_kind == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def choose_device(requested: str, d: Dist) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("brats-train: --device cuda requested but no CUDA GPU is available")
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    return torch.device("cpu")


# --------------------------------------------------------------------------- cohort


@dataclass
class Cohort:
    train: list[Case]
    val: list[Case]
    split: Split
    description: dict[str, Any] = field(default_factory=dict)


def build_cohort(args: argparse.Namespace, config: TrainConfig, out: Path, log) -> Cohort:
    """Real folders + synthetic cases, split by patient (real and synthetic separately), split saved."""
    real_folders = real_patient_folders(args.data) if args.data else []
    n_syn = config.synthetic_cases if args.synthetic == -1 else int(args.synthetic or 0)
    syn_names = {f"synthetic-{args.synthetic_seed + i:05d}": args.synthetic_seed + i for i in range(n_syn)}
    if not real_folders and not syn_names:
        raise SystemExit("brats-train: no data: give --data DIR and/or --synthetic [N]")

    def synthetic_split() -> Split:
        syn = split_patients(sorted(syn_names), config.seed, config.split_fractions)
        if args.synthetic_val is not None:  # validation time is per case: cap the synthetic ones
            syn = Split(syn.train, syn.val[: args.synthetic_val], sorted(syn.test + syn.val[args.synthetic_val :]), syn.seed)
        return syn

    parts: list[Split] = []
    if args.split:
        parts.append(Split.load(args.split))
        named = set(parts[0].train + parts[0].val + parts[0].test)
        if syn_names and not named & set(syn_names):
            # A split of real patients only (a cross-validation fold, the final all-patient
            # model): the synthetic cohort asked for joins it, split as it would be without one.
            parts.append(synthetic_split())
    else:
        if real_folders:
            parts.append(split_patients([f.name for f in real_folders], config.seed, config.split_fractions))
        if syn_names:
            parts.append(synthetic_split())
    split = Split(
        sorted(n for p in parts for n in p.train),
        sorted(n for p in parts for n in p.val),
        sorted(n for p in parts for n in p.test),
        parts[0].seed,
    )
    by_name_real = {f.name: f for f in real_folders}
    cache = Path(args.synthetic_cache) if args.synthetic_cache else None

    skipped: list[dict[str, str]] = []

    def load(name: str) -> Case | None:
        if name in by_name_real:
            try:
                return load_real_case(by_name_real[name], config.modalities)
            except PatientLoadError as exc:  # one damaged download must not end a long run
                log(f"skipping {name}: {exc}")
                skipped.append({"case": name, "file": str(exc.path or by_name_real[name]), "problem": exc.problem})
                return None
        if name in syn_names:
            return synthetic_case(syn_names[name], config.modalities, config.synthetic_shape, cache)
        raise SystemExit(f"brats-train: split names patient {name!r}, which is not in the given data")

    t0 = time.perf_counter()
    train = [c for c in map(load, split.train) if c is not None]
    val = [c for c in map(load, split.val) if c is not None]
    if not train:
        raise SystemExit("brats-train: no case left to train on"
                         + (f": {len(skipped)} case(s) could not be read (listed above)" if skipped else ""))
    log(f"loaded {len(train)} training and {len(val)} validation cases in {time.perf_counter() - t0:.0f} s")
    description = {
        "real_roots": [str(Path(p).resolve()) for p in (args.data or [])],
        "real_train": [c.name for c in train if c.source == "real"],
        "real_val": [c.name for c in val if c.source == "real"],
        "synthetic_train": sum(c.source == "synthetic" for c in train),
        "synthetic_val": sum(c.source == "synthetic" for c in val),
        "synthetic_shape": list(config.synthetic_shape),
        "synthetic_first_seed": args.synthetic_seed,
        "test_held_out": split.test,
        "skipped": skipped,
    }
    split.save(out / "split.json")
    return Cohort(train, val, split, description)


# --------------------------------------------------------------------------- trainer


class Trainer:
    """Owns network, optimiser and schedule; one method per hook of the loop."""

    def __init__(self, config: TrainConfig, device: torch.device, d: Dist, amp: bool, real_fraction: float | None) -> None:
        self.config = config
        self.device = device
        self.dist = d
        # Mixed precision where inference uses it (models.runtime.uses_amp): float16 + loss scaling
        # on CUDA; bfloat16 on CPUs that compute it natively, where a step is 1.6x faster.
        self.amp = amp and uses_amp(device)
        self.amp_dtype = autocast_dtype(device)
        self.real_fraction = real_fraction
        torch.manual_seed(config.seed)
        # channels_last: oneDNN's and cuDNN's NHWC kernels; a training step of the default
        # network on one CPU core went from 16.9 to 23.8 slices/s (the app's inference uses it too).
        self.network: nn.Module = build_network(config.architecture).to(device, memory_format=torch.channels_last)
        self.model: nn.Module = self.network
        if d.active:
            self.model = nn.parallel.DistributedDataParallel(
                self.network, device_ids=[device.index] if device.type == "cuda" else None
            )
        if config.optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
            )
        elif config.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(
                self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
            )
        else:
            raise ValueError(f"unknown optimizer {config.optimizer!r}")
        self.plateau = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=config.plateau_factor,
                patience=config.plateau_patience, min_lr=config.min_lr,
            )
            if config.schedule == "plateau"
            else None
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and device.type == "cuda")
        self.epoch = 0  # epochs completed
        self.best_score: float | None = None
        self.history: list[dict[str, Any]] = []

    # -- hooks ------------------------------------------------------------------------------
    def set_epoch_lr(self, epoch: int, time_fraction: float = 0.0) -> float:
        """Poly decay over training progress: the epoch fraction, or the wall-clock fraction of a time limit if larger.

        Without a time limit this is a pure function of the epoch (resume needs no
        scheduler state); with one, a CPU run that is slower than planned still
        anneals before it has to stop.
        """
        if self.config.schedule == "poly":
            progress = min(max(epoch / max(self.config.epochs, 1), time_fraction), 1.0)
            lr = self.config.lr * (1 - progress) ** 0.9
            for group in self.optimizer.param_groups:
                group["lr"] = max(lr, self.config.min_lr)
        return float(self.optimizer.param_groups[0]["lr"])

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One optimisation step on a batch; returns the batch's loss and metrics."""
        self.model.train()
        x = x.to(self.device, memory_format=torch.channels_last, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            logits = self.model(x)
            loss = compute_loss(self.config.loss, logits.float(), y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {"loss": float(loss.detach())} | batch_summary(logits.detach(), y)

    def batches(self, cases: list[PreparedCase], epoch: int, max_steps: int | None):
        """Yield (x, y) batches of one epoch, sharded across processes, augmented when configured."""
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch * 101 + self.dist.rank)
        spm = cfg.preprocessing.slices_per_modality
        if cfg.batching == "patient":
            batches = patient_batches(cases, epoch, cfg.seed)[self.dist.rank :: self.dist.world]
            for step, (ci, idx) in enumerate(batches):
                if max_steps is not None and step >= max_steps:
                    return
                x = torch.from_numpy(cases[ci].stack.inputs(idx))
                y = torch.from_numpy(cases[ci].targets[idx])
                if cfg.augment is not None and y.ndim == 3:
                    x, y = augment_batch(x, y.long(), cfg.augment, spm, gen)
                yield x, y
            return
        samples = epoch_samples(cases, cfg, epoch, self.real_fraction)
        dataset = SliceDataset(cases, samples, cfg, epoch)
        sampler = (
            DistributedSampler(dataset, num_replicas=self.dist.world, rank=self.dist.rank, shuffle=False)
            if self.dist.active
            else None
        )
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, shuffle=False, num_workers=0, drop_last=True)
        for step, (x, y) in enumerate(loader):
            if max_steps is not None and step >= max_steps:
                return
            if y.ndim == 3:
                y = y.long()
            if cfg.augment is not None and y.ndim == 3:
                x, y = augment_batch(x, y, cfg.augment, spm, gen)
            yield x, y

    def n_steps(self, cases: list[PreparedCase], max_steps: int | None) -> int:
        cfg = self.config
        if cfg.batching == "patient":
            n = len(range(self.dist.rank, len(cases), self.dist.world))
        else:
            total = cfg.samples_per_epoch or sum(len(c.selectable) for c in cases)
            n = max(math.ceil(total / self.dist.world) // cfg.batch_size, 1)
        return min(n, max_steps) if max_steps is not None else n

    def train_epoch(self, cases: list[PreparedCase], epoch: int, max_steps: int | None, show: bool) -> dict[str, float]:
        """Run one epoch; returns mean train metrics (averaged over processes) and throughput."""
        torch.manual_seed(self.config.seed * 7919 + epoch * 31 + self.dist.rank)  # dropout
        bar = Progress(self.n_steps(cases, max_steps), f"epoch {epoch + 1}/{self.config.epochs}", enabled=show)
        sums: dict[str, float] = {}
        count = 0
        t0 = time.perf_counter()
        for x, y in self.batches(cases, epoch, max_steps):
            stats = self.train_step(x, y)
            n = int(x.shape[0])
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v * n
            count += n
            bar.update(n, loss=sums["loss"] / count)
        bar.close()
        seconds = time.perf_counter() - t0
        vec = torch.tensor([sums.get(k, 0.0) for k in ("loss", "accuracy", "dice_coef", "dice_tumour")] + [count], dtype=torch.float64)
        if self.dist.active:
            dist.all_reduce(vec)
        total = max(float(vec[-1]), 1.0)
        return {
            "train_loss": float(vec[0] / total),
            "train_accuracy": float(vec[1] / total),
            "train_dice_coef": float(vec[2] / total),
            "train_dice_tumour": float(vec[3] / total),
            "train_slices_per_s": float(vec[-1]) / seconds if seconds > 0 else 0.0,
            "seconds": seconds,
        }

    # -- state --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume, loadable with ``torch.load(weights_only=True)``."""
        return {
            "format": "brats-desktop-train-state",
            "config_json": json.dumps(self.config.to_dict()),
            "epoch": self.epoch,
            "best_score": self.best_score if self.best_score is not None else float("nan"),
            "history_json": json.dumps(self.history),
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "plateau": self.plateau.state_dict() if self.plateau is not None else {},
            "scaler": self.scaler.state_dict(),
        }

    def load_state(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        if not isinstance(state, dict) or state.get("format") != "brats-desktop-train-state":
            raise SystemExit(f"brats-train: {path}: not a training state file written by brats-train")
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.plateau is not None and state["plateau"]:
            self.plateau.load_state_dict(state["plateau"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        best = float(state["best_score"])
        self.best_score = None if math.isnan(best) else best
        self.history = json.loads(state["history_json"])


# --------------------------------------------------------------------------- metadata and files


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "models", "training", "brats_desktop/core"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10,
        )
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def model_metadata(
    config: TrainConfig,
    name: str,
    training: dict[str, Any],
    metrics: dict[str, Any],
    has_real: bool,
    ncr_definition: str | None = None,
) -> dict[str, Any]:
    """The self-description stored in every checkpoint (see models.checkpoint).

    ``ncr_definition`` is what label 1 means in the training labels; by default the
    BraTS 2013-2020 NCR/NET for real data and the 2021 meaning for the synthetic
    cohort alone (its necrosis always lies inside the enhancing rim).
    """
    data = training.get("data", {})
    return {
        "ncr_definition": ncr_definition or ("brats2013" if has_real else "brats2021"),
        "name": name,
        "modalities": list(config.modalities),
        "classes": dict(CLASSES),
        "label_convention": "internal 0-3 (0 background, 1 NCR/NET, 2 edema, 3 enhancing); "
        "file conventions (BraTS 2020 4 / BraTS 2023 3) are converted by the app",
        "preprocessing": config.preprocessing.to_dict(),
        "architecture": config.architecture,
        "training": training,
        "metrics": metrics,
        "licence": real_data_licence(data.get("real_train", []) + data.get("real_val", []))
        if has_real else "Trained on synthetic data only; MIT like the code.",
    }


def write_history(rows: list[dict[str, Any]], out: Path) -> None:
    with open(out / "history.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    # Beside the numbers, what each column means (the tutorial's soft Dice vs the BraTS region Dice).
    (out / "history-columns.txt").write_text(describe(list(HISTORY_COLUMNS)) + "\n", encoding="utf-8")
    plot_history(rows, out / "curves.png")


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="brats-train", description="Train the BraTS Desktop U-Net.")
    p.add_argument("--config", default="default", help="seed (the tutorial's recipe) or default")
    p.add_argument("--data", action="append", type=Path, help="folder of labelled patient folders (repeatable)")
    p.add_argument("--synthetic", nargs="?", type=int, const=-1, default=0,
                   help="add N synthetic cases (no N: the config's count); alone, trains with no data on disk")
    p.add_argument("--synthetic-seed", type=int, default=1000, help="seed of the first synthetic case")
    p.add_argument("--synthetic-shape", type=int, nargs=3, help="shape of synthetic volumes (default 240 240 155)")
    p.add_argument("--synthetic-cache", default=str(REPO_ROOT / "runs" / "synthetic-cache"),
                   help="folder caching generated synthetic cases ('' to disable)")
    p.add_argument("--split", type=Path, help="reuse a split.json instead of making one")
    p.add_argument("--out", type=Path, help="output folder (default runs/<config>-<time>)")
    p.add_argument("--resume", type=Path, help="last_state.pt of an interrupted run (its config is reused)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--samples-per-epoch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--base-width", type=int)
    p.add_argument("--depth", type=int)
    p.add_argument("--context", type=int, help="neighbouring slices on each side (2.5-D)")
    p.add_argument("--modalities", help="comma-separated channel order, e.g. flair,t1ce")
    p.add_argument("--patch-size", type=int, nargs=2)
    p.add_argument("--seed", type=int)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change any config field (JSON value; bare words are strings), e.g. loss=ce, augment=null, pre_context=0, "
                   "pre_resize=[128,128]; repeatable (ablations)")
    p.add_argument("--real-fraction", type=float, default=0.35,
                   help="share of each epoch's samples drawn from real cases when mixing with synthetic")
    p.add_argument("--max-steps", type=int, help="stop each epoch after this many steps (smoke tests)")
    p.add_argument("--time-limit", type=float, help="minutes: stop before exceeding, and anneal the LR by wall-clock")
    p.add_argument("--synthetic-val", type=int, default=4,
                   help="at most this many synthetic validation cases (the rest join the test set)")
    p.add_argument("--ncr-definition", choices=tuple(NCR_DEFINITIONS),
                   help="meaning of label 1 in the real training labels, stored in the checkpoint so the app can "
                   "convert (default: brats2013, NCR/NET as in BraTS 2013-2020; brats2021 for synthetic data only)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision (float16 on CUDA, bfloat16 on CPUs with native support)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--val-batch-size", type=int, default=16)
    p.add_argument("--val-every", type=int, default=1, metavar="N",
                   help="validate every N epochs (0: never); with select_by=last validation only informs, "
                   "and cross-validation folds score their held-out patients afterwards anyway")
    p.add_argument("--name", help="model name stored in the checkpoint")
    p.add_argument("--export", type=Path, help="also write the best checkpoint here at the end")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def make_config(args: argparse.Namespace) -> TrainConfig:
    if args.resume is not None:
        state = torch.load(args.resume, map_location="cpu", weights_only=True)
        stored = json.loads(state["config_json"])
        base = get_config(stored["name"])
        stored["preprocessing"] = PreprocessingSpec.from_dict(stored["preprocessing"])
        if stored.get("augment") is not None:
            aug = stored["augment"]
            stored["augment"] = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()})
        tuples = ("modalities", "slice_range", "patch_size", "split_fractions", "synthetic_shape")
        for key in tuples:
            if stored.get(key) is not None:
                stored[key] = tuple(stored[key])
        if args.epochs is not None:  # the only change allowed on resume: train for longer
            stored["epochs"] = args.epochs
        return base.replace(**stored)
    config = get_config(args.config)
    changes: dict[str, Any] = {}
    for arg, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("samples_per_epoch", "samples_per_epoch"),
                     ("lr", "lr"), ("base_width", "base_width"), ("depth", "depth"), ("seed", "seed")):
        if getattr(args, arg) is not None:
            changes[key] = getattr(args, arg)
    if args.context is not None:
        changes["pre_context"] = args.context
    if args.modalities:
        changes["modalities"] = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    if args.patch_size:
        changes["patch_size"] = tuple(args.patch_size)
    if args.synthetic_shape:
        changes["synthetic_shape"] = tuple(args.synthetic_shape)
    changes.update(parse_overrides(args.overrides))
    try:
        return config.replace(**changes) if changes else config
    except ValueError as exc:  # e.g. aug_<field> on a config without augmentation
        raise SystemExit(f"brats-train: config {config.name!r}: {exc}") from None


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs -> config changes; VALUE is JSON (bare words are strings), lists become tuples."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"name", "preprocessing"}
    pre_fields = {f"pre_{f.name}" for f in dataclasses.fields(PreprocessingSpec)}
    aug_fields = {f"aug_{f.name}" for f in dataclasses.fields(AugmentConfig)}
    known = fields | pre_fields | aug_fields
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise SystemExit(
                f"brats-train: --set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = tuple(value)
        if key == "augment" and value is not None:
            raise SystemExit("brats-train: --set augment accepts only null (no augmentation; aug_<field> changes one setting)")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = make_config(args)
    if args.val_every != 1 and config.select_by != "last":  # refused before any data is read
        raise SystemExit("brats-train: --val-every other than 1 needs --set select_by=last "
                         "(the best checkpoint is chosen by validation every epoch)")
    device_kind = "cuda" if (args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())) else "cpu"
    d = init_distributed(device_kind)
    device = choose_device(args.device, d)
    out = args.out or (args.resume.parent if args.resume else REPO_ROOT / "runs" / f"{config.name}-{_dt.datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        if d.main:
            print(f"[{_dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)

    try:
        cohort = build_cohort(args, config, out, log)
        if not cohort.val and config.select_by != "last":
            raise SystemExit("brats-train: the split left no validation patients; give more cases "
                             "(or --set select_by=last to keep the final epoch)")
        t0 = time.perf_counter()
        train_cases = [prepare_case(c, config) for c in cohort.train]
        val_cases = [prepare_case(c, config) for c in cohort.val] if d.main else []
        has_real = any(c.source == "real" for c in cohort.train + cohort.val)
        del cohort.train[:], cohort.val[:]
        log(f"prepared slice stacks in {time.perf_counter() - t0:.0f} s")
        trainer = Trainer(config, device, d, not args.no_amp, args.real_fraction)
        if args.resume is not None:
            trainer.load_state(args.resume)
            log(f"resumed from {args.resume} after epoch {trainer.epoch}")
        name = args.name or f"unet2d-{'-'.join(config.modalities)}-{config.name}"
        prog = "brats-train" if Path(sys.argv[0]).name in ("brats-train", "train.py", "__main__.py") else Path(sys.argv[0]).name
        command = " ".join(shlex.quote(a) for a in ([prog] + (sys.argv[1:] if argv is None else list(argv))))
        training_info = {
            "command": command,
            "config": config.to_dict(),
            "data": cohort.description,
            "git_revision": git_revision(),
            "device": str(device) + (f" x{d.world}" if d.active else ""),
            "torch": torch.__version__,
            "parameters": count_parameters(trainer.network),
        }
        if d.main:
            (out / "config.json").write_text(json.dumps(training_info, indent=2) + "\n", encoding="utf-8")
            log(f"{config.name}: {count_parameters(trainer.network):,} parameters, {len(train_cases)} train / "
                f"{len(val_cases)} val cases, device {device}{' x' + str(d.world) if d.active else ''}, output {out}")
        started = time.perf_counter()
        first_epoch = trainer.epoch
        limit_s = args.time_limit * 60 if args.time_limit else None
        epoch_times: list[float] = []
        for epoch in range(trainer.epoch, config.epochs):
            elapsed = time.perf_counter() - started
            if limit_s is not None and epoch_times and elapsed + max(epoch_times[-3:]) > limit_s:
                log(f"time limit of {args.time_limit} min reached after epoch {epoch}; stopping")
                break
            frac = elapsed / limit_s if limit_s else 0.0
            if limit_s and epoch_times:  # judge by where the epoch will *end*: anneal fully by the limit
                frac = (elapsed + float(np.mean(epoch_times[-3:]))) / limit_s
            time_vec = torch.tensor([frac], dtype=torch.float64)
            if d.active:
                dist.broadcast(time_vec, src=0)
            epoch_t0 = time.perf_counter()
            lr = trainer.set_epoch_lr(epoch, float(time_vec[0]))
            row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
            row.update(trainer.train_epoch(train_cases, epoch, args.max_steps, d.main and not args.no_progress))
            val_vec = torch.full((2,), float("nan"), dtype=torch.float64)
            per_case: dict[str, Any] = {}
            if d.main and val_cases and args.val_every > 0 and (epoch + 1) % args.val_every == 0:
                meta = model_metadata(config, name, training_info, {}, has_real, args.ncr_definition)
                v = validate(trainer.network, meta, val_cases, config, device, args.val_batch_size, trainer.amp)
                per_case = v.pop("per_case")
                row.update(v)
                val_vec[:] = torch.tensor([v["val_loss"] if "val_loss" in v else float("nan"), v["val_select"]])
            if d.active:
                dist.broadcast(val_vec, src=0)
            val_loss, val_select = float(val_vec[0]), float(val_vec[1])
            if trainer.plateau is not None and math.isfinite(val_loss):
                trainer.plateau.step(val_loss)
            score = -val_loss if config.select_by == "val_loss" else val_select
            if config.select_by == "last":  # no validation set: the annealed final epoch is the model
                score = float(epoch)
            improved = math.isfinite(score) and (trainer.best_score is None or score > trainer.best_score)
            if improved:
                trainer.best_score = score
            row["best"] = int(improved)
            trainer.epoch = epoch + 1
            trainer.history.append(row)
            if d.main:
                if improved:
                    metrics = {
                        "validation": {k: row[k] for k in row if k.startswith("val_")} | {"epoch": epoch + 1, "per_case": per_case},
                    }
                    training_info["epochs"] = epoch + 1
                    training_info["epochs_planned"] = config.epochs
                    training_info["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
                    save_model(out / "best.pt", trainer.network, model_metadata(config, name, training_info, metrics, has_real, args.ncr_definition))
                torch.save(trainer.state(), out / "last_state.tmp")
                os.replace(out / "last_state.tmp", out / "last_state.pt")
                write_history(trainer.history, out)
                elapsed = time.perf_counter() - started
                eta = elapsed / (epoch + 1 - first_epoch) * (config.epochs - epoch - 1)
                if limit_s is not None:
                    eta = min(eta, max(limit_s - elapsed, 0.0))
                log(
                    f"epoch {epoch + 1}/{config.epochs} lr {lr:.2e} train loss {row['train_loss']:.4f} "
                    f"({row['train_slices_per_s']:.1f} slices/s) val loss {row.get('val_loss', float('nan')):.4f} "
                    f"Dice WT {row.get('val_dice_WT', float('nan')):.3f} TC {row.get('val_dice_TC', float('nan')):.3f} "
                    f"ET {row.get('val_dice_ET', float('nan')):.3f}{' *best*' if improved else ''} "
                    f"[{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta)}]"
                )
            epoch_times.append(time.perf_counter() - epoch_t0)
            if d.active:
                dist.barrier()
        if d.main and args.export is not None and (out / "best.pt").exists():
            from models.checkpoint import load_model

            best = load_model(out / "best.pt", fuse=False)
            best.metadata["training"]["command"] = command
            save_model(args.export, best.network, best.metadata)
            log(f"exported best checkpoint to {args.export}")
        if d.main and training_info["data"]["skipped"]:  # said again at the end, where a person looks
            skipped = training_info["data"]["skipped"]
            log(f"skipped {len(skipped)} case(s) that could not be read (config.json 'data.skipped'): "
                + "; ".join(f"{s['case']} ({Path(s['file']).name}: {s['problem']})" for s in skipped))
    finally:
        if d.active and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
