"""The file's own voxel index and world coordinates of a canonical voxel, and back.

Inside the app every array is canonical RAS+ (see DEVELOPERS.md), but a user compares
positions with nibabel, ITK-SNAP or FSLeyes, which count voxels in the *file's* order
from 0: for an LPS file (as BraTS ships) the file's i and j run opposite to our x and
y. These pure functions translate through the affines kept in
:class:`~brats_desktop.core.nifti_io.SourceImage`, so the status bar, the view titles
and Go To speak the file's language while the views keep their one orientation.
World coordinates are the NIfTI scanner space, RAS+ in mm (what nibabel and FSLeyes
show; ITK-SNAP shows the same point with x and y negated, as LPS).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .nifti_io import SourceImage

Voxel = tuple[int, int, int]


def _canonical_to_file(source: SourceImage) -> np.ndarray:
    """4x4 matrix: canonical voxel coordinates -> the file's voxel coordinates."""
    return np.linalg.inv(source.affine) @ source.canonical_affine


def file_voxel(source: SourceImage, canonical: Sequence[int]) -> Voxel:
    """The file's own 0-based voxel index (i, j, k) of canonical voxel (x, y, z), as nibabel indexes it."""
    ijk = _canonical_to_file(source) @ np.array([*canonical[:3], 1.0])
    i, j, k = (int(round(float(v))) for v in ijk[:3])
    return (i, j, k)


def canonical_from_file(source: SourceImage, ijk: Sequence[float]) -> Voxel:
    """Inverse of :func:`file_voxel` (rounded to the nearest voxel)."""
    xyz = np.linalg.inv(_canonical_to_file(source)) @ np.array([*ijk[:3], 1.0])
    x, y, z = (int(round(float(v))) for v in xyz[:3])
    return (x, y, z)


def world_mm(source: SourceImage, canonical: Sequence[float]) -> tuple[float, float, float]:
    """Scanner (RAS+) coordinates in mm of a canonical voxel (its centre for integer indices)."""
    xyz = source.canonical_affine @ np.array([*canonical[:3], 1.0])
    return (float(xyz[0]), float(xyz[1]), float(xyz[2]))


def canonical_from_world(source: SourceImage, xyz_mm: Sequence[float]) -> Voxel:
    """The canonical voxel containing a scanner (RAS+) point in mm (nearest centre)."""
    v = np.linalg.inv(source.canonical_affine) @ np.array([*xyz_mm[:3], 1.0])
    x, y, z = (int(round(float(c))) for c in v[:3])
    return (x, y, z)


def file_axis(source: SourceImage, canonical_axis: int) -> int:
    """Which of the file's axes (0 i, 1 j, 2 k) runs along canonical axis 0/1/2."""
    m = np.abs(_canonical_to_file(source)[:3, :3])
    return int(np.argmax(m[:, canonical_axis]))


def file_slice_index(source: SourceImage, canonical_axis: int, index: int) -> int:
    """The file's own 0-based index of the canonical slice ``index`` normal to ``canonical_axis``: the number
    the view titles show (``k = 77``), so every message counts slices as the views do."""
    canonical = [0, 0, 0]
    canonical[canonical_axis] = int(index)
    return file_voxel(source, canonical)[file_axis(source, canonical_axis)]


def slice_range_text(source: SourceImage, canonical_axis: int, indices: Sequence[int]) -> str:
    """``k = 93–101``: the views' numbering of canonical slices ``indices`` (lowest to highest as the file counts)."""
    axis = file_axis(source, canonical_axis)
    numbers = sorted(file_slice_index(source, canonical_axis, i) for i in indices)
    span = f"{numbers[0]}–{numbers[-1]}" if numbers[0] != numbers[-1] else f"{numbers[0]}"
    return f"{'ijk'[axis]} = {span}"


def inside(source: SourceImage, canonical: Sequence[int]) -> bool:
    """Whether a canonical voxel index lies in the volume."""
    return all(0 <= int(c) < n for c, n in zip(canonical, source.canonical_shape))


def parse_triple(text: str) -> tuple[float, float, float]:
    """Three numbers typed by a user: ``12 40 7``, ``12, 40, 7`` or ``(12.5; -40; 7)``.

    Raises ValueError with a message fit for the user when it is not three numbers.
    """
    parts = [p for p in re.split(r"[\s,;()\[\]]+", text.strip()) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not three numbers (e.g. 120 96 77)") from None
    if len(values) != 3:
        raise ValueError(f"expected three numbers, got {len(values)} in {text.strip()!r}")
    return (values[0], values[1], values[2])


def describe(source: SourceImage, canonical: Sequence[int]) -> str:
    """Status-bar text: the file's voxel index and the world position in mm."""
    i, j, k = file_voxel(source, canonical)
    x, y, z = world_mm(source, canonical)
    return f"voxel [{i}, {j}, {k}]   RAS ({x:.1f}, {y:.1f}, {z:.1f}) mm"


def slice_caption(source: SourceImage, canonical_axis: int, canonical: Sequence[int]) -> str:
    """View-title text for the slice through ``canonical`` normal to ``canonical_axis``: the file's
    own axis letter and 0-based index with its range, e.g. ``k = 77 (0–154)``, the numbers the
    status bar and other viewers show."""
    axis = file_axis(source, canonical_axis)
    index = file_voxel(source, canonical)[axis]
    return f"{'ijk'[axis]} = {index} (0–{source.shape[axis] - 1})"
