"""Label maps read back onto an open patient: a file the user picks, or the app's own outputs.

One reader for every label file that is not the patient's own segmentation: File → Open
Segmentation…, a label file dropped on the window, the outputs found when a folder
opens, and the worklist's prediction / correction of a case. It checks what would
otherwise turn into plausible-looking but wrong labels: a file on another voxel grid,
fractional values, values outside both BraTS conventions.

The app's own outputs are the files :mod:`.naming` gives beside a patient
(``<case id><sep>prediction.nii.gz``, ``…corrected…``, ``…annotation…``, with ``-1``,
``-2`` … when the name was taken), so finding them is a name test, not a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .discovery import MODALITIES, classify, nifti_stem
from .labels import infer_convention, to_internal
from .naming import ANNOTATION, CORRECTED, PREDICTION, output_stem
from .nifti_io import check_same_grid, read_volume
from .patient import Patient, integer_labels, refuse_unexpected_values

# The label-map kinds the app writes, in the order their layers are stacked (bottom first).
OUTPUT_KINDS: tuple[str, ...] = (PREDICTION, CORRECTED, ANNOTATION)
LAYER_TITLES: dict[str, str] = {PREDICTION: "Prediction", CORRECTED: "Corrected", ANNOTATION: "Annotation"}


@dataclass(frozen=True)
class OutputFile:
    """One of the app's label outputs found beside a patient."""

    kind: str  # PREDICTION, CORRECTED or ANNOTATION
    number: int  # 0 for the plain name, n for the ``-n`` variant
    path: Path

    @property
    def layer_name(self) -> str:
        """``Prediction``, ``Annotation 2`` …: the layer the file opens as."""
        title = LAYER_TITLES[self.kind]
        return title if self.number == 0 else f"{title} {self.number}"


def read_label_file(path: Path | str, patient: Patient, any_convention: bool = False) -> np.ndarray:
    """A label NIfTI as internal labels on ``patient``'s grid (raises PatientLoadError naming ``path``).

    The app writes in the patient's own convention, so its outputs must use it (a 3 in a
    BraTS 2020 case's prediction is damage). ``any_convention`` is for files from
    elsewhere: the values tell (4 → BraTS 2017–2021, 3 → 2023+; the patient's when they do
    not), so another tool's file still opens with enhancing tumour as enhancing tumour.
    """
    path = Path(path)
    raw, source = read_volume(path, dtype=np.float32)
    check_same_grid(patient.grid, source)
    values = integer_labels(raw, path)
    present = np.flatnonzero(np.bincount(values.ravel(), minlength=256))
    convention = infer_convention(present, patient.convention) if any_convention else patient.convention
    refuse_unexpected_values(present, convention, path)
    return to_internal(values, convention)


def find_outputs(patient: Patient) -> list[OutputFile]:
    """The app's label outputs in the patient's folder, prediction first (none for in-memory patients)."""
    folder = patient.folder
    if folder is None or not folder.is_dir():
        return []
    found: list[OutputFile] = []
    inputs = {p.resolve() for p in patient.input_paths}
    stems = {kind: output_stem(patient.name, patient.files, patient.convention, kind) for kind in OUTPUT_KINDS}
    patterns = {kind: re.compile(rf"^{re.escape(stem)}(?:-(\d+))?$", re.IGNORECASE) for kind, stem in stems.items()}
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return []
    for path in entries:
        stem = nifti_stem(path)
        if stem is None or path.resolve() in inputs:
            continue
        for kind, pattern in patterns.items():
            match = pattern.match(stem)
            if match:
                found.append(OutputFile(kind, int(match.group(1) or 0), path))
                break
    return sorted(found, key=lambda f: (OUTPUT_KINDS.index(f.kind), f.number))


def is_image_file(path: Path) -> bool:
    """True for a file named like an MRI volume (``…_flair.nii.gz``): a drop of it opens its folder."""
    return classify(path)[0] in MODALITIES


def other_patient_folder(path: Path, patient: Patient) -> Path | None:
    """The folder of ``path`` when it is another patient's folder (holds MRI volumes), else None.

    BraTS grids are all 240×240×155 with one affine, so another patient's labels pass the
    grid check: the app asks before putting them on this patient.
    """
    folder = path.resolve().parent
    if patient.folder is not None and folder == patient.folder.resolve():
        return None
    try:
        holds_images = any(is_image_file(p) for p in folder.iterdir() if p.is_file())
    except OSError:
        return None
    return folder if holds_images else None
