"""Labels on the preprocessed 1 mm grid -> the original T1CE grid (nearest neighbour).

A radiologist overlays results on the series the scanner made, not on our resampled copy.
Every imported volume lies in the T1CE's physical space (``registration.py``), so the way
back is an identity transform: each voxel of the T1CE's own grid takes the label of the
1 mm voxel its centre falls in. The T1CE grid comes from the import record, so the
original files need not be at hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from brats_desktop.core.atomic import write_atomically
from brats_desktop.core.errors import ExportError
from brats_desktop.core.labels import LabelConvention, to_file
from brats_desktop.core.nifti_io import SourceImage

from .registration import Grid, resample

_LPS = np.diag([-1.0, -1.0, 1.0])


def sitk_from_canonical(canonical: np.ndarray, source: SourceImage) -> sitk.Image:
    """A canonical RAS+ array as a SimpleITK image on ``source``'s grid (geometry exact)."""
    data = np.asarray(source.on_disk(canonical))
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    lps = _LPS @ np.asarray(source.affine, dtype=float)[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(x) for x in (lps[:, :3] / spacing).ravel()))
    image.SetOrigin(tuple(float(o) for o in lps[:, 3]))
    return image


def labels_on_native_grid(internal: np.ndarray, source: SourceImage, record: dict) -> sitk.Image:
    """Internal labels (canonical, on ``source`` = the patient's grid) on the record's native grid."""
    image = sitk_from_canonical(internal.astype(np.uint8), source)
    return resample(image, Grid.from_dict(record["native_grid"]), nearest=True)


def write_native_labels(
    internal: np.ndarray,
    source: SourceImage,
    record: dict,
    target: Path | str,
    convention: LabelConvention,
    protected: set[Path] | frozenset[Path] = frozenset(),
    overwrite: bool = False,
) -> Path:
    """Write labels on the original T1CE grid as uint8 NIfTI in ``convention``, atomically."""
    target = Path(target)
    if not target.name.lower().endswith((".nii", ".nii.gz")):
        target = target.with_name(target.name + ".nii.gz")
    if target.resolve() in {Path(p).resolve() for p in protected}:
        raise ExportError(f"{target}: this is an input file of the patient; it is never overwritten")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    native = labels_on_native_grid(internal, source, record)
    values = to_file(sitk.GetArrayFromImage(native), convention).astype(np.uint8)
    out = sitk.GetImageFromArray(values)
    out.CopyInformation(native)
    suffix = ".nii.gz" if target.name.lower().endswith(".gz") else ".nii"

    def write(tmp: Path) -> None:
        try:
            sitk.WriteImage(out, str(tmp), useCompression=suffix == ".nii.gz")
        except RuntimeError as exc:  # SimpleITK reports a full disk this way
            raise OSError(str(exc).strip().splitlines()[-1]) from exc

    write_atomically(target, write, ExportError, suffix)
    return target
