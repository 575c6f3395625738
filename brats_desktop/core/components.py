"""Connected components of a label mask: sizes in mL, where to jump, and one-click removal.

Why one module: the error map's *Next Error*, *Next Lesion* and the annotation's
"remove this blob" all need the same thing, the 3-D connected pieces of a mask
sorted by size, each with a voxel *inside* it to put the crosshair on (a centroid
can fall outside a crescent or a ring, so the jump target is the member voxel
nearest the centroid).

Connectivity is 26 (faces, edges and corners) by default, as BraTS counts lesions
in its lesion-wise metrics: two blobs that touch at a corner are one lesion.

Plain numpy/SciPy, no Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .history import BBox, EditHistory, bbox_of_mask
from .labels import BACKGROUND, ENHANCING

Voxel = tuple[int, int, int]

LESION = "lesion"
"""Component scope: every tumour class together (a whole blob, whatever its classes)."""
CLASS = "class"
"""Component scope: only voxels holding the clicked voxel's class."""
SCOPES: tuple[str, ...] = (LESION, CLASS)


@dataclass(frozen=True)
class Component:
    """One connected piece of a mask, with what a user needs to find and judge it."""

    voxels: int
    volume_ml: float
    bbox: BBox
    centroid: tuple[float, float, float]
    focus: Voxel  # the member voxel nearest the centroid: where the crosshair goes
    kind: str = ""  # free text for lists that mix kinds, e.g. "false positive"


def structure(connectivity: int) -> np.ndarray:
    """3x3x3 neighbourhood for 6-, 18- or 26-connectivity."""
    from scipy import ndimage

    ranks = {6: 1, 18: 2, 26: 3}
    if connectivity not in ranks:
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity}")
    return ndimage.generate_binary_structure(3, ranks[connectivity])


def voxel_volume_ml(spacing: Sequence[float]) -> float:
    """Volume of one voxel in millilitres (spacing in mm; 1 mL = 1000 mm³)."""
    return float(np.prod(np.asarray(spacing, dtype=np.float64))) / 1000.0


def find_components(
    mask: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    connectivity: int = 26,
    kind: str = "",
) -> list[Component]:
    """Connected components of a boolean 3-D mask, largest first (ties: lowest voxel first).

    Labelling runs on the mask's bounding box only, which is what makes it cheap on a
    whole-head grid with a small tumour.
    """
    from scipy import ndimage

    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D, got shape {mask.shape}")
    box = bbox_of_mask(np.asarray(mask, dtype=bool))
    if box is None:
        return []
    crop = np.asarray(mask[box], dtype=bool)
    labelled, count = ndimage.label(crop, structure(connectivity))
    sizes = np.bincount(labelled.ravel(), minlength=count + 1)
    unit = voxel_volume_ml(spacing)
    origin = np.array([s.start for s in box])
    found: list[Component] = []
    for index, local in enumerate(ndimage.find_objects(labelled), start=1):
        if local is None:  # pragma: no cover - every label 1..count exists
            continue
        coords = np.argwhere(labelled[local] == index) + np.array([s.start for s in local])
        centroid = coords.mean(axis=0)
        nearest = coords[int(np.argmin(((coords - centroid) ** 2).sum(axis=1)))]
        bbox = tuple(slice(int(s.start + o), int(s.stop + o)) for s, o in zip(local, origin))
        focus = tuple(int(c + o) for c, o in zip(nearest, origin))
        found.append(
            Component(
                voxels=int(sizes[index]),
                volume_ml=float(sizes[index]) * unit,
                bbox=bbox,  # type: ignore[arg-type]
                centroid=tuple(float(c + o) for c, o in zip(centroid, origin)),  # type: ignore[arg-type]
                focus=focus,  # type: ignore[arg-type]
                kind=kind,
            )
        )
    found.sort(key=lambda c: (-c.voxels, c.focus))
    return found


def lesions(
    labels: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0), connectivity: int = 26
) -> list[Component]:
    """The lesions of a label map: connected pieces of the whole tumour (any class), largest first."""
    return find_components(labels > BACKGROUND, spacing, connectivity, kind="lesion")


def component_at(
    labels: np.ndarray, voxel: Sequence[int], scope: str = LESION, connectivity: int = 26
) -> tuple[BBox, np.ndarray] | None:
    """The connected piece holding ``voxel``: (bbox, boolean mask inside it), or None on background.

    ``scope`` LESION joins every tumour class (a false-positive blob goes as a whole);
    CLASS keeps to the clicked voxel's class (relabel an edema island, keep its core).
    """
    from scipy import ndimage

    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    v = tuple(int(c) for c in voxel)
    if len(v) != 3 or any(not 0 <= c < n for c, n in zip(v, labels.shape)):
        return None
    value = int(labels[v])
    if value == BACKGROUND:
        return None
    mask = labels > BACKGROUND if scope == LESION else labels == value
    box = bbox_of_mask(mask)
    assert box is not None  # the clicked voxel is in it
    labelled, _ = ndimage.label(mask[box], structure(connectivity))
    local = tuple(c - s.start for c, s in zip(v, box))
    piece = labelled == labelled[local]
    tight = bbox_of_mask(piece)
    assert tight is not None
    bbox = tuple(slice(b.start + t.start, b.start + t.stop) for b, t in zip(box, tight))
    return bbox, piece[tight]  # type: ignore[return-value]


def relabel_component(
    labels: np.ndarray,
    voxel: Sequence[int],
    new_label: int,
    scope: str = LESION,
    connectivity: int = 26,
    history: EditHistory | None = None,
) -> BBox | None:
    """Give the whole connected piece at ``voxel`` the label ``new_label`` (0 removes it).

    Writes in place and records one undo step; returns the changed bbox, or None when
    nothing changed (background clicked, or the piece already holds that label).
    """
    if not BACKGROUND <= int(new_label) <= ENHANCING:
        raise ValueError(f"label must be 0-3 (internal), got {new_label}")
    if history is not None and history.target is not labels:
        raise ValueError("the history belongs to a different label array")
    found = component_at(labels, voxel, scope, connectivity)
    if found is None:
        return None
    bbox, piece = found
    region = labels[bbox]
    change = piece & (region != new_label)
    if not change.any():
        return None
    old = region[change]
    region[change] = new_label
    if history is not None:
        history.record(bbox, change, old)
    return bbox
