"""Grow a click over the piece it belongs to: class probabilities and image similarity decide how far.

Numpy/scipy only. The click network on its own answers with little more than a ball
around the click (its shortcut "keep the map, obey the guidance"), so one click cannot
fix a missed region of thousands of voxels, which is what a user (and the robot user)
clicks first. Interactive tools use the network's own class probabilities as a prior
(DeepEdit, nnInteractive's prompts refine a prediction) and image similarity along paths
from the click (DeepIGeoS's geodesic maps). Here, after a click of label ``c`` on a
voxel showing ``s``:

* candidates are the voxels that show ``s`` too (the click says "this ``s`` here is
  really ``c``": other classes and other lesions' labels are not touched), are not
  locked, lie within ``reach`` voxels of the click, where the probability of ``c`` trails
  the most likely class by at most ``margin`` in log units (``c`` is the answer or a close
  second), and, with ``intensity``, whose normalised intensities are each within
  ``intensity`` of the clicked neighbourhood's (a hard-threshold geodesic: the region
  grows through similar tissue only); with ``similar``, voxels whose intensities are each
  within ``similar`` of the clicked neighbourhood's are candidates whatever the
  probabilities say (where the model is confidently wrong, only the image can lead);
* the candidates 6-connected to the click through candidates become ``c``.

So a background click on a false-positive piece removes the piece where the model was
unsure, not a confident neighbouring lesion, and a click in one lesion cannot reach
another through voxels of a different label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


_SIX = ndimage.generate_binary_structure(3, 1)
_EPS = 1e-4
_FEW = 24  # up to this many points, distances are computed directly (cheaper than a distance transform)


@dataclass(frozen=True)
class GrowRule:
    """How far a click spreads (see the module docstring); ``margin`` None switches growing off."""

    margin: float | None = 2.0  # log-probability by which the clicked class may trail the most likely one
    reach: float = 20.0  # voxels (Euclidean) from the clicked voxels
    intensity: float | None = None  # tolerance of each normalised modality around the clicked neighbourhood
    similar: float | None = None  # this close in every modality: a candidate even where the class is implausible
    relative: float | None = None  # also as plausible as at the click, less this (the user's word beats the model's)
    relative_intensity: float | None = None  # ... and, for those, this close to the click in every modality

    @classmethod
    def parse(cls, text: str) -> "GrowRule":
        """``none`` or ``m<margin>r<reach>[i<intensity>][s<similar>][d<relative>][j<relative_intensity>]``
        (e.g. ``m2r20d1j0.75``): the notation of the cross-validation's grid and of ``brats-evaluate --click-grow``."""
        if text == "none":
            return NO_GROWTH
        found = re.fullmatch(r"m([\d.]+)r([\d.]+)(?:i([\d.]+))?(?:s([\d.]+))?(?:d([\d.]+))?(?:j([\d.]+))?", text)
        if found is None:
            raise ValueError(f"{text!r} is not a growth setting (none, or e.g. m2r20, m2r20d1j0.75)")
        m, r, i, sim, d, j = (None if v is None else float(v) for v in found.groups())
        return cls(margin=m, reach=r, intensity=i, similar=sim, relative=d, relative_intensity=j)  # type: ignore[arg-type]

    def notation(self) -> str:
        """The inverse of :meth:`parse`."""
        if not self.enabled:
            return "none"
        text = f"m{self.margin:g}r{self.reach:g}"
        for key, value in (("i", self.intensity), ("s", self.similar), ("d", self.relative), ("j", self.relative_intensity)):
            if value is not None:
                text += f"{key}{value:g}"
        return text

    @property
    def uses_images(self) -> bool:
        return self.intensity is not None or self.similar is not None or self.relative_intensity is not None

    @property
    def enabled(self) -> bool:
        return self.margin is not None and self.reach > 0


NO_GROWTH = GrowRule(margin=None)


def grow_box(points: np.ndarray, shape: Sequence[int], reach: float) -> tuple[slice, slice, slice]:
    """The box of ``shape`` that holds every voxel within ``reach`` of ``points``."""
    r = int(np.ceil(reach))
    lo = np.maximum(points.min(axis=0) - r, 0)
    hi = np.minimum(points.max(axis=0) + r + 1, np.asarray(shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))  # type: ignore[return-value]


