"""The click model's network: the bundled 2.5-D U-Net with extra input channels, warm-started.

Input channels of one axial slice ``z`` (one implementation, :func:`assemble_inputs`,
for training and the engine):

1. the automatic model's own inputs: each modality at ``z - 1, z, z + 1`` (modality-major);
2. the current label map, one-hot NCR/ED/ET, at ``z - 1, z, z + 1`` (class-major), so the
   network refines what is shown, hand edits included;
3. the guidance of :mod:`.guidance` at ``z``: background, NCR, ED, ET.

:func:`warm_start` copies the automatic model (batch norm folded into the convolutions,
so training and inference run the same plain network) and gives the new channels zero
first-layer weights and a zero shortcut from them to the logits (``prior_channels`` of
:class:`models.unet.UNet`): before any training it answers exactly as the automatic model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoint import LoadedModel
from models.unet import build_network

from . import guidance as G

PREV_CLASSES = (1, 2, 3)
INTERACTIVE_FORMAT = 1


def interactive_spec(context: int = 1) -> dict[str, Any]:
    """What the model file records about its extra inputs; the engine refuses a file that differs."""
    return {
        "format": INTERACTIVE_FORMAT,
        "context": int(context),
        "prev_classes": list(PREV_CLASSES),
        "guidance_labels": list(range(G.NUM_LABELS)),
        "click_radius_xy": G.CLICK_RADIUS_XY,
        "click_radius_z": G.CLICK_RADIUS_Z,
        "scribble_radius_xy": G.SCRIBBLE_RADIUS_XY,
        "scribble_radius_z": G.SCRIBBLE_RADIUS_Z,
    }


def extra_channels(context: int = 1) -> int:
    return len(PREV_CLASSES) * (2 * context + 1) + G.NUM_LABELS


def assemble_inputs(
    images: np.ndarray, labels: np.ndarray, guidance: np.ndarray, zs: Sequence[int], context: int = 1
) -> np.ndarray:
    """(N, C, X, Y) float32 network input for window slices ``zs``.

    ``images`` (M, X, Y, Z) normalised, ``labels`` (X, Y, Z) internal, ``guidance``
    (4, X, Y, Z) from :func:`.guidance.rasterise`, all on one window; context slices
    beyond the window repeat its edge slice (as the automatic model's stack does).
    """
    zs = np.asarray(zs, dtype=np.int64)
    nz = images.shape[-1]
    offsets = np.arange(-context, context + 1)
    nb = np.clip(zs[:, None] + offsets[None, :], 0, nz - 1)  # (N, 2k+1)
    img = images[:, :, :, nb]  # (M, X, Y, N, S)
    img = img.transpose(3, 0, 4, 1, 2).reshape(len(zs), -1, *images.shape[1:3])
    lab = labels[:, :, nb]  # (X, Y, N, S)
    prev = np.stack([lab == c for c in PREV_CLASSES], axis=0)  # (3, X, Y, N, S)
    prev = prev.transpose(3, 0, 4, 1, 2).reshape(len(zs), -1, *labels.shape[:2])
    guid = guidance[:, :, :, zs].transpose(3, 0, 1, 2)
    return np.ascontiguousarray(np.concatenate([img, prev.astype(np.float32), guid], axis=1), dtype=np.float32)


def plain_architecture(auto_architecture: dict[str, Any], context: int = 1) -> dict[str, Any]:
    """The automatic model's architecture with the extra inputs and without batch norm (folded)."""
    arch = dict(auto_architecture)
    arch["prior_channels"] = [int(arch["in_channels"]), int(arch["in_channels"]) + extra_channels(context)]
    arch["in_channels"] = int(arch["in_channels"]) + extra_channels(context)
    arch["batch_norm"] = False
    return arch


def warm_start(auto: LoadedModel, keep: float = 0.0, follow: float = 0.0) -> tuple[nn.Module, dict[str, Any]]:
    """A click network built from ``auto``: zero weights for the new channels in the first layer.

    With ``keep`` = ``follow`` = 0 it answers exactly like ``auto`` whatever the labels and
    guidance. ``keep`` > 0 starts the shortcut adding ``keep`` to the logit of the class the
    current map shows on the slice (so a map equal to ``auto``'s own answer is kept: the
    argmax cannot change), ``follow`` > 0 adds ``follow`` to the class the guidance names:
    training then starts from "keep the map, obey the clicks" instead of learning it.
    ``auto`` must be loaded with ``fuse=True`` (batch norm folded): its modules then
    match a U-Net without batch norm key for key. Returns (network in eval mode, architecture).
    """
    context = int(auto.metadata["preprocessing"].get("context", 1))
    arch = plain_architecture(auto.metadata["architecture"], context)
    net = build_network(arch)
    source = auto.network.state_dict()
    target = net.state_dict()
    if set(source) != set(target) - {"prior.weight"}:
        raise ValueError("the automatic model's layers do not match a plain U-Net; load it with fuse=True")
    first = "down.0.0.weight"
    for key, value in source.items():
        if key == first:
            w = torch.zeros_like(target[key])
            w[:, : value.shape[1]] = value
            target[key] = w
        else:
            target[key] = value.clone()
    n_slices = 2 * context + 1
    prior = torch.zeros_like(target["prior.weight"])  # (classes, prev + guidance, 1, 1)
    for i, c in enumerate(PREV_CLASSES):
        prior[c, i * n_slices + context] = keep
    for c in range(G.NUM_LABELS):
        prior[c, len(PREV_CLASSES) * n_slices + c] = follow
    target["prior.weight"] = prior
    net.load_state_dict(target)
    net.eval()
    return net, arch


def click_model_from_automatic(auto: LoadedModel, keep: float = 4.0, follow: float = 4.0,
                               window: int = 96, slices_each_side: int = 3) -> LoadedModel:
    """An untrained click model (:func:`warm_start`) of ``auto``, ready for :class:`.engine.ClickEngine`.

    The bundled click model is exactly this of the bundled automatic model (keep = follow = 4,
    no training steps): building it from another automatic model, e.g. one fold's of a
    cross-validation, gives a click model that saw no patient that model did not see.
    ``auto`` must be loaded with ``fuse=True``.
    """
    context = int(auto.metadata["preprocessing"].get("context", 1))
    net, arch = warm_start(auto, keep=keep, follow=follow)
    meta = {
        "name": f"click-{auto.name}",
        "modalities": list(auto.metadata["modalities"]),
        "classes": auto.metadata["classes"],
        "label_convention": auto.metadata.get("label_convention", ""),
        "ncr_definition": auto.metadata.get("ncr_definition", "brats2013"),
        "preprocessing": auto.metadata["preprocessing"],
        "architecture": {"type": "unet2d", **arch},
        "interactive": {**interactive_spec(context), "slices_each_side": int(slices_each_side), "window": int(window)},
        "training": {"warm_start": auto.name, "keep": float(keep), "follow": float(follow), "steps": 0,
                     "warm_start_file": str(auto.path) if auto.path is not None else None},
        "licence": auto.metadata.get("licence", ""),
    }
    return LoadedModel(net, meta, None)
