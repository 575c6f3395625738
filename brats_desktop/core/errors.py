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


def load_error_message(exc: PatientLoadError) -> str:
    """What a person reads when a patient cannot be opened: the path they gave, and the problem.

    A folder-level problem names the folder itself (``/data/p7: folder does not exist``),
    not its parent; a file-level one names the file and, below, the folder it is in.
    """
    path = exc.path
    if path is None:
        return exc.problem
    if isinstance(exc, PatientFolderError) or path.is_dir():
        return f"{path}: {exc.problem}"
    return f"{path.name}: {exc.problem}\n\n(in {path.parent})"


def skipped_files_message(problems: list[PatientLoadError]) -> str:
    """One line per file left out of a patient, each with its reason, then the folder."""
    lines = [f"• {p.path.name if p.path is not None else '?'}: {p.problem}" for p in problems]
    folders = {p.path.parent for p in problems if p.path is not None}
    where = f"\n\n(in {folders.pop()})" if len(folders) == 1 else ""
    return "\n".join(lines) + where
