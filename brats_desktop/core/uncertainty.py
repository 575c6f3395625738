"""How sure the model was, voxel by voxel: normalised entropy of its class probabilities.

The prediction path (``models.runtime.PredictionRun.probabilities``) hands over the
softmax probabilities (classes, X, Y, Z), averaged over test-time augmentations when
it ran them. Their Shannon entropy divided by ``log(classes)`` lies in 0-1: 0 where
one class has all the probability, 1 where all classes are equally likely. A reader
wants three things from it, all here and all Qt-free so ``brats-predict`` writes the
same map the app shows:

- the map itself (:func:`entropy_map`), shown as a heat map and written as NIfTI;
- how much of each class the model was unsure about (:func:`uncertain_volumes_ml`:
  voxels above the threshold, grouped by their argmax class);
- where to look (:func:`uncertain_regions`: connected uncertain regions, largest
  first), so "Next Uncertain Region" can jump to them.

Arrays are computed a few slices at a time: a BraTS volume's probabilities are 9 M
voxels x 4 classes, and float32 temporaries of the whole would cost ~0.6 GB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.5  # normalised entropy; 0.5 ~ two classes nearly tied
CLASS_KEYS: tuple[str, ...] = ("BG", "NCR", "ED", "ET")  # internal class index -> row name
_CHUNK_SLICES = 16  # axial slices per chunk: bounds temporaries to ~30 MB on a BraTS grid

Voxel = tuple[int, int, int]


def _check(probabilities: np.ndarray) -> None:
    if probabilities.ndim != 4 or probabilities.shape[0] < 2:
        raise ValueError(
            f"probabilities must have shape (classes, X, Y, Z) with at least 2 classes, got {probabilities.shape}"
        )


def entropy_map(probabilities: np.ndarray) -> np.ndarray:
    """Normalised Shannon entropy (X, Y, Z) float32 in [0, 1] of (C, X, Y, Z) class probabilities.

    Divided by ``log(C)`` (log 4 for our four classes) so the scale does not depend
    on the number of classes. Probabilities are renormalised per voxel first: float16
    storage and averaging leave sums a little off 1, which would otherwise show as
    faint uncertainty everywhere.
    """
    from scipy.special import entr

    _check(probabilities)
    n_classes, nx, ny, nz = probabilities.shape
    out = np.empty((nx, ny, nz), dtype=np.float32)
    scale = np.float32(1.0 / np.log(n_classes))
    for z0 in range(0, nz, _CHUNK_SLICES):
        p = np.array(probabilities[..., z0 : z0 + _CHUNK_SLICES], dtype=np.float32)  # a copy: divided in place
        total = p.sum(axis=0)
        p /= np.maximum(total, np.float32(1e-12))
        out[..., z0 : z0 + _CHUNK_SLICES] = np.clip(entr(p).sum(axis=0) * scale, 0.0, 1.0)
    return out


def argmax_labels(probabilities: np.ndarray) -> np.ndarray:
    """uint8 (X, Y, Z) class with the highest probability (chunked like :func:`entropy_map`)."""
    _check(probabilities)
    _, nx, ny, nz = probabilities.shape
    out = np.empty((nx, ny, nz), dtype=np.uint8)
    for z0 in range(0, nz, _CHUNK_SLICES):
        out[..., z0 : z0 + _CHUNK_SLICES] = probabilities[..., z0 : z0 + _CHUNK_SLICES].argmax(axis=0)
    return out


def uncertain_mask(entropy: np.ndarray, threshold: float) -> np.ndarray:
    """Voxels whose normalised entropy is at least ``threshold`` (boolean)."""
    return entropy >= np.float32(threshold)


def uncertain_volumes_ml(
    entropy: np.ndarray, labels: np.ndarray, threshold: float, voxel_volume_ml: float
) -> dict[str, float]:
    """Uncertain volume per class in mL: voxels at or above ``threshold`` counted by their ``labels`` class.

    ``labels`` is the argmax (:func:`argmax_labels`), so uncertain background (possible
    missed tumour) is counted too, as ``BG``; ``Tumour`` is NCR + ED + ET and ``Total``
    everything above the threshold.
    """
    if entropy.shape != labels.shape:
        raise ValueError(f"entropy {entropy.shape} and labels {labels.shape} differ in shape")
    mask = uncertain_mask(entropy, threshold)
    counts = np.bincount(labels[mask].ravel(), minlength=len(CLASS_KEYS))
    out = {key: float(counts[i]) * voxel_volume_ml for i, key in enumerate(CLASS_KEYS)}
    out["Tumour"] = float(counts[1:4].sum()) * voxel_volume_ml
    out["Total"] = float(counts.sum()) * voxel_volume_ml
    return out


@dataclass(frozen=True)
class UncertainRegion:
    """One connected uncertain region: where it is, how big, how uncertain."""

    voxels: int
    volume_ml: float
    bbox: tuple[slice, slice, slice]
    focus: Voxel  # the region's voxel nearest its centroid: where the cursor jumps
    peak: float  # highest normalised entropy inside
    mean: float


def uncertain_regions(
    entropy: np.ndarray,
    threshold: float,
    voxel_volume_ml: float = 0.001,
    min_voxels: int = 1,
    limit: int | None = None,
) -> list[UncertainRegion]:
    """Connected regions (face-connected, 3-D) of voxels at or above ``threshold``, largest first.

    Regions smaller than ``min_voxels`` are left out, and only the ``limit`` largest
    are described (a low threshold can make thousands of one-voxel specks). The focus is a voxel *of* the
    region (nearest its centroid), so jumping there always lands on uncertainty, even
    for a curved region whose centroid lies outside it.
    """
    from scipy import ndimage

    mask = uncertain_mask(entropy, threshold)
    labelled, n = ndimage.label(mask)
    if n == 0:
        return []
    sizes = np.bincount(labelled.ravel(), minlength=n + 1)
    boxes = ndimage.find_objects(labelled)
    regions: list[UncertainRegion] = []
    order = np.argsort(-sizes[1:], kind="stable") + 1
    for index in order[:limit]:
        size = int(sizes[index])
        if size < min_voxels:
            break
        box = boxes[index - 1]
        inside = labelled[box] == index
        coords = np.argwhere(inside)
        centre = coords.mean(axis=0)
        nearest = coords[int(np.argmin(((coords - centre) ** 2).sum(axis=1)))]
        values = entropy[box][inside]
        focus = tuple(int(nearest[a] + box[a].start) for a in range(3))
        regions.append(
            UncertainRegion(
                size, size * voxel_volume_ml, box, (focus[0], focus[1], focus[2]),
                float(values.max()), float(values.mean()),
            )
        )
    return regions


def write_uncertainty_map(
    probabilities: np.ndarray,
    reference,
    target,
    protected=frozenset(),
    overwrite: bool = False,
):
    """Write the normalised entropy of ``probabilities`` as float32 NIfTI on ``reference``'s grid (a SourceImage).

    The map goes back to the file's own voxel order, affine and sform/qform through
    :func:`brats_desktop.core.nifti_io.write_volume`, atomically; ``protected`` (the
    patient's inputs) are never written. Returns the path written.
    """
    from pathlib import Path

    from .errors import ExportError
    from .nifti_io import write_volume

    target = Path(target)
    if not target.name.lower().endswith((".nii", ".nii.gz")):
        target = target.with_name(target.name + ".nii.gz")
    if target.resolve() in {Path(p).resolve() for p in protected}:
        raise ExportError(f"{target}: this is an input file of the patient; it is never overwritten")
    return write_volume(entropy_map(probabilities), reference, target, np.float32, overwrite=overwrite)
