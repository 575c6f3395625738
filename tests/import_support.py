"""Raw-scan fixtures for the import tests: a head phantom on scanner-like grids, as NIfTI or DICOM.

The phantom is defined in physical (LPS) space, so each sequence can be sampled on its own
grid (thick slices, oblique) and moved by a known rigid transform: the registration must
find that transform back. It is asymmetric (off-centre ventricle, tumour) so a rotation is
identifiable. Small grids keep registration to a second or two.
"""

from __future__ import annotations

import locale
import math
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")

# Intensities per sequence: CSF/background, skull, brain, ventricle, tumour
CONTRASTS = {
    "t1ce": (40, 300, 600, 200, 1100),
    "t1": (40, 300, 620, 180, 500),
    "t2": (60, 150, 400, 1000, 800),
    "flair": (50, 200, 450, 80, 900),
}
HEAD_RADII = np.array([72.0, 88.0, 64.0])
BRAIN_RADII = np.array([62.0, 77.0, 54.0])


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    """Rotation matrix from Euler angles in degrees (x, then y, then z)."""
    ax, ay, az = (math.radians(a) for a in (ax, ay, az))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def grid_image(size, spacing, direction=np.eye(3), centre=(0.0, 0.0, 0.0)) -> "sitk.Image":
    """An empty image whose field of view is centred on ``centre`` (mm, LPS)."""
    image = sitk.Image([int(n) for n in size], sitk.sitkInt16)
    image.SetSpacing([float(s) for s in spacing])
    d = np.asarray(direction, float)
    image.SetDirection(tuple(d.ravel()))
    half = d @ ((np.array(size) - 1) * np.array(spacing) / 2.0)
    image.SetOrigin(tuple(np.asarray(centre) - half))
    return image


def physical_points(image) -> np.ndarray:
    """(z, y, x, 3) physical coordinates of every voxel centre (sitk array order)."""
    size = image.GetSize()
    idx = np.stack(np.meshgrid(np.arange(size[0]), np.arange(size[1]), np.arange(size[2]), indexing="ij"), -1)
    d = np.array(image.GetDirection()).reshape(3, 3)
    pts = np.array(image.GetOrigin()) + (idx * np.array(image.GetSpacing())) @ d.T
    return pts.transpose(2, 1, 0, 3)


def phantom(image, role: str, move: tuple[np.ndarray, np.ndarray] | None = None) -> "sitk.Image":
    """The head phantom sampled on ``image``'s grid; ``move`` = (R, t): the head is at R p + t."""
    p = physical_points(image)
    if move is not None:
        r, t = move
        p = (p - t) @ r  # inverse of q = R p + t (R orthogonal)
    bg, skull, brain, vent, tumour = CONTRASTS[role]
    out = np.full(p.shape[:3], bg, np.float32)
    head = np.sum((p / HEAD_RADII) ** 2, -1)
    out[(head <= 1.0) & (head > 0.85)] = skull
    inside = np.sum((p / BRAIN_RADII) ** 2, -1) <= 1.0
    # Gyri-like texture (wavelengths 25-45 mm, fixed): gives the registration something to turn on.
    texture = (np.sin(p @ [0.21, 0.05, 0.02]) * np.cos(p @ [0.03, 0.17, 0.06])
               + 0.7 * np.sin(p @ [-0.08, 0.11, 0.19] + 1.0))
    out[inside] = brain * (1.0 + 0.18 * texture[inside])
    ventricle = np.sum(((p - [12.0, 8.0, 10.0]) / [10.0, 22.0, 12.0]) ** 2, -1) <= 1.0
    out[ventricle & inside] = vent
    lesion = np.sum(((p - [-30.0, -25.0, 18.0]) / 14.0) ** 2, -1) <= 1.0
    out[lesion & inside] = tumour
    result = sitk.GetImageFromArray(np.rint(out).astype(np.int16))
    result.CopyInformation(image)
    return result


def brain_mask_extractor(volume: np.ndarray, spacing) -> np.ndarray:
    """A stand-in for HD-BET on the phantom: brain-bright voxels, holes filled (fast, deterministic)."""
    from scipy import ndimage

    return ndimage.binary_fill_holes(volume > 0.5 * np.percentile(volume[volume > 0], 95))


# Sequences as a scanner makes them: T1/T1CE share a grid, T2/FLAIR another, tilted; moved heads.
T1CE_GRID = dict(size=(64, 64, 24), spacing=(3.6, 3.6, 6.0), direction=rotation(4, 0, 0))
OTHER_GRID = dict(size=(60, 64, 22), spacing=(3.8, 3.6, 6.5), direction=rotation(-12, 3, 0))
MOVES = {
    "t1ce": None,
    "t1": (rotation(0, 0, 4), np.array([2.0, -1.5, 1.0])),
    "t2": (rotation(5, -3, 0), np.array([-3.0, 4.0, 2.5])),
    "flair": (rotation(5, -3, 0), np.array([-3.0, 4.0, 2.5])),
}


