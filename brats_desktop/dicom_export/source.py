"""The original DICOM series a patient was imported from, found again and checked.

A SEG must reference the exact instances it was drawn on and lie on their grid. The import
record (``brats-import.json``) lists every file of the reference series with its
SOPInstanceUID and size, and the series' grid; here each file is read again (headers only)
and compared. A file that is gone, has another size or UID, or a slice that no longer sits
where the record says, means the series moved or changed since the import: the export is
refused with a message naming the series, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

# Positions are written with 6 decimals or fewer by scanners; 0.01 mm is far below any voxel.
_POSITION_TOLERANCE_MM = 0.01
_DIRECTION_TOLERANCE = 1e-4


class SourceSeriesError(Exception):
    """The source series cannot be used (moved, changed, not DICOM); the message is for the user."""


@dataclass
class SourceSeries:
    """The reference series' instances, in the record's slice order (slice k of the native grid)."""

    role: str
    description: str
    folder: Path
    paths: list[Path]
    datasets: list[pydicom.Dataset]  # headers only, slice order
    grid: dict  # the record's native grid (ITK/LPS: size, spacing, origin, direction)

    @property
    def series_instance_uid(self) -> str:
        return str(self.datasets[0].SeriesInstanceUID)

    @property
    def study_instance_uid(self) -> str:
        return str(self.datasets[0].StudyInstanceUID)


def _name(role: str, entry: dict) -> str:
    return f"the {role.upper()} series '{entry.get('description') or entry.get('key', '?')}'"


def _files(record: dict, role: str, entry: dict) -> list[tuple[Path, str, int]]:
    """(path, SOPInstanceUID, bytes) for every instance the record lists."""
    root = Path(record.get("source") or ".")
    instances = entry.get("instances")
    if not instances:
        raise SourceSeriesError(
            f"{_name(role, entry)}: the import record lists only its first file (imported by an older version); "
            "import the scans again to export DICOM")
    out = []
    for item in instances:
        path = Path(item["file"])
        out.append((path if path.is_absolute() else root / path, str(item.get("sop_instance_uid", "")),
                    int(item.get("bytes", -1))))
    return out


def load_source_series(record: dict) -> SourceSeries:
    """The reference series of an import record, every file checked against the record.

    Raises :class:`SourceSeriesError` naming the series and its folder when a file is
    missing or different, the series is enhanced multi-frame, or its geometry moved.
    """
    role = str(record.get("reference", "t1ce"))
    entry = (record.get("series") or {}).get(role) or {}
    if entry.get("kind") != "dicom":
        raise SourceSeriesError(f"no source DICOM series: the {role.upper()} was not imported from DICOM")
    files = _files(record, role, entry)
    folder = files[0][0].parent
    label = f"{_name(role, entry)} ({folder})"
    missing = [p for p, _, _ in files if not p.is_file()]
    if missing:
        raise SourceSeriesError(
            f"{label}: {len(missing)} of {len(files)} files are no longer there (first: {missing[0]}); the series "
            "moved or was deleted since the import. Put it back or import it again; nothing was written")
    datasets = []
    for path, uid, size in files:
        if size >= 0 and path.stat().st_size != size:
            raise SourceSeriesError(f"{label}: {path.name} changed since the import (size {path.stat().st_size} "
                                    f"bytes, was {size}); import the series again; nothing was written")
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception as exc:  # noqa: BLE001 - any reader error is the file's problem
            raise SourceSeriesError(f"{label}: {path.name} cannot be read any more ({exc}); nothing was written") \
                from exc
        if uid and str(ds.get("SOPInstanceUID", "")) != uid:
            raise SourceSeriesError(f"{label}: {path.name} is another image now (SOPInstanceUID "
                                    f"{ds.get('SOPInstanceUID')}, was {uid}); import the series again; "
                                    "nothing was written")
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise SourceSeriesError(f"{label}: an enhanced (multi-frame) series; DICOM export supports "
                                    "single-frame series only; nothing was written")
        datasets.append(ds)
    grid = record["native_grid"]
    _check_geometry(label, datasets, grid)
    return SourceSeries(role, str(entry.get("description", "")), folder, [p for p, _, _ in files], datasets, grid)


def _check_geometry(label: str, datasets: list[pydicom.Dataset], grid: dict) -> None:
    """Every slice where the recorded native grid puts it (so frame k of the SEG is slice k)."""
    size = [int(n) for n in grid["size"]]
    spacing = np.array(grid["spacing"], float)
    origin = np.array(grid["origin"], float)
    direction = np.array(grid["direction"], float).reshape(3, 3)
    if len(datasets) != size[2]:
        raise SourceSeriesError(f"{label}: {len(datasets)} slices, the import had {size[2]}; nothing was written")
    for k, ds in enumerate(datasets):
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        expected = origin + k * spacing[2] * direction[:, 2]
        if (int(ds.Columns), int(ds.Rows)) != (size[0], size[1]) \
                or np.abs(iop[:3] - direction[:, 0]).max() > _DIRECTION_TOLERANCE \
                or np.abs(iop[3:] - direction[:, 1]).max() > _DIRECTION_TOLERANCE \
                or np.abs(ipp - expected).max() > _POSITION_TOLERANCE_MM:
            raise SourceSeriesError(
                f"{label}: slice {k + 1} ({Path(ds.filename).name if ds.filename else '?'}) is not where it was at "
                "the import (position, orientation or size changed); import the series again; nothing was written")
