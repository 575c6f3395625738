"""Simulated users for training the click model: starting masks, corrective clicks and scribbles.

Numpy/scipy only. Everything works on a small window (in-plane square x a few axial
slices) around the tumour, in the window's own voxel coordinates:

- :func:`starting_mask` draws what the user starts from: the automatic prediction
  (computed once per patient), a perturbed reference (grown or shrunk, a piece relabelled,
  a component dropped, a false blob added) or nothing;
- :func:`corrective_click` clicks where the current result is most wrong, as the robot
  user of the evaluation does (the largest error component over all true labels, at its
  deepest point), or, to see more varied users, a point sampled inside a random error
  component; sometimes the user drags a short scribble through it instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import ndimage

from brats_desktop.interactive.guidance import Click, Guidance, Scribble

NUM_LABELS = 4
_SIX = ndimage.generate_binary_structure(3, 1)


def _ball(radius: int) -> np.ndarray:
    g = np.mgrid[-radius : radius + 1, -radius : radius + 1, -radius : radius + 1]
    return (g**2).sum(axis=0) <= radius * radius


def perturbed_reference(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible wrong segmentation made from the reference (what a poor model or a rough draft looks like)."""
    out = gt.copy()
    tumour = out > 0
    if rng.random() < 0.6 and tumour.any():
        r = int(rng.integers(1, 4))
        if rng.random() < 0.5:
            grown = ndimage.binary_dilation(tumour, _ball(1), iterations=r)
            out[grown & ~tumour] = 2
        else:
            shrunk = ndimage.binary_erosion(tumour, _ball(1), iterations=r)
            out[tumour & ~shrunk] = 0
    if rng.random() < 0.4 and tumour.any():  # relabel a blob inside the tumour as another class
        pts = np.argwhere(tumour)
        centre = pts[rng.integers(len(pts))]
        r = int(rng.integers(3, 9))
        blob = _sphere_mask(out.shape, centre, r) & (out > 0)
        out[blob] = int(rng.integers(1, NUM_LABELS))
    if rng.random() < 0.3:  # drop one component of one class
        c = int(rng.integers(1, NUM_LABELS))
        comp, n = ndimage.label(out == c, _SIX)
        if n:
            pick = int(rng.integers(1, n + 1))
            out[comp == pick] = 2 if c != 2 else 0
    if rng.random() < 0.3:  # a false blob near the tumour
        centre = np.array([rng.integers(0, s) for s in out.shape])
        blob = _sphere_mask(out.shape, centre, int(rng.integers(2, 7)))
        out[blob] = int(rng.integers(1, NUM_LABELS))
    return out


def _sphere_mask(shape: tuple[int, ...], centre: np.ndarray, radius: int) -> np.ndarray:
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    d2 = sum((g - int(c)) ** 2 for g, c in zip(grid, centre))
    return d2 <= radius * radius


def starting_mask(gt: np.ndarray, auto: np.ndarray, rng: np.random.Generator,
                  p_auto: float = 0.6, p_perturbed: float = 0.3) -> tuple[np.ndarray, str]:
    """(mask, kind): the automatic prediction, a perturbed reference or an empty map."""
    r = rng.random()
    if r < p_auto:
        return auto.copy(), "auto"
    if r < p_auto + p_perturbed:
        return perturbed_reference(gt, rng), "perturbed"
    return np.zeros_like(gt), "empty"


