"""Find the modality and segmentation files of a patient folder by their names.

One implementation serves the app, `brats-predict` and the training cohort
readers, so a folder that opens in the app also trains and predicts.

Recognised (case-insensitive, ``.nii`` or ``.nii.gz``), by the last ``_``/``-``
separated token of the file name:

* BraTS 2019/2020/2021: ``<ID>_t1``, ``_t1ce``, ``_t2``, ``_flair``, ``_seg``
* BraTS 2023+: ``<ID>-t1n``, ``-t1c``, ``-t2w``, ``-t2f``, ``-seg``
* bare names: ``t1``, ``t1n``, ``t1c``/``t1ce``, ``t2``/``t2w``, ``flair``/``fla``/``t2f``,
  ``seg``/``segmentation``
* BraTS 2020 patient 355's misnamed ``W39_1998.09.19_Segm.nii``
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PatientFolderError
from .labels import LabelConvention

# Canonical modality keys, in the order the app lists them.
MODALITIES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")
MODALITY_LABELS: dict[str, str] = {"t1": "T1", "t1ce": "T1CE", "t2": "T2", "flair": "FLAIR"}
SEGMENTATION = "seg"

_TOKENS: dict[str, str] = {
    "t1": "t1", "t1n": "t1",
    "t1ce": "t1ce", "t1c": "t1ce", "t1gd": "t1ce",
    "t2": "t2", "t2w": "t2",
    "flair": "flair", "fla": "flair", "t2f": "flair",
    "seg": SEGMENTATION, "segmentation": SEGMENTATION, "segm": SEGMENTATION,
}
_BRATS2023_TOKENS = {"t1n", "t1c", "t2w", "t2f"}
_NIFTI = re.compile(r"^(?P<stem>.+?)\.nii(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class PatientFiles:
    """The files of one patient folder, keyed by canonical modality name."""

    folder: Path
    images: dict[str, Path]
    segmentation: Path | None
    # Convention implied by the names; None when names do not tell (bare ``seg``).
    named_convention: LabelConvention | None
    extras: tuple[Path, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.folder.name

    def missing(self, required: tuple[str, ...]) -> list[str]:
        """Modalities in ``required`` that this folder lacks."""
        return [m for m in required if m not in self.images]


def nifti_stem(path: Path) -> str | None:
    """File name without ``.nii``/``.nii.gz``, or None for a non-NIfTI name."""
    match = _NIFTI.match(path.name)
    return match.group("stem") if match else None


def classify(path: Path) -> tuple[str | None, str | None]:
    """(role, token) of a file: role is a modality key, ``seg`` or None (not ours)."""
    stem = nifti_stem(path)
    if stem is None:
        return None, None
    token = re.split(r"[_\-\s]", stem.lower())[-1]
    return _TOKENS.get(token), token


def discover_patient(folder: Path | str) -> PatientFiles:
    """Map a folder's files to modalities; refuse an empty or ambiguous folder."""
    folder = Path(folder)
    if not folder.exists():
        raise PatientFolderError(folder, "folder does not exist")
    if not folder.is_dir():
        raise PatientFolderError(folder, "not a folder")
    try:
        # Hidden names are never images: temporaries of a killed writer, macOS "._" files.
        entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise PatientFolderError(folder, f"cannot list folder ({exc.strerror or exc})") from exc

    found: dict[str, list[Path]] = {}
    tokens: dict[Path, str] = {}
    extras: list[Path] = []
    for path in entries:
        role, token = classify(path)
        if role is None:
            if token is not None:
                extras.append(path)
            continue
        found.setdefault(role, []).append(path)
        tokens[path] = token or ""

    for role, paths in found.items():
        if len(paths) > 1:
            what = "segmentation" if role == SEGMENTATION else MODALITY_LABELS[role]
            names = ", ".join(p.name for p in paths)
            raise PatientFolderError(folder, f"more than one {what} file: {names}")
    images = {m: found[m][0] for m in MODALITIES if m in found}
    if not images:
        raise PatientFolderError(
            folder,
            "no MRI volumes found (expected NIfTI files named like *_flair.nii.gz, "
            "*-t2f.nii.gz, t1c.nii.gz ...)",
        )
    seg = found.get(SEGMENTATION, [None])[0]
    return PatientFiles(folder, images, seg, _named_convention(images, seg, tokens), tuple(extras))


def _named_convention(
    images: dict[str, Path], seg: Path | None, tokens: dict[Path, str]
) -> LabelConvention | None:
    """BraTS 2023 names (hyphenated IDs, t1n/t1c/t2w/t2f) imply labels 0-3; 2020/2021 names 0/1/2/4."""
    if seg is None:
        return None
    stem = (nifti_stem(seg) or "").lower()
    if stem.startswith("brats-"):
        return LabelConvention.BRATS2023
    if re.match(r"^brats\d*_", stem) or stem.endswith("_segm"):
        return LabelConvention.BRATS2020
    return None  # bare name: decided from the values, with the image names as tie-break


def default_convention(files: PatientFiles) -> LabelConvention:
    """Convention for a patient whose labels do not tell (or who has none yet)."""
    if files.named_convention is not None:
        return files.named_convention
    image_tokens = {classify(p)[1] for p in files.images.values()}
    if image_tokens & _BRATS2023_TOKENS or any(
        (nifti_stem(p) or "").lower().startswith("brats-") for p in files.images.values()
    ):
        return LabelConvention.BRATS2023
    return LabelConvention.BRATS2020


def find_patient_folders(root: Path | str) -> list[Path]:
    """Patient folders under ``root`` (itself, or its sub-folders up to two levels down)."""
    root = Path(root)
    if _has_images(root):
        return [root]
    out: list[Path] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if _has_images(child):
            out.append(child)
        else:
            out.extend(sorted(g for g in child.iterdir() if g.is_dir() and _has_images(g)))
    return out


def _has_images(folder: Path) -> bool:
    try:
        return any(classify(p)[0] in MODALITIES for p in folder.iterdir() if p.is_file())
    except OSError:
        return False
