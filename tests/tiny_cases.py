"""Tiny NIfTI patient folders for tests, written with nibabel into tmp_path.

Volumes are small (12x10x8) and deliberately asymmetric (a bright voxel near the
patient's right, anterior, superior corner) so orientation mistakes show.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (12, 10, 8)
# Canonical RAS+ voxel that is bright in every image: right (high x), anterior, superior.
MARK = (10, 7, 6)


def ras_image(seed: int = 0) -> np.ndarray:
    """A canonical RAS+ float32 test image: smooth ramp plus the bright MARK voxel."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    data = (10 + x + 2 * y + 3 * z + rng.random(SHAPE)).astype(np.float32)
    data[MARK] = 500.0
    return data


def ras_labels() -> np.ndarray:
    """Internal labels 0-3 in canonical order: edema block with a core and an enhancing rim."""
    labels = np.zeros(SHAPE, np.uint8)
    labels[3:9, 2:8, 2:6] = 2
    labels[4:8, 3:7, 3:5] = 3
    labels[5:7, 4:6, 3:5] = 1
    return labels


RAS_AFFINE = np.array(
    [[1.0, 0, 0, -6.0], [0, 1.0, 0, -5.0], [0, 0, 1.0, -4.0], [0, 0, 0, 1]]
)


def lps(data: np.ndarray, affine: np.ndarray = RAS_AFFINE) -> tuple[np.ndarray, np.ndarray]:
    """The same image stored LPS (x and y flipped on disk) with the matching affine."""
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, data.shape[0] - 1
    flip[1, 1], flip[1, 3] = -1, data.shape[1] - 1
    return np.ascontiguousarray(data[::-1, ::-1, :]), affine @ flip


def save(path: Path, data: np.ndarray, affine: np.ndarray = RAS_AFFINE, dtype=None) -> Path:
    """Write a NIfTI-1 file with both sform and qform set (code 1, scanner)."""
    img = nib.Nifti1Image(data if dtype is None else data.astype(dtype), affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def make_folder(
    folder: Path,
    names: dict[str, str],
    seg_values: str | None = "2023",
    orientation: str = "RAS",
) -> Path:
    """Write a patient folder: ``names`` maps modality key (or "seg") to a file name.

    ``seg_values`` "2020" writes enhancing as 4, "2023" as 3. ``orientation`` "LPS"
    stores every file flipped with the matching affine (same anatomy).
    """
    for i, (key, filename) in enumerate(names.items()):
        if key == "seg":
            data = ras_labels()
            if seg_values == "2020":
                data = np.where(data == 3, 4, data).astype(np.uint8)
            dtype = np.uint8
        else:
            data, dtype = ras_image(i), np.float32
        affine = RAS_AFFINE
        if orientation == "LPS":
            data, affine = lps(data)
        save(folder / filename, data, affine, dtype)
    return folder
