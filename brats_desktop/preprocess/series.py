"""Find the image series in a folder of raw scans and propose a BraTS role for each.

A scanner export is a tree of DICOM files (several series mixed, any depth) or a few
NIfTI files converted from them. Each series becomes one :class:`Series`; its proposed
role (T1, T1CE, T2, FLAIR or none) comes from the text the scanner wrote
(SeriesDescription, ProtocolName, the file name) and, when the text does not tell, from the
timing (TR/TE/TI) and the contrast-agent tag (0018,0010). Localizers, derived images
(ADC, MPR, subtraction) and diffusion/perfusion series get no role. The user confirms or
changes every role before anything runs, so a wrong guess costs a click, never a bad case.

A series that cannot be read, or whose slices have a gap, carries a ``problem`` and is
left out; the rest still imports.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brats_desktop.core.discovery import MODALITIES, MODALITY_LABELS, classify

ROLES: tuple[str, ...] = MODALITIES  # "t1", "t1ce", "t2", "flair"
ROLE_LABELS = MODALITY_LABELS
_NIFTI = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)
_SKIP_NIFTI = re.compile(r"(mask|seg|label|brain_?mask)", re.IGNORECASE)
_DROP_TEXT = re.compile(
    r"(localizer|localiser|scout|survey|3.?plane|\badc\b|dwi|diffusion|trace|\bdti\b|perf|dsc|dce|"
    r"\bmpr\b|\bmip\b|subtract|\bsub\b|mosaic|calibration|asset|\bcbf\b|\bswi\b)",
    re.IGNORECASE,
)
_CONTRAST_TEXT = re.compile(r"(post|\+c\b|\bgd\b|gad|contrast|\bce\b|t1ce|t1c\b|t1gd|\bc\+|mprage.*post)", re.IGNORECASE)
MIN_SLICES = 10  # fewer slices than this is a localizer or a single-slice series, not a volume


@dataclass
class Series:
    """One image series found in the folder: where it is, what it looks like, what we propose."""

    key: str  # unique within the folder: the relative NIfTI path or the DICOM SeriesInstanceUID
    kind: str  # "nifti" | "dicom"
    paths: list[Path]  # the NIfTI file, or the DICOM files in slice order
    description: str  # what the user reads in the dialog
    role: str | None = None  # proposed (then confirmed) BraTS role, None = not used
    reason: str = ""  # why that role (or why none)
    problem: str | None = None  # why it cannot be used at all (damaged, incomplete); never imported
    size: tuple[int, ...] = ()
    spacing: tuple[float, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    # DICOM only: each file's SOPInstanceUID, in ``paths`` order. A DICOM SEG made later must
    # reference these exact instances, and they tell whether the files changed since.
    instances: list[str] = field(default_factory=list)

    @property
    def source(self) -> Path:
        """The file (NIfTI) or folder (DICOM) that names this series in messages."""
        return self.paths[0] if self.kind == "nifti" else self.paths[0].parent

    @property
    def usable(self) -> bool:
        return self.problem is None


# DICOM Modality (0008,0060) values a person may not know by their code.
MODALITY_NAMES = {"MR": "MR", "CT": "CT", "PT": "PET", "RTSTRUCT": "RT structure set", "RTPLAN": "RT plan",
                  "RTDOSE": "RT dose", "REG": "registration", "SEG": "segmentation", "SR": "structured report",
                  "OT": "other", "SC": "secondary capture", "PR": "presentation state", "KO": "key object"}
# Files that should be DICOM in a scanner export: these extensions, or none at all (IM0001).
_DICOM_SUFFIXES = {"", ".dcm", ".dicom", ".ima", ".img"}


@dataclass
class ScanFolder:
    """Every series under ``root``; ``unreadable`` names files that should be DICOM but are no usable slice."""

    root: Path
    series: list[Series]
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    dicom_modalities: dict[str, int] = field(default_factory=dict)  # DICOM files by Modality tag, all read

    def no_mr_message(self) -> str | None:
        """"DICOM found, but no MR series: …" when the folder holds DICOM but no MR image (nor NIfTI) to import."""
        if any(s.kind == "nifti" or s.tags.get("Modality", "MR") == "MR" for s in self.series):
            return None
        if not self.dicom_modalities:
            return None
        found = ", ".join(f"{n} {MODALITY_NAMES.get(m, m)}" for m, n in sorted(self.dicom_modalities.items()))
        return (f"{self.root}: DICOM found, but no MR series ({found} file(s)). Import needs MRI sequences "
                "(T1, T1CE, T2, FLAIR); CT, RT and secondary-capture objects cannot be segmented.")

    def chosen(self) -> dict[str, Series]:
        """role -> series for the series that have a role and no problem."""
        return {s.role: s for s in self.series if s.role and s.usable}

    def problems(self) -> list[Series]:
        return [s for s in self.series if s.problem]


def _sitk():
    import SimpleITK as sitk  # the optional extra: imported when used

    return sitk


def discover_series(root: Path | str) -> ScanFolder:
    """All NIfTI files and DICOM series under ``root`` (any depth), with proposed roles."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    series: list[Series] = []
    unreadable: list[tuple[Path, str]] = []
    modalities: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = Path(dirpath)
        nifti = sorted(f for f in filenames if _NIFTI.search(f) and not f.startswith("."))
        for name in nifti:
            if _SKIP_NIFTI.search(name):
                continue
            series.append(_nifti_series(root, folder / name))
        others = [f for f in filenames if f not in nifti and not f.startswith(".")]
        if others:
            found = _dicom_series(root, folder)
            series.extend(found)
            claimed = {p for one in found for p in one.paths}
            for name in sorted(others):
                if folder / name not in claimed:
                    _unclaimed_file(folder / name, found, unreadable, modalities)
            for one in found:
                modality = one.tags.get("Modality")
                if modality:
                    modalities[modality] = modalities.get(modality, 0) + len(one.paths)
    _propose_roles(series)
    return ScanFolder(root, series, unreadable, modalities)