def grow_region(
    probabilities: np.ndarray,
    labels: np.ndarray,
    points: np.ndarray,
    label: int,
    rule: GrowRule,
    images: np.ndarray | None = None,
    locked: np.ndarray | None = None,
    others: np.ndarray | None = None,
) -> np.ndarray:
    """Bool mask (of ``labels``' box) of the voxels a click of ``label`` at ``points`` relabels.

    ``probabilities`` (classes, *box) of a model, ``labels`` the map shown before the click,
    ``points`` (n, 3) the clicked voxels in box coordinates, ``images`` (modalities, *box)
    normalised (needed only with ``rule.intensity``), ``locked`` hand-painted voxels,
    ``others`` (m, 3) voxels of earlier guidance of other labels: the click takes only voxels
    nearer to it than to any of them, so it does not take back what an earlier click grew
    (a click and the next one would otherwise undo each other's growth).
    """
    grown = np.zeros(labels.shape, dtype=bool)
    points = np.asarray(points, dtype=np.int64).reshape(-1, 3)
    inside = np.all((points >= 0) & (points < np.asarray(labels.shape)), axis=1)
    points = points[inside]
    if not rule.enabled or not len(points) or probabilities.shape[1:] != labels.shape:
        return grown
    seeds = np.zeros(labels.shape, dtype=bool)
    seeds[tuple(points.T)] = True
    shown = np.unique(labels[seeds])
    shown = shown[shown != label]
    if not len(shown):
        return grown  # every clicked voxel already shows the label: nothing is wrong here
    p = np.asarray(probabilities, dtype=np.float32)
    score = np.log(p[label] + _EPS) - np.log(p.max(axis=0) + _EPS)  # 0 where the label is the model's answer
    to_click = _distance_to(points, labels.shape)
    ball = to_click <= 2.0
    plausible = score >= -float(rule.margin)  # type: ignore[arg-type]
    worst = None
    if images is not None and rule.uses_images:
        worst = np.zeros(labels.shape, dtype=np.float32)  # largest distance over the modalities
        for channel in np.asarray(images, dtype=np.float32):
            np.maximum(worst, np.abs(channel - channel[ball].mean()), out=worst)
    if rule.relative is not None:
        # Where the user contradicts a confident model (a click deep in a missed region), the
        # voxels the model finds at least about as plausible for the label as the clicked
        # neighbourhood (and, with relative_intensity, that look like it) are the same tissue.
        level = float(np.median(score[ball])) - rule.relative
        if level < -float(rule.margin):  # type: ignore[arg-type]
            extra = score >= level
            if rule.relative_intensity is not None and worst is not None:
                extra &= worst <= rule.relative_intensity
            plausible |= extra
    if worst is not None:
        if rule.intensity is not None:
            plausible &= worst <= rule.intensity
        if rule.similar is not None:
            plausible |= worst <= rule.similar
    cand = np.isin(labels, shown) & plausible & (to_click <= rule.reach)
    if others is not None and len(others):
        cand &= _nearer(to_click, points, np.asarray(others, dtype=np.int64).reshape(-1, 3), labels.shape)
    if locked is not None:
        cand &= ~locked
    cand |= seeds
    comp, _ = ndimage.label(cand, _SIX)
    touched = np.unique(comp[seeds])
    grown = np.isin(comp, touched[touched > 0]) & (labels != label)
    if locked is not None:
        grown &= ~locked | seeds
    return grown


def _distance_to(points: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Euclidean distance (voxels) of each voxel of a box of ``shape`` to the nearest of ``points``
    (points outside the box count): directly for a few points (a click), else a distance transform."""
    if len(points) <= _FEW:
        grid = np.ogrid[tuple(slice(0, int(n)) for n in shape)]
        best = None
        for p in points:
            d2 = (grid[0] - p[0]) ** 2 + (grid[1] - p[1]) ** 2 + (grid[2] - p[2]) ** 2
            best = d2 if best is None else np.minimum(best, d2)
        return np.sqrt(best, dtype=np.float32)
    lo = np.minimum(points.min(axis=0), 0)
    hi = np.maximum(points.max(axis=0) + 1, np.asarray(shape))
    mask = np.ones(tuple(int(v) for v in hi - lo), dtype=bool)
    mask[tuple((points - lo).T)] = False
    dist = ndimage.distance_transform_edt(mask)
    return dist[tuple(slice(int(-a), int(-a + n)) for a, n in zip(lo, shape))]


def _nearer(to_points: np.ndarray, points: np.ndarray, others: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Voxels strictly nearer to ``points`` (``to_points``: their distances) than to ``others``
    (a Voronoi split between clicks)."""
    r = max(shape)  # others further than the box is wide cannot win any voxel of it
    lo, hi = points.min(axis=0) - r, points.max(axis=0) + r
    others = others[np.all((others >= lo) & (others <= hi), axis=1)]
    if not len(others):
        return np.ones(tuple(shape), dtype=bool)
    return to_points < _distance_to(others, shape)
