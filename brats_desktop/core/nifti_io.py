"""Read NIfTI volumes into one display orientation and write label maps back exactly.

Every volume is reoriented to closest-canonical RAS+ on load (axis 0 runs to the
patient's Right, axis 1 to Anterior, axis 2 to Superior), whatever the file's own
orientation, so the views never need to know about it. The file's affine, header
and axis order are kept in a :class:`SourceImage` and put back on export, so an
exported label map lies voxel-exactly on its source image in any other tool.
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np


def _import_nibabel_without_pydicom():
    """nibabel imports pydicom when it loads (and with it requests, urllib3 and PIL: about a
    fifth of the viewer's start-up), only to decode DICOM extensions inside NIfTI headers,
    which BraTS files do not have (without pydicom nibabel keeps such an extension as raw
    bytes). pydicom is hidden while nibabel loads, unless it is already imported; the raw-scan
    import still gets the real pydicom afterwards."""
    hide = "pydicom" not in sys.modules
    if hide:
        sys.modules["pydicom"] = None  # type: ignore[assignment]  # makes "import pydicom" fail
    try:
        import nibabel
    finally:
        if hide and sys.modules.get("pydicom", 0) is None:
            del sys.modules["pydicom"]
    return nibabel


nib = _import_nibabel_without_pydicom()
from nibabel.orientations import (
    apply_orientation,
    axcodes2ornt,
    inv_ornt_aff,
    io_orientation,
    ornt_transform,
)

from .atomic import write_atomically
from .errors import ExportError, GeometryMismatchError, VolumeReadError, VolumeShapeError
from .labels import LabelConvention, to_file

_RAS = axcodes2ornt(("R", "A", "S"))
# Affines of one patient may differ by float round-off in the header, never by more.
LINEAR_TOLERANCE = 1e-3
TRANSLATION_TOLERANCE_MM = 1e-2


@dataclass(frozen=True)
class SourceImage:
    """Where a volume came from and how to put data back on its grid.

    The derived geometry (orientation, canonical shape, spacing) is cached: the views
    ask for it on every mouse move, and nibabel's orientation SVD costs about 0.7 ms.
    """

    path: Path | None
    shape: tuple[int, int, int]  # on-disk voxel order
    affine: np.ndarray  # on-disk affine
    header: nib.Nifti1Header

    @cached_property
    def to_canonical(self) -> np.ndarray:
        return ornt_transform(io_orientation(self.affine), _RAS)

    @cached_property
    def from_canonical(self) -> np.ndarray:
        return ornt_transform(_RAS, io_orientation(self.affine))

    @cached_property
    def canonical_affine(self) -> np.ndarray:
        return self.affine @ inv_ornt_aff(self.to_canonical, self.shape)

    @cached_property
    def canonical_shape(self) -> tuple[int, int, int]:
        axes = self.to_canonical[:, 0].astype(int)
        out = [0, 0, 0]
        for src, dst in enumerate(axes):
            out[dst] = self.shape[src]
        return (out[0], out[1], out[2])

    @cached_property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the canonical axes."""
        zooms = np.sqrt((self.canonical_affine[:3, :3] ** 2).sum(axis=0))
        return (float(zooms[0]), float(zooms[1]), float(zooms[2]))

    def canonical(self, data: np.ndarray) -> np.ndarray:
        """On-disk array -> canonical RAS+ array (C-contiguous)."""
        return np.ascontiguousarray(apply_orientation(data, self.to_canonical))

    def on_disk(self, data: np.ndarray) -> np.ndarray:
        """Canonical array -> the file's own voxel order."""
        out = np.ascontiguousarray(apply_orientation(data, self.from_canonical))
        if out.shape != self.shape:  # pragma: no cover - guards a logic error
            raise ExportError(f"internal error: reoriented shape {out.shape} != {self.shape}")
        return out


def synthetic_source(shape: tuple[int, int, int], spacing=(1.0, 1.0, 1.0)) -> SourceImage:
    """A RAS+ grid for data made in memory (the demo patient), so it can be exported too."""
    affine = np.diag([*spacing, 1.0]).astype(float)
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_zooms(spacing)
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    return SourceImage(None, tuple(int(s) for s in shape), affine, header)


def read_header(path: Path | str) -> SourceImage:
    """Open a NIfTI file's header (cheap) and check it holds one 3-D volume."""
    path = Path(path)
    try:
        img = nib.load(str(path))
    except FileNotFoundError as exc:
        raise VolumeReadError(path, "file not found") from exc
    except PermissionError as exc:
        raise VolumeReadError(path, "permission denied: the file cannot be read") from exc
    except IsADirectoryError as exc:
        raise VolumeReadError(path, "is a folder, not a file") from exc
    except (nib.filebasedimages.ImageFileError, zlib.error, EOFError, OSError, ValueError) as exc:
        raise VolumeReadError(path, f"not a readable NIfTI file ({_describe(exc)})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise VolumeReadError(path, f"not a NIfTI image (read as {type(img).__name__})")
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise VolumeShapeError(
            path, f"{len(img.shape)}-D data of shape {img.shape}; expected one 3-D volume"
        )
    if min(shape) < 1:
        raise VolumeShapeError(path, f"empty volume of shape {shape}")
    return SourceImage(path, shape, np.asarray(img.affine, dtype=float), img.header.copy())


def read_volume(path: Path | str, dtype=np.float32) -> tuple[np.ndarray, SourceImage]:
    """Read a 3-D NIfTI file into a canonical RAS+ array of ``dtype`` (None: as stored, scaled)."""
    source = read_header(path)
    try:
        img = nib.load(str(source.path))
        data = np.asarray(img.dataobj)
    except MemoryError as exc:
        raise VolumeReadError(source.path, "not enough memory to read this volume") from exc
    except (EOFError, zlib.error, OSError, ValueError) as exc:
        raise VolumeReadError(source.path, f"corrupt or truncated data ({_describe(exc)})") from exc
    data = data.reshape(source.shape)
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    # Reorient as a view, then cast and lay out in one pass (one copy, not two).
    view = apply_orientation(data, source.to_canonical)
    return np.ascontiguousarray(view, dtype=dtype if dtype is not None else data.dtype), source


def check_same_grid(reference: SourceImage, other: SourceImage) -> None:
    """Refuse volumes that do not share the reference's voxel grid."""
    if other.shape != reference.shape:
        raise GeometryMismatchError(
            other.path,
            f"shape {other.shape} differs from {_name(reference)} {reference.shape}; "
            "all volumes of a patient must share one voxel grid",
        )
    lin = np.abs(other.affine[:3, :3] - reference.affine[:3, :3]).max()
    trans = np.abs(other.affine[:3, 3] - reference.affine[:3, 3]).max()
    if lin > LINEAR_TOLERANCE or trans > TRANSLATION_TOLERANCE_MM:
        raise GeometryMismatchError(
            other.path,
            f"affine differs from {_name(reference)} (by {max(lin, trans):.3g}); "
            "the volumes are not co-registered on one voxel grid",
        )


def write_label_map(
    internal: np.ndarray,
    reference: SourceImage,
    target: Path | str,
    convention: LabelConvention,
    protected: set[Path] | frozenset[Path] = frozenset(),
    overwrite: bool = False,
) -> Path:
    """Write an internal canonical label map onto ``reference``'s grid, atomically.

    The data go back to the file's voxel order, in the patient's label convention,
    as uint8 with the reference's affine in both sform and qform. ``protected``
    (the patient's input files) are never written; an existing file is replaced
    only with ``overwrite=True`` (the GUI asks first).
    """
    target = Path(target)
    if not (target.name.lower().endswith(".nii.gz") or target.name.lower().endswith(".nii")):
        target = target.with_name(target.name + ".nii.gz")
    resolved = target.resolve()
    if resolved in {Path(p).resolve() for p in protected}:
        raise ExportError(f"{target}: this is an input file of the patient; it is never overwritten")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    if internal.shape != reference.canonical_shape:
        raise ExportError(
            f"label map shape {internal.shape} does not match the image grid {reference.canonical_shape}"
        )
    data = to_file(reference.on_disk(internal), convention)
    img = _image_on_grid(data, reference, np.uint8)
    img.header["cal_min"], img.header["cal_max"] = 0, int(max(convention.file_values))
    img.header["descrip"] = f"BraTS Desktop labels ({convention.value})".encode()[:79]
    return _save_atomically(img, target)


def write_volume(
    canonical: np.ndarray,
    reference: SourceImage,
    target: Path | str,
    dtype: type | np.dtype = np.float32,
    overwrite: bool = False,
) -> Path:
    """Write a canonical RAS+ image volume onto ``reference``'s grid, atomically.

    The inverse of :func:`read_volume`: reading the file back gives ``canonical``
    again (exactly, for a dtype that holds its values). The synthetic cohort uses it
    to write BraTS-like folders on an LPS grid through the same orientation code.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    if canonical.shape != reference.canonical_shape:
        raise ExportError(f"volume shape {canonical.shape} does not match the grid {reference.canonical_shape}")
    img = _image_on_grid(reference.on_disk(canonical).astype(dtype, copy=False), reference, dtype)
    return _save_atomically(img, target)


def _image_on_grid(data: np.ndarray, reference: SourceImage, dtype) -> nib.Nifti1Image:
    """A NIfTI image of on-disk-ordered ``data`` with the reference's header, sform and qform."""
    header = reference.header.copy()
    image_class = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    img = image_class(data, reference.affine, header=header)
    img.set_data_dtype(dtype)
    sform, scode = reference.header.get_sform(coded=True)
    qform, qcode = reference.header.get_qform(coded=True)
    img.set_sform(reference.affine if sform is None else sform, int(scode) if sform is not None else 1)
    img.set_qform(reference.affine if qform is None else qform, int(qcode) if qform is not None else 1)
    img.header.set_slope_inter(1.0, 0.0)
    return img


def _save_atomically(img: nib.Nifti1Image, target: Path) -> Path:
    """Save to a temporary name beside ``target``, fsync, then rename: never a half-written file."""
    suffix = ".nii.gz" if target.name.lower().endswith(".gz") else ".nii"
    return write_atomically(target, lambda tmp: nib.save(img, str(tmp)), ExportError, suffix)


def unused_path(folder: Path | str, stem: str, suffix: str = ".nii.gz") -> Path:
    """``folder/stem+suffix``, or ``stem-1``, ``stem-2`` ... : the first name nothing uses yet.

    Default output names (``brats-predict``, the export dialog) use it so that a
    default never replaces an existing file.
    """
    folder = Path(folder)
    candidate = folder / f"{stem}{suffix}"
    n = 0
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-{n}{suffix}"
    return candidate


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _name(source: SourceImage) -> str:
    return source.path.name if source.path is not None else "the reference volume"