def _error_components(pred: np.ndarray, gt: np.ndarray,
                      allowed: np.ndarray | None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Per true label c with errors: (c, 6-connected components of "c but not shown as c", their sizes)."""
    for c in range(NUM_LABELS):
        err = (gt == c) & (pred != c)
        if allowed is not None:
            err &= allowed
        if not err.any():
            continue
        comp, _ = ndimage.label(err, _SIX)
        yield c, comp, np.bincount(comp.ravel())[1:]


def largest_error(pred: np.ndarray, gt: np.ndarray, allowed: np.ndarray | None = None) -> tuple[np.ndarray, int] | None:
    """(component mask, true label) of the largest 6-connected component of voxels whose true label is not shown."""
    best: tuple[int, np.ndarray, int] | None = None
    for c, comp, sizes in _error_components(pred, gt, allowed):
        k = int(np.argmax(sizes))
        if best is None or sizes[k] > best[0]:
            best = (int(sizes[k]), comp == k + 1, c)
    if best is None:
        return None
    return best[1], best[2]


def random_error(pred: np.ndarray, gt: np.ndarray, rng: np.random.Generator,
                 allowed: np.ndarray | None = None) -> tuple[np.ndarray, int] | None:
    """An error component drawn with probability proportional to its size."""
    comps: list[tuple[int, int, np.ndarray]] = []
    for c, lab, sizes in _error_components(pred, gt, allowed):
        for k in np.flatnonzero(sizes >= 1):
            comps.append((int(sizes[k]), c, lab == k + 1))
        if len(comps) > 40:
            break
    if not comps:
        return None
    w = np.array([s for s, _, _ in comps], dtype=np.float64)
    i = int(rng.choice(len(comps), p=w / w.sum()))
    return comps[i][2], comps[i][1]


def deepest_point(mask: np.ndarray, rng: np.random.Generator | None = None, spread: float = 0.0,
                  used: set[tuple[int, int, int]] | None = None) -> tuple[int, int, int] | None:
    """The voxel of ``mask`` farthest from its border; with ``spread`` > 0 a random voxel at least
    (1 - spread) as deep (users do not find the exact centre)."""
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1, 1:-1]
    if used:
        for v in used:
            if all(0 <= v[a] < mask.shape[a] for a in range(3)):
                depth[v] = 0
    top = float(depth.max())
    if top <= 0:
        return None
    if rng is None or spread <= 0:
        return tuple(int(v) for v in np.unravel_index(int(np.argmax(depth)), depth.shape))  # type: ignore[return-value]
    cand = np.argwhere(depth >= max(top * (1 - spread), 0.5))
    return tuple(int(v) for v in cand[rng.integers(len(cand))])  # type: ignore[return-value]


def scribble_through(mask: np.ndarray, point: tuple[int, int, int], label: int, rng: np.random.Generator,
                     max_half: int = 12) -> Scribble:
    """A straight in-plane stroke through ``point`` that stays inside the error component on its slice."""
    z = point[2]
    plane = mask[:, :, z]
    ang = rng.uniform(0, np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    pts: list[tuple[int, int, int]] = [point]
    for sign in (1, -1):
        for t in range(1, max_half + 1):
            x, y = np.rint(np.array(point[:2]) + sign * t * d).astype(int)
            if not (0 <= x < plane.shape[0] and 0 <= y < plane.shape[1]) or not plane[x, y]:
                break
            v = (int(x), int(y), z)
            if sign > 0:
                pts.append(v)
            else:
                pts.insert(0, v)
    return Scribble(tuple(dict.fromkeys(pts)), label)


def corrective_click(pred: np.ndarray, gt: np.ndarray, rng: np.random.Generator, used: set[tuple[int, int, int]],
                     allowed: np.ndarray | None = None, p_robot: float = 0.6, p_scribble: float = 0.2,
                     p_exact: float = 0.5) -> Guidance | None:
    """One more piece of guidance where ``pred`` is wrong (None when it is right everywhere allowed)."""
    found = largest_error(pred, gt, allowed) if rng.random() < p_robot else random_error(pred, gt, rng, allowed)
    if found is None:
        return None
    mask, label = found
    point = deepest_point(mask, rng, spread=0.0 if rng.random() < p_exact else 0.5, used=used)
    if point is None:
        return None
    used.add(point)
    if rng.random() < p_scribble:
        return scribble_through(mask, point, label, rng)
    return Click(point, label)
