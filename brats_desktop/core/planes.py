"""Which anatomical plane a 2-D network reads, as axis permutations of the canonical RAS+ grid.

A 2.5-D model sees one slice (plus its neighbours) at a time. Models that read the
same volume along orthogonal axes make different mistakes (an axial model never sees a
lesion's superior-inferior extent in one image), so averaging their probabilities is a
stronger ensemble than several models of one direction. Everything in preprocessing,
training and inference works on a *stack grid*: the canonical array permuted so that
its last axis is the slicing axis. For axial that is the canonical grid itself, which
keeps every axial model and checkpoint exactly as before.

Mirrors are anatomical, not array operations: training flips patients left-right and
anterior-posterior, and test-time augmentation averages with the left-right mirror.
In an axial slice both axes lie in-plane; in a sagittal slice the left-right axis *is*
the slicing axis, where a mirror reverses the order of the context slices instead of
flipping the image (:func:`mirror_op`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

PLANES: dict[str, tuple[int, int, int]] = {
    # canonical axes (0 = R-L, 1 = A-P, 2 = S-I) in stack-grid order; the last is sliced
    "axial": (0, 1, 2),  # slice (X, Y), along Z
    "coronal": (0, 2, 1),  # slice (X, Z), along Y
    "sagittal": (1, 2, 0),  # slice (Y, Z), along X
}
DEFAULT_PLANE = "axial"

# How an anatomical mirror acts on a network input (N, channels, H, W) of a plane:
# ("dim", d) flips tensor dim d (and the target the same way); ("context", 0) reverses the
# order of the context slices within each modality (the target is unchanged).
MirrorOp = tuple[Literal["dim", "context"], int]
_MIRRORS: dict[str, dict[str, MirrorOp]] = {
    "axial": {"lr": ("dim", -2), "ap": ("dim", -1)},
    "coronal": {"lr": ("dim", -2), "ap": ("context", 0)},
    "sagittal": {"lr": ("context", 0), "ap": ("dim", -2)},
}


def check_plane(plane: str) -> str:
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {', '.join(PLANES)}, got {plane!r}")
    return plane


def to_stack_grid(volume: np.ndarray, plane: str) -> np.ndarray:
    """Canonical (X, Y, Z) -> the plane's stack grid (a view; the last axis is sliced)."""
    axes = PLANES[check_plane(plane)]
    return volume if axes == (0, 1, 2) else volume.transpose(axes)


def from_stack_grid(volume: np.ndarray, plane: str) -> np.ndarray:
    """The inverse of :func:`to_stack_grid` on the last three axes (leading axes, e.g. classes, kept)."""
    axes = PLANES[check_plane(plane)]
    if axes == (0, 1, 2):
        return volume
    lead = volume.ndim - 3
    inverse = tuple(int(a) for a in np.argsort(axes))
    return volume.transpose(*range(lead), *(lead + a for a in inverse))


def stack_shape(shape: tuple[int, int, int], plane: str) -> tuple[int, int, int]:
    axes = PLANES[check_plane(plane)]
    return tuple(int(shape[a]) for a in axes)  # type: ignore[return-value]


def mirror_op(plane: str, direction: Literal["lr", "ap"]) -> MirrorOp:
    """How the left-right ("lr") or anterior-posterior ("ap") mirror acts on this plane's inputs."""
    return _MIRRORS[check_plane(plane)][direction]


def reverse_context(x, slices_per_modality: int):
    """Reverse the context slices of each modality in (N, modalities * slices, H, W) (numpy or torch).

    A 2.5-D input of slice z mirrored through the slicing axis is the input of the
    mirrored slice: the same images with their neighbours in the opposite order.
    """
    n, c, h, w = x.shape
    m = c // slices_per_modality
    v = x.reshape(n, m, slices_per_modality, h, w)
    v = v[:, :, ::-1] if isinstance(v, np.ndarray) else v.flip(2)  # torch tensors take no negative steps
    return v.reshape(n, c, h, w)
