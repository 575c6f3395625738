"""Label-map post-processing applied after the network's argmax (app, CLI and evaluation alike).

Two steps, both on internal labels (0 background, 1 NCR, 2 edema, 3 enhancing):

* :func:`remove_small_components` drops isolated tumour blobs much smaller than the
  main lesion. A 2-D network decides each slice alone and leaves specks far from the
  tumour; they barely move Dice but dominate the Hausdorff distance and the volumes
  a clinician reads. Multifocal lesions keep every focus of at least ``min_fraction``
  of the largest (nnU-Net's "keep the largest component", relaxed for multifocality).

* :func:`necrosis_inside_enhancing` converts label 1 from the BraTS 2013-2020 meaning
  ("necrotic and non-enhancing tumour core", NCR/NET) to the BraTS 2021+ meaning
  ("necrotic core", with non-enhancing infiltrated tissue counted in label 2). Our
  real training labels (BraTS 2013) use the old meaning: in BraTS13_pat0006 88 % of
  label 1 lies outside the enhancing rim, while in the BraTS-2023-style reference of
  brainles-sample-case 53 % does (and the raw prediction there has three times the
  reference's label-1 volume). The conversion keeps label 1 only where the enhancing
  tumour encloses it in the axial slice; lesions with (almost) no enhancement are left
  alone, since there is no rim to be inside of.

:data:`NCR_DEFINITIONS` names the two conventions the app and CLI offer.

Two further candidates, off by default until the folds say otherwise
(``training/tune_postprocessing.py`` grid-searches them on out-of-fold predictions;
:data:`DEFAULT_POSTPROCESSING` holds what the app, ``brats-predict`` and
``brats-evaluate`` apply):

* :func:`small_enhancing_to_necrosis` — nnU-Net's BraTS rule: a case whose whole
  enhancing tumour is below ``et_min_voxels`` gets it relabelled as necrosis (1).
  BraTS scores an absent ET as Dice 1 when the reference has none too and 0 when the
  prediction has a few false voxels, so a speck of ET costs a whole case.
* :func:`remove_core_specks` — tumour-core (1+3) pieces below ``min_core_voxels``
  become edema, then enhancing pieces below it become necrosis. Lesion-wise scoring
  counts every predicted TC/ET component as a lesion, and a 2-D network leaves dozens
  of few-voxel ET fragments in the edema (47 false TC lesions on brainles-sample-case).
* :func:`remove_far_components` — tumour components farther than ``max_distance_mm``
  from the main (largest) lesion are dropped, whatever their size: a 2-D network's
  false positives in the other hemisphere or the cerebellum.
* :func:`enhancing_volume_rule` — the BraTS winners' rule for low-grade tumours, in
  millilitres so it means the same on any grid: predicted enhancing tumour below
  ``min_enhancing_ml`` (in all, or per 26-connected piece) becomes label 1. A tumour
  with little or no enhancement otherwise keeps a small spurious enhancing blob, and an
  absent ET scores Dice 0 for a blob and 1 for nothing.
  :func:`uncertain_enhancing_to_necrosis` is the same decision taken on the model's own
  mean ET probability of each piece (needs the probabilities, not only the argmax).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .preprocessing import bounding_box

NCR, EDEMA, ENHANCING = 1, 2, 3
NCR_DEFINITIONS: dict[str, str] = {
    "brats2021": "BraTS 2021+: label 1 is necrosis enclosed by enhancing tumour; non-enhancing tumour is edema (2)",
    "brats2013": "BraTS 2013-2020: label 1 is necrotic and non-enhancing tumour core (NCR/NET), as the model was trained",
}
DEFAULT_NCR_DEFINITION = "brats2021"  # the current BraTS protocol (2021-2023 files)
_FULL = np.ones((3, 3, 3), dtype=bool)  # 26-connectivity: diagonal neighbours belong together


def remove_small_components(labels: np.ndarray, min_fraction: float = 0.1) -> np.ndarray:
    """Tumour components (any label > 0) smaller than ``min_fraction`` of the largest become background."""
    found = _tumour_components(labels)
    if found is None:
        return labels
    components, sizes = found
    drop = sizes < min_fraction * sizes.max()
    drop[0] = False
    out = labels.copy()
    out[drop[components]] = 0
    return out


def _tumour_components(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """26-connected tumour components and their voxel counts (index 0, background, counted 0).

    None when there are fewer than two components: the component filters then have nothing to remove.
    """
    from scipy import ndimage as ndi

    components, n = ndi.label(labels > 0, structure=_FULL)
    if n <= 1:
        return None
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    sizes[0] = 0
    return components, sizes


def enhancing_hull(enhancing: np.ndarray, closing: int = 2) -> np.ndarray:
    """Per axial slice: the enhancing tumour, its gaps closed, its holes filled (what the rim encloses)."""
    from scipy import ndimage as ndi

    hull = np.zeros_like(enhancing)
    for z in np.flatnonzero(enhancing.any(axis=(0, 1))):
        sl = enhancing[:, :, z]
        if closing:
            sl = ndi.binary_closing(np.pad(sl, closing), iterations=closing)[closing:-closing, closing:-closing]
        hull[:, :, z] = ndi.binary_fill_holes(sl)
    return hull


def necrosis_inside_enhancing(labels: np.ndarray, closing: int = 2, min_enhancing: float = 0.01) -> np.ndarray:
    """Label 1 outside the enhancing rim's per-slice hull becomes edema (BraTS 2013 -> 2021 meaning of label 1).

    Each lesion (3-D connected tumour, any label) is converted on its own; a lesion
    whose core (labels 1 + 3) is less than ``min_enhancing`` enhancing keeps its
    label 1 unchanged: a non-enhancing tumour has no rim to be inside of.
    """
    from scipy import ndimage as ndi

    ncr = labels == NCR
    if not ncr.any():
        return labels
    enhancing = labels == ENHANCING
    lesions, n = ndi.label(labels > 0, structure=_FULL)
    hull = enhancing_hull(enhancing, closing)
    enhancing_count = np.bincount(lesions[enhancing], minlength=n + 1)
    core_count = np.bincount(lesions[ncr | enhancing], minlength=n + 1)
    converts = enhancing_count >= min_enhancing * np.maximum(core_count, 1)
    converts[0] = False
    out = labels.copy()
    out[ncr & ~hull & converts[lesions]] = EDEMA
    return out


def small_enhancing_to_necrosis(labels: np.ndarray, et_min_voxels: int) -> np.ndarray:
    """All enhancing tumour (3) becomes necrosis (1) when there are fewer than ``et_min_voxels`` of it (nnU-Net, BraTS)."""
    return _small_enhancing_to_ncr(labels, float(et_min_voxels), per_lesion=False)


def enhancing_volume_rule(
    labels: np.ndarray,
    spacing: tuple[float, float, float],
    min_ml: float,
    per_lesion: bool = False,
) -> np.ndarray:
    """Enhancing tumour (3) below ``min_ml`` millilitres becomes label 1; ``labels`` itself when nothing changes.

    ``per_lesion`` False: the whole case's enhancing volume decides (the winners' rule:
    a low-grade tumour has none, so a lone false blob goes). True: each 26-connected
    enhancing piece is judged alone, so a high-grade tumour also loses its stray
    specks while a multifocal tumour keeps every real focus. ``spacing`` (mm per voxel)
    turns voxel counts into mL; label 1 is necrosis / non-enhancing core in the
    training labels' meaning, so apply it before any change of that meaning.
    """
    voxel_ml = float(np.prod(np.asarray(spacing, dtype=float))) / 1000.0
    if min_ml <= 0 or voxel_ml <= 0:
        return labels
    # rounded so that 0.1 mL of 1 mm voxels is 100 voxels, not 100.00000000000001
    return _small_enhancing_to_ncr(labels, round(min_ml / voxel_ml, 6), per_lesion)


def _small_enhancing_to_ncr(labels: np.ndarray, min_voxels: float, per_lesion: bool) -> np.ndarray:
    """Enhancing voxels of the case (or of each 26-connected piece) counting fewer than ``min_voxels`` become NCR."""
    enhancing = labels == ENHANCING
    count = int(np.count_nonzero(enhancing))
    if count == 0 or (not per_lesion and count >= min_voxels):
        return labels
    if per_lesion:
        from scipy import ndimage as ndi

        pieces, n = ndi.label(enhancing, structure=_FULL)
        small = np.bincount(pieces.ravel(), minlength=n + 1) < min_voxels
        small[0] = False
        if not small.any():
            return labels
        enhancing = small[pieces]
    out = labels.copy()
    out[enhancing] = NCR
    return out


def uncertain_enhancing_to_necrosis(
    labels: np.ndarray, et_probability: np.ndarray, min_mean_probability: float
) -> np.ndarray:
    """Enhancing pieces (26-connected) whose mean ET probability is below ``min_mean_probability`` become label 1.

    ``et_probability`` is the model's probability of class 3 on the same grid (0-1; a
    uint8 array is read as 0-255). An argmax of 3 at 0.4 is a close call between three
    classes; a piece made of such voxels is the spurious blob of a non-enhancing tumour
    more often than a rim, which the network draws with confidence.
    """
    from scipy import ndimage as ndi

    if et_probability.shape != labels.shape:
        raise ValueError(f"ET probabilities of shape {et_probability.shape} do not match labels of shape {labels.shape}")
    enhancing = labels == ENHANCING
    if min_mean_probability <= 0 or not enhancing.any():
        return labels
    pieces, n = ndi.label(enhancing, structure=_FULL)
    scale = 255.0 if et_probability.dtype == np.uint8 else 1.0
    means = np.asarray(ndi.mean(et_probability.astype(np.float32) / scale, pieces, index=np.arange(1, n + 1)))
    low = np.concatenate([[False], means < min_mean_probability])
    if not low.any():
        return labels
    out = labels.copy()
    out[low[pieces]] = NCR
    return out


def remove_core_specks(labels: np.ndarray, min_voxels: int) -> np.ndarray:
    """Core (1+3) components under ``min_voxels`` become edema; enhancing components under it become necrosis."""
    from scipy import ndimage as ndi

    out = labels
    core = (labels == NCR) | (labels == ENHANCING)
    for mask, new in ((core, EDEMA), (None, NCR)):
        if mask is None:
            mask = out == ENHANCING
        components, n = ndi.label(mask, structure=_FULL)
        if n == 0:
            continue
        small = np.bincount(components.ravel(), minlength=n + 1) < min_voxels
        small[0] = False
        if small.any():
            out = out.copy() if out is labels else out
            out[small[components]] = new
    return out


def remove_far_components(
    labels: np.ndarray, max_distance_mm: float, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> np.ndarray:
    """Tumour components whose nearest voxel is more than ``max_distance_mm`` from the largest one become background.

    Unlike :func:`remove_small_components` this keeps a small satellite next to the
    tumour and drops a big false positive in the other hemisphere.
    """
    from scipy import ndimage as ndi

    found = _tumour_components(labels)
    if found is None:
        return labels
    components, sizes = found
    n = len(sizes) - 1
    main = int(sizes.argmax())
    distance = ndi.distance_transform_edt(components != main, sampling=spacing)
    nearest = np.asarray(ndi.minimum(distance, components, index=np.arange(1, n + 1)))
    far = np.concatenate([[False], nearest > max_distance_mm])
    if not far.any():
        return labels
    out = labels.copy()
    out[far[components]] = 0
    return out


@dataclass(frozen=True)
class PostprocessParams:
    """The post-processing steps after the argmax and their thresholds (None / 0: step off).

    The defaults are the behaviour the app shipped with (only speck removal);
    ``training/tune_postprocessing.py`` measures the alternatives on out-of-fold predictions.
    """

    min_fraction: float | None = 0.1  # remove_small_components: drop components < this x the largest
    min_core_voxels: int = 0  # remove_core_specks: core pieces below this become edema, ET pieces NCR
    et_min_voxels: int = 0  # small_enhancing_to_necrosis: ET below this many voxels becomes NCR
    max_distance_mm: float | None = None  # remove_far_components: drop components farther than this
    min_enhancing_ml: float = 0.0  # enhancing_volume_rule: ET below this many mL becomes label 1
    enhancing_per_lesion: bool = False  # ... judged per 26-connected ET piece instead of in all

    def describe(self) -> str:
        parts = [f"specks < {self.min_fraction:g} x largest" if self.min_fraction else "no speck removal"]
        if self.min_core_voxels:
            parts.append(f"core/ET pieces < {self.min_core_voxels} voxels relabelled")
        if self.et_min_voxels:
            parts.append(f"ET < {self.et_min_voxels} voxels -> NCR")
        if self.max_distance_mm is not None:
            parts.append(f"components > {self.max_distance_mm:g} mm from the main lesion dropped")
        if self.min_enhancing_ml:
            per = "per piece" if self.enhancing_per_lesion else "in all"
            parts.append(f"ET < {self.min_enhancing_ml:g} mL ({per}) -> label 1")
        return "; ".join(parts)


# What app, brats-predict and brats-evaluate apply, chosen on predictions of patients the
# predicting model never trained on (`python -m training.tune_postprocessing grid`, README):
# 7 out-of-fold cases of CV fold 0 (real-data recipe) and 31 BraTS 2018 cases unseen by the
# previous bundled model. Core pieces < 200 voxels and components > 40 mm from the main
# lesion: lesion-wise mean Dice 0.475 -> 0.645 and 0.291 -> 0.548 on the two sets; global
# mean Dice 0.670 -> 0.667 and 0.716 -> 0.733. 400 voxels scored higher on the second set
# but cost 0.04 global ET Dice on the first; 50 was best on the first alone.
DEFAULT_POSTPROCESSING = PostprocessParams(min_core_voxels=200, max_distance_mm=40.0)


def tumour_box(labels: np.ndarray, margin: int = 3) -> tuple[slice, ...] | None:
    """Bounding box of the labelled voxels plus ``margin`` (None when there are none): the steps above only look there."""
    tumour = labels > 0
    return bounding_box(tumour, margin) if tumour.any() else None


def postprocess(
    labels: np.ndarray,
    target: str | None = DEFAULT_NCR_DEFINITION,
    source: str = "brats2013",
    params: PostprocessParams | None = None,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Small components removed and label 1 given the ``target`` meaning, from a model trained with ``source``'s.

    Only the 2013 -> 2021 direction can be converted (non-enhancing tumour is not
    recoverable from a 2021-style label 1); other pairs keep label 1 as it is.
    ``target`` None returns ``labels`` untouched: the raw argmax, for like-for-like
    comparisons of networks. ``params`` (default :data:`DEFAULT_POSTPROCESSING`) chooses
    the component and enhancing-tumour steps, applied in this order: specks, core specks, small ET,
    far components, the enhancing volume rule (mL), then label 1's meaning. ``spacing`` (mm) is for the distance rule.
    """
    params = DEFAULT_POSTPROCESSING if params is None else params
    if target is None:
        return labels
    for name in (target, source):
        if name not in NCR_DEFINITIONS:
            raise ValueError(f"label definition must be one of {', '.join(NCR_DEFINITIONS)}, got {name!r}")
    box = tumour_box(labels)
    if box is None:
        return labels
    out = labels.copy()
    if params.min_fraction:
        out[box] = remove_small_components(labels[box], params.min_fraction)
    if params.min_core_voxels:
        out[box] = remove_core_specks(out[box], params.min_core_voxels)
    if params.et_min_voxels:
        out[box] = small_enhancing_to_necrosis(out[box], params.et_min_voxels)
    if params.max_distance_mm is not None:
        out[box] = remove_far_components(out[box], params.max_distance_mm, spacing)
    if params.min_enhancing_ml:
        out[box] = enhancing_volume_rule(out[box], spacing, params.min_enhancing_ml, params.enhancing_per_lesion)
    if source == "brats2013" and target == "brats2021":
        inner = tumour_box(out)  # specks gone: the lesion's own box is often a third of the first one
        if inner is not None:
            out[inner] = necrosis_inside_enhancing(out[inner])
    return out
