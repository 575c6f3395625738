"""Turn canonical RAS+ volumes into network input slices, and network output back into a label map.

One implementation shared by training (``training/data.py``) and inference
(``models/inference.py``): what the network saw while learning is exactly what it
sees in the app. Pure numpy/scipy; no torch, no Qt.

The steps, each described by a :class:`PreprocessingSpec` stored in every checkpoint:

1. **Brain mask**: voxels that differ from the volume's background value. The
   background is the most frequent value on the volume's border faces, not assumed 0,
   because already-normalised data (``brats2013-train``) has a constant non-zero
   background.
2. **Normalisation**: ``zscore_brain`` (mean 0, sd 1 inside the brain mask, background
   0) or ``max_volume`` (the tutorial's division by the maximum of the array).
3. **Crop**: ``brain_box`` (the mask's bounding box plus a margin, at native
   resolution) or ``full`` (the whole grid).
4. **Resize** (optional, the tutorial's 128x128): bilinear for images.
5. **Pad** in-plane with background to a multiple of the U-Net's size multiple.
6. **Slice context** (2.5-D): each slice (axial ``vol[:, :, z]``, or along the spec's
   ``plane``, :mod:`brats_desktop.core.planes`) comes with ``context``
   neighbours on each side as extra channels, modality-major:
   ``[m0(z-k) .. m0(z+k), m1(z-k) .. m1(z+k), ...]``; neighbours beyond the crop repeat
   the edge slice.

:meth:`SliceStack.to_full` inverts 3-5 exactly: un-pad, resize probabilities back to the
crop's size, argmax, and place into the full grid (background outside the crop).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .planes import DEFAULT_PLANE, check_plane, from_stack_grid, stack_shape, to_stack_grid

NORMALISATIONS = ("zscore_brain", "max_volume")
CROPS = ("brain_box", "full")


@dataclass(frozen=True)
class PreprocessingSpec:
    """How volumes become network input; stored as a dict in checkpoint metadata."""

    normalisation: str = "zscore_brain"
    crop: str = "brain_box"
    margin: int = 4  # voxels added around the brain box on every side (in-plane and z)
    resize: tuple[int, int] | None = None  # in-plane size after cropping; None = native
    context: int = 1  # neighbouring slices on each side (0 = plain 2-D)
    size_multiple: int = 16  # in-plane padding multiple (2 ** (U-Net depth - 1))
    clip: float | None = None  # clip normalised intensities to [-clip, clip]
    plane: str = DEFAULT_PLANE  # slicing direction (core.planes): axial, coronal or sagittal

    def __post_init__(self) -> None:
        check_plane(self.plane)
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")
        if self.context < 0 or self.margin < 0 or self.size_multiple < 1:
            raise ValueError("context and margin must be >= 0 and size_multiple >= 1")
        if self.resize is not None:
            object.__setattr__(self, "resize", (int(self.resize[0]), int(self.resize[1])))

    @property
    def slices_per_modality(self) -> int:
        return 2 * self.context + 1

    def in_channels(self, n_modalities: int) -> int:
        return n_modalities * self.slices_per_modality

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["resize"] = list(self.resize) if self.resize is not None else None
        if self.plane == DEFAULT_PLANE:  # axial checkpoints keep the metadata older readers know
            del d["plane"]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PreprocessingSpec":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown preprocessing key(s): {', '.join(unknown)}")
        return cls(**dict(data))


# --------------------------------------------------------------------------- masks and intensities


def background_value(volume: np.ndarray) -> float:
    """The most frequent value on the six border faces: 0 for raw scans, the constant fill of normalised ones."""
    faces = np.concatenate(
        [
            volume[[0, -1], :, :].ravel(),
            volume[:, [0, -1], :].ravel(),
            volume[:, :, [0, -1]].ravel(),
        ]
    )
    values, counts = np.unique(faces, return_counts=True)
    return float(values[np.argmax(counts)])


def brain_mask(volumes: Iterable[np.ndarray]) -> np.ndarray:
    """Voxels where any modality differs from its own background value."""
    mask: np.ndarray | None = None
    for vol in volumes:
        m = vol != np.float32(background_value(vol))
        mask = m if mask is None else (mask | m)
    if mask is None:
        raise ValueError("brain_mask needs at least one volume")
    return mask


def zscore(volume: np.ndarray, mask: np.ndarray, clip: float | None = None) -> np.ndarray:
    """(v - mean) / sd over the mask, 0 outside; harmless on data that is already z-scored."""
    out = np.zeros(volume.shape, dtype=np.float32)
    if not mask.any():
        return out
    inside = volume[mask].astype(np.float64)
    mean, sd = inside.mean(), inside.std()
    out[mask] = ((inside - mean) / (sd if sd > 1e-8 else 1.0)).astype(np.float32)
    if clip is not None:
        np.clip(out, -clip, clip, out=out)
    return out


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice, slice]:
    """Bounding box of a mask plus ``margin`` (clipped to the grid); the whole grid if the mask is empty."""
    if not mask.any():
        return tuple(slice(0, n) for n in mask.shape)  # type: ignore[return-value]
    out = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        out.append(slice(max(int(hits[0]) - margin, 0), min(int(hits[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(out)  # type: ignore[return-value]


def _zoom_inplane(stack: np.ndarray, size: tuple[int, int], order: int) -> np.ndarray:
    """Resize the last two axes of a (..., H, W) array to ``size`` (order 1 bilinear, 0 nearest)."""
    from scipy import ndimage

    h, w = stack.shape[-2:]
    if (h, w) == tuple(size):
        return stack
    factors = (1.0,) * (stack.ndim - 2) + (size[0] / h, size[1] / w)
    return ndimage.zoom(stack, factors, order=order, mode="nearest", grid_mode=True)


def resize_labels(labels: np.ndarray, size: tuple[int, int], soft: bool, num_classes: int = 4) -> np.ndarray:
    """Resize (N, H, W) labels in-plane: nearest (uint8) or, like the tutorial, bilinear one-hot (N, C, h, w)."""
    if not soft:
        return _zoom_inplane(labels, size, order=0).astype(np.uint8)
    onehot = (labels[:, None, :, :] == np.arange(num_classes)[None, :, None, None]).astype(np.float32)
    return np.clip(_zoom_inplane(onehot, size, order=1), 0.0, 1.0)


# --------------------------------------------------------------------------- slice stacks


@dataclass
class SliceStack:
    """One patient's volumes prepared for a 2-D network, with what is needed to map back.

    ``data`` is (Z, M, H, W) float32: Z slices of the crop, M modalities, H x W the
    padded (and possibly resized) in-plane size. Index ``i`` is full-grid slice
    ``box[2].start + i``. ``box`` and the slice axis are on the plane's stack grid
    (:mod:`brats_desktop.core.planes`; for axial models the canonical grid itself);
    ``full_shape`` and every full-grid array in or out are canonical.
    """

    data: np.ndarray
    spec: PreprocessingSpec
    full_shape: tuple[int, int, int]
    box: tuple[slice, slice, slice]
    inner: tuple[int, int]  # in-plane size before padding (resized size or crop size)
    pad: tuple[int, int]  # padding before (top, left); after = data size - inner - before
    modalities: tuple[str, ...] = field(default=())

    @property
    def n_slices(self) -> int:
        return int(self.data.shape[0])

    @property
    def crop_shape(self) -> tuple[int, int, int]:
        return tuple(s.stop - s.start for s in self.box)  # type: ignore[return-value]

    @property
    def plane(self) -> str:
        return self.spec.plane

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """``full_shape`` on the plane's stack grid (the slicing axis last)."""
        return stack_shape(self.full_shape, self.spec.plane)

    @property
    def z_indices(self) -> np.ndarray:
        """Stack-grid index along the slicing axis of each stack slice (axial: full-grid z)."""
        return np.arange(self.box[2].start, self.box[2].stop)

    def inputs(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Network input (N, M * (2k + 1), H, W) for stack slices ``indices``, with 2.5-D context."""
        idx = np.asarray(indices, dtype=np.int64)
        k = self.spec.context
        offsets = np.arange(-k, k + 1)
        neighbours = np.clip(idx[:, None] + offsets[None, :], 0, self.n_slices - 1)  # (N, 2k+1)
        x = self.data[neighbours]  # (N, 2k+1, M, H, W)
        x = x.transpose(0, 2, 1, 3, 4)  # modality-major channels
        n, m, s, h, w = x.shape
        return np.ascontiguousarray(x.reshape(n, m * s, h, w))

    def crop_labels(self, labels: np.ndarray, soft: bool = False, num_classes: int = 4) -> np.ndarray:
        """Full-grid labels -> the stack's geometry: (Z, H, W) uint8, or (Z, C, H, W) soft one-hot if resized and ``soft``."""
        if labels.shape != self.full_shape:
            raise ValueError(f"labels shape {labels.shape} != image shape {self.full_shape}")
        crop = np.ascontiguousarray(to_stack_grid(labels, self.spec.plane)[self.box].transpose(2, 0, 1))  # (Z, H, W)
        if self.spec.resize is not None:
            crop = resize_labels(crop, self.spec.resize, soft=soft, num_classes=num_classes)
        elif soft:
            crop = resize_labels(crop, crop.shape[-2:], soft=True, num_classes=num_classes)
        return self._pad(crop)

    def _pad(self, arr: np.ndarray) -> np.ndarray:
        (h, w) = self.data.shape[-2:]
        top, left = self.pad
        ih, iw = self.inner
        widths = [(0, 0)] * (arr.ndim - 2) + [(top, h - ih - top), (left, w - iw - left)]
        return np.pad(arr, widths)

    def unpad(self, arr: np.ndarray) -> np.ndarray:
        """Remove the in-plane padding of (..., H, W)."""
        top, left = self.pad
        ih, iw = self.inner
        return arr[..., top : top + ih, left : left + iw]

    def to_crop_probabilities(self, probs: np.ndarray) -> np.ndarray:
        """(N, C, H, W) network probabilities -> (N, C, X, Y) on the crop's native in-plane grid."""
        p = self.unpad(probs)
        if self.spec.resize is not None:
            p = _zoom_inplane(p, self.crop_shape[:2], order=1)
        return p

    def to_crop_labels(self, probs: np.ndarray) -> np.ndarray:
        """(N, C, H, W) probabilities or logits -> (N, X, Y) uint8 argmax labels on the crop grid."""
        if self.spec.resize is None:  # argmax commutes with un-padding; skip the copy
            return self.unpad(probs).argmax(axis=1).astype(np.uint8)
        return self.to_crop_probabilities(probs).argmax(axis=1).astype(np.uint8)

    def to_full(self, crop_labels: np.ndarray) -> np.ndarray:
        """(Z, X, Y) crop labels for every stack slice -> full-grid uint8 labels, 0 outside the crop."""
        if crop_labels.shape != (self.n_slices, *self.crop_shape[:2]):
            raise ValueError(
                f"crop labels shape {crop_labels.shape} != {(self.n_slices, *self.crop_shape[:2])}"
            )
        out = np.zeros(self.grid_shape, dtype=np.uint8)
        out[self.box] = crop_labels.transpose(1, 2, 0)
        return np.ascontiguousarray(from_stack_grid(out, self.spec.plane))


def normalise(volumes: Sequence[np.ndarray], spec: PreprocessingSpec, mask: np.ndarray) -> list[np.ndarray]:
    """Normalise each modality as ``spec`` says (one implementation for training and inference)."""
    if spec.normalisation == "zscore_brain":
        return [zscore(v, mask, spec.clip) for v in volumes]
    peak = max(float(np.max(v)) for v in volumes)  # the tutorial divides the whole array by its max
    scale = 1.0 / peak if peak > 0 else 1.0
    return [(v * np.float32(scale)).astype(np.float32) for v in volumes]


def prepare_stack(
    images: Mapping[str, np.ndarray], modalities: Sequence[str], spec: PreprocessingSpec,
    allow_missing: bool = False,
) -> SliceStack:
    """Normalise, crop, resize and pad a patient's volumes into a :class:`SliceStack`.

    ``images`` are canonical RAS+ arrays sharing one shape; ``modalities`` gives the
    channel order (missing keys raise ``KeyError`` naming them; callers check first).
    ``allow_missing``: a model trained with modality dropout reads an absent sequence as
    zeros, which is what a dropped one looked like in training (normalised background);
    the brain mask then comes from the sequences present. At least one must be present.
    """
    missing = [m for m in modalities if m not in images]
    if missing and (not allow_missing or len(missing) == len(modalities)):
        raise KeyError(f"missing modalities: {', '.join(missing)}")
    present = [np.asarray(images[m], dtype=np.float32) for m in modalities if m in images]
    shape = present[0].shape
    if len(shape) != 3 or any(v.shape != shape for v in present):
        raise ValueError(f"volumes must be 3-D and share one shape, got {[v.shape for v in present]}")
    mask = brain_mask(present)
    normalised = iter(normalise(present, spec, mask))
    vols = [next(normalised) if m in images else np.zeros(shape, np.float32) for m in modalities]
    # Views with the slicing axis last: one code path below for every plane.
    vols = [to_stack_grid(v, spec.plane) for v in vols]
    mask = to_stack_grid(mask, spec.plane)
    if spec.crop == "brain_box":
        box = bounding_box(mask, spec.margin)
    else:
        box = tuple(slice(0, n) for n in mask.shape)
    # (Z, M, X, Y): one contiguous block per axial slice, cheap to gather with context.
    data = np.stack([v[box] for v in vols], axis=0).transpose(3, 0, 1, 2)
    if spec.resize is not None:
        data = _zoom_inplane(data, spec.resize, order=1)
    inner = (int(data.shape[-2]), int(data.shape[-1]))
    widths = even_padding(inner, spec.size_multiple)
    pad = (widths[0][0], widths[1][0])
    stack = SliceStack(
        np.empty(0, np.float32), spec, tuple(int(s) for s in shape), box, inner, pad, tuple(modalities)
    )
    stack.data = np.ascontiguousarray(np.pad(data, [(0, 0), (0, 0), *widths]), dtype=np.float32)
    return stack


def even_padding(sizes: Sequence[int], multiple: int) -> list[tuple[int, int]]:
    """(before, after) padding of each size up to the next ``multiple``, split evenly (the extra
    voxel after): the network's in-plane geometry, which the click engine's whole-volume pass
    must repeat exactly to answer as the automatic model does."""
    widths = []
    for n in sizes:
        extra = -(-int(n) // multiple) * multiple - int(n)
        widths.append((extra // 2, extra - extra // 2))
    return widths
