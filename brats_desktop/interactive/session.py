"""A headless correction session: automatic segmentation, then clicks, in the folder's own terms.

The app, the evaluation and other programs share this surface::

    s = InteractiveSession.from_folder(folder, device="cpu", ncr_definition="brats2013")
    s.labels                    # the folder's voxel order and label values, as brats-predict writes
    s.click((i, j, k), label)   # file voxel index, file label value (0 or 1/2/4, or 1/2/3 for 2023+)
    s.undo()

Inside, everything is canonical RAS+ with internal labels (the app's terms); the
conversions are the project's own (:mod:`brats_desktop.core.coordinates`,
:mod:`brats_desktop.core.labels`, ``SourceImage.on_disk``), the same that
``brats-predict`` writes files with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brats_desktop.core.coordinates import canonical_from_file
from brats_desktop.core.labels import LabelConvention, to_file, to_internal
from brats_desktop.core.patient import Patient

from .guidance import Click, Guidance, Scribble


@dataclass
class _Step:
    bbox: tuple[slice, slice, slice]
    before: np.ndarray  # the labels inside bbox before the step
    guidance_len: int


class InteractiveSession:
    """One patient, its current internal label map, the guidance given so far and an undo stack."""

    def __init__(self, patient: Patient, labels: np.ndarray, engine: Any) -> None:
        if labels.shape != patient.shape:
            raise ValueError(f"labels shape {labels.shape} != patient grid {patient.shape}")
        self.patient = patient
        self.engine = engine
        self._labels = np.ascontiguousarray(labels, dtype=np.uint8)
        self._guidance: list[Guidance] = []
        self._undo: list[_Step] = []
        self.last_seconds: float | None = None

    @classmethod
    def from_folder(cls, folder: Path | str, device: str = "cpu", ncr_definition: str | None = "brats2013",
                    engine: Any = None, model: Any = None) -> "InteractiveSession":
        """Load the folder, run the automatic segmentation (as ``brats-predict`` does), ready for clicks.

        ``model`` (a loaded automatic model) and ``engine`` (a :class:`.engine.ClickEngine`)
        default to the bundled ones.
        """
        from brats_desktop.core.patient import load_patient
        from models.runtime import best_bundled_model, predict_patient

        from .engine import ClickEngine

        patient = load_patient(folder, skip_unreadable=True)
        model = model if model is not None else best_bundled_model(patient)
        run = predict_patient(model, patient, device=device, ncr_definition=ncr_definition)
        if engine is None:
            engine = ClickEngine.bundled(device=run.device if device == "auto" else device,
                                         ncr_definition=ncr_definition)
        if hasattr(engine, "prepare"):
            engine.prepare(patient.images)  # the first click then costs what later ones do
        if hasattr(engine, "set_prior"):
            engine.set_prior(patient.images, run.probabilities)  # clicks grow where the model found their class plausible
        return cls(patient, run.labels, engine)

    # ------------------------------------------------------------------ file terms

    @property
    def convention(self) -> LabelConvention:
        return self.patient.convention

    @property
    def labels(self) -> np.ndarray:
        """The current map in the folder's voxel order and label values (a new array)."""
        return to_file(self.patient.grid.on_disk(self._labels), self.convention)

    @property
    def internal_labels(self) -> np.ndarray:
        """The current map, canonical RAS+ with internal labels (read-only view)."""
        view = self._labels.view()
        view.flags.writeable = False
        return view

    @property
    def guidance(self) -> tuple[Guidance, ...]:
        return tuple(self._guidance)

    def canonical_voxel(self, ijk: Sequence[int]) -> tuple[int, int, int]:
        """Canonical voxel of the file's voxel (i, j, k); ValueError (in words) when outside the grid."""
        if len(ijk) != 3:
            raise ValueError(f"a voxel needs three indices (i, j, k), got {tuple(ijk)!r}")
        shape = self.patient.grid.shape
        if not all(0 <= int(v) < n for v, n in zip(ijk, shape)):
            raise ValueError(f"voxel {tuple(int(v) for v in ijk)} is outside the image grid {tuple(shape)}")
        return canonical_from_file(self.patient.grid, [int(v) for v in ijk])

    def internal_label(self, value: int) -> int:
        """Internal label of a file label value; ValueError naming the values this folder's convention allows."""
        allowed = self.convention.file_values
        if int(value) != value or int(value) not in allowed:
            raise ValueError(f"label {value!r} is not a label value of this folder ({self.convention.value}: "
                             f"{', '.join(map(str, allowed))})")
        return int(to_internal(np.array([int(value)], dtype=np.uint8), self.convention)[0])

    # ------------------------------------------------------------------ editing

    def click(self, ijk: Sequence[int], label: int) -> np.ndarray:
        """"Voxel (i, j, k) of the file has this label": refine and return the updated map (file terms)."""
        self.apply(Click(self.canonical_voxel(ijk), self.internal_label(label)))
        return self.labels

    def scribble(self, voxels: Sequence[Sequence[int]], label: int) -> np.ndarray:
        """A drawn path of file voxels, all of ``label``; returns the updated map (file terms)."""
        path = tuple(self.canonical_voxel(v) for v in voxels)
        self.apply(Scribble(path, self.internal_label(label)))
        return self.labels

    def apply(self, item: Guidance) -> None:
        """Add one piece of guidance in canonical/internal terms and refine (one undo step)."""
        guidance = [*self._guidance, item]
        result = self.engine.refine(self.patient.images, self._labels, guidance)
        bbox = result.bbox
        self._undo.append(_Step(bbox, self._labels[bbox].copy(), len(self._guidance)))
        self._labels[bbox] = result.labels[bbox]
        self._guidance = guidance
        self.last_seconds = result.seconds

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> np.ndarray:
        """Take back the latest click exactly (labels and guidance); returns the map (file terms)."""
        if self._undo:
            step = self._undo.pop()
            self._labels[step.bbox] = step.before
            del self._guidance[step.guidance_len :]
        return self.labels
