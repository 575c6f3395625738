"""A patient: co-registered MRI volumes and label layers on one canonical voxel grid.

Plain numpy, no Qt. The GUI wraps a :class:`Patient` in observable state; the CLI
and training use it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .discovery import MODALITIES, PatientFiles, default_convention, discover_patient
from .errors import LabelValueError
from .labels import LabelConvention, infer_convention, to_internal, unexpected_values
from .nifti_io import SourceImage, check_same_grid, read_header, read_volume, synthetic_source


@dataclass
class Patient:
    """Volumes in canonical RAS+ order (float32) plus the optional ground truth."""

    name: str
    images: dict[str, np.ndarray]
    grid: SourceImage  # the reference grid: the segmentation's if any, else the first image's
    convention: LabelConvention
    ground_truth: np.ndarray | None = None  # internal labels 0-3, uint8
    files: PatientFiles | None = None
    sources: dict[str, SourceImage] = field(default_factory=dict)

    @property
    def folder(self) -> Path | None:
        return self.files.folder if self.files is not None else None

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.grid.canonical_shape

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.grid.spacing

    @property
    def voxel_volume_ml(self) -> float:
        sx, sy, sz = self.spacing
        return sx * sy * sz / 1000.0

    @property
    def modalities(self) -> list[str]:
        return [m for m in MODALITIES if m in self.images]

    @property
    def input_paths(self) -> frozenset[Path]:
        """Files this patient was read from: export never writes over them."""
        return frozenset(s.path.resolve() for s in self.sources.values() if s.path is not None)

    def missing(self, required: tuple[str, ...] | list[str]) -> list[str]:
        return [m for m in required if m not in self.images]


def load_patient(
    folder: Path | str,
    workers: int = 4,
    first: tuple[str, ...] | list[str] = (),
    on_first: Callable[[Patient], None] | None = None,
) -> Patient:
    """Read a patient folder: check every header first, then read the volumes in parallel.

    Headers are checked before any voxel is read, so a mismatched or 4-D file is
    reported at once. Reading runs in threads: gzip inflation releases the GIL.

    ``first``/``on_first`` let a viewer show something early: the modalities named in
    ``first`` (the first one present) and the segmentation are read before the rest,
    and ``on_first`` receives a partial :class:`Patient` holding just those. The full
    patient is still returned at the end, and any later read error still raises.
    """
    files = discover_patient(folder)
    paths = dict(files.images)
    if files.segmentation is not None:
        paths["seg"] = files.segmentation
    headers = {key: read_header(path) for key, path in paths.items()}
    first_header = headers[next(iter(files.images))]
    for header in headers.values():
        check_same_grid(first_header, header)

    def read(key: str) -> tuple[str, np.ndarray, SourceImage]:
        # Labels stay in their stored integer type: no float copy, no integrality test.
        data, source = read_volume(paths[key], dtype=None if key == "seg" else np.float32)
        return key, data, source

    early_image = next((k for k in first if k in files.images), None)
    early = [] if on_first is None or early_image is None else [early_image]
    if early and "seg" in paths:
        early.append("seg")
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(paths)))) as pool:
        results = list(pool.map(read, early))
        decoded: dict[str, tuple[np.ndarray, LabelConvention]] = {}
        if early and on_first is not None:
            on_first(_assemble(files, results, first_header, decoded))
        results += list(pool.map(read, [k for k in paths if k not in early]))
    return _assemble(files, results, first_header, decoded)


def _assemble(
    files: PatientFiles,
    results: list[tuple[str, np.ndarray, SourceImage]],
    first: SourceImage,
    decoded: dict[str, tuple[np.ndarray, LabelConvention]],
) -> Patient:
    """Patient from read volumes (all of them, or the early subset of a progressive load).

    ``decoded`` caches the decoded segmentation so a progressive load decodes it once.
    """
    images = {m: d for m in MODALITIES for k, d, _ in results if k == m}
    sources = {k: s for k, _, s in results}
    convention = default_convention(files)
    ground_truth = None
    if "seg" in sources:
        if "seg" not in decoded:
            seg = next(d for k, d, _ in results if k == "seg")
            decoded["seg"] = decode_segmentation(seg, sources["seg"].path, files)
        ground_truth, convention = decoded["seg"]
    grid = sources.get("seg", first)
    return Patient(files.name, images, grid, convention, ground_truth, files, sources)


def decode_segmentation(
    values: np.ndarray, path: Path | None, files: PatientFiles | None
) -> tuple[np.ndarray, LabelConvention]:
    """File label values -> internal labels, refusing values outside the convention."""
    if values.dtype.kind == "f" and not np.all(np.equal(np.mod(values, 1), 0)):
        raise LabelValueError(path, "segmentation holds non-integer values")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 255:
        raise LabelValueError(path, f"label values range {lo:g}..{hi:g}; expected 0, 1, 2 and 3 or 4")
    as_int = values.astype(np.uint8)
    present = np.flatnonzero(np.bincount(as_int.ravel(), minlength=256))
    default = default_convention(files) if files is not None else LabelConvention.BRATS2023
    named = files.named_convention if files is not None else None
    convention = named or infer_convention(present, default)
    bad = unexpected_values(present, convention)
    if bad:
        allowed = ", ".join(str(v) for v in convention.file_values)
        raise LabelValueError(
            path,
            f"unexpected label value(s) {', '.join(map(str, bad))}; "
            f"{convention.value} segmentations use {allowed}",
        )
    return to_internal(as_int, convention), convention


def patient_from_arrays(
    name: str,
    images: dict[str, np.ndarray],
    ground_truth: np.ndarray | None = None,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    convention: LabelConvention = LabelConvention.BRATS2023,
) -> Patient:
    """Wrap in-memory canonical arrays (demo or synthetic patient) as a Patient."""
    shape = next(iter(images.values())).shape
    grid = synthetic_source(shape, spacing)
    imgs = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in images.items()}
    gt = None if ground_truth is None else np.ascontiguousarray(ground_truth, dtype=np.uint8)
    return Patient(name, imgs, grid, convention, gt, None, {})
