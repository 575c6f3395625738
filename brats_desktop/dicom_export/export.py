"""One label layer of an imported patient -> ``<stem>.seg.dcm`` + ``<stem>.sr.dcm``, both or neither.

The one path of File → Export → DICOM Segmentation… and ``brats-predict --dicom-seg``.
Everything that can fail on the input (the source series moved or changed, an empty
layer) fails before a byte is written; each file is written atomically
(``core.atomic.write_atomically``), and when the second cannot be written the first is
removed again, so a PACS never receives a SEG whose SR is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from brats_desktop.core.atomic import write_atomically
from brats_desktop.core.errors import ExportError
from brats_desktop.core.measurements import MeasurementReport, measure
from brats_desktop.core.nifti_io import SourceImage
from brats_desktop.core.provenance import Algorithm, Provenance
from brats_desktop.preprocess.native import labels_on_native_grid

from .seg import SegmentInfo, build_seg
from .source import SourceSeriesError, load_source_series
from .sr import build_sr

SEG_SUFFIX = ".seg.dcm"
SR_SUFFIX = ".sr.dcm"


@dataclass
class DicomExport:
    seg_path: Path
    sr_path: Path
    segments: list[SegmentInfo]
    source: str  # the source series in words, for the status bar
    timings_s: dict[str, float] = field(default_factory=dict)


def dicom_targets(folder: Path | str, stem: str) -> tuple[Path, Path]:
    """``stem.seg.dcm`` and ``stem.sr.dcm`` in ``folder``, or ``stem-1...`` when either exists: a pair never splits."""
    folder = Path(folder)
    n = 0
    while True:
        name = stem if n == 0 else f"{stem}-{n}"
        seg, sr = folder / f"{name}{SEG_SUFFIX}", folder / f"{name}{SR_SUFFIX}"
        if not seg.exists() and not sr.exists():
            return seg, sr
        n += 1


def export_dicom(
    internal: np.ndarray,
    grid: SourceImage,
    record: dict,
    seg_target: Path | str,
    sr_target: Path | str,
    provenance: Provenance,
    algorithm: Algorithm | None,
    ncr_definition: str | None = "brats2013",
    report: MeasurementReport | None = None,
    overwrite: bool = False,
) -> DicomExport:
    """Write the SEG (on the source series' grid) and the SR of ``internal`` (canonical, on ``grid``).

    ``report`` is what the Measurements table shows (computed here from ``internal`` when not
    given). Raises :class:`SourceSeriesError` (source moved/changed), :class:`ExportError`
    (empty layer, unwritable target); nothing is left behind in either case. ``overwrite``
    replaces existing files (each atomically, after everything was built).
    """
    seg_target, sr_target = Path(seg_target), Path(sr_target)
    for target in (seg_target, sr_target):
        if target.exists() and not overwrite:
            raise ExportError(f"{target}: already exists; nothing is written over")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    source = load_source_series(record)
    timings["source_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    native = sitk.GetArrayFromImage(labels_on_native_grid(internal, grid, record))  # a copy: a view dies with the image
    timings["resample_s"] = time.perf_counter() - t0
    if not np.any(native):
        raise ExportError("the layer has no tumour voxel on the source grid; a DICOM SEG needs at least one segment")
    if report is None:
        report = measure(internal, grid.spacing)
    t0 = time.perf_counter()
    seg, segments = build_seg(native, source, provenance, algorithm, ncr_definition)
    timings["seg_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sr = build_sr(report, seg, segments, source, provenance, algorithm)
    timings["sr_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_atomically(seg_target, lambda tmp: seg.save_as(tmp, enforce_file_format=True), ExportError)
    try:
        write_atomically(sr_target, lambda tmp: sr.save_as(tmp, enforce_file_format=True), ExportError)
    except Exception:
        seg_target.unlink(missing_ok=True)
        raise
    timings["write_s"] = time.perf_counter() - t0
    words = f"{source.role.upper()} series '{source.description}' ({len(source.datasets)} slices)"
    return DicomExport(seg_target, sr_target, segments, words, timings)


__all__ = ["DicomExport", "SourceSeriesError", "dicom_targets", "export_dicom"]
