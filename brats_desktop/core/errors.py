"""Exception types raised by the core when input is unusable.

Each carries the offending path so that the GUI and the CLI can name the file in
their message without parsing text.
"""

from __future__ import annotations

from pathlib import Path


class PatientLoadError(Exception):
    """Base class: a patient folder or one of its files cannot be used."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class PatientFolderError(PatientLoadError):
    """The folder itself is wrong: missing, empty, or ambiguous file names."""


class VolumeReadError(PatientLoadError):
    """A file could not be read as a NIfTI volume (corrupt, truncated, not NIfTI, unreadable)."""


class VolumeShapeError(PatientLoadError):
    """A file is readable but not a single 3-D volume (e.g. 4-D)."""


class GeometryMismatchError(PatientLoadError):
    """Volumes of one patient do not share one voxel grid (shape or affine differ)."""


class LabelValueError(PatientLoadError):
    """A segmentation holds label values outside its convention."""


class ExportError(Exception):
    """Writing a label map was refused or failed; the message says why."""
