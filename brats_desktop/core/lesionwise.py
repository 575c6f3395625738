"""Lesion-wise Dice and HD95: the metrics the BraTS challenges rank by since 2023.

Global Dice is dominated by the largest lesion: missing three small metastases-like
foci beside a big tumour costs a few hundredths. Lesion-wise scoring splits each region
(WT, TC, ET) into lesions (3-D connected components, 26-connectivity), pairs predicted
and reference lesions, scores every pair, and counts each unmatched lesion as a miss:

    lesion-wise Dice = sum of the matched pairs' Dice / (TP + FN + FP)
    lesion-wise HD95 = (sum of the matched pairs' HD95 + 374 * (FN + FP)) / (TP + FN + FP)

374 mm is the challenge's penalty (about the diagonal of the BraTS grid). With no lesion
on either side the case scores Dice 1 and HD95 0. Two ways of forming the pairs exist,
and both are here (``method``):

* ``"brats2023"`` — the BraTS 2023/2024 code (github.com/rachitsaluja/BraTS-2023-Metrics):
  reference lesions closer than ``dilation`` voxels (dilated ``dilation`` times with the
  18-neighbourhood) are one lesion; every predicted component touching a reference
  lesion's dilated extent belongs to it (so two predicted pieces of one lesion are
  scored together, and one predicted blob may count for two lesions); predicted
  components touching none are false positives; reference lesions of at most
  ``min_volume`` mm³ are left out of the score (found or not). GLI: dilation 3, 50 mm³.
* ``"panoptica"`` — the PyPI package ``brats-evaluation`` (0.0.10, config "gli"), built
  on ``panoptica``: no grouping, no size limit; one-to-one pairs by maximum bipartite
  matching on Dice (any overlap can match), unpaired lesions on either side are misses.
  ``tests/test_lesionwise.py`` checks TP/FP/FN, the per-pair Dice/HD95 and panoptica's
  ``sq_dsc``/``pq_dsc``/``sq_hd95`` against the installed package (``pip install .[eval]``).

HD95 of a pair is :func:`brats_desktop.core.metrics.hd95` (95th percentile of the pooled
surface distances both ways, surfaces by 6-connected erosion), which is exactly
panoptica's; the 2023 code weights surface points by their surfel area (DeepMind
``surface_distance``), which can differ by a fraction of a millimetre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from .labels import region_mask
from .metrics import hd95

__all__ = [
    "HD95_PENALTY", "LESION_REGIONS", "LESIONWISE_METHODS", "LesionPair", "LesionwiseScore",
    "lesionwise", "lesionwise_regions",
]

HD95_PENALTY = 374.0  # mm, what BraTS charges a missed or spurious lesion
LESION_REGIONS: tuple[str, ...] = ("WT", "TC", "ET")
LESIONWISE_METHODS: dict[str, dict[str, float]] = {
    "brats2023": {"dilation": 3, "min_volume": 50.0},  # BraTS-GLI 2023/2024 parameters
    "panoptica": {"dilation": 0, "min_volume": 0.0},  # PyPI brats-evaluation (config "gli")
}
_CONN26 = ndi.generate_binary_structure(3, 3)
_DILATE18 = ndi.generate_binary_structure(3, 2)  # the 2023 code's dilation element


@dataclass(frozen=True)
class LesionPair:
    """One scored reference lesion (``ref`` 0: an unmatched prediction) and the predicted components paired with it."""

    ref: int
    preds: tuple[int, ...]
    ref_volume: float  # mm³
    dice: float
    hd95: float  # mm; HD95_PENALTY when nothing was predicted for it
    counted: bool = True  # False: below the volume threshold, left out of the score


@dataclass
class LesionwiseScore:
    """Lesion-wise result of one region of one case."""

    tp: int
    fp: int
    fn: int
    dice: float  # sum of matched Dice / (TP + FN + FP); 1.0 with no lesion anywhere
    hd95: float  # (sum of matched HD95 + 374 (FN + FP)) / (TP + FN + FP); 0.0 with no lesion anywhere
    pairs: list[LesionPair] = field(default_factory=list)
    method: str = "brats2023"

    @property
    def matched(self) -> list[LesionPair]:
        return [p for p in self.pairs if p.counted and p.ref and p.preds]

    @property
    def sq_dice(self) -> float:
        """Mean Dice of the matched pairs (panoptica's ``sq_dsc``; 0 with lesions but no match, NaN with none)."""
        m = self.matched
        if m:
            return float(np.mean([p.dice for p in m]))
        return float("nan") if self.tp + self.fp + self.fn == 0 else 0.0

    @property
    def sq_hd95(self) -> float:
        """Mean HD95 of the matched pairs (panoptica's ``sq_hd95``; inf with lesions but no match)."""
        m = self.matched
        if m:
            return float(np.mean([p.hd95 for p in m]))
        return float("nan") if self.tp + self.fp + self.fn == 0 else float("inf")

    @property
    def rq(self) -> float:
        """Recognition quality (F1 of lesion detection), panoptica's ``rq``."""
        d = self.tp + 0.5 * (self.fp + self.fn)
        return float("nan") if d == 0 else self.tp / d

    @property
    def pq_dice(self) -> float:
        """Panoptic quality on Dice, ``sq_dice * rq`` (panoptica's ``pq_dsc``)."""
        return self.sq_dice * self.rq


def _dice(inter: int, a: int, b: int) -> float:
    return 2.0 * inter / (a + b) if a + b else 1.0


def _box(slices_a: tuple[slice, ...], slices_b: tuple[slice, ...] | None = None) -> tuple[slice, ...]:
    if slices_b is None:
        return slices_a
    return tuple(slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(slices_a, slices_b))


def _grow(box: tuple[slice, ...], by: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(max(s.start - by, 0), min(s.stop + by, n)) for s, n in zip(box, shape))


def _summarise(pairs: list[LesionPair], fp: int, method: str) -> LesionwiseScore:
    counted = [p for p in pairs if p.counted and p.ref]
    tp = sum(1 for p in counted if p.preds)
    fn = len(counted) - tp
    n = len(counted) + fp
    if n == 0:
        return LesionwiseScore(0, 0, 0, 1.0, 0.0, pairs, method)
    dice = sum(p.dice for p in counted) / n
    hd = (sum(p.hd95 for p in counted) + HD95_PENALTY * fp) / n
    return LesionwiseScore(tp, fp, fn, float(dice), float(hd), pairs, method)


def _brats2023(pred: np.ndarray, ref: np.ndarray, spacing, dilation: int, min_volume: float) -> LesionwiseScore:
    voxel = float(np.prod(spacing))
    pred_cc, n_pred = ndi.label(pred, structure=_CONN26)
    pred_sizes = np.bincount(pred_cc.ravel(), minlength=n_pred + 1)
    pred_boxes = ndi.find_objects(pred_cc)
    if dilation:
        grouped, n_ref = ndi.label(ndi.binary_dilation(ref, _DILATE18, iterations=dilation), structure=_CONN26)
        lesions = np.where(ref, grouped, 0)
    else:
        lesions, n_ref = ndi.label(ref, structure=_CONN26)
    pairs: list[LesionPair] = []
    claimed: set[int] = set()
    for k, box in enumerate(ndi.find_objects(lesions), start=1):
        if box is None:
            continue
        box = _grow(box, dilation + 1, ref.shape)
        lesion = lesions[box] == k
        extent = ndi.binary_dilation(lesion, _DILATE18, iterations=dilation) if dilation else lesion
        touching = np.unique(pred_cc[box][extent])
        touching = tuple(int(c) for c in touching if c)
        claimed.update(touching)
        size = int(lesion.sum())
        volume = size * voxel
        if touching:
            full_box = box
            for c in touching:
                full_box = _box(full_box, pred_boxes[c - 1])
            lesion_full = lesions[full_box] == k
            predicted = np.isin(pred_cc[full_box], touching)
            dice = _dice(int(np.count_nonzero(lesion_full & predicted)), size, int(pred_sizes[list(touching)].sum()))
            hd = hd95(predicted, lesion_full, spacing)
        else:
            dice, hd = 0.0, HD95_PENALTY
        pairs.append(LesionPair(k, touching, volume, float(dice), float(hd), counted=volume > min_volume))
    fp_ids = [c for c in range(1, n_pred + 1) if c not in claimed]
    pairs.extend(LesionPair(0, (c,), 0.0, 0.0, HD95_PENALTY) for c in fp_ids)
    return _summarise(pairs, len(fp_ids), "brats2023")


def _panoptica(pred: np.ndarray, ref: np.ndarray, spacing) -> LesionwiseScore:
    voxel = float(np.prod(spacing))
    pred_cc, n_pred = ndi.label(pred, structure=_CONN26)
    ref_cc, n_ref = ndi.label(ref, structure=_CONN26)
    ref_sizes = np.bincount(ref_cc.ravel(), minlength=n_ref + 1)
    pred_sizes = np.bincount(pred_cc.ravel(), minlength=n_pred + 1)
    matches: dict[int, int] = {}
    if n_ref and n_pred:
        both = (ref_cc > 0) & (pred_cc > 0)
        inter = np.bincount(ref_cc[both].astype(np.int64) * (n_pred + 1) + pred_cc[both],
                            minlength=(n_ref + 1) * (n_pred + 1)).reshape(n_ref + 1, n_pred + 1)
        dice = 2.0 * inter[1:, 1:] / (ref_sizes[1:, None] + pred_sizes[None, 1:])
        cost = np.where(dice >= 1e-6, 1.0 - dice, 1.0 + 1e-6)  # panoptica's MaxBipartiteMatching
        rows, cols = linear_sum_assignment(cost)
        matches = {int(r) + 1: int(c) + 1 for r, c in zip(rows, cols) if cost[r, c] < 1.0}
    ref_boxes, pred_boxes = ndi.find_objects(ref_cc), ndi.find_objects(pred_cc)
    pairs: list[LesionPair] = []
    for r in range(1, n_ref + 1):
        volume = float(ref_sizes[r]) * voxel
        p = matches.get(r)
        if p is None:
            pairs.append(LesionPair(r, (), volume, 0.0, HD95_PENALTY))
            continue
        box = _box(ref_boxes[r - 1], pred_boxes[p - 1])
        a, b = ref_cc[box] == r, pred_cc[box] == p
        pairs.append(LesionPair(r, (p,), volume, _dice(int(np.count_nonzero(a & b)), int(ref_sizes[r]),
                                                         int(pred_sizes[p])), float(hd95(b, a, spacing))))
    unmatched = [c for c in range(1, n_pred + 1) if c not in set(matches.values())]
    pairs.extend(LesionPair(0, (c,), 0.0, 0.0, HD95_PENALTY) for c in unmatched)
    return _summarise(pairs, len(unmatched), "panoptica")


def lesionwise(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    method: str = "brats2023",
    dilation: int | None = None,
    min_volume: float | None = None,
) -> LesionwiseScore:
    """Lesion-wise Dice and HD95 of two boolean masks of one region (see the module docstring).

    ``dilation`` (voxels) and ``min_volume`` (mm³) default to ``method``'s values in
    :data:`LESIONWISE_METHODS`; they only apply to "brats2023".
    """
    if method not in LESIONWISE_METHODS:
        raise ValueError(f"lesion-wise method must be one of {', '.join(LESIONWISE_METHODS)}, got {method!r}")
    p, r = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if p.shape != r.shape:
        raise ValueError(f"prediction shape {p.shape} != reference shape {r.shape}")
    either = p | r
    if either.any():  # everything happens inside the lesions' box (plus the dilation): 10x less work
        idx = [np.flatnonzero(either.any(axis=tuple(j for j in range(3) if j != i))) for i in range(3)]
        margin = 2 + int(LESIONWISE_METHODS.get(method, {}).get("dilation", 0) if dilation is None else dilation)
        box = tuple(slice(max(int(v[0]) - margin, 0), min(int(v[-1]) + 1 + margin, n)) for v, n in zip(idx, p.shape))
        p, r = p[box], r[box]
    if method == "panoptica":
        return _panoptica(p, r, spacing)
    params = LESIONWISE_METHODS[method]
    dil = int(params["dilation"] if dilation is None else dilation)
    vol = float(params["min_volume"] if min_volume is None else min_volume)
    return _brats2023(p, r, spacing, dil, vol)


def lesionwise_regions(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    method: str = "brats2023",
    regions: tuple[str, ...] = LESION_REGIONS,
) -> dict[str, LesionwiseScore]:
    """:func:`lesionwise` of each BraTS region (WT, TC, ET) of two internal label maps."""
    return {name: lesionwise(region_mask(pred, name), region_mask(ref, name), spacing, method) for name in regions}
