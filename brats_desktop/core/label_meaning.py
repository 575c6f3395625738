"""Which meaning of label 1 a patient's files imply (BraTS 2013-2020 NCR/NET or BraTS 2021+ NCR).

BraTS changed what label 1 means in 2021 without changing the file values of 2021
(still 0/1/2/4): before, label 1 was the necrotic *and* non-enhancing tumour core;
from 2021 on non-enhancing tumour counts as edema (2) and label 1 is necrosis. A
prediction compared with a reference of the other meaning loses about 0.2 TC Dice
for nothing, so the app, ``brats-predict`` and ``brats-evaluate --ncr-definition auto``
ask this module what a patient's files tell before falling back on a remembered
choice.

What tells, strongest first:

* BraTS case IDs with a year: ``BraTS20_Training_001``, ``Brats18_CBICA_ABM_1``,
  ``BraTS13_pat0006``, ``BraTS2021_00000``, ``BraTS-GLI-00001-000`` (the 2023
  hyphenated IDs);
* BraTS 2023 modality names (``t1n``, ``t1c``, ``t2w``, ``t2f``): only data of 2023
  and later are named that way;
* a segmentation whose enhancing label is 3 (the BraTS 2023 convention), which only
  the 2021+ protocol produced.

A bare ``seg.nii.gz`` with 0/1/2/4 beside ``flair.nii.gz`` tells nothing (2017-2021
all used 4): :func:`ncr_definition_for` returns None and the caller decides.

Plain Python, no Qt, no file reading beyond what :class:`Patient` already holds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .discovery import PatientFiles, _BRATS2023_TOKENS, classify, nifti_stem
from .labels import LabelConvention

OLD_MEANING = "brats2013"  # keys of core.postprocessing.NCR_DEFINITIONS
NEW_MEANING = "brats2021"
AUTO = "auto"  # "ask the patient": brats-predict, brats-evaluate and Segment All take it per case
FIRST_NEW_YEAR = 2021

# "brats20_", "brats2021_", "brats13_", "brats_2019_": the year of the challenge in the case ID.
_YEAR_ID = re.compile(r"^brats_?(?P<year>\d{2}|\d{4})_")


def year_in_name(stem: str) -> int | None:
    """The BraTS edition a file's case ID names (2013-2099), or None."""
    match = _YEAR_ID.match(stem.lower())
    if match is None:
        return None
    year = int(match.group("year"))
    year = year + 2000 if year < 100 else year
    return year if 2012 <= year <= 2099 else None


def ncr_definition_evidence(patient_or_files: Any) -> tuple[str, str] | None:
    """(meaning of label 1, "<file>: <why>") that the patient's names or labels imply; None when nothing tells.

    Accepts a :class:`~brats_desktop.core.patient.Patient`, a
    :class:`~brats_desktop.core.discovery.PatientFiles` or a folder path (discovered
    by name only, nothing is read).
    """
    files, convention, has_labels = _unpack(patient_or_files)
    if files is not None:
        paths = [p for p in (files.segmentation, *files.images.values()) if p is not None]
        for path in paths:
            stem = nifti_stem(path) or ""
            if stem.lower().startswith("brats-"):
                return NEW_MEANING, f"{path.name}: BraTS 2023 naming"
            year = year_in_name(stem)
            if year is not None:
                return (NEW_MEANING if year >= FIRST_NEW_YEAR else OLD_MEANING), f"{path.name}: BraTS {year} naming"
        tokens = {classify(p)[1] for p in files.images.values()}
        if tokens & _BRATS2023_TOKENS:
            name = min(p.name for p in files.images.values() if classify(p)[1] in _BRATS2023_TOKENS)
            return NEW_MEANING, f"{name}: BraTS 2023 modality name"
    if has_labels and convention is LabelConvention.BRATS2023 and files is not None:
        seg = files.segmentation.name if files.segmentation is not None else "the segmentation"
        return NEW_MEANING, f"{seg}: enhancing tumour is 3 (BraTS 2023 labels)"
    return None


def ncr_definition_for(patient_or_files: Any) -> str | None:
    """"brats2013" or "brats2021" when the patient's names or labels tell which meaning label 1 has, else None.

    The one rule the app (Segment → Label 1 (Necrosis) Means), ``brats-predict``
    and ``brats-evaluate --ncr-definition auto`` share; see the module docstring.
    """
    evidence = ncr_definition_evidence(patient_or_files)
    return evidence[0] if evidence is not None else None


def resolve_ncr_definition(
    requested: str | None, patient: Any, fallback: str | None = None
) -> tuple[str | None, str]:
    """(definition, where it came from) for one patient: ``auto`` asks the patient's names and labels.

    An explicit definition (or None, the raw argmax) is kept and its source is
    "option". ``auto`` with nothing telling falls back to the current protocol and
    says so, so every caller can report per case which meaning it applied.
    ``fallback`` replaces the current protocol there (the app's remembered choice).
    """
    if requested != AUTO:
        return requested, "option"
    from .postprocessing import DEFAULT_NCR_DEFINITION

    evidence = ncr_definition_evidence(patient)
    if evidence is None:
        if fallback is not None:
            return fallback, "your choice (names and labels do not tell)"
        return DEFAULT_NCR_DEFINITION, "default (names and labels do not tell)"
    return evidence[0], evidence[1]


def mixed_meanings_warning(definitions: dict[str, str | None]) -> str | None:
    """A one-line warning when a cohort's cases (name -> meaning applied) do not all use one meaning of label 1.

    Mean TC Dice over such a cohort averages two different targets, so callers print it.
    """
    groups: dict[str, list[str]] = {}
    for name, definition in definitions.items():
        groups.setdefault(definition or "raw", []).append(name)
    if len(groups) < 2:
        return None
    parts = []
    for definition, names in sorted(groups.items()):
        title = MEANING_TITLES.get(definition, definition)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        parts.append(f"{len(names)} case(s) {title} ({LABEL1_SHORT.get(definition, definition)}: {shown})")
    return ("this cohort mixes two meanings of label 1: " + "; ".join(parts)
            + "; each case was labelled and scored in its own convention, so compare TC within a group")


def _unpack(obj: Any) -> tuple[PatientFiles | None, LabelConvention | None, bool]:
    """(files, label convention, whether a segmentation was read) of a Patient, PatientFiles or folder."""
    if isinstance(obj, PatientFiles):
        return obj, obj.named_convention, False
    if isinstance(obj, (str, Path)):
        from .discovery import discover_patient

        files = discover_patient(obj)
        return files, files.named_convention, False
    files = getattr(obj, "files", None)
    convention = getattr(obj, "convention", None)
    has_labels = getattr(obj, "ground_truth", None) is not None
    return files, convention, has_labels


LABEL1_NAMES: dict[str, str] = {
    OLD_MEANING: "Necrotic / non-enhancing core",
    NEW_MEANING: "Necrotic core",
}
LABEL1_SHORT: dict[str, str] = {OLD_MEANING: "NCR/NET", NEW_MEANING: "NCR"}
MEANING_TITLES: dict[str, str] = {OLD_MEANING: "BraTS 2013–2020", NEW_MEANING: "BraTS 2021+"}


def label1_name(ncr_definition: str | None) -> str:
    """Legend name of class 1 under a meaning (None or unknown: the neutral old name)."""
    return LABEL1_NAMES.get(ncr_definition or "", LABEL1_NAMES[OLD_MEANING])
