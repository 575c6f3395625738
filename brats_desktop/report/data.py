"""What the one-page patient report says and shows, computed without Qt.

The report is for the person who ordered the scan: the case, what went in (sequences,
model and its version), whether a person has corrected the contours, the volumes and RANO
table (the Measurements dock's numbers, ``core.measurements.measure``), Dice against a
ground truth when one is loaded, and three key images through the largest enhancing
cross-section. Everything here is numpy, so ``brats-predict --report`` and the app compute
the same page; :mod:`brats_desktop.report.pdf` only lays it out.

Key images follow the viewer's radiological convention (patient right on the left of axial
and coronal images, anterior on the left of sagittal ones, superior/anterior up), so the
page looks like the screen.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from brats_desktop.core.coordinates import file_axis, file_voxel
from brats_desktop.core.discovery import MODALITY_LABELS
from brats_desktop.core.labels import CLASS_COLOURS, TUMOUR_CLASSES
from brats_desktop.core.measurements import Lesion, MeasurementReport, measure
from brats_desktop.core.metrics import dice_scores
from brats_desktop.core.naming import case_id
from brats_desktop.core.provenance import Algorithm, Provenance

DISCLAIMER = "Research tool, not for diagnosis. Contours and measurements must be checked by a qualified reader."
OVERLAY_ALPHA = 0.45
BACKGROUND_ORDER = ("t1ce", "flair", "t1", "t2")  # the sequence the key images are drawn on
DICE_KEYS = ("NCR", "ED", "ET", "WT", "TC")

Line = tuple[tuple[float, float], tuple[float, float]]  # two points in image pixel coordinates (col, row)


@dataclass
class KeyImage:
    """One key slice, ready to draw: rows top to bottom, columns left to right as on screen."""

    plane: str  # "Axial", "Coronal", "Sagittal"
    rgb: np.ndarray  # (rows, cols, 3) uint8, overlay blended in
    pixel_mm: tuple[float, float]  # (width, height) of one pixel in mm: the page keeps the anatomy's proportions
    caption: str
    long_lines: list[Line] = field(default_factory=list)  # RANO long diameters (axial only)
    short_lines: list[Line] = field(default_factory=list)  # their perpendicular diameters


@dataclass
class ReportData:
    case_id: str
    layer: str
    provenance: Provenance
    algorithm: Algorithm | None
    sequences: list[str]  # "T1CE (file or DICOM series)" ...
    model_inputs: list[str]
    measurement: MeasurementReport
    dice: dict[str, float] | None
    key_images: list[KeyImage]
    created: str
    ncr_meaning: str = ""
    key_reason: str = ""  # where the key images cut, and why
    source: str = ""  # where the images came from (folder, DICOM series)
    volume_rgb: np.ndarray | None = None  # the 3-D view, when the app could draw one
    volume_note: str = "3-D view not included (no OpenGL here)"
    notes: list[str] = field(default_factory=list)
    slice_of: Callable[[int, int], int] | None = None  # (canonical axis, index) -> the file's slice index

    @property
    def measurable(self) -> list[Lesion]:
        return [lesion for lesion in self.measurement.lesions if lesion.measurable]


def _window(volume: np.ndarray) -> tuple[float, float]:
    """0.5-99.5 percentiles of the non-zero voxels (every 4th along each axis: fast, and the same on screen)."""
    sample = volume[::4, ::4, ::4]
    sample = sample[sample != 0]
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(sample, (0.5, 99.5))
    return float(lo), float(max(hi, lo + 1e-6))


def _display(plane_slice: np.ndarray) -> np.ndarray:
    """A canonical slice (lower axis, higher axis) as screen rows/columns: higher axis up, lower axis mirrored."""
    return plane_slice.T[::-1, ::-1]


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    return np.take(volume, index, axis=axis)


def blend(grey: np.ndarray, labels: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Grey 0-1 slice with the label colours blended in: (rows, cols, 3) uint8."""
    rgb = np.repeat((np.clip(grey, 0.0, 1.0) * 255.0)[..., None], 3, axis=-1)
    for label in TUMOUR_CLASSES:
        mask = labels == label
        if mask.any():
            rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * np.array(CLASS_COLOURS[label], float)
    return np.ascontiguousarray(np.rint(rgb).astype(np.uint8))


def key_point(labels: np.ndarray, report: MeasurementReport) -> tuple[tuple[int, int, int], str]:
    """The voxel the key images go through, and why: the largest enhancing cross-section, else the tumour's."""
    if report.lesions:
        lesion = max(report.lesions, key=lambda l: (l.area_mm2, -l.number))
        return lesion.centre, f"largest enhancing cross-section (ET lesion {lesion.number})"
    tumour = labels > 0
    if tumour.any():
        z = int(np.argmax(tumour.sum(axis=(0, 1))))
        xy = np.argwhere(tumour[:, :, z])
        c = xy.mean(axis=0)
        near = xy[int(np.argmin(((xy - c) ** 2).sum(axis=1)))]
        return (int(near[0]), int(near[1]), z), "largest tumour cross-section (no enhancing tumour)"
    return tuple(int(n) // 2 for n in labels.shape), "volume centre (no tumour labelled)"


def _crop_box(grey: np.ndarray, labels: np.ndarray, margin: int = 6) -> tuple[slice, slice]:
    """Rows/columns holding the head (non-zero image) or labels, plus a margin: the anatomy fills the frame."""
    inside = (grey > 0) | (labels > 0)
    if not inside.any():
        return slice(0, grey.shape[0]), slice(0, grey.shape[1])
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, grey.shape[0])),
            slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, grey.shape[1])))


