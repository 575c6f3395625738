"""How class probabilities become labels: the argmax, or whole tumour first.

The argmax over four classes calls a voxel background whenever background is the single
most likely class, even where the tumour classes together are likelier (background 0.4,
edema 0.35, necrosis 0.25). The BraTS regions are nested (whole tumour holds the core,
the core holds enhancing tumour), so the first question is *whether* a voxel is tumour:
with ``background_below`` a voxel is tumour when its background probability is below
that value (0.5: the tumour classes together are likelier), and only then which part.
Averaging two orthogonal models' probabilities (the Accurate tier) blurs the tumour's
edge, where the models disagree, into exactly such split votes: out of fold, whole tumour
first gives that tier WT +0.003 and TC +0.002 (each about three standard errors) at no
cost, and a higher threshold more, though not clearly so once chosen out of fold
(:mod:`training.tune_tumour_threshold`).

A voxel won this way takes the most likely tumour class other than enhancing tumour: a
voxel the plain argmax calls background is not enhancing, and the enhancing tumour's
Dice must not pay for a better whole tumour. Tumour voxels of the plain argmax keep their
class. Numpy only; the app, ``brats-predict`` and the tuning share it.
"""

from __future__ import annotations

import numpy as np

from .labels import ENHANCING  # the internal label a won voxel never takes
_SLAB = 16  # last-axis slices per step: a full BraTS volume in float32 would be 140 MB at once


def decide_labels(probabilities: np.ndarray, background_below: float | None = None,
                  plain: np.ndarray | None = None) -> np.ndarray:
    """uint8 labels (the grid of ``probabilities[0]``) from ``probabilities`` (classes, ...).

    Floats in 0-1, or uint8 0-255 as the saved out-of-fold predictions hold them.
    ``background_below`` None is the plain argmax; a value in (0, 1] turns the plain
    argmax's background voxels whose background probability is below it into tumour.
    ``plain``: the argmax already taken at full precision (the float16 probabilities a
    prediction keeps could break a near-tie the other way); computed when None.
    """
    p = np.asarray(probabilities)
    if p.ndim < 2 or p.shape[0] < 2:
        raise ValueError(f"probabilities of shape {p.shape}: expected (classes, ...) with at least two classes")
    if plain is not None and plain.shape != p.shape[1:]:
        raise ValueError(f"labels of shape {plain.shape} do not fit probabilities of shape {p.shape}")
    if background_below is None:
        return p.argmax(axis=0).astype(np.uint8) if plain is None else np.asarray(plain, dtype=np.uint8)
    if not 0.0 < background_below <= 1.0:
        raise ValueError(f"background_below must lie in (0, 1], not {background_below}")
    limit = background_below * (255.0 if np.issubdtype(p.dtype, np.integer) else 1.0)
    grown = np.array([c for c in range(1, p.shape[0]) if c != ENHANCING] or [1])  # classes a won voxel may take
    out = np.empty(p.shape[1:], dtype=np.uint8)
    for start in range(0, p.shape[-1], _SLAB):
        part = p[..., start:start + _SLAB]
        argmax = part.argmax(axis=0) if plain is None else plain[..., start:start + _SLAB]
        won = (argmax == 0) & (part[0] < limit)
        label = grown[part[grown].argmax(axis=0)]
        out[..., start:start + _SLAB] = np.where(won, label, argmax)
    return out
