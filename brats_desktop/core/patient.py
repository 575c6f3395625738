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
from .errors import LabelValueError, PatientFolderError, PatientLoadError
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
    # Files of the folder left out because they could not be used (load_patient(skip_unreadable=True)).
    problems: list[PatientLoadError] = field(default_factory=list)

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
        """The folder's image and segmentation files: export never writes over them.

        Skipped (damaged) files count too: a damaged original is still the user's.
        """
        paths = {s.path for s in self.sources.values() if s.path is not None}
        if self.files is not None:
            paths.update(self.files.images.values())
            if self.files.segmentation is not None:
                paths.add(self.files.segmentation)
        return frozenset(p.resolve() for p in paths)

    def skipped(self, key: str) -> PatientLoadError | None:
        """Why the file of modality ``key`` (or ``"seg"``) was left out, or None."""
        if self.files is None:
            return None
        path = self.files.segmentation if key == "seg" else self.files.images.get(key)
        return next((p for p in self.problems if path is not None and p.path == path), None)

    def unread_note(self, keys: list[str] | tuple[str, ...]) -> str:
        """"; <file> could not be read (<problem>)" for each of ``keys`` that was left out as damaged ("" if none):
        appended to "needs FLAIR" so a person learns the file is there but broken."""
        return "".join(
            f"; {p.path.name} could not be read ({p.problem})"
            for p in (self.skipped(k) for k in keys) if p is not None and p.path is not None
        )

    def missing(self, required: tuple[str, ...] | list[str]) -> list[str]:
        return [m for m in required if m not in self.images]


def load_patient(
    folder: Path | str,
    workers: int = 4,
    first: tuple[str, ...] | list[str] = (),
    on_first: Callable[[Patient], None] | None = None,
    skip_unreadable: bool = False,
) -> Patient:
    """Read a patient folder: check every header first, then read the volumes in parallel.

    Headers are checked before any voxel is read, so a mismatched or 4-D file is
    reported at once. Reading runs in threads: gzip inflation releases the GIL.

    ``first``/``on_first`` let a viewer show something early: the modalities named in
    ``first`` (the first one present) and the segmentation are read before the rest,
    and ``on_first`` receives a partial :class:`Patient` holding just those. The full
    patient is still returned at the end.

    By default any unusable file raises (training and scripts want all or nothing).
    With ``skip_unreadable`` a damaged file does not block the rest, as a viewer user
    expects: an unreadable, 4-D or off-grid image, or a segmentation that cannot be
    read or holds labels outside its convention, is left out and listed in
    ``Patient.problems`` (file and reason); only a folder where no image at all can be
    used raises. Which inputs are then missing is for the model to say.
    """
    files = discover_patient(folder)
    paths = dict(files.images)
    if files.segmentation is not None:
        paths["seg"] = files.segmentation
    problems: list[PatientLoadError] = []

    def give_up(exc: PatientLoadError) -> None:
        if not skip_unreadable:
            raise exc
        problems.append(exc)
        paths.pop(next(k for k, v in paths.items() if v == exc.path), None)

    headers: dict[str, SourceImage] = {}
    for key, path in list(paths.items()):
        try:
            headers[key] = read_header(path)
        except PatientLoadError as exc:
            give_up(exc)
    reference = _reference_grid(headers, list(files.images), strict=not skip_unreadable)
    for key, header in list(headers.items()):
        try:
            check_same_grid(headers[reference], header)
        except PatientLoadError as exc:
            give_up(exc)
            del headers[key]
    _check_some_image(files, paths, problems)

    def read(key: str) -> tuple[str, np.ndarray, SourceImage] | PatientLoadError:
        # Labels stay in their stored integer type: no float copy, no integrality test.
        try:
            data, source = read_volume(paths[key], dtype=None if key == "seg" else np.float32)
        except PatientLoadError as exc:
            if not skip_unreadable:
                raise
            return exc
        return key, data, source

    def collect(outcomes: list) -> list[tuple[str, np.ndarray, SourceImage]]:
        done = []
        for outcome in outcomes:
            if isinstance(outcome, PatientLoadError):
                give_up(outcome)
            else:
                done.append(outcome)
        return done

    decoded: dict[str, tuple[np.ndarray, LabelConvention] | PatientLoadError] = {}
    results: list[tuple[str, np.ndarray, SourceImage]] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(paths)))) as pool:
        if on_first is not None:
            # The first listed modality that reads (a damaged one gives way to the next).
            for key in [k for k in first if k in paths]:
                early = [key, "seg"] if "seg" in paths and not results else [key]
                results += collect(list(pool.map(read, early)))
                if any(k == key for k, _, _ in results):
                    break
            if any(k != "seg" for k, _, _ in results):
                on_first(_assemble(files, results, headers[reference], decoded, problems, skip_unreadable))
        have = {k for k, _, _ in results}
        results += collect(list(pool.map(read, [k for k in paths if k not in have])))
    _check_some_image(files, paths, problems)
    return _assemble(files, results, headers[reference], decoded, problems, skip_unreadable)


