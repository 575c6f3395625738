"""Batch augmentation in torch, per sample: flips, rotation/scale, intensity, gamma, noise, blur.

Done on the batch (not per item in numpy) because one ``grid_sample`` over the batch
is far cheaper on two CPU cores. Intensity transforms act per modality (all context
slices of a modality get the same change) and only inside the brain, so the
background stays exactly 0 as inference sees it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from brats_desktop.core.planes import DEFAULT_PLANE, mirror_op, reverse_context

from .configs import AugmentConfig


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def augment_batch(
    x: torch.Tensor, y: torch.Tensor, cfg: AugmentConfig, slices_per_modality: int, g: torch.Generator,
    plane: str = DEFAULT_PLANE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment (N, C, H, W) float inputs and (N, H, W) integer labels; returns new tensors.

    The flips are anatomical mirrors of the patient (left-right, anterior-posterior), so
    models of every ``plane`` learn the same recipe; :func:`core.planes.mirror_op` says
    which array operation each is in this plane's slices.
    """
    if y.ndim != 3:
        raise ValueError("augmentation supports hard (N, H, W) label targets only")
    x = x.clone()
    y = y.clone()
    n = x.shape[0]

    for direction, prob in (("lr", cfg.flip_lr), ("ap", cfg.flip_ap)):
        flip = torch.rand(n, generator=g) < prob
        kind, dim = mirror_op(plane, direction)  # type: ignore[arg-type]
        if kind == "dim":
            x[flip] = x[flip].flip(dim)
            y[flip] = y[flip].flip(dim)
        elif flip.any():
            x[flip] = reverse_context(x[flip], slices_per_modality)

    todo = torch.rand(n, generator=g) < cfg.affine
    if todo.any():
        k = int(todo.sum())
        ang = _uniform(k, -cfg.rotate_deg, cfg.rotate_deg, g) * math.pi / 180
        s = _uniform(k, *cfg.scale, g)
        theta = torch.zeros(k, 2, 3)
        theta[:, 0, 0] = torch.cos(ang) / s
        theta[:, 0, 1] = -torch.sin(ang) / s
        theta[:, 1, 0] = torch.sin(ang) / s
        theta[:, 1, 1] = torch.cos(ang) / s
        grid = F.affine_grid(theta, list(x[todo].shape), align_corners=False)
        x[todo] = F.grid_sample(x[todo], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        yy = y[todo].unsqueeze(1).float()
        y[todo] = F.grid_sample(yy, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0].to(y.dtype)

    groups = x.shape[1] // slices_per_modality
    xv = x.view(n, groups, slices_per_modality, *x.shape[-2:])
    brain = (xv != 0).any(dim=2, keepdim=True)  # per modality
    if cfg.intensity > 0:
        on = (torch.rand(n, groups, generator=g) < cfg.intensity).float()
        scale = 1 + on * (_uniform(n * groups, *cfg.intensity_scale, g).view(n, groups) - 1)
        shift = on * _uniform(n * groups, -cfg.intensity_shift, cfg.intensity_shift, g).view(n, groups)
        xv.mul_(scale[:, :, None, None, None]).add_(shift[:, :, None, None, None] * brain)
    if cfg.gamma > 0:
        for i in torch.nonzero(torch.rand(n, generator=g) < cfg.gamma).flatten().tolist():
            gamma = float(_uniform(1, *cfg.gamma_range, g))
            v = xv[i]
            lo, hi = v.amin(), v.amax()
            if hi - lo > 1e-6:
                xv[i] = torch.where(brain[i], ((v - lo) / (hi - lo)).pow(gamma) * (hi - lo) + lo, v)
    if cfg.noise > 0:
        on = (torch.rand(n, generator=g) < cfg.noise).float()
        sd = on * _uniform(n, 0, cfg.noise_sd, g)
        xv.add_(torch.randn(xv.shape, generator=g) * sd[:, None, None, None, None] * brain)
    if cfg.blur > 0:
        todo = torch.rand(n, generator=g) < cfg.blur
        if todo.any():
            x[todo] = F.avg_pool2d(x[todo], 3, stride=1, padding=1, count_include_pad=False)
    return x, y


def drop_modalities(x: torch.Tensor, p: float, slices_per_modality: int, g: torch.Generator) -> torch.Tensor:
    """Zero a random part of each chosen sample's sequences, keeping at least one that has signal.

    With probability ``p`` a sample keeps a uniformly drawn non-empty subset of the
    sequences it has (a patient without T2 already shows zeros there). Zeros are what
    inference feeds for a sequence a study lacks, so the network learns every subset.
    """
    if p <= 0:
        return x
    n, c = x.shape[:2]
    groups = c // slices_per_modality
    xv = x.view(n, groups, slices_per_modality, *x.shape[-2:])
    present = (xv != 0).flatten(2).any(dim=2)  # (N, groups)
    chosen = torch.rand(n, generator=g) < p
    for i in torch.nonzero(chosen).flatten().tolist():
        have = torch.nonzero(present[i]).flatten()
        if len(have) < 2:
            continue
        while True:  # a uniform non-empty subset of what this sample has
            keep = torch.rand(len(have), generator=g) < 0.5
            if keep.any():
                break
        for j in have[~keep].tolist():
            xv[i, j] = 0
    return x
