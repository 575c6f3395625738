"""Test-time augmentation (TTA) and the per-voxel class probabilities of a prediction.

A 2-D U-Net decides every axial slice alone, and a left-right mirror of a brain is
another plausible brain (training flips half of its samples left-right), so the mean
of the softmax of the image and of its mirror (mirrored back) is a cheap ensemble:
two forward passes, no extra model. The mirrored copy rides in the same batch as the
original, so progress, cancellation and the GPU out-of-memory fallback of
:mod:`models.runtime` work unchanged.

The mean softmax is what the app's uncertainty view reads (``PredictionRun.probabilities``):
float16, shape (classes, X, Y, Z) on the patient's canonical grid, background 1.0
outside the brain box. Labels are the argmax of the float32 mean, so ``tta="none"``
gives :func:`models.inference.predict_volume`'s labels voxel for voxel (argmax of the
softmax is the argmax of the logits).

Speed (``bench/bench_inference.py``, README): "flip" costs about twice "none", which
breaks the 3 s budget of a 240x240x155 case on 2 CPU cores, so the CPU default is
"none" and "flip" is part of the Accurate tier (models.tiers); on a GPU the second pass is cheap and
"auto" uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from brats_desktop.core.planes import MirrorOp, from_stack_grid, mirror_op, reverse_context

from .inference import _prepare, run_batches

__all__ = ["TTA_MODES", "TTA_CHOICES", "Prediction", "resolve_tta", "predict_with_tta", "predict_ensemble"]

# mode -> the anatomical mirrors each pass applies (() = the image as it is); how a mirror
# acts on a plane's input (flip an in-plane dim, or reverse the context slices when the
# mirror axis is the slicing axis) is core.planes.mirror_op.
_PASSES: dict[str, tuple[tuple[str, ...], ...]] = {
    "none": ((),),
    "flip": ((), ("lr",)),
}
TTA_MODES: dict[str, str] = {
    "none": "one pass (fastest)",
    "flip": "mean of the image and its left-right mirror (2 passes, about twice the time)",
}
TTA_CHOICES: tuple[str, ...] = ("auto", *TTA_MODES)
AUTO_TTA: dict[str, str] = {"cpu": "none", "cuda": "flip", "mps": "flip"}  # by device type, from the bench

ProgressCallback = Callable[[int, int], None]
StopPoll = Callable[[], bool]


def resolve_tta(tta: str | None, device: str | torch.device = "cpu") -> str:
    """The concrete mode for ``tta`` on ``device``: "auto"/None pick the measured default."""
    mode = (tta or "auto").lower()
    if mode == "auto":
        return AUTO_TTA.get(torch.device(device).type, "none")
    if mode not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose one of {', '.join(TTA_CHOICES)}")
    return mode


@dataclass
class Prediction:
    """Labels and the mean softmax they are the argmax of."""

    labels: np.ndarray  # uint8 internal labels 0-3, the images' shape
    probabilities: np.ndarray | None  # float16 (classes, X, Y, Z); None when not asked for
    tta: str = "none"


def _pass_ops(passes: tuple[tuple[str, ...], ...], plane: str) -> list[list[MirrorOp]]:
    return [[mirror_op(plane, direction) for direction in p] for p in passes]  # type: ignore[arg-type]


class _AugmentedStack:
    """The slice stack as ``run_batches`` sees it: every batch followed by its mirrored copies."""

    def __init__(self, stack, ops: list[list[MirrorOp]]) -> None:
        self._stack = stack
        self._ops = ops

    @property
    def n_slices(self) -> int:
        return self._stack.n_slices

    def _apply(self, x: np.ndarray, ops: list[MirrorOp]) -> np.ndarray:
        for kind, dim in ops:
            x = np.flip(x, dim) if kind == "dim" else reverse_context(x, self._stack.spec.slices_per_modality)
        return x

    def inputs(self, indices: np.ndarray) -> np.ndarray:
        x = self._stack.inputs(indices)
        if len(self._ops) == 1 and not self._ops[0]:
            return x
        return np.ascontiguousarray(np.concatenate([self._apply(x, ops) for ops in self._ops]))


def predict_with_tta(
    model,
    images: Mapping[str, np.ndarray],
    *,
    tta: str = "none",
    device: str | torch.device = "cpu",
    batch_size: int = 16,
    amp: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopPoll | None = None,
    probabilities: bool = True,
) -> Prediction:
    """Segment ``images`` averaging the softmax over the passes of ``tta`` ("auto" resolves on ``device``).

    Same preprocessing, batching, progress and cancellation as
    :func:`models.inference.predict_volume` (it shares ``run_batches``); ``batch_size``
    counts slices, each carried with its mirrored copies.
    """
    mode = resolve_tta(tta, device)
    stack = _prepare(model, images)
    ops = _pass_ops(_PASSES[mode], stack.plane)
    n_classes = int(model.metadata.get("architecture", {}).get("num_classes", 4))
    crop = np.zeros((stack.n_slices, *stack.crop_shape[:2]), dtype=np.uint8)
    # Probabilities are stored slice-major (C, Z, X, Y), so each batch writes whole contiguous
    # slices, and handed out as a (C, X, Y, Z) view of that store: writing (C, X, Y, Z)
    # directly scattered every value along the last axis (0.8 of a 3 s Run on 2 cores).
    store: np.ndarray | None = None
    if probabilities:
        n_z = stack.grid_shape[2]
        store = np.zeros((n_classes, n_z, *stack.grid_shape[:2]), dtype=np.float16)
        store[0] = 1.0
    bx, by, _ = stack.box

    def on_batch(idx: np.ndarray, logits: torch.Tensor) -> None:
        probs = torch.softmax(logits, dim=1)
        n = len(idx)
        mean = probs[:n].clone() if len(ops) > 1 else probs[:n]
        for k, pass_ops in enumerate(ops[1:], start=1):
            # Outputs are mirrored back where the image was flipped; a context reversal
            # predicted the mirrored slice at this very position, so it needs no undoing.
            dims = tuple(d for kind, d in pass_ops if kind == "dim")
            part = probs[k * n : (k + 1) * n]
            mean += part.flip(dims) if dims else part
        if len(ops) > 1:
            mean /= len(ops)
        if stack.spec.resize is None:  # argmax and float16 in torch (vectorised); un-padding is a view
            crop[idx] = stack.unpad(mean.argmax(dim=1).to(torch.uint8).cpu().numpy())
            p = stack.unpad(mean.to(torch.float16).cpu().numpy()) if store is not None else None
        else:
            p = stack.to_crop_probabilities(mean.cpu().numpy())  # (N, C, x, y) float32
            crop[idx] = p.argmax(axis=1)
        if store is not None:
            z = stack.z_indices[idx]
            store[:, z[0] : z[-1] + 1, bx, by] = p.transpose(1, 0, 2, 3)

    run_batches(model, _AugmentedStack(stack, ops), on_batch, device, batch_size, amp, progress, should_stop)
    # (C, X, Y, Z) view of the store, on the canonical grid (a further view for other planes)
    full = None if store is None else from_stack_grid(store.transpose(0, 2, 3, 1), stack.plane)
    return Prediction(stack.to_full(crop), full, mode)


def predict_ensemble(
    models,
    images: Mapping[str, np.ndarray],
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> Prediction:
    """Segment ``images`` with the mean softmax of several models (each with ``tta``).

    Models trained alike but separately (another seed, plain 2-D beside 2.5-D) err
    differently; averaging their softmax is the fold-ensemble the cross-validation
    scores (``training.crossval --ensemble-with``). Each member keeps its own
    preprocessing (a 2.5-D and a 2-D model may be mixed); their outputs meet on the
    patient's grid. Costs one full prediction per member, so the app runs it only for the
    Accurate tier (:mod:`models.tiers`), not by default (the CPU budget is one pass). Progress counts all members' slices;
    ``options`` (tta, device, batch_size, amp, should_stop) go to :func:`predict_with_tta`.
    """
    members = list(models)
    if not members:
        raise ValueError("an ensemble needs at least one model")
    classes = {int(m.metadata.get("architecture", {}).get("num_classes", 4)) for m in members}
    if len(classes) != 1:
        raise ValueError(f"ensemble members disagree on the number of classes: {sorted(classes)}")
    total: np.ndarray | None = None
    mode = resolve_tta(options.pop("tta", "none"), options.get("device", "cpu"))
    options.pop("probabilities", None)
    # Members reading other planes have other slice counts: each member's share of the bar is
    # the first member's count, so progress stays monotonic and ends exactly at its total.
    unit: list[int] = []
    for k, member in enumerate(members):
        def member_progress(done: int, n: int, k: int = k) -> None:
            if progress is not None and n > 0:
                if not unit:
                    unit.append(n)
                progress(k * unit[0] + (done * unit[0]) // n, len(members) * unit[0])

        pred = predict_with_tta(member, images, tta=mode, progress=member_progress, probabilities=True, **options)
        assert pred.probabilities is not None
        p = pred.probabilities.astype(np.float32)
        total = p if total is None else total + p
    assert total is not None
    mean = total / len(members)
    return Prediction(mean.argmax(axis=0).astype(np.uint8), mean.astype(np.float16), mode)
