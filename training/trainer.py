"""The training loop's hooks: ``train_step(x, y) -> dict``, ``train_epoch``, learning-rate schedule,
state to resume from. Small so each can be tested on CPU; ``training.train.main`` drives them.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from models.inference import autocast_dtype
from models.runtime import uses_amp
from models.unet import build_network

from .augment import augment_batch, drop_modalities
from .configs import TrainConfig
from .distributed import Dist
from .data import PreparedCase, SliceDataset, epoch_samples, patient_batches
from .losses import batch_summary, compute_loss
from .progress import Progress

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
                    x, y = augment_batch(x, y.long(), cfg.augment, spm, gen, cfg.preprocessing.plane)
                yield drop_modalities(x, cfg.modality_dropout, spm, gen), y
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
                x, y = augment_batch(x, y, cfg.augment, spm, gen, cfg.preprocessing.plane)
            yield drop_modalities(x, cfg.modality_dropout, spm, gen), y

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
