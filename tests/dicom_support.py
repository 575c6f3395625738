"""A patient imported from a synthetic DICOM series, with a tumour label map, for the DICOM export tests.

The T1CE of the import tests' phantom is written as one DICOM file per slice (tilted,
anisotropic, as a scanner makes it) and imported with the stand-in brain extractor, so the
import record lists real instances; :func:`tumour_labels` puts the three classes in the
phantom's lesion on the patient's 1 mm grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from import_support import T1CE_GRID, brain_mask_extractor, grid_image, phantom, write_dicom_series

sitk = pytest.importorskip("SimpleITK")


def write_t1ce_series(root: Path, size=None, spacing=None) -> list[Path]:
    """The phantom's T1CE as a DICOM series under ``root/STUDY1/SE02`` (default: the import tests' grid)."""
    grid = dict(T1CE_GRID)
    if size is not None:
        grid.update(size=size, spacing=spacing)
    image = phantom(grid_image(**grid, centre=(0.0, 10.0, 5.0)), "t1ce")
    return write_dicom_series(image, root / "STUDY1" / "SE02", "AX T1 POST", 2,
                              {"0018|0010": "GADOVIST", "0018|0080": "550", "0018|0081": "12"})


def import_t1ce(root: Path, output: Path) -> Path:
    """Import the series under ``root`` as a T1CE-only patient into ``output``."""
    from brats_desktop.preprocess.pipeline import preprocess
    from brats_desktop.preprocess.series import discover_series

    scan = discover_series(root)
    series = next(s for s in scan.series if s.kind == "dicom")
    preprocess(scan, {"t1ce": series}, output, extractor=brain_mask_extractor)
    return output


def tumour_labels(shape: tuple[int, int, int], centre: tuple[int, int, int] | None = None) -> np.ndarray:
    """Edema around an enhancing rim (two lesions) around necrosis, on a canonical grid of ``shape``."""
    labels = np.zeros(shape, np.uint8)
    c = np.array(centre if centre is not None else (shape[0] // 2 - 20, shape[1] // 2 - 15, shape[2] // 2 + 10))
    x, y, z = np.ogrid[: shape[0], : shape[1], : shape[2]]
    r = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + ((z - c[2]) * 1.2) ** 2)
    labels[r <= 20] = 2
    labels[r <= 13] = 3
    labels[r <= 7] = 1
    second = np.sqrt((x - c[0] - 28) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) <= 6
    labels[second] = 3
    return labels