def key_images(volume: np.ndarray, labels: np.ndarray, spacing, report: MeasurementReport,
               slice_label=lambda axis, index: index) -> tuple[list[KeyImage], str]:
    """Axial, coronal and sagittal slices through :func:`key_point` (RANO lines on the axial one), and why there."""
    point, why = key_point(labels, report)
    lo, hi = _window(volume)
    out = []
    for plane, axis in (("Axial", 2), ("Coronal", 1), ("Sagittal", 0)):
        raw = _display(_slice(volume, axis, point[axis])).astype(np.float32)
        lab = _display(_slice(labels, axis, point[axis]))
        rows, cols = _crop_box(raw, lab)
        rgb = blend((raw[rows, cols] - lo) / (hi - lo), lab[rows, cols])
        rest = [a for a in range(3) if a != axis]  # columns follow rest[0], rows rest[1]
        image = KeyImage(plane, rgb, (float(spacing[rest[0]]), float(spacing[rest[1]])),
                         f"{plane} slice {slice_label(axis, point[axis])}")
        if axis == 2:
            nx, ny = labels.shape[0], labels.shape[1]

            def screen(p: tuple[float, float]) -> tuple[float, float]:
                # pixel centres, mirrored as displayed, in the cropped frame
                return (nx - 1 - p[0] + 0.5 - cols.start, ny - 1 - p[1] + 0.5 - rows.start)

            for lesion in report.lesions:
                if lesion.z == point[2] and lesion.measurable:
                    image.long_lines.append((screen(lesion.long_axis[0]), screen(lesion.long_axis[1])))
                    image.short_lines.append((screen(lesion.short_axis[0]), screen(lesion.short_axis[1])))
        out.append(image)
    return out, f"Slices through voxel {point}: {why}."


def report_data(
    patient,
    labels: np.ndarray,
    layer: str,
    provenance: Provenance,
    algorithm: Algorithm | None,
    *,
    ground_truth: np.ndarray | None = None,
    measurement: MeasurementReport | None = None,
    model_inputs: list[str] | None = None,
    ncr_meaning: str = "",
    record: dict | None = None,
) -> ReportData:
    """Everything the page shows for ``labels`` (internal, canonical) of ``patient`` (a core ``Patient``).

    ``measurement`` is the Measurements dock's report when the app has it (else computed);
    ``record`` is the import record, naming the source DICOM series.
    """
    labels = np.asarray(labels)
    spacing = tuple(float(s) for s in patient.grid.spacing)

    def slice_label(axis: int, index: int) -> int:
        """The file's own slice index (what the Measurements table, nibabel and ITK-SNAP count)."""
        voxel = [0, 0, 0]
        voxel[axis] = index
        return file_voxel(patient.grid, voxel)[file_axis(patient.grid, axis)]

    measurement = measurement or measure(labels, spacing)
    sequences = []
    for key in ("t1", "t1ce", "t2", "flair"):
        if key not in patient.images:
            continue
        where = ""
        series = ((record or {}).get("series") or {}).get(key)
        if series:
            where = f"{series.get('kind', '').upper()} series {series.get('description', '')}"
        elif patient.files is not None and patient.files.images.get(key) is not None:
            where = patient.files.images[key].name
        sequences.append(f"{MODALITY_LABELS[key]}" + (f" ({where})" if where else ""))
    background = next((k for k in BACKGROUND_ORDER if k in patient.images), None)
    volume = patient.images[background] if background else np.zeros(labels.shape, np.float32)
    images, reason = key_images(volume, labels, spacing, measurement, slice_label)
    for image in images:
        image.caption += f" ({MODALITY_LABELS.get(background, 'no image')})"
    dice = None
    if ground_truth is not None:
        scores = dice_scores(labels, ground_truth)
        dice = {k: float(scores[k]) for k in DICE_KEYS}
    source = str(getattr(patient.files, "folder", "") or "") if patient.files is not None else ""
    return ReportData(
        case_id=case_id(patient.name, patient.files), layer=layer, provenance=provenance, algorithm=algorithm,
        sequences=sequences, model_inputs=[MODALITY_LABELS.get(m, m) for m in (model_inputs or [])],
        measurement=measurement, dice=dice, key_images=images,
        created=_dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        ncr_meaning=ncr_meaning, key_reason=reason, source=source, slice_of=slice_label,
    )
