"""Validation: whole-volume prediction of held-out cases, exactly as the app predicts.

Each validation case is pushed through :func:`models.inference.run_batches` (the
loop behind ``predict_volume``). From the same logits we get the slice-level loss and
the tutorial's metrics (over the config's slice range) and the full-grid label map
whose BraTS-region Dice comes from :mod:`brats_desktop.core.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from brats_desktop.core.metrics import dice_scores
from models.checkpoint import LoadedModel
from models.inference import logits_to_crop_labels, run_batches

from .configs import TrainConfig
from .data import PreparedCase
from .losses import TUTORIAL_METRICS, compute_loss, soft_dice_loss, tutorial_metrics

REGIONS = ("WT", "TC", "ET")


def validate(
    network: nn.Module,
    metadata: dict[str, Any],
    cases: Sequence[PreparedCase],
    config: TrainConfig,
    device: str | torch.device = "cpu",
    batch_size: int = 16,
    amp: bool = False,
) -> dict[str, Any]:
    """Mean validation metrics plus per-case Dice; ``val_select`` is the score the best checkpoint is chosen by."""
    model = LoadedModel(network, metadata)
    sums: dict[str, float] = {}
    n_slices = 0
    per_case: dict[str, dict[str, float]] = {}
    for case in cases:
        stack = case.stack
        crop = np.zeros((stack.n_slices, *stack.crop_shape[:2]), dtype=np.uint8)
        in_range = np.zeros(stack.n_slices, dtype=bool)
        in_range[case.selectable] = True

        def on_batch(idx: np.ndarray, logits: torch.Tensor) -> None:
            nonlocal n_slices
            crop[idx] = logits_to_crop_labels(stack, logits)
            keep = in_range[idx]
            if not keep.any():
                return
            lg = logits[torch.from_numpy(keep).to(logits.device)]
            target = torch.from_numpy(case.targets[idx[keep]]).to(logits.device)
            k = int(keep.sum())
            stats = tutorial_metrics(lg, target)
            stats["loss"] = float(compute_loss(config.loss, lg, target))
            stats["dice_tumour"] = 1.0 - float(soft_dice_loss(lg, target))
            for key, v in stats.items():
                sums[key] = sums.get(key, 0.0) + v * k
            n_slices += k

        run_batches(model, stack, on_batch, device, batch_size, amp, None, None)
        scores = dice_scores(stack.to_full(crop), case.labels)
        per_case[case.name] = {r: scores[r] for r in REGIONS} | {"source": case.source}  # type: ignore[dict-item]
    out: dict[str, Any] = {f"val_{k}": v / max(n_slices, 1) for k, v in sums.items()}
    for r in REGIONS:
        out[f"val_dice_{r}"] = float(np.mean([c[r] for c in per_case.values()])) if per_case else float("nan")
    out["val_dice_mean"] = float(np.mean([out[f"val_dice_{r}"] for r in REGIONS]))
    real = [c for c in per_case.values() if c["source"] == "real"]
    out["val_dice_real_mean"] = (
        float(np.mean([[c[r] for r in REGIONS] for c in real])) if real else float("nan")
    )
    # The target is real MRI: choose by real validation cases when there are any.
    out["val_select"] = out["val_dice_real_mean"] if real else out["val_dice_mean"]
    out["per_case"] = per_case
    for key in TUTORIAL_METRICS:
        out.setdefault(f"val_{key}", float("nan"))
    return out