def _unclaimed_file(path: Path, found: list[Series], unreadable: list[tuple[Path, str]],
                    modalities: dict[str, int]) -> None:
    """A file GDCM put in no series: a damaged slice of one (named in that series' problem), a non-image
    DICOM object (counted by modality), or a file that should be DICOM and is not (named)."""
    import pydicom

    if path.suffix.lower() not in _DICOM_SUFFIXES or path.name.upper() == "DICOMDIR":
        return  # README.txt, sidecars, viewers shipped on a CD: not meant to be slices
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError:
        unreadable.append((path, "not a DICOM file (no DICOM header)"))
        return
    except Exception as exc:  # noqa: BLE001 - whatever the reader says, the file is unusable
        unreadable.append((path, f"damaged DICOM file ({_short(exc)})"))
        return
    modality = str(ds.get("Modality", "") or "")
    if modality:
        modalities[modality] = modalities.get(modality, 0) + 1
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    owner = next((s for s in found if s.key == uid), None)
    if owner is None:
        return  # a DICOM object that is not an image slice (RT structure set, report ...)
    why = _truncation(ds, path) or "its image data could not be read"
    note = f"damaged slice file {path.name} ({why})"
    owner.problem = f"{note}; {owner.problem}" if owner.problem else note


def _nifti_series(root: Path, path: Path) -> Series:
    rel = path.relative_to(root).as_posix()
    s = Series(key=rel, kind="nifti", paths=[path], description=rel)
    try:
        import nibabel as nib

        img = nib.load(str(path))
        shape = tuple(int(n) for n in img.shape)
        if len(shape) != 3 and not (len(shape) == 4 and shape[3] == 1):
            s.problem = f"{len(shape)}-D image {shape}; a 3-D volume is needed"
        s.size = shape[:3]
        s.spacing = tuple(round(float(z), 3) for z in img.header.get_zooms()[:3])
    except Exception as exc:  # noqa: BLE001 - any reader error is the file's problem
        s.problem = f"cannot be read ({_short(exc)})"
    s.tags = _sidecar_tags(path)
    if s.tags.get("SeriesDescription"):
        s.description = f"{rel} ({s.tags['SeriesDescription']})"
    return s