def raw_images() -> dict[str, "sitk.Image"]:
    out = {}
    for role in ("t1ce", "t1", "t2", "flair"):
        grid = grid_image(**(T1CE_GRID if role in ("t1ce", "t1") else OTHER_GRID), centre=(0.0, 10.0, 5.0))
        out[role] = phantom(grid, role, MOVES[role])
    return out


def write_raw_nifti(folder: Path, names=None) -> dict[str, Path]:
    """The four phantom sequences as scanner NIfTI files (``t1.nii.gz`` ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or {"t1ce": "t1c.nii.gz", "t1": "t1.nii.gz", "t2": "t2.nii.gz", "flair": "flair.nii.gz"}
    paths = {}
    for role, image in raw_images().items():
        paths[role] = folder / names[role]
        sitk.WriteImage(image, str(paths[role]))
    return paths


def write_dicom_series(image, folder: Path, description: str, number: int = 1, tags: dict | None = None,
                       study_uid: str = "1.2.826.0.1.3680043.8.498.1") -> list[Path]:
    """A 3-D image as one DICOM file per slice, with the geometry tags a scanner writes.

    GDCM's writer leaves the process in the "C" locale, after which every ``read_text()``
    without an encoding in a later test fails on non-ASCII text: the locale is put back.
    """
    saved_locale = locale.setlocale(locale.LC_ALL)
    try:
        return _write_dicom_series(image, folder, description, number, tags, study_uid)
    finally:
        locale.setlocale(locale.LC_ALL, saved_locale)


def _write_dicom_series(image, folder: Path, description: str, number: int, tags: dict | None,
                        study_uid: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = image.GetDirection()
    series_uid = f"{study_uid}.{number}"
    common = {
        "0008|0060": "MR",
        "0008|0008": "ORIGINAL\\PRIMARY\\AXIAL",
        "0020|000d": study_uid,
        "0020|000e": series_uid,
        "0020|0052": f"{study_uid}.9",  # Frame of Reference: one per session, as a scanner writes it
        "0010|0020": "PHANTOM01",
        "0010|0010": "Phantom^Head",
        "0020|0011": str(number),
        "0008|103e": description,
        "0018|1030": description,
        "0020|0037": "\\".join(f"{v:.8f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
        "0018|0050": f"{image.GetSpacing()[2]:.6f}",
    }
    common.update(tags or {})
    paths = []
    # GDCM's writer leaves the C library's LC_CTYPE at "C", which turns Python's default text
    # encoding into ASCII for every later test (read_text of a non-ASCII file then fails): restore it.
    saved = locale.setlocale(locale.LC_CTYPE)
    for k in range(image.GetDepth()):
        sl = image[:, :, k]
        for tag, value in common.items():
            sl.SetMetaData(tag, value)
        pos = image.TransformIndexToPhysicalPoint((0, 0, k))
        sl.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in pos))
        sl.SetMetaData("0020|0013", str(k + 1))
        sl.SetMetaData("0008|0018", f"{series_uid}.{k + 1}")
        path = folder / f"IM{k:04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(sl)
        paths.append(path)
    locale.setlocale(locale.LC_CTYPE, saved)
    return paths


def write_raw_dicom(root: Path) -> dict[str, Path]:
    """The phantom as a scanner's DICOM export: four series (+ a localizer) in nested folders."""
    images = raw_images()
    spec = {
        "t1ce": ("AX T1 POST", {"0018|0010": "GADOVIST", "0018|0080": "550", "0018|0081": "12"}),
        "t1": ("AX T1 PRE", {"0018|0080": "550", "0018|0081": "12"}),
        "t2": ("AX T2 FSE", {"0018|0080": "4000", "0018|0081": "100"}),
        "flair": ("AX FLAIR", {"0018|0080": "9000", "0018|0081": "120", "0018|0082": "2500"}),
    }
    folders = {}
    for number, (role, (desc, tags)) in enumerate(spec.items(), start=2):
        folders[role] = root / "STUDY1" / f"SE{number:02d}"
        write_dicom_series(images[role], folders[role], desc, number, tags)
    loc = grid_image((64, 64, 3), (4.0, 4.0, 10.0))
    write_dicom_series(phantom(loc, "t1"), root / "STUDY1" / "SE01", "3-plane localizer", 1,
                       {"0008|0008": "ORIGINAL\\PRIMARY\\LOCALIZER"})
    return folders
