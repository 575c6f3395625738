"""Tiny click models for tests (engine, session, the app's AI Correct tool): nothing trains, nothing is downloaded."""

from __future__ import annotations

import numpy as np
import torch

from brats_desktop.interactive.network import interactive_spec, warm_start
from models.checkpoint import LoadedModel
from models.unet import build_network

torch.set_num_threads(1)
SHAPE = (20, 20, 9)
AUTO_ARCH = {"type": "unet2d", "in_channels": 6, "num_classes": 4, "base_width": 4, "depth": 3,
             "dropout": 0.0, "batch_norm": False, "up_mode": "transpose"}
PRE = {"normalisation": "zscore_brain", "crop": "brain_box", "margin": 0, "resize": None, "context": 1,
       "size_multiple": 4, "clip": None}


def tiny_metadata(arch: dict, interactive: bool) -> dict:
    meta = {"name": "tiny-click" if interactive else "tiny", "modalities": ["flair", "t1ce"], "classes": {},
            "label_convention": "internal", "preprocessing": dict(PRE), "architecture": arch}
    if interactive:
        meta["interactive"] = {**interactive_spec(1), "window": 16, "slices_each_side": 2}
    return meta


def tiny_auto(seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(build_network(AUTO_ARCH).eval(), tiny_metadata(AUTO_ARCH, False))


def tiny_click_model(seed: int = 0) -> LoadedModel:
    net, arch = warm_start(tiny_auto(seed))
    return LoadedModel(net, tiny_metadata({"type": "unet2d", **arch}, True))


def images(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {m: rng.normal(100, 20, SHAPE).astype(np.float32) for m in ("flair", "t1ce")}


def tiny_engine(seed: int = 0, **options):
    """A warm-started (untrained) tiny click engine: honours every guarantee, answers in milliseconds."""
    from brats_desktop.interactive.engine import ClickEngine

    return ClickEngine(tiny_click_model(seed), **options)
