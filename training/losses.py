"""Losses and the reference tutorial's metrics, in torch.

The tutorial's metrics (soft Dice averaged over all four classes *including
background*, precision/sensitivity/specificity over all one-hot channels at once)
are background-dominated; they are computed here only so that our runs can be
compared with its published numbers. Hard, BraTS-standard Dice per region comes from
:mod:`brats_desktop.core.metrics` (one implementation) in validation and evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from brats_desktop.core.labels import REGIONS

NUM_CLASSES = 4
LOSSES = ("ce", "dice_ce", "dice_ce_regions")


def one_hot(target: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(N, H, W) integer labels -> (N, C, H, W) float; soft (N, C, H, W) targets pass through."""
    if target.ndim == 4:
        return target.float()
    return F.one_hot(target.long(), num_classes).permute(0, 3, 1, 2).float()


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy against hard labels or soft (resized one-hot) targets."""
    if target.ndim == 4:
        return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    return F.cross_entropy(logits, target.long())


def _pooled_dice_loss(probs: torch.Tensor, target: torch.Tensor, smooth: float) -> torch.Tensor:
    """1 - mean over channels of the soft Dice of (N, C, H, W) probabilities and targets.

    Pooled over the batch (not per image) so tumour-free slices do not produce 0/0.
    """
    dims = (0, 2, 3)
    inter = (probs * target).sum(dims)
    denom = probs.sum(dims) + target.sum(dims)
    return 1 - ((2 * inter + smooth) / (denom + smooth)).mean()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - mean soft Dice over the tumour classes (1-3), pooled over the batch."""
    return _pooled_dice_loss(torch.softmax(logits, dim=1)[:, 1:], one_hot(target)[:, 1:], smooth)


def soft_region_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - mean soft Dice over the BraTS regions WT, TC and ET, pooled over the batch.

    The regions are what BraTS scores, and nested: a voxel the network cannot decide
    between edema and core still counts fully towards WT here, whereas the per-class
    Dice of :func:`soft_dice_loss` penalises it in both classes. nnU-Net's BraTS entries
    train on the regions for this reason; here the region probabilities are sums of the
    softmax, so the network, its output and inference stay as they are.
    """
    probs, t = torch.softmax(logits, dim=1), one_hot(target)
    regions = [list(classes) for classes in REGIONS.values()]
    return _pooled_dice_loss(torch.stack([probs[:, r].sum(dim=1) for r in regions], dim=1),
                             torch.stack([t[:, r].sum(dim=1) for r in regions], dim=1), smooth)


def compute_loss(kind: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss a config names: ``ce`` (the tutorial), ``dice_ce`` (ours) or ``dice_ce_regions`` (Dice on WT/TC/ET)."""
    if kind == "ce":
        return cross_entropy(logits, target)
    if kind == "dice_ce":
        return cross_entropy(logits, target) + soft_dice_loss(logits, target)
    if kind == "dice_ce_regions":
        return cross_entropy(logits, target) + soft_region_dice_loss(logits, target)
    raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")


TUTORIAL_METRICS = (
    "accuracy",
    "mean_iou",
    "dice_coef",
    "precision",
    "sensitivity",
    "specificity",
    "dice_coef_necrotic",
    "dice_coef_edema",
    "dice_coef_enhancing",
)


@torch.no_grad()
def batch_summary(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Cheap per-batch training curves from one softmax: accuracy, the tutorial's dice_coef, tumour soft Dice."""
    probs = torch.softmax(logits.float(), dim=1)
    t = one_hot(target)
    dims = (0, 2, 3)
    inter = (probs * t).sum(dims)
    denom = probs.sum(dims) + t.sum(dims)
    tumour = ((2 * inter[1:] + 1e-5) / (denom[1:] + 1e-5)).mean()
    return {
        "accuracy": float((probs.argmax(1) == t.argmax(1)).float().mean()),
        "dice_coef": float(((2 * inter + 1.0) / (denom + 1.0)).mean()),
        "dice_tumour": float(tumour),
    }


@torch.no_grad()
def tutorial_metrics(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> dict[str, float]:
    """The tutorial's metrics on one batch, as its Keras code defines them.

    ``mean_iou`` is a true multi-class IoU of the argmax (Keras' ``MeanIoU`` as the
    tutorial fed it, soft outputs without argmax, is not a meaningful IoU).
    """
    probs = torch.softmax(logits.float(), dim=1)
    t = one_hot(target)
    pred = probs.argmax(1)
    ref = t.argmax(1)
    out: dict[str, float] = {"accuracy": float((pred == ref).float().mean())}
    ious = []
    for c in range(NUM_CLASSES):
        p, r = pred == c, ref == c
        union = (p | r).sum()
        if union > 0:
            ious.append(float((p & r).sum()) / float(union))
    out["mean_iou"] = sum(ious) / len(ious) if ious else 1.0
    dices = []
    for c in range(NUM_CLASSES):  # dice_coef: smoothing 1, averaged including background
        inter = (t[:, c] * probs[:, c]).sum()
        dices.append(float((2 * inter + 1.0) / (t[:, c].sum() + probs[:, c].sum() + 1.0)))
    out["dice_coef"] = sum(dices) / NUM_CLASSES
    tp = torch.round(torch.clamp(t * probs, 0, 1)).sum()
    out["precision"] = float(tp / (torch.round(torch.clamp(probs, 0, 1)).sum() + eps))
    out["sensitivity"] = float(tp / (torch.round(torch.clamp(t, 0, 1)).sum() + eps))
    tn = torch.round(torch.clamp((1 - t) * (1 - probs), 0, 1)).sum()
    out["specificity"] = float(tn / (torch.round(torch.clamp(1 - t, 0, 1)).sum() + eps))
    for c, name in ((1, "necrotic"), (2, "edema"), (3, "enhancing")):
        inter = (t[:, c] * probs[:, c]).abs().sum()
        denom = (t[:, c] ** 2).sum() + (probs[:, c] ** 2).sum() + 1e-6
        out[f"dice_coef_{name}"] = float(2 * inter / denom)
    return out
