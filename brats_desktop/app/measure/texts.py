"""How measurements name slices and planes: the file's own indices, as other viewers count them.

Shared by the Measurements table and the controller's status texts (no widgets here).
"""

from __future__ import annotations

from typing import Any

from brats_desktop.core.coordinates import file_axis, file_slice_index, file_voxel

from brats_desktop.app.views.slice_view import PLANES


def slice_label(patient: Any, z: int) -> int:
    """The file's own index of canonical axial slice ``z`` (what nibabel, ITK-SNAP, FSLeyes count)."""
    if patient is None:
        return z
    return file_slice_index(patient.grid, 2, z)


def plane_name(axis: int) -> str:
    """"axial", "coronal" or "sagittal" for a canonical slice axis."""
    return next(p.name for p in PLANES if p.axis == axis).lower()


def slice_text(patient: Any, ruler: Any) -> str:
    """The ruler's slice as the file counts it, e.g. ``k=77``."""
    grid = patient.grid
    axis = file_axis(grid, ruler.axis)
    index = [0, 0, 0]
    index[ruler.axis] = ruler.slice_index
    return f"{'ijk'[axis]}={file_voxel(grid, index)[axis]}"


def ruler_caption(patient: Any, n: int, ruler: Any) -> str:
    """The table's first column for ruler number ``n``: ``Ruler 1 (axial k=77)``."""
    return f"Ruler {n} ({plane_name(ruler.axis)} {slice_text(patient, ruler)})"
