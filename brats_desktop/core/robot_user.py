"""The standard simulated user of interactive segmentation (the RITM / DeepEdit "robot user").

Interactive methods are compared by letting a deterministic robot correct a shown
segmentation against the reference, one click at a time, and recording the score
after every click. Everyone uses the same rule, so figures compare across papers:

1. Among the voxels whose reference label ``c`` (background or a class) differs from
   what is shown, take the largest 6-connected component, over all ``c`` together.
2. Click its deepest point, the maximum of the Euclidean distance transform inside it
   (the point farthest from the component's border, where a user aims), with label ``c``.
3. Never click the same voxel twice: if a click did not fix its voxel, the next
   deepest point of the (still largest) component is taken instead, so the robot does
   not loop on one voxel that a method refuses to change.

Ties are broken deterministically (larger component, then lower label, then the first
component in array order; equal depths: the first voxel in array order), so a run is
reproducible to the voxel.

Speed matters because the evaluation runs it after every click on whole 240×240×155
grids: everything happens inside the bounding box of the wrong voxels, each label's
error mask is labelled once per step, and the distance transform runs on the chosen
component's bounding box only (padded by one voxel, so the component's faces count as
borders even where it touches the edge of the volume).

Plain numpy/SciPy, no Qt and no torch: the evaluation, the click-model training and
tests share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .history import bbox_of_mask
from .labels import BACKGROUND, ENHANCING

Voxel = tuple[int, int, int]

SIX_CONNECTED = ndimage.generate_binary_structure(3, 1)
"""Face neighbours only, as the protocol counts error components."""

ALL_LABELS: tuple[int, ...] = tuple(range(BACKGROUND, ENHANCING + 1))


@dataclass(frozen=True)
class RobotClick:
    """One simulated click: where, which internal label the user asserts, and why there."""

    voxel: Voxel  # canonical voxel index
    label: int  # internal label: 0 background, 1 NCR, 2 ED, 3 ET (the reference's label there)
    component_voxels: int  # size of the error component it was aimed at
    depth: float  # distance (in spacing units) from the voxel to the component's border


def next_click(
    shown: np.ndarray,
    truth: np.ndarray,
    clicked: Iterable[Sequence[int]] = (),
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
) -> RobotClick | None:
    """The robot's next click on ``shown`` against ``truth``, or None when nothing is wrong (or clickable).

    ``clicked`` are the voxels clicked before (never clicked again). ``spacing`` (mm)
    weighs the distance transform on anisotropic grids; BraTS grids are 1 mm.
    """
    if shown.shape != truth.shape or shown.ndim != 3:
        raise ValueError(f"shown {shown.shape} and reference {truth.shape} must be 3-D and of one shape")
    wrong = shown != truth
    box = bbox_of_mask(wrong)
    if box is None:
        return None
    origin = np.array([s.start for s in box])
    wrong_crop = wrong[box]
    truth_crop = truth[box]
    done = {tuple(int(c) for c in v) for v in clicked}

    # (size, label, component index, origin of the label's box, the component's box in it, the labelled box).
    candidates: list[tuple[int, int, int, np.ndarray, tuple[slice, ...], np.ndarray]] = []
    for label in ALL_LABELS:
        mask = wrong_crop & (truth_crop == label)
        own = bbox_of_mask(mask)  # each label's errors usually sit in a much smaller box than all errors
        if own is None:
            continue
        labelled, count = ndimage.label(mask[own], SIX_CONNECTED)
        sizes = np.bincount(labelled.ravel(), minlength=count + 1)
        start = origin + [s.start for s in own]
        for index, local in enumerate(ndimage.find_objects(labelled), start=1):
            if local is not None:
                candidates.append((int(sizes[index]), label, index, start, local, labelled))
    # Within one label, component numbers follow array order of their first voxel: the tie-break.
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))

    for size, label, index, start, local, labelled in candidates:
        found = _deepest_unclicked(labelled[local] == index, start + [s.start for s in local], done, spacing)
        if found is not None:
            voxel, depth = found
            return RobotClick(voxel=voxel, label=label, component_voxels=size, depth=depth)
    return None


def _deepest_unclicked(
    component: np.ndarray, offset: np.ndarray, done: set[Voxel], spacing: Sequence[float]
) -> tuple[Voxel, float] | None:
    """The voxel of ``component`` (a mask in its own box at ``offset``) farthest from its border, not in ``done``."""
    depth = ndimage.distance_transform_edt(np.pad(component, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    depth[~component] = -1.0
    for voxel in done:
        local = tuple(v - o for v, o in zip(voxel, offset))
        if all(0 <= c < n for c, n in zip(local, component.shape)):
            depth[local] = -1.0
    flat = int(np.argmax(depth))  # first maximum in array order: the deterministic tie-break
    best = float(depth.flat[flat])
    if best <= 0.0:
        return None  # every voxel of this component was clicked already
    local = np.unravel_index(flat, component.shape)
    return tuple(int(c + o) for c, o in zip(local, offset)), best  # type: ignore[return-value]


class RobotUser:
    """A robot that remembers its clicks, for one case: call :meth:`click` on each new result."""

    def __init__(self, truth: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        self.truth = truth
        self.spacing = tuple(float(s) for s in spacing)
        self.clicks: list[RobotClick] = []

    def click(self, shown: np.ndarray) -> RobotClick | None:
        """The next click on ``shown`` (remembered, so never repeated), or None when there is nothing to fix."""
        chosen = next_click(shown, self.truth, (c.voxel for c in self.clicks), self.spacing)
        if chosen is not None:
            self.clicks.append(chosen)
        return chosen
