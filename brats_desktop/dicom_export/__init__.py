"""Results back to the clinic as DICOM: a Segmentation (SEG) and a TID 1500 Structured Report (SR).

A hospital's PACS, OHIF or a radiologist's workstation shows neither our NIfTI files nor
our 1 mm grid beside the series the scanner made; DICOM SEG on the original T1CE series'
own grid, referencing its instances, and an SR with the volumes and RANO measurements
referencing the SEG's segments, are what they read (3D Slicer's QuantitativeReporting
writes the same pair through dcmqi).

Qt-free, shared by the app and ``brats-predict``. Needs the optional extra
``brats-desktop[dicom]`` (highdicom, pydicom, SimpleITK): import the submodules only after
:func:`missing_dependencies` returns nothing. :func:`source_status` needs only the standard
library, so the app can say why its DICOM entries are unavailable without importing them.
"""

from __future__ import annotations

from brats_desktop.core.optional import missing_packages

INSTALL_HINT = (
    "DICOM SEG/SR export needs the optional DICOM tools (highdicom, pydicom, SimpleITK):\n"
    "    pip install 'brats-desktop[dicom]'\n"
    "(bash scripts/setup-env.sh installs them)."
)

_MODULES = {"highdicom": "highdicom", "pydicom": "pydicom", "SimpleITK": "SimpleITK"}


def missing_dependencies() -> list[str]:
    """The PyPI names of the DICOM extra that are not installed (without importing them)."""
    return missing_packages(_MODULES)


def source_status(record: dict | None) -> tuple[bool, str]:
    """(available, why not): can this patient's results go back to DICOM at all?

    Only a patient imported from a DICOM series has a series to reference; a NIfTI-only
    patient (or one imported from scanner NIfTI) has none, and the user is told so.
    """
    if record is None:
        return False, "no source DICOM series: this patient was not imported from DICOM (NIfTI files only)"
    reference = record.get("reference", "t1ce")
    series = (record.get("series") or {}).get(reference) or {}
    if series.get("kind") != "dicom":
        return False, (f"no source DICOM series: the {reference.upper()} was imported from a NIfTI file "
                       f"({(series.get('files') or ['?'])[0]}), not from DICOM")
    return True, ""
