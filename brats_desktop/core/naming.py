"""One naming scheme for every file the app, ``brats-predict`` and the cohort tools write.

A user who exports from the app, saves a corrected layer and runs ``brats-predict``
should find three files that sort together and say what they hold:
``<case id><sep><kind>.nii.gz`` beside the patient, where the case id is the prefix
of the patient's own file names (``BraTS20_Training_001`` of
``BraTS20_Training_001_flair.nii.gz``; the folder name for bare names such as
``t1n.nii.gz``) and the separator follows the folder's own naming (``-`` for BraTS
2023 names, ``_`` otherwise). No kind ends in ``seg``, so the folder still opens as one
patient with one segmentation next time.
"""

from __future__ import annotations

import re
from pathlib import Path

from .discovery import PatientFiles, nifti_stem
from .labels import LabelConvention
from .nifti_io import unused_path

PREDICTION = "prediction"
CORRECTED = "corrected"
ANNOTATION = "annotation"
UNCERTAINTY = "uncertainty"
GROUND_TRUTH_COPY = "ground-truth"  # an unedited copy of the patient's segmentation (never "…seg")


def case_id(name: str, files: PatientFiles | None) -> str:
    """The case id in the patient's file names, else ``name`` (the folder's)."""
    if files is not None:
        for path in (files.segmentation, *files.images.values()):
            stem = nifti_stem(path) if path is not None else None
            match = re.match(r"^(?P<id>.+)[_-][^_-]+$", stem or "")
            if match:
                return match.group("id")
    return name


def kind_slug(layer_name: str, edited: bool = True) -> str:
    """A layer's name as a file-name kind: ``Ground truth`` -> ``corrected`` once edited, else ``ground-truth``.

    The name says what the file holds: a reviewer must not take an untouched copy of the
    reference for a corrected one.
    """
    slug = re.sub(r"[^A-Za-z0-9]+", "-", layer_name).strip("-").lower() or ANNOTATION
    if slug == "ground-truth":
        return CORRECTED if edited else GROUND_TRUTH_COPY
    return slug


def output_stem(name: str, files: PatientFiles | None, convention: LabelConvention, kind: str) -> str:
    """``<case id><sep><kind>`` without suffix."""
    sep = "-" if convention is LabelConvention.BRATS2023 else "_"
    return f"{case_id(name, files)}{sep}{kind}"


def output_path(
    folder: Path | str, name: str, files: PatientFiles | None, convention: LabelConvention, kind: str
) -> Path:
    """A file in ``folder`` named by the scheme that no file uses yet (``-1``, ``-2`` ... appended)."""
    return unused_path(folder, output_stem(name, files, convention, kind))
