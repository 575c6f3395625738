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
* with ``likelihood``, a per-click intensity classifier (GrowCut / ilastik-like) adds
  candidates: a Gaussian of the (smoothed) normalised modalities is fitted for ``c`` (the
  clicked ball, with ``pool_shown`` also the voxels already shown as ``c`` nearby) and for
  ``s`` (the voxels showing it nearby, away from the click); voxels showing ``s`` within
  ``likelihood_reach`` whose log-likelihood ratio of ``c`` over ``s`` exceeds ``likelihood``
  are candidates. The robot's first click aims at a missed piece of ~19,000 voxels where
  the model is confidently wrong (only a quarter of it plausible for the clicked class), so
  probabilities cannot lead there, but the piece looks like the clicked neighbourhood and
  unlike the tissue that truly shows ``s``;
* the candidates 6-connected to the click through candidates become ``c``, and with
  ``fill`` so do the voxels showing ``s`` that the grown piece (with what already showed
  ``c``) encloses: a piece grown through noisy intensities is porous.

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
    likelihood: float | None = None  # log-likelihood ratio (clicked over shown class) above which a voxel is a candidate
    likelihood_reach: float | None = None  # ... within this many voxels of the click (default ``reach``)
    likelihood_smooth: float | None = None  # ... of the images smoothed with this Gaussian sigma (voxels)
    pool_shown: bool = False  # ... the clicked class's Gaussian also learns from the voxels shown as it nearby
    fill: bool = False  # the voxels showing the clicked voxel's label that the grown piece encloses join it

    @classmethod
    def parse(cls, text: str) -> "GrowRule":
        """``none`` or ``m<margin>r<reach>[i<intensity>][s<similar>][d<relative>][j<relative_intensity>]``
        ``[g<likelihood>][R<likelihood_reach>][o<likelihood_smooth>][P][f]`` (``P``: pool_shown, ``f``: fill;
        e.g. ``m2r20d1j0.75g1R25o1Pf``): the notation of the cross-validation's grid and of
        ``brats-evaluate --click-grow``."""
        if text == "none":
            return NO_GROWTH
        found = re.fullmatch(r"m([\d.]+)r([\d.]+)(?:i([\d.]+))?(?:s([\d.]+))?(?:d([\d.]+))?(?:j([\d.]+))?"
                             r"(?:g(-?[\d.]+))?(?:R([\d.]+))?(?:o([\d.]+))?(P)?(f)?", text)
        if found is None:
            raise ValueError(f"{text!r} is not a growth setting (none, or e.g. m2r20, m2r20d1j0.75)")
        m, r, i, sim, d, j, g, gr, go = (None if v is None else float(v) for v in found.groups()[:9])
        pool, fill = found.groups()[9:]
        return cls(margin=m, reach=r, intensity=i, similar=sim, relative=d, relative_intensity=j,  # type: ignore[arg-type]
                   likelihood=g, likelihood_reach=gr, likelihood_smooth=go, pool_shown=pool is not None,
                   fill=fill is not None)

    def notation(self) -> str:
        """The inverse of :meth:`parse`."""
        if not self.enabled:
            return "none"
        text = f"m{self.margin:g}r{self.reach:g}"
        for key, value in (("i", self.intensity), ("s", self.similar), ("d", self.relative),
                           ("j", self.relative_intensity), ("g", self.likelihood), ("R", self.likelihood_reach),
                           ("o", self.likelihood_smooth)):
            if value is not None:
                text += f"{key}{value:g}"
        return text + ("P" if self.pool_shown else "") + ("f" if self.fill else "")

    @property
    def uses_images(self) -> bool:
        return any(v is not None for v in (self.intensity, self.similar, self.relative_intensity, self.likelihood))

    @property
    def box_reach(self) -> float:
        """How far from the click any route may reach (the box :func:`grow_box` cuts)."""
        return max(self.reach, self.likelihood_reach or 0.0) if self.likelihood is not None else self.reach

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
    showing = np.isin(labels, shown)
    cand = showing & plausible & (to_click <= rule.reach)
    if rule.likelihood is not None and images is not None:
        near = to_click <= (rule.likelihood_reach or rule.reach)
        ratio = likelihood_ratio(images, labels, showing, ball, to_click, label, near, rule)
        if ratio is not None:
            cand |= showing & near & (ratio > rule.likelihood)
    allowed = np.ones(labels.shape, dtype=bool)
    if others is not None and len(others):
        allowed &= _nearer(to_click, points, np.asarray(others, dtype=np.int64).reshape(-1, 3), labels.shape)
    if locked is not None:
        allowed &= ~locked
    comp, _ = ndimage.label((cand & allowed) | seeds, _SIX)
    touched = np.unique(comp[seeds])
    body = np.isin(comp, touched[touched > 0])
    grown = body & (labels != label)
    if rule.fill and grown.any():
        enclosed = ndimage.binary_fill_holes(body | (labels == label)) & ~body
        grown |= enclosed & showing & allowed & (to_click <= rule.box_reach)
    if locked is not None:
        grown &= ~locked | seeds
    return grown


def likelihood_ratio(images: np.ndarray, labels: np.ndarray, showing: np.ndarray, ball: np.ndarray,
                     to_click: np.ndarray, label: int, near: np.ndarray, rule: GrowRule) -> np.ndarray | None:
    """log N(x; clicked class) − log N(x; shown class) of each voxel's normalised intensities ``x``
    (smoothed with ``rule.likelihood_smooth``), or None when either class has too few samples.

    The clicked class is learnt from the clicked ``ball`` (with ``rule.pool_shown`` also from the
    voxels shown as it within ``near``, when there are at least 64: more samples of the same
    tissue elsewhere in the lesion), the shown class from the voxels ``showing`` it within
    ``near`` more than 4 voxels from the click (at most 20,000 of them, evenly strided:
    enough for a Gaussian of a few modalities and a fixed cost per click).
    """
    images = np.asarray(images, dtype=np.float32)
    if rule.likelihood_smooth:
        images = np.stack([ndimage.gaussian_filter(channel, rule.likelihood_smooth) for channel in images])
    x = images.reshape(images.shape[0], -1).T
    clicked = ball.copy()
    if rule.pool_shown:
        same = (labels == label) & near
        if same.sum() >= 64:
            clicked |= same
    other = showing & near & (to_click > 4.0)
    if clicked.sum() < 8 or other.sum() < 64:
        return None
    other_idx = np.flatnonzero(other)
    if len(other_idx) > 20000:
        other_idx = other_idx[:: len(other_idx) // 20000 + 1]
    logs = []
    for samples in (x[np.flatnonzero(clicked)], x[other_idx]):
        mean, inverse, logdet = _gaussian(samples)
        d = x - mean
        logs.append(-0.5 * (np.einsum("ni,ij,nj->n", d, inverse, d) + logdet))
    return (logs[0] - logs[1]).reshape(labels.shape).astype(np.float32)


def _gaussian(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, inverse covariance and log-determinant of (n, M) samples; the covariance is floored
    at 0.05² per modality, so a ball of near-identical voxels does not make a needle."""
    mean = samples.mean(axis=0)
    cov = np.atleast_2d(np.cov(samples, rowvar=False)) + np.eye(samples.shape[1]) * 0.0025
    _, logdet = np.linalg.slogdet(cov)
    return mean, np.linalg.inv(cov), float(logdet)


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