def _reference_grid(headers: dict[str, SourceImage], images: list[str], strict: bool) -> str:
    """The file whose grid the patient uses: the first image (strict), else the grid most files share.

    Lenient loading must not let one odd file (say a FLAIR of another study) push
    every correct file out; the majority decides, ties to the first image.
    """
    order = [k for k in images if k in headers] + (["seg"] if "seg" in headers else [])
    if not order:
        return ""
    if strict:
        return order[0]

    def agreeing(key: str) -> int:
        count = 0
        for other in headers.values():
            try:
                check_same_grid(headers[key], other)
                count += 1
            except PatientLoadError:
                pass
        return count

    return max(order, key=agreeing)  # max keeps the first of equals


def _check_some_image(files: PatientFiles, paths: dict[str, Path], problems: list[PatientLoadError]) -> None:
    """Raise when not one image is left: there is nothing to show."""
    if any(k != "seg" for k in paths):
        return
    if len(problems) == 1:
        raise problems[0]
    raise PatientFolderError(
        files.folder,
        "none of its images can be read: " + "; ".join(
            f"{p.path.name if p.path is not None else '?'}: {p.problem}" for p in problems
        ),
    )


def _assemble(
    files: PatientFiles,
    results: list[tuple[str, np.ndarray, SourceImage]],
    first: SourceImage,
    decoded: dict[str, tuple[np.ndarray, LabelConvention] | PatientLoadError],
    problems: list[PatientLoadError],
    skip: bool,
) -> Patient:
    """Patient from read volumes (all of them, or the early subset of a progressive load).

    ``decoded`` caches the decoded segmentation (or why it was refused) so a
    progressive load decodes it once; ``problems`` is the caller's list of skipped
    files, which a segmentation with labels outside its convention joins when
    ``skip`` (else it raises).
    """
    images = {m: d for m in MODALITIES for k, d, _ in results if k == m}
    sources = {k: s for k, _, s in results}
    convention = default_convention(files)
    ground_truth = None
    if "seg" in sources:
        if "seg" not in decoded:
            seg = next(d for k, d, _ in results if k == "seg")
            try:
                decoded["seg"] = decode_segmentation(seg, sources["seg"].path, files)
            except LabelValueError as exc:
                if not skip:
                    raise
                decoded["seg"] = exc
                problems.append(exc)
        outcome = decoded["seg"]
        if isinstance(outcome, PatientLoadError):
            sources.pop("seg")
        else:
            ground_truth, convention = outcome
    grid = sources.get("seg", first)
    return Patient(files.name, images, grid, convention, ground_truth, files, sources, list(problems))


def decode_segmentation(
    values: np.ndarray, path: Path | None, files: PatientFiles | None
) -> tuple[np.ndarray, LabelConvention]:
    """File label values -> internal labels, refusing values outside the convention."""
    as_int = integer_labels(values, path)
    present = np.flatnonzero(np.bincount(as_int.ravel(), minlength=256))
    default = default_convention(files) if files is not None else LabelConvention.BRATS2023
    named = files.named_convention if files is not None else None
    convention = named or infer_convention(present, default)
    refuse_unexpected_values(present, convention, path)
    return to_internal(as_int, convention), convention


def integer_labels(values: np.ndarray, path: Path | None) -> np.ndarray:
    """``values`` as uint8, refusing fractions and values outside 0..255 instead of casting them silently.

    A float label file with 1.5 or -1 in it is a damaged or wrong file (an image saved as
    a segmentation); casting would turn it into plausible labels the user would trust.
    """
    if values.dtype.kind == "f" and not np.all(np.equal(np.mod(values, 1), 0)):
        raise LabelValueError(path, "segmentation holds non-integer values")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 255:
        raise LabelValueError(path, f"label values range {lo:g}..{hi:g}; expected 0, 1, 2 and 3 or 4")
    return values.astype(np.uint8)


def refuse_unexpected_values(present: np.ndarray, convention: LabelConvention, path: Path | None) -> None:
    """Raise :class:`LabelValueError` naming ``path`` when a label value is outside ``convention``."""
    bad = unexpected_values(present, convention)
    if bad:
        allowed = ", ".join(str(v) for v in convention.file_values)
        raise LabelValueError(
            path,
            f"unexpected label value(s) {', '.join(map(str, bad))}; "
            f"{convention.value} segmentations use {allowed}",
        )


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