def _sidecar_tags(path: Path) -> dict[str, str]:
    """DICOM tags from a dcm2niix/BIDS JSON sidecar beside a NIfTI (times there are in seconds)."""
    import json

    sidecar = path.with_name(re.sub(r"\.nii(\.gz)?$", "", path.name, flags=re.IGNORECASE) + ".json")
    try:
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(meta, dict):
        return {}
    tags: dict[str, str] = {}
    for name in ("SeriesDescription", "ProtocolName", "ContrastBolusAgent", "SeriesNumber"):
        if meta.get(name) not in (None, ""):
            tags[name] = str(meta[name])
    if isinstance(meta.get("ImageType"), list):
        tags["ImageType"] = "\\".join(str(v) for v in meta["ImageType"])
    for name in ("RepetitionTime", "EchoTime", "InversionTime"):
        if isinstance(meta.get(name), (int, float)):
            tags[name] = f"{meta[name] * 1000:g}"  # BIDS seconds -> DICOM milliseconds
    return tags


def _dicom_series(root: Path, folder: Path) -> list[Series]:
    """The DICOM series in one folder (GDCM groups the files by SeriesInstanceUID)."""
    sitk = _sitk()
    import pydicom

    found: list[Series] = []
    reader = sitk.ImageSeriesReader()
    try:
        uids = reader.GetGDCMSeriesIDs(str(folder))
    except RuntimeError:
        uids = ()
    for uid in uids:
        files = [Path(f) for f in reader.GetGDCMSeriesFileNames(str(folder), uid)]
        rel = folder.relative_to(root).as_posix() or "."
        s = Series(key=uid, kind="dicom", paths=files, description=f"{rel} ({len(files)} files)")
        try:
            ds = pydicom.dcmread(str(files[0]), stop_before_pixels=True)
            s.tags = _tags(ds)
            text = s.tags.get("SeriesDescription") or s.tags.get("ProtocolName") or ""
            number = s.tags.get("SeriesNumber", "")
            s.description = f"{number + ': ' if number else ''}{text or '(no description)'} — {rel}, {len(files)} slices"
            _check_slices(s, pydicom)
            modality = s.tags.get("Modality", "MR")
            if modality != "MR" and not s.problem:
                s.problem = f"a {MODALITY_NAMES.get(modality, modality)} series, not MR: the model needs MRI"
        except Exception as exc:  # noqa: BLE001
            s.problem = f"cannot be read ({_short(exc)})"
        found.append(s)
    return found


def _truncation(ds, path: Path) -> str | None:
    """"truncated: N of M bytes" when an uncompressed slice file is shorter than its pixel data alone."""
    try:
        syntax = ds.file_meta.TransferSyntaxUID
        if syntax.is_compressed:
            return None
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        expected = int(ds.Rows) * int(ds.Columns) * samples * frames * int(ds.BitsAllocated) // 8
    except (AttributeError, TypeError, ValueError):
        return None
    size = path.stat().st_size
    return f"truncated: {size} bytes, its image alone needs {expected}" if size < expected else None


def _tags(ds) -> dict[str, str]:
    names = ("SeriesDescription", "ProtocolName", "SeriesNumber", "RepetitionTime", "EchoTime",
             "InversionTime", "ContrastBolusAgent", "ImageType", "Modality", "SeriesInstanceUID",
             "StudyInstanceUID", "SOPClassUID")
    out: dict[str, str] = {}
    for name in names:
        value = ds.get(name)
        if value is None or value == "":
            continue
        out[name] = "\\".join(str(v) for v in value) if name == "ImageType" else str(value)
    return out


def _check_slices(s: Series, pydicom) -> None:
    """Refuse a series whose slices are not a regular stack: a gap means a missing file."""
    positions = []
    damaged: list[str] = []
    normal = None
    s.instances = []
    for path in s.paths:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        s.instances.append(str(ds.get("SOPInstanceUID", "")))
        if normal is None:
            iop = np.array([float(v) for v in ds.ImageOrientationPatient])
            normal = np.cross(iop[:3], iop[3:])
            frames = int(getattr(ds, "NumberOfFrames", 1) or 1)  # enhanced (multi-frame) DICOM: one file
            s.size = (int(ds.Columns), int(ds.Rows), len(s.paths) if len(s.paths) > 1 else frames)
            spacing = [float(v) for v in ds.PixelSpacing]
            s.spacing = (round(spacing[1], 3), round(spacing[0], 3))
        positions.append(float(np.dot(normal, [float(v) for v in ds.ImagePositionPatient])))
        cut = _truncation(ds, path)
        if cut is not None:  # a slice GDCM kept although its data stops short
            damaged.append(f"{path.name} ({cut})")
    if damaged:
        s.problem = "damaged slice file(s): " + "; ".join(damaged)
        return
    if len(positions) < 2:
        return
    steps = np.diff(np.sort(positions))
    step = float(np.median(steps))
    s.spacing = (*s.spacing[:2], round(step, 3))
    if step <= 0 or np.any(steps > 1.5 * step) or np.any(steps < 0.5 * step):
        gaps = int(np.sum(steps > 1.5 * step))
        s.problem = (f"incomplete: the slices are not evenly spaced ({gaps} gap(s) in {len(positions)} slices; "
                     "a file is missing or damaged)")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."


def _float(tags: dict[str, str], name: str) -> float | None:
    try:
        return float(tags[name])
    except (KeyError, ValueError):
        return None


def guess_role(series: Series) -> tuple[str | None, str]:
    """(role or None, the reason in words) from names, tags and timing."""
    tags = series.tags
    text = " ".join(filter(None, (tags.get("SeriesDescription"), tags.get("ProtocolName"))))
    if series.kind == "nifti":
        text = f"{text} {series.paths[0].name}"
        role, _ = classify(series.paths[0])
        if role in ROLES:
            return role, f"file name {series.paths[0].name}"
    image_type = tags.get("ImageType", "").upper()
    if "LOCALIZER" in image_type or "DERIVED" in image_type:
        return None, f"ImageType {tags['ImageType']}: localizer or derived image"
    if _DROP_TEXT.search(text):
        return None, f"'{_DROP_TEXT.search(text).group(0)}' in the description: not a structural series"
    if series.size and len(series.size) >= 3 and series.size[2] < MIN_SLICES:
        return None, f"only {series.size[2]} slices: not a volume"
    low = text.lower()
    contrast = bool(tags.get("ContrastBolusAgent", "").strip()) or bool(_CONTRAST_TEXT.search(text))
    if "flair" in low or "fluid" in low or re.search(r"\bdark.?fluid\b|\bt2f\b", low):
        return "flair", "FLAIR in the description"
    if re.search(r"t2|tse|frfse|haste", low) and not re.search(r"t2\*|t2star|gre", low):
        return "t2", "T2 in the description"
    if re.search(r"t1|mprage|spgr|bravo|tfl|flash|vibe", low):
        if contrast:
            why = "contrast agent tag (0018,0010)" if tags.get("ContrastBolusAgent") else "contrast in the description"
            return "t1ce", f"T1 with {why}"
        return "t1", "T1 in the description"
    tr, te, ti = _float(tags, "RepetitionTime"), _float(tags, "EchoTime"), _float(tags, "InversionTime")
    if tr is not None and te is not None:
        if ti is not None and ti > 1500 and te > 60:
            return "flair", f"TI {ti:g} ms, TE {te:g} ms: fluid-attenuated inversion recovery"
        if tr > 2000 and te > 60:
            return "t2", f"TR {tr:g} ms, TE {te:g} ms: T2-weighted"
        if te < 30 and (tr < 1000 or (ti is not None and ti < 1500)):
            role = "t1ce" if contrast else "t1"
            return role, f"TR {tr:g} ms, TE {te:g} ms: T1-weighted{' with contrast agent' if contrast else ''}"
    return None, "the description and timing do not tell"


def _propose_roles(series: list[Series]) -> None:
    """Guess each role; where two series claim one role, keep the one with most slices."""
    for s in series:
        if s.problem:
            s.role, s.reason = None, s.problem
        else:
            s.role, s.reason = guess_role(s)
    for role in ROLES:
        claims = [s for s in series if s.role == role]
        if len(claims) > 1:
            claims.sort(key=lambda s: -(s.size[2] if len(s.size) > 2 else 0))
            for other in claims[1:]:
                other.role = None
                other.reason = f"also looks like {ROLE_LABELS[role]}; {claims[0].description} has more slices"


def read_series(series: Series):
    """The series as a SimpleITK image (physical geometry exact); raises ValueError naming the source."""
    sitk = _sitk()
    try:
        if series.kind == "nifti":
            image = sitk.ReadImage(str(series.paths[0]))
            if image.GetDimension() == 4:
                image = image[:, :, :, 0]
        else:
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames([str(p) for p in series.paths])
            image = reader.Execute()
    except RuntimeError as exc:
        raise ValueError(f"{series.source}: cannot be read ({_short(exc)})") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{series.source}: a colour or multi-component image, not an MRI volume")
    return sitk.Cast(image, sitk.sitkFloat32)
